"""EFT reconciliation: bank deposits matched to 835 payments by TRN02 trace number and amount, so the cash in the
bank and the cash posted agree.

Deposits are entered one at a time (`deposit_record`) or imported from the bank's CSV (`deposits_import_csv`:
every bad row is reported with its row number and nothing is imported while any row is bad). `deposits_match`
pairs unmatched deposits with unmatched payments of the same clinic; it runs after each deposit entry or import
and after each 835 import (denials.tasks), so a pair is found whichever side arrives first.

The clinic passed in has already been resolved through the acting user's scope (the views do that); these
services never look a clinic up themselves.
"""

import csv
import datetime
import io
import re
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Sum
from django.utils import timezone

from clinics.models import Clinic
from otbilling.errors import AppError
from otbilling.tenancy import VIEW_PHI

from .models import BankDeposit, DepositSource, EraPayment

ZERO = Decimal("0.00")
CENTS = Decimal("0.01")
REQUIRED_COLUMNS = ("date", "amount", "trace_number")
OPTIONAL_COLUMNS = ("description",)
MAX_CSV_BYTES = 2 * 1024 * 1024
MAX_CSV_ROWS = 5000
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y")
AMOUNT = re.compile(r"^-?\d+(\.\d{1,2})?$")
EXTRA = "\x00extra"  # cannot collide with a column name read from a CSV header
TRACE_MAX = BankDeposit._meta.get_field("trace_number").max_length
DESCRIPTION_MAX = BankDeposit._meta.get_field("description").max_length


# --- parsing one value --------------------------------------------------------------------------------------------


def parse_amount(text) -> Decimal:
    """'1,234.50', '$1234.5' or '-20' as Decimal to the cent; a ValueError names what was expected."""
    if isinstance(text, Decimal):
        value = text
    else:
        cleaned = str(text or "").strip().replace(",", "").replace("$", "")
        if cleaned.startswith("(") and cleaned.endswith(")"):  # bank statements write debits in parentheses
            cleaned = "-" + cleaned[1:-1]
        if not AMOUNT.match(cleaned):
            raise ValueError(f"amount {str(text).strip()!r} is not money like 1234.56")
        value = Decimal(cleaned)
    if value != value.quantize(CENTS):
        raise ValueError(f"amount {value} has more than two decimals")
    if value == ZERO:
        raise ValueError("amount is zero")
    return value.quantize(CENTS)


def parse_date(text) -> datetime.date:
    if isinstance(text, datetime.date):
        return text
    cleaned = str(text or "").strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date {cleaned!r} is not YYYY-MM-DD or MM/DD/YYYY")


def _clean_trace(text) -> str:
    trace = str(text or "").strip()
    if len(trace) > TRACE_MAX:
        raise ValueError(f"trace number is longer than {TRACE_MAX} characters")
    return trace


def _is_recorded(clinic, deposit_date, amount, trace) -> bool:
    """A deposit with a trace number is recorded once (same day, amount and trace), so a re-imported statement adds
    nothing. Without a trace two equal checks on one day are both real, so they are never treated as one."""
    return bool(trace) and BankDeposit.objects.filter(clinic=clinic, deposit_date=deposit_date, amount=amount,
                                                      trace_number__iexact=trace).exists()


# --- services -----------------------------------------------------------------------------------------------------


