"""The one application error type. Services raise it; the API maps it to HTTP 400, the UI shows it by the field."""


class AppError(Exception):
    """A business rule refused the operation.

    `code` is stable for API clients, `field` names the input at fault (or None), `message` is plain words.
    """

    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None,
                 details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.details = details or []  # [{"field": ..., "message": ...}] when several inputs are wrong

    def as_dict(self) -> dict:
        data = {"code": self.code, "message": self.message, "field": self.field}
        if self.details:
            data["details"] = self.details
        return data

    @classmethod
    def from_problems(cls, problems: list[tuple[str, str]], *, code: str = "invalid") -> "AppError":
        """One error for several (field, message) problems; the message lists them all."""
        text = "; ".join(f"{field}: {message}" for field, message in problems)
        return cls(text, code=code, field=problems[0][0] if problems else None,
                   details=[{"field": f, "message": m} for f, m in problems])
