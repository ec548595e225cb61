"""Reads of the denial and A/R worklists. Each takes its scope explicitly: the user, the permission they act under
and (optionally) one clinic. Balances are sums of ledger rows computed in the same query (correlated subqueries),
never a stored column and never a query per row."""

import datetime
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    DateField,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, ExtractDay

from claims.models import Claim, LedgerEntry, LedgerKind, LedgerParty

from .models import Denial, Underpayment, WorkStatus

ZERO = Decimal("0.00")
OPEN_WORK = (WorkStatus.OPEN, WorkStatus.APPEALED)
# Bucket key -> (youngest, oldest) age in days; the keys are those of claims.forms.AgeBucket.
AGE_BUCKETS = {"0-30": (0, 30), "31-60": (31, 60), "61-90": (61, 90), "91-120": (91, 120), "120+": (121, None)}
AGE_BUCKET_LABELS = {"0-30": "0–30 days", "31-60": "31–60 days", "61-90": "61–90 days", "91-120": "91–120 days",
                     "120+": "Over 120 days"}
MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)


def denials_visible(user, perm, clinic=None):
    """Denials of the clinics where the user holds `perm` (narrowed to `clinic`), with what the lists show."""
    return (Denial.objects.visible_to(user, perm, clinic=clinic)
            .select_related("clinic", "claim", "claim__patient", "claim__payer", "claim__coverage", "claim_line",
                            "assignee", "payment"))


def underpayments_visible(user, perm, clinic=None):
    """Underpayments with `eob_note`: for one a paper EOB opened (no 835 payment), the note naming that EOB, from the
    latest manual payment row on its line posted before it."""
    eob_rows = (LedgerEntry.objects.filter(claim_line=OuterRef("claim_line"), kind=LedgerKind.PAYMENT, source="manual",
                                           posted_at__lte=OuterRef("created_at")).order_by("-posted_at", "-pk"))
    return (Underpayment.objects.visible_to(user, perm, clinic=clinic)
            .select_related("clinic", "claim", "claim__patient", "claim__payer", "claim_line", "assignee", "payment")
            .annotate(eob_note=Case(When(payment__isnull=True, then=Subquery(eob_rows.values("note")[:1])),
                                    default=Value(""), output_field=CharField())))


def _ledger_sum(party: str | None = None):
    entries = LedgerEntry.objects.filter(claim=OuterRef("pk"))
    if party:
        entries = entries.filter(party=party)
    total = entries.order_by().values("claim").annotate(total=Sum("amount")).values("total")[:1]
    return Coalesce(Subquery(total, output_field=MONEY_FIELD), Value(ZERO), output_field=MONEY_FIELD)


def age_bucket_expression(today: datetime.date):
    """The age bucket of a claim from its first date of service (0–30 … over 120 days)."""
    whens = []
    for key, (_youngest, oldest) in AGE_BUCKETS.items():
        if oldest is not None:
            whens.append(When(service_date_from__gte=today - datetime.timedelta(days=oldest), then=Value(key)))
    return Case(*whens, default=Value("120+"), output_field=CharField())


def _age_days(today: datetime.date):
    since = ExpressionWrapper(Value(today, output_field=DateField()) - F("service_date_from"),
                              output_field=DurationField())
    return ExtractDay(since)


def _latest_open_denial(field: str):
    denials = (Denial.objects.filter(claim=OuterRef("pk"), status__in=OPEN_WORK)
               .order_by("-created_at", "-pk").values(field)[:1])
    return Subquery(denials)


def ar_claims(user, perm, clinic=None, *, today: datetime.date):
    """Claims the user may see that still owe money (payer, patient or next payer), in one query, each annotated
    with balance, payer_balance, patient_balance, age_days, age_bucket, denial_category (of the latest open
    denial) and open_denials; payer, assignee and next_follow_up come with the claim."""
    return (Claim.objects.visible_to(user, perm, clinic=clinic)
            .select_related("clinic", "patient", "payer", "assignee")
            .annotate(balance=_ledger_sum(), payer_balance=_ledger_sum(LedgerParty.PAYER),
                      patient_balance=_ledger_sum(LedgerParty.PATIENT), age_days=_age_days(today),
                      age_bucket=age_bucket_expression(today), denial_category=_latest_open_denial("category"),
                      denial_carc=_latest_open_denial("carc"))
            .filter(~Q(balance=ZERO)))


def ar_aging(user, perm, clinic=None, *, today: datetime.date) -> dict[str, Decimal]:
    """Open balance per age bucket (every bucket present, in age order), summed in the database."""
    claims = ar_claims(user, perm, clinic, today=today)
    sums = {key: Coalesce(Sum("balance", filter=Q(age_bucket=key)), Value(ZERO), output_field=MONEY_FIELD)
            for key in AGE_BUCKETS}
    totals = claims.aggregate(**{f"bucket_{index}": expr for index, expr in enumerate(sums.values())})
    return {key: totals[f"bucket_{index}"] for index, key in enumerate(AGE_BUCKETS)}
