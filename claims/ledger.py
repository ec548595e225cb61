"""Balances, always summed from ledger rows (never a stored balance column)."""

from decimal import Decimal

from django.db.models import Sum

from .models import Claim, LedgerEntry, LedgerKind, LedgerParty

ZERO = Decimal("0.00")


def _sum(queryset) -> Decimal:
    return queryset.aggregate(total=Sum("amount"))["total"] or ZERO


def claim_balance(claim: Claim, party: str | None = None) -> Decimal:
    """What is still owed on the claim (by `party` when given: payer, patient or next payer)."""
    entries = LedgerEntry.objects.filter(claim=claim)
    if party:
        entries = entries.filter(party=party)
    return _sum(entries)


def claim_money(claim: Claim) -> dict[str, Decimal]:
    """Charge, paid, adjusted, patient responsibility and the open balances of a claim, for its page."""
    entries = LedgerEntry.objects.filter(claim=claim)
    return {
        "charged": _sum(entries.filter(kind=LedgerKind.CHARGE)),
        "paid": -_sum(entries.filter(kind=LedgerKind.PAYMENT)),
        "adjusted": -_sum(entries.filter(kind=LedgerKind.ADJUSTMENT).exclude(group_code="PR")),
        "patient_responsibility": _sum(entries.filter(party=LedgerParty.PATIENT, kind=LedgerKind.TRANSFER)),
        "patient_paid": -_sum(entries.filter(kind=LedgerKind.PATIENT_PAYMENT)),
        "written_off": -_sum(entries.filter(kind=LedgerKind.WRITE_OFF)),
        "payer_balance": _sum(entries.filter(party=LedgerParty.PAYER)),
        "patient_balance": _sum(entries.filter(party=LedgerParty.PATIENT)),
        "balance": _sum(entries),
    }


def line_balances(claim: Claim) -> dict[int, Decimal]:
    """Open balance per claim line id."""
    rows = (LedgerEntry.objects.filter(claim=claim, claim_line__isnull=False)
            .values("claim_line_id").annotate(total=Sum("amount")))
    return {row["claim_line_id"]: row["total"] for row in rows}