def deposit_record(*, clinic: Clinic, deposit_date, amount, trace_number: str, description: str = "",
                   acting_user) -> BankDeposit:
    """Enter one bank deposit and match it to its 835 payment if that payment is already posted."""
    problems = []
    values = {}
    for field, parse, raw in (("deposit_date", parse_date, deposit_date), ("amount", parse_amount, amount),
                              ("trace_number", _clean_trace, trace_number)):
        try:
            values[field] = parse(raw)
        except ValueError as exc:
            problems.append((field, str(exc)))
    if values.get("deposit_date") and values["deposit_date"] > timezone.localdate():
        problems.append(("deposit_date", "a deposit cannot be dated in the future"))
    if problems:
        raise AppError.from_problems(problems)
    with transaction.atomic():
        if _is_recorded(clinic, values["deposit_date"], values["amount"], values["trace_number"]):
            raise AppError(f"A deposit of {values['amount']} on {values['deposit_date']} with trace "
                           f"{values['trace_number'] or '(none)'} is already recorded.", code="duplicate",
                           field="trace_number")
        deposit = BankDeposit.objects.create(
            clinic=clinic, deposit_date=values["deposit_date"], amount=values["amount"],
            trace_number=values["trace_number"], description=(description or "").strip()[:DESCRIPTION_MAX],
            source=DepositSource.MANUAL, created_by=_user(acting_user))
        deposits_match(clinic=clinic)
    deposit.refresh_from_db()
    return deposit


def deposits_import_csv(*, clinic: Clinic, content, acting_user) -> dict:
    """Import a bank CSV (columns date, amount, trace_number[, description]; header row first).

    All or nothing: any bad row refuses the whole file, each bad row named by its row number (the header is
    row 1). Rows already recorded are skipped and counted, so importing the same statement twice adds nothing.
    Returns {"imported", "duplicates", "matched"}.
    """
    rows = _read_csv(content)
    parsed, problems = [], []
    seen = set()
    for number, row in rows:
        try:
            deposit = _deposit_row(row)
        except ValueError as exc:
            problems.append((f"row {number}", str(exc)))
            continue
        key = (deposit["deposit_date"], deposit["amount"], deposit["trace_number"].upper())
        if deposit["trace_number"] and key in seen:
            problems.append((f"row {number}", "the same date, amount and trace number appear on an earlier row"))
            continue
        seen.add(key)
        parsed.append(deposit)
    if problems:
        raise AppError.from_problems(problems, code="csv_invalid")
    result = {"imported": 0, "duplicates": 0, "matched": 0}
    with transaction.atomic():
        for deposit in parsed:
            if _is_recorded(clinic, deposit["deposit_date"], deposit["amount"], deposit["trace_number"]):
                result["duplicates"] += 1
                continue
            BankDeposit.objects.create(clinic=clinic, source=DepositSource.CSV, created_by=_user(acting_user),
                                       **deposit)
            result["imported"] += 1
        result["matched"] = deposits_match(clinic=clinic)
    return result


def deposits_match(*, clinic: Clinic) -> int:
    """Pair each unmatched deposit with the unmatched 835 payment of the same clinic that has its trace number
    (TRN02, compared without case or surrounding spaces) and exactly its amount. Oldest deposits first; a wrong
    amount never matches. Returns how many pairs were made."""
    matched = 0
    now = timezone.now()
    with transaction.atomic():
        deposits = (BankDeposit.objects.select_for_update().filter(clinic=clinic, era_payment__isnull=True)
                    .exclude(trace_number="").order_by("deposit_date", "pk"))
        for deposit in deposits:
            payment = (_payments_without_deposit(EraPayment.objects.filter(clinic=clinic))
                       .filter(trace_number__iexact=deposit.trace_number.strip(), amount=deposit.amount)
                       .order_by("posted_at", "pk").first())
            if payment is None:
                continue
            deposit.era_payment, deposit.matched_at = payment, now
            deposit.save(update_fields=["era_payment", "matched_at"])
            matched += 1
    return matched


# --- selectors ----------------------------------------------------------------------------------------------------


def deposits_unmatched(*, user, clinic: Clinic | None = None):
    """Deposits of the user's clinics (or of `clinic`) not matched to any 835 payment."""
    return (BankDeposit.objects.visible_to(user, VIEW_PHI, clinic=clinic).filter(era_payment__isnull=True)
            .select_related("clinic"))


