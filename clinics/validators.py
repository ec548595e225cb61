"""Identifier validators for NPI, EIN, ZIP and taxonomy (domain-rules §9)."""

import re

from django.core.exceptions import ValidationError

# IRS EIN prefixes that have never been issued (domain-rules §9.3).
INVALID_EIN_PREFIXES = frozenset({"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70",
                                  "78", "79", "89", "96", "97"})


def npi_is_valid(value: str) -> bool:
    """10 digits, first 1 or 2, Luhn check digit computed with the 80840 prefix."""
    if not re.fullmatch(r"[12]\d{9}", value or ""):
        return False
    total = 24  # the Luhn contribution of the 80840 prefix
    for position, char in enumerate(reversed(value[:9])):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(value[9])


def validate_npi(value: str) -> None:
    if not npi_is_valid(value):
        raise ValidationError(
            "%(value)s is not a valid NPI: expected 10 digits starting with 1 or 2 and a correct check digit.",
            code="invalid_npi", params={"value": value},
        )


def normalize_ein(value: str) -> str:
    return (value or "").replace("-", "").strip()


def validate_ein(value: str) -> None:
    digits = normalize_ein(value)
    if not re.fullmatch(r"\d{9}", digits):
        raise ValidationError("EIN must be 9 digits (XX-XXXXXXX).", code="invalid_ein")
    if digits[:2] in INVALID_EIN_PREFIXES:
        raise ValidationError(
            "EIN prefix %(prefix)s has never been issued by the IRS.", code="invalid_ein_prefix",
            params={"prefix": digits[:2]},
        )


def normalize_zip(value: str) -> str:
    return (value or "").replace("-", "").strip()


def validate_zip(value: str) -> None:
    """5 or 9 digits (a dash before the last four is accepted)."""
    if not re.fullmatch(r"\d{5}(-?\d{4})?", (value or "").strip()):
        raise ValidationError("ZIP code must be 5 digits or ZIP+4 (12345-6789).", code="invalid_zip")


def validate_zip9(value: str) -> None:
    """Billing-provider addresses need ZIP+4 on an 837P."""
    if not re.fullmatch(r"\d{5}-?\d{4}", (value or "").strip()):
        raise ValidationError("ZIP code must be 9 digits (ZIP+4, 12345-6789).", code="invalid_zip9")


def validate_taxonomy(value: str) -> None:
    if not re.fullmatch(r"\d{3}[0-9A-Z]{6}X", value or ""):
        raise ValidationError("Taxonomy code must be 10 characters like 225X00000X.", code="invalid_taxonomy")


def validate_x12_safe(value: str) -> None:
    """Text that ends up in X12 may not carry delimiter characters."""
    bad = sorted(set(value or "") & set("~*:^|>`"))
    if bad:
        raise ValidationError(
            "Remove the characters %(chars)s: they are reserved in claim files.", code="x12_delimiter",
            params={"chars": " ".join(bad)},
        )
