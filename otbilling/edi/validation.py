"""pyx12 validation, wrapped: every pyx12 exception becomes a readable error instead of a crash."""

import io
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)
MAX_FILE_BYTES = 50 * 1024 * 1024


@dataclass
class X12Issue:
    message: str
    segment: str = ""
    line: int | None = None
    code: str = ""

    def __str__(self):
        where = f"segment {self.segment} at line {self.line}: " if self.segment else ""
        return f"{where}{self.message}"


@dataclass
class X12ValidationResult:
    ok: bool
    issues: list[X12Issue] = field(default_factory=list)


def _walk_errors(node, issues: list[X12Issue], context: dict) -> None:
    """Collect error leaves from pyx12's JSON error tree, keeping the nearest segment id and line."""
    if isinstance(node, dict):
        here = dict(context)
        if node.get("seg_id"):
            here["segment"] = node.get("seg_id")
        if node.get("cur_line"):
            here["line"] = node.get("cur_line")
        if node.get("err_str"):
            issues.append(X12Issue(message=str(node["err_str"]), segment=str(here.get("segment", "")),
                                   line=_int_or_none(here.get("line")), code=str(node.get("err_cde") or "")))
        for value in node.values():
            _walk_errors(value, issues, here)
    elif isinstance(node, list):
        for item in node:
            _walk_errors(item, issues, context)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def validate_with_pyx12(content: bytes | str) -> X12ValidationResult:
    """Validate one interchange against pyx12's implementation-guide maps."""
    import pyx12.params
    import pyx12.x12n_document

    data = content.encode() if isinstance(content, str) else content
    if len(data) > MAX_FILE_BYTES:
        return X12ValidationResult(False, [X12Issue(f"File is larger than {MAX_FILE_BYTES // 1_000_000} MB.")])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.x12"
        path.write_bytes(data)
        fd_json, fd_html = io.StringIO(), io.StringIO()
        try:
            ok = pyx12.x12n_document.x12n_document(
                param=pyx12.params.params(), src_file=str(path), fd_997=None, fd_html=fd_html,
                fd_xmldoc=None, fd_json=fd_json,
            )
        except Exception as exc:  # pyx12 raises bare AttributeError/EngineError on some bad input
            log.info("pyx12 raised %s", exc.__class__.__name__, exc_info=True)
            reason = f"pyx12 could not read the file: {exc.__class__.__name__}: {exc}"
            return X12ValidationResult(False, [X12Issue(reason)])
    issues: list[X12Issue] = []
    raw = fd_json.getvalue().strip()
    if raw:
        try:
            _walk_errors(json.loads(raw), issues, {})
        except json.JSONDecodeError:
            issues.append(X12Issue("pyx12 reported errors it could not describe."))
    if not ok and not issues:
        issues.append(X12Issue("pyx12 rejected the file."))
    return X12ValidationResult(bool(ok) and not issues, issues)