def _payments_without_deposit(payments):
    # A zero payment (a denial-only 835, BPR NON) moves no money, so no deposit will ever answer it.
    return (payments.exclude(amount=ZERO)
            .annotate(has_deposit=Exists(BankDeposit.objects.filter(era_payment=OuterRef("pk"))))
            .filter(has_deposit=False))


def payments_without_deposit(*, user, clinic: Clinic | None = None):
    """835 payments of the user's clinics (or of `clinic`) that moved money and have no deposit yet."""
    return (_payments_without_deposit(EraPayment.objects.visible_to(user, VIEW_PHI, clinic=clinic))
            .select_related("clinic", "era_file"))


def reconciliation_totals(*, user, clinic: Clinic | None = None) -> dict:
    """Cash in the bank against cash posted from 835s, and what is still unmatched on each side."""
    deposits = BankDeposit.objects.visible_to(user, VIEW_PHI, clinic=clinic)
    payments = EraPayment.objects.visible_to(user, VIEW_PHI, clinic=clinic).exclude(amount=ZERO)

    def total(queryset):
        return queryset.aggregate(total=Sum("amount"))["total"] or ZERO

    totals = {
        "bank": total(deposits), "posted": total(payments),
        "matched": total(deposits.filter(era_payment__isnull=False)),
        "bank_unmatched": total(deposits.filter(era_payment__isnull=True)),
        "posted_unmatched": total(_payments_without_deposit(payments)),
    }
    totals["difference"] = totals["bank"] - totals["posted"]
    return totals


# --- helpers ------------------------------------------------------------------------------------------------------


def _user(acting_user):
    return acting_user if acting_user is not None and getattr(acting_user, "is_authenticated", False) else None


def _read_csv(content) -> list[tuple[int, dict]]:
    """(row number, {column: value}) for every non-blank data row; the header is row 1."""
    data = content if isinstance(content, bytes) else str(content).encode("utf-8")
    if len(data) > MAX_CSV_BYTES:
        raise AppError(f"The file is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.", code="csv_invalid",
                       field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AppError(f"The file is not UTF-8 text (byte {exc.start + 1}).", code="csv_invalid",
                       field="file") from exc
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise AppError(f"The file is not readable CSV: {exc}.", code="csv_invalid", field="file") from exc
    if not records or not any(name.strip() for name in records[0]):
        raise AppError("The file is empty: expected a header row date, amount, trace_number.", code="csv_invalid",
                       field="file")
    columns = [name.strip().lower() for name in records[0]]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise AppError(f"Row 1 (header): missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
                       f"expected {', '.join(REQUIRED_COLUMNS)}[, description].", code="csv_invalid", field="file")
    rows = []
    for number, values in enumerate(records[1:], start=2):
        if not any(value.strip() for value in values):
            continue
        row = dict(zip(columns, values, strict=False))
        if len(values) > len(columns):
            row[EXTRA] = f"the row has {len(values)} values but the header names {len(columns)} columns"
        rows.append((number, row))
    if not rows:
        raise AppError("The file has a header but no deposit rows.", code="csv_invalid", field="file")
    if len(rows) > MAX_CSV_ROWS:
        raise AppError(f"More than {MAX_CSV_ROWS} rows: split the statement.", code="csv_invalid", field="file")
    return rows


def _deposit_row(row: dict) -> dict:
    problems = [row[EXTRA]] if EXTRA in row else []
    values = {}
    for column, field, parse in (("date", "deposit_date", parse_date), ("amount", "amount", parse_amount),
                                 ("trace_number", "trace_number", _clean_trace)):
        try:
            values[field] = parse(row.get(column, ""))
        except ValueError as exc:
            problems.append(str(exc))
    if values.get("deposit_date") and values["deposit_date"] > timezone.localdate():
        problems.append(f"date {values['deposit_date']} is in the future")
    if problems:
        raise ValueError("; ".join(problems))
    values["description"] = (row.get("description") or "").strip()[:DESCRIPTION_MAX]
    return values
