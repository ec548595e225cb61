"""Every revenue-cycle figure, defined once (domain-rules §8). Dashboards, the monthly PDF and `manage.py kpis` all
call `compute`; the formula text shown next to each number on the page comes from DEFINITIONS below.

Dates, so that a figure never moves when a file is imported late:
- money counts on the ledger row's `effective_date` (a charge on its day of service, an 835's rows on the payment
  date BPR16, a manual posting on the EOB's date);
- a claim is "submitted" on its first submission (`submitted_at`), "adjudicated" on the payment date of a
  remittance that is not a reversal (CLP02 22), "denied" on the payment date of the remittance that denied it.
Reversals and reposts never double-count: money nets (a reversal is a row of the opposite sign on its own date),
and claims are counted once per period however many remittances they had in it.

The scope's clinics come from the tenancy helper (`scope_for_user`) or, for the monthly job and the command that
run as the system, from the clinic given (`scope_for_clinics`).
"""

import calendar
import datetime
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from claims.models import Claim, ClaimEvent, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind
from coding.models import Finding
from denials.carc import carc_info
from denials.models import ClaimRemittance, Denial
from denials.selectors import AGE_BUCKETS
from otbilling.tenancy import VIEW_REPORTS, clinics_visible_to

ZERO = Decimal("0.00")
REVERSAL = "22"
CORRECTIONS = ("7", "8")
DAYS_IN_AR_WINDOW = 90  # average daily charges over the last 90 days (domain-rules §8)
SUBMISSION_PROMISE_HOURS = 48
# Balances of claims that were replaced or voided move to their correction (claims.services.claim_correct), so
# visits and units are counted on the claims that stand.
SUPERSEDED = (ClaimStatus.REPLACED, ClaimStatus.VOIDED)


@dataclass(frozen=True)
class Definition:
    label: str
    kind: str  # percent | money | days | number
    formula: str
    target: Decimal | None = None
    higher_is_better: bool = True


DEFINITIONS: dict[str, Definition] = {
    "clean_claim_rate": Definition(
        "Clean claim rate", "percent",
        "Original claims first submitted in the period with no scrubber finding overridden on their sessions and "
        "no clearinghouse or payer rejection ÷ original claims first submitted in the period.", Decimal("0.95")),
    "first_pass_yield": Definition(
        "First-pass yield", "percent",
        "Original claims first adjudicated in the period that were paid with no denial on that first answer and "
        "never rejected ÷ original claims first adjudicated in the period.", Decimal("0.90")),
    "denial_rate": Definition(
        "Denial rate (claims)", "percent",
        "Claims with a denial dated in the period ÷ claims adjudicated in the period (reversals are not "
        "adjudications; a claim counts once).", Decimal("0.05"), higher_is_better=False),
    "denial_rate_dollars": Definition(
        "Denial rate (dollars)", "percent",
        "Charges denied in the period (each denied line once) ÷ charges of the claims adjudicated in the period.",
        Decimal("0.05"), higher_is_better=False),
    "days_in_ar": Definition(
        "Days in A/R", "days",
        "A/R at the end of the period ÷ average daily gross charges of the 90 days ending then.", Decimal("40"),
        higher_is_better=False),
    "ar_over_90": Definition(
        "A/R over 90 days", "percent",
        "A/R more than 90 days from the date of service at the end of the period ÷ all A/R then.", Decimal("0.15"),
        higher_is_better=False),
    "ar_over_120": Definition(
        "A/R over 120 days", "percent",
        "A/R more than 120 days from the date of service at the end of the period ÷ all A/R then.",
        Decimal("0.10"), higher_is_better=False),
    "net_collection_rate": Definition(
        "Net collection rate", "percent",
        "For the claims adjudicated in the period (with the secondary claims billed after them): payments from "
        "payers and patients ÷ (charges − contractual adjustments (CO)), all money up to the end of the period. "
        "A denied claim still unpaid lowers it; a late month is not skewed by last month's cash.", Decimal("0.95")),
    "gross_collection_rate": Definition(
        "Gross collection rate", "percent",
        "For the same claims as the net collection rate: payments ÷ gross charges."),
    "resubmission_rate": Definition(
        "Resubmission rate", "percent",
        "Claims first submitted in the period that are corrections (frequency 7 or 8) or were sent again after a "
        "rejection ÷ claims first submitted in the period.", Decimal("0.05"), higher_is_better=False),
    "charge_lag_days": Definition(
        "Charge lag", "days",
        "Average days from the date of service to the signed note (the charge) for claims with service in the "
        "period.", Decimal("2"), higher_is_better=False),
    "submission_lag_days": Definition(
        "Submission lag", "days",
        "Average days from the signed note to the claim's first submission, claims first submitted in the period.",
        Decimal("2"), higher_is_better=False),
    "submitted_within_48h": Definition(
        "Billed within 48 hours", "percent",
        "Claims first submitted in the period within 48 hours of the signed note ÷ claims first submitted in the "
        "period.", Decimal("0.95")),
    "payments_per_visit": Definition(
        "Payments per visit", "money", "Payments posted in the period ÷ billed visits with service in the period."),
    "units_per_visit": Definition(
        "Units per visit", "number", "Billed units with service in the period ÷ billed visits in the period."),
    "revenue": Definition("Net collections", "money", "Payments posted in the period (payer and patient)."),
    "revenue_growth_previous": Definition(
        "Growth vs previous period", "percent",
        "(Net collections − the previous period's) ÷ the previous period's; the previous period has the same length."),
    "revenue_growth_baseline": Definition(
        "Growth vs baseline", "percent",
        "(Net collections − the baseline's scaled to this period's length) ÷ the baseline's scaled."),
    "charges": Definition("Gross charges", "money",
                          "Charges with service in the period, corrections netted; a secondary claim's charge is a "
                          "moved balance, not a new charge."),
    "ar_total": Definition("A/R", "money", "Everything still owed (payers and patients) at the end of the period."),
}
TILE_KEYS = ("clean_claim_rate", "first_pass_yield", "denial_rate", "days_in_ar", "net_collection_rate",
             "ar_over_90", "submitted_within_48h", "revenue")


# --- periods and scope ----------------------------------------------------------------------------------------


def month_bounds(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    first = day.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def parse_month(text: str) -> tuple[datetime.date, datetime.date]:
    """'2026-10' -> (2026-10-01, 2026-10-31); a clear ValueError otherwise."""
    try:
        year, month = (int(part) for part in text.split("-"))
        return month_bounds(datetime.date(year, month, 1))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"month {text!r} is not YYYY-MM") from exc


def previous_period(start: datetime.date, end: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The calendar month before a calendar month; otherwise the same number of days just before."""
    if start.day == 1 and (start, end) == month_bounds(start):
        return month_bounds(start - datetime.timedelta(days=1))
    length = (end - start).days + 1
    return start - datetime.timedelta(days=length), start - datetime.timedelta(days=1)


def trend_periods(end: datetime.date, *, grain: str, count: int) -> list[tuple[datetime.date, datetime.date]]:
    """`count` consecutive months (or Monday-to-Sunday weeks) ending with the one that holds `end`, oldest first."""
    if grain == "week":
        monday = end - datetime.timedelta(days=end.weekday())
        return [(monday - datetime.timedelta(weeks=n), monday - datetime.timedelta(weeks=n) + datetime.timedelta(6))
                for n in reversed(range(count))]
    periods = [month_bounds(end)]
    while len(periods) < count:
        periods.insert(0, month_bounds(periods[0][0] - datetime.timedelta(days=1)))
    return periods


@dataclass(frozen=True)
class Scope:
    clinic_ids: tuple[int, ...]
    start: datetime.date
    end: datetime.date
    payer_id: int | None = None
    provider_id: int | None = None

    def period(self, start: datetime.date, end: datetime.date) -> "Scope":
        return replace(self, start=start, end=end)

    def previous(self) -> "Scope":
        return self.period(*previous_period(self.start, self.end))

    def claims(self):
        claims = Claim.objects.filter(clinic_id__in=self.clinic_ids)
        if self.payer_id:
            claims = claims.filter(payer_id=self.payer_id)
        if self.provider_id:
            claims = claims.filter(rendering_provider_id=self.provider_id)
        return claims

    def ledger(self):
        rows = LedgerEntry.objects.filter(clinic_id__in=self.clinic_ids)
        if self.payer_id:
            rows = rows.filter(claim__payer_id=self.payer_id)
        if self.provider_id:
            rows = rows.filter(claim__rendering_provider_id=self.provider_id)
        return rows

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def scope_for_user(user, *, start, end, clinic=None, payer_id=None, provider_id=None) -> Scope:
    """The clinics where `user` may see reports (narrowed to `clinic`); no clinic at all is an empty scope."""
    clinics = clinics_visible_to(user, VIEW_REPORTS)
    if clinic is not None:
        clinics = clinics.filter(pk=clinic.pk)
    return Scope(tuple(clinics.order_by("pk").values_list("pk", flat=True)), start, end, payer_id, provider_id)


def scope_for_clinics(clinics, *, start, end, payer_id=None, provider_id=None) -> Scope:
    """For the system (monthly job, `manage.py kpis`): the clinics it was asked about."""
    return Scope(tuple(sorted(c.pk for c in clinics)), start, end, payer_id, provider_id)


# --- the populations behind the numbers (also what a drill-down lists) -------------------------------------------

def _remittance_day():
    return Coalesce("payment__payment_date", TruncDate("payment__posted_at"))


def _denial_day():
    return Coalesce("payment__payment_date", TruncDate("created_at"))


def _touched():
    return Exists(Finding.objects.filter(visit__claim_lines__claim=OuterRef("pk"), overridden_by__isnull=False))


def _rejected():
    return Exists(ClaimEvent.objects.filter(claim=OuterRef("pk"), to_status=ClaimStatus.REJECTED))


def submitted_claims(scope: Scope):
    return scope.claims().filter(submitted_at__date__range=(scope.start, scope.end))


def original_submissions(scope: Scope):
    return submitted_claims(scope).filter(frequency="1")


def clean_claims(scope: Scope):
    return original_submissions(scope).filter(~_touched(), ~_rejected())


def resubmitted_claims(scope: Scope):
    first_send = (ClaimEvent.objects.filter(claim=OuterRef("pk"), to_status=ClaimStatus.SUBMITTED)
                  .order_by("pk").values("pk")[:1])
    again = ClaimEvent.objects.filter(claim=OuterRef("pk"), to_status=ClaimStatus.SUBMITTED,
                                      pk__gt=OuterRef("first_send"))
    return (submitted_claims(scope).annotate(first_send=first_send)
            .filter(Q(frequency__in=CORRECTIONS) | (Exists(again) & _rejected())))


# The unscoped helpers below serve queries whose outer claims are already the scope's (a filter of scope.claims(),
# a subquery correlated to such a claim): filtering the scope again inside costs PostgreSQL a lookup or a hash of the
# clinic's claims per use and changes nothing.

def _answers():
    """Every remittance that adjudicates (not a reversal), with the day it counts on."""
    return ClaimRemittance.objects.exclude(status_code=REVERSAL).annotate(day=_remittance_day())


def adjudicated_claims(scope: Scope):
    remits = _answers().filter(day__range=(scope.start, scope.end))
    return scope.claims().filter(pk__in=remits.values("claim_id"))


def _dated_denials():
    return Denial.objects.annotate(day=_denial_day())


def _denials(scope: Scope):
    return _dated_denials().filter(claim__in=scope.claims())


def denials_in_period(scope: Scope):
    return _denials(scope).filter(day__range=(scope.start, scope.end))


def denied_claims(scope: Scope):
    denied = _dated_denials().filter(day__range=(scope.start, scope.end))
    return adjudicated_claims(scope).filter(pk__in=denied.values("claim_id"))


def first_adjudicated_claims(scope: Scope):
    # "First adjudicated in the period" is written as "adjudicated in it and never before it" rather than as a filter
    # on the first day itself: that filter would compute the first day of every claim of the clinic, one subquery
    # per claim (seconds at 200,000 claims); this one reads the period's remittances and probes the earlier ones.
    first = _answers().filter(claim=OuterRef("pk")).order_by("day").values("day")[:1]
    earlier = _answers().filter(claim=OuterRef("pk"), day__lt=scope.start)
    return adjudicated_claims(scope).filter(frequency="1").filter(~Exists(earlier)).annotate(first_day=first)


def first_pass_claims(scope: Scope):
    denied_first = _dated_denials().filter(claim=OuterRef("pk"), day=OuterRef("first_day"))
    return first_adjudicated_claims(scope).filter(~Exists(denied_first), ~_rejected())


def billed_lines(scope: Scope):
    """Lines of the claims that stand (not replaced or voided, not a secondary claim) with service in the period."""
    return (ClaimLine.objects.filter(claim__in=scope.claims(), date_of_service__range=(scope.start, scope.end))
            .filter(claim__primary_claim__isnull=True).exclude(claim__frequency="8")
            .exclude(claim__status__in=SUPERSEDED))


def ledger_claims(scope: Scope, kind: str):
    """Claims with money of `kind` (charges, payments, contractual) in the period."""
    rows = _money_rows(scope, kind).filter(effective_date__range=(scope.start, scope.end))
    return scope.claims().filter(pk__in=rows.values("claim_id"))


# Which ledger rows are charges, payments and contractual adjustments: used as filters and as filtered sums (one
# pass over the rows for several totals).
MONEY_KINDS = {
    "charges": Q(kind=LedgerKind.CHARGE) & ~Q(source="secondary"),
    "payments": Q(kind__in=(LedgerKind.PAYMENT, LedgerKind.PATIENT_PAYMENT)),
    "contractual": Q(kind=LedgerKind.ADJUSTMENT, group_code="CO"),
}


def _money_rows(scope: Scope, kind: str):
    if kind not in MONEY_KINDS:
        raise ValueError(kind)
    return scope.ledger().filter(MONEY_KINDS[kind])


def open_balances(scope: Scope) -> list[dict]:
    """[{claim_id, service_date_from, balance, bucket}] of claims owing money at the end of the period."""
    rows = (scope.ledger().filter(effective_date__lte=scope.end)
            .values("claim_id", "claim__service_date_from").annotate(balance=Sum("amount"))
            .exclude(balance=0).order_by())
    return [{"claim_id": row["claim_id"], "service_date_from": row["claim__service_date_from"],
             "balance": row["balance"], "bucket": age_bucket((scope.end - row["claim__service_date_from"]).days)}
            for row in rows]


def age_bucket(age_days: int) -> str:
    for key, (_youngest, oldest) in AGE_BUCKETS.items():
        if oldest is None or age_days <= oldest:
            return key
    return "120+"


# --- the figures ---------------------------------------------------------------------------------------------------

@dataclass
class Kpis:
    scope: Scope
    values: dict[str, Decimal | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    money: dict[str, Decimal] = field(default_factory=dict)
    aging: dict[str, Decimal] = field(default_factory=dict)
    top_denials: list[dict] = field(default_factory=list)
    payer_mix: list[dict] = field(default_factory=list)

    def __getitem__(self, key):
        return self.values[key]


def ratio(numerator, denominator, places: str = "0.0001") -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def _sum(rows) -> Decimal:
    return rows.aggregate(total=Sum("amount"))["total"] or ZERO


def compute(scope: Scope, *, baseline: Scope | None = None) -> Kpis:
    kpis = Kpis(scope=scope)
    _claim_rates(scope, kpis)
    _money(scope, kpis)
    _collection(scope, kpis)
    _ar(scope, kpis)
    _lags(scope, kpis)
    _per_visit(scope, kpis)
    kpis.top_denials = top_denial_reasons(scope)
    kpis.payer_mix = payer_mix(scope)
    _growth(scope, kpis, baseline)
    return kpis


def _claim_rates(scope: Scope, kpis: Kpis) -> None:
    c = kpis.counts
    c["claims_submitted"] = submitted_claims(scope).count()
    c["original_claims_submitted"] = original_submissions(scope).count()
    c["clean_claims"] = clean_claims(scope).count()
    c["resubmitted_claims"] = resubmitted_claims(scope).count()
    c["claims_first_adjudicated"] = first_adjudicated_claims(scope).count()
    c["first_pass_claims"] = first_pass_claims(scope).count()
    adjudicated = adjudicated_claims(scope).aggregate(count=Count("pk"), charges=Sum("total_charge"))
    c["claims_adjudicated"] = adjudicated["count"]
    c["claims_denied"] = denied_claims(scope).count()
    v = kpis.values
    v["clean_claim_rate"] = ratio(c["clean_claims"], c["original_claims_submitted"])
    v["first_pass_yield"] = ratio(c["first_pass_claims"], c["claims_first_adjudicated"])
    v["denial_rate"] = ratio(c["claims_denied"], c["claims_adjudicated"])
    v["resubmission_rate"] = ratio(c["resubmitted_claims"], c["claims_submitted"])
    adjudicated_charges = adjudicated["charges"] or ZERO
    kpis.money["charges_adjudicated"] = adjudicated_charges
    kpis.money["charges_denied"] = denied_dollars(scope)
    v["denial_rate_dollars"] = ratio(kpis.money["charges_denied"], adjudicated_charges)


def denied_dollars(scope: Scope) -> Decimal:
    """Each denied line (or claim, for a claim-level denial) once, however many remittances denied it."""
    denials = (_dated_denials().filter(day__range=(scope.start, scope.end), claim__in=adjudicated_claims(scope))
               .order_by("claim_id", "claim_line_id", "-day", "-pk").distinct("claim_id", "claim_line_id"))
    return sum((amount for amount in denials.values_list("amount", flat=True)), ZERO)


def collection_claims(scope: Scope):
    """The claims adjudicated in the period and the secondary claims billed after them (one family's money)."""
    adjudicated = adjudicated_claims(scope).values("pk")
    return Claim.objects.filter(clinic_id__in=scope.clinic_ids).filter(
        Q(pk__in=adjudicated) | Q(primary_claim__in=adjudicated))


def _collection_sums(claims, end: datetime.date) -> dict[str, Decimal]:
    rows = LedgerEntry.objects.filter(claim__in=claims, effective_date__lte=end)
    sums = rows.aggregate(charges=Sum("amount", filter=MONEY_KINDS["charges"]),
                          contractual=Sum("amount", filter=MONEY_KINDS["contractual"]),
                          collected=Sum("amount", filter=MONEY_KINDS["payments"]))
    return {key: value or ZERO for key, value in sums.items()}


def _collection(scope: Scope, kpis: Kpis) -> None:
    # collection_claims' money, read as two disjoint parts (the adjudicated claims; the secondary claims billed after
    # them that are not themselves among them) whose sums add up to the family's. Asked as one "in A or primary in A"
    # set, PostgreSQL guesses that set at most of the clinic's claims and scans the whole ledger.
    adjudicated = adjudicated_claims(scope).values("pk")
    claims = Claim.objects.filter(clinic_id__in=scope.clinic_ids)
    own = _collection_sums(claims.filter(pk__in=adjudicated), scope.end)
    # (`primary_claim` not null is implied; said aloud, it lets PostgreSQL start from the index of the few secondaries.)
    secondaries = claims.filter(primary_claim__isnull=False, primary_claim__in=adjudicated).exclude(pk__in=adjudicated)
    secondary = _collection_sums(secondaries, scope.end)
    charges = own["charges"] + secondary["charges"]
    contractual = -(own["contractual"] + secondary["contractual"])
    collected = -(own["collected"] + secondary["collected"])
    m = kpis.money
    m["collection_charges"], m["collection_contractual"], m["collection_payments"] = charges, contractual, collected
    kpis.values["net_collection_rate"] = ratio(collected, charges - contractual)
    kpis.values["gross_collection_rate"] = ratio(collected, charges)


def _money(scope: Scope, kpis: Kpis) -> None:
    rows = scope.ledger().filter(effective_date__range=(scope.start, scope.end))
    sums = rows.aggregate(charges=Sum("amount", filter=MONEY_KINDS["charges"]),
                          payer=Sum("amount", filter=Q(kind=LedgerKind.PAYMENT)),
                          patient=Sum("amount", filter=Q(kind=LedgerKind.PATIENT_PAYMENT)),
                          contractual=Sum("amount", filter=MONEY_KINDS["contractual"]))
    m = kpis.money
    m["charges"] = sums["charges"] or ZERO
    m["payer_payments"] = -(sums["payer"] or ZERO)
    m["patient_payments"] = -(sums["patient"] or ZERO)
    m["payments"] = m["payer_payments"] + m["patient_payments"]
    m["contractual_adjustments"] = -(sums["contractual"] or ZERO)
    v = kpis.values
    v["revenue"] = m["payments"]
    v["charges"] = m["charges"]


def _ar(scope: Scope, kpis: Kpis) -> None:
    balances = open_balances(scope)
    aging = {key: ZERO for key in AGE_BUCKETS}
    for row in balances:
        aging[row["bucket"]] += row["balance"]
    kpis.aging = aging
    total = sum(aging.values(), ZERO)
    kpis.money["ar_total"] = total
    kpis.values["ar_total"] = total
    kpis.values["ar_over_90"] = ratio(aging["91-120"] + aging["120+"], total)
    kpis.values["ar_over_120"] = ratio(aging["120+"], total)
    window_start = scope.end - datetime.timedelta(days=DAYS_IN_AR_WINDOW - 1)
    recent = _sum(_money_rows(scope, "charges").filter(effective_date__range=(window_start, scope.end)))
    kpis.money["charges_last_90_days"] = recent
    daily = recent / DAYS_IN_AR_WINDOW
    kpis.values["days_in_ar"] = ratio(total, daily, "0.1") if daily else None


def _lags(scope: Scope, kpis: Kpis) -> None:
    charged = (scope.claims().filter(frequency="1", primary_claim__isnull=True, signed_at__isnull=False,
                                     service_date_from__range=(scope.start, scope.end))
               .values_list("service_date_from", "signed_at"))
    charge_days = [(signed.date() - dos).days for dos, signed in charged]
    kpis.values["charge_lag_days"] = ratio(sum(charge_days), len(charge_days), "0.1")
    sent = (original_submissions(scope).filter(primary_claim__isnull=True, signed_at__isnull=False)
            .values_list("signed_at", "submitted_at"))
    hours = [(submitted - signed).total_seconds() / 3600 for signed, submitted in sent]
    kpis.values["submission_lag_days"] = ratio(Decimal(str(round(sum(hours), 4))), 24 * len(hours), "0.1") \
        if hours else None
    kpis.counts["submitted_within_48h"] = sum(1 for h in hours if h <= SUBMISSION_PROMISE_HOURS)
    kpis.values["submitted_within_48h"] = ratio(kpis.counts["submitted_within_48h"], len(hours))


def _per_visit(scope: Scope, kpis: Kpis) -> None:
    totals = billed_lines(scope).aggregate(units=Sum("units"), visits=Count("visit_id", distinct=True))
    visits = totals["visits"]
    kpis.counts["visits"] = visits
    kpis.counts["units"] = totals["units"] or 0
    kpis.values["units_per_visit"] = ratio(kpis.counts["units"], visits, "0.01")
    kpis.values["payments_per_visit"] = ratio(kpis.money["payments"], visits, "0.01")


def top_denial_reasons(scope: Scope, limit: int = 10) -> list[dict]:
    """CARC Pareto: denials dated in the period by group and reason, largest amount first, with cumulative share."""
    rows = (denials_in_period(scope).values("group_code", "carc")
            .annotate(amount=Sum("amount"), count=Sum(1)).order_by("-amount", "carc"))
    rows = list(rows)
    total = sum((row["amount"] for row in rows), ZERO)
    running, result = ZERO, []
    for row in rows[:limit]:
        running += row["amount"]
        info = carc_info(row["carc"])
        result.append({"group": row["group_code"], "carc": row["carc"], "reason": info.meaning,
                       "category": info.category, "count": row["count"], "amount": row["amount"],
                       "share": ratio(row["amount"], total), "cumulative_share": ratio(running, total)})
    return result


def payer_mix(scope: Scope) -> list[dict]:
    """Gross charges and payments of the period by payer, largest charges first."""
    rows = (scope.ledger().filter(MONEY_KINDS["charges"] | MONEY_KINDS["payments"],
                                  effective_date__range=(scope.start, scope.end))
            .values("claim__payer_id", "claim__payer__name")
            .annotate(charges=Sum("amount", filter=MONEY_KINDS["charges"]),
                      paid=Sum("amount", filter=MONEY_KINDS["payments"])).order_by())
    names, totals, payments = {}, {}, {}
    for row in rows:  # a payer with charges or payments in the period (or both)
        payer_id = row["claim__payer_id"]
        names[payer_id] = row["claim__payer__name"]
        totals[payer_id] = row["charges"] if row["charges"] is not None else ZERO
        if row["paid"] is not None:
            payments[payer_id] = -row["paid"]
    all_charges = sum(totals.values(), ZERO)
    mix = [{"payer_id": payer_id, "payer": names[payer_id], "charges": totals[payer_id],
            "share": ratio(totals[payer_id], all_charges), "payments": payments.get(payer_id, ZERO)}
           for payer_id in names]
    return sorted(mix, key=lambda row: (-row["charges"], row["payer"]))


def _growth(scope: Scope, kpis: Kpis, baseline: Scope | None) -> None:
    revenue = kpis.money["payments"]
    previous = -_sum(_money_rows(scope.previous(), "payments").filter(
        effective_date__range=(scope.previous().start, scope.previous().end)))
    kpis.money["revenue_previous"] = previous
    kpis.values["revenue_growth_previous"] = ratio(revenue - previous, previous)
    kpis.values["revenue_growth_baseline"] = None
    if baseline is not None:
        base_total = -_sum(_money_rows(baseline, "payments").filter(
            effective_date__range=(baseline.start, baseline.end)))
        scaled = (base_total * scope.days / baseline.days).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        kpis.money["revenue_baseline"] = scaled
        kpis.values["revenue_growth_baseline"] = ratio(revenue - scaled, scaled)


def breakdown(scope: Scope, by: str, *, compute_with=None) -> list[dict]:
    """The headline figures per payer or per therapist (rendering provider) of the scope's claims; `compute_with`
    replaces `compute` (the dashboards pass their cached one)."""
    compute_with = compute_with or compute
    from clinics.models import Payer, Provider

    if by == "payer":
        ids = scope.claims().values_list("payer_id", flat=True).distinct()
        names = dict(Payer.objects.filter(pk__in=ids).values_list("pk", "name"))
        scopes = {pk: replace(scope, payer_id=pk) for pk in names}
    else:
        ids = scope.claims().values_list("rendering_provider_id", flat=True).distinct()
        names = {p.pk: str(p) for p in Provider.objects.filter(pk__in=ids)}
        scopes = {pk: replace(scope, provider_id=pk) for pk in names}
    rows = []
    for pk, sub in scopes.items():
        kpis = compute_with(sub)
        rows.append({"id": pk, "name": names[pk], "kpis": kpis})
    return sorted(rows, key=lambda row: (-row["kpis"].money["charges"], row["name"]))


# --- JSON ------------------------------------------------------------------------------------------------------

RATE_KEYS = ("clean_claim_rate", "first_pass_yield", "denial_rate", "denial_rate_dollars", "ar_over_90",
             "ar_over_120", "net_collection_rate", "gross_collection_rate", "resubmission_rate",
             "submitted_within_48h", "revenue_growth_previous", "revenue_growth_baseline")
NUMBER_KEYS = ("days_in_ar", "charge_lag_days", "submission_lag_days", "units_per_visit")


def _number(value):
    return None if value is None else float(value)


def _text(value):
    return None if value is None else str(value)


def as_json(kpis: Kpis) -> dict:
    """Rates as fractions, money as strings, aging keyed by bucket (the `kpis` command's output)."""
    v = kpis.values
    data = {"start": kpis.scope.start.isoformat(), "end": kpis.scope.end.isoformat()}
    data.update({key: _number(v[key]) for key in RATE_KEYS + NUMBER_KEYS})
    data["payments_per_visit"] = _text(v["payments_per_visit"])
    data.update({key: str(value) for key, value in kpis.money.items()})
    data["revenue"] = str(kpis.money["payments"])
    data["ar_aging"] = {key: str(amount) for key, amount in kpis.aging.items()}
    data["counts"] = dict(kpis.counts)
    data["top_denial_reasons"] = [
        {**row, "amount": str(row["amount"]), "share": _number(row["share"]),
         "cumulative_share": _number(row["cumulative_share"])} for row in kpis.top_denials]
    data["payer_mix"] = [
        {"payer": row["payer"], "charges": str(row["charges"]), "share": _number(row["share"]),
         "payments": str(row["payments"])} for row in kpis.payer_mix]
    return data


# --- drill-down: the claims behind a number ------------------------------------------------------------------------

def _open_claims(scope: Scope, buckets: tuple[str, ...] | None = None):
    ids = [row["claim_id"] for row in open_balances(scope) if buckets is None or row["bucket"] in buckets]
    return scope.claims().filter(pk__in=ids)


def _charged_claims(scope: Scope):
    return scope.claims().filter(frequency="1", primary_claim__isnull=True, signed_at__isnull=False,
                                 service_date_from__range=(scope.start, scope.end))


def _within_promise(scope: Scope):
    sent = original_submissions(scope).filter(primary_claim__isnull=True, signed_at__isnull=False)
    within = [pk for pk, signed, submitted in sent.values_list("pk", "signed_at", "submitted_at")
              if (submitted - signed).total_seconds() <= SUBMISSION_PROMISE_HOURS * 3600]
    return scope.claims().filter(pk__in=within)


def _billed_claims(scope: Scope):
    return scope.claims().filter(pk__in=billed_lines(scope).values("claim_id"))


DRILLS = {
    # key: (numerator's claims, denominator's claims)
    "clean_claim_rate": (clean_claims, original_submissions),
    "first_pass_yield": (first_pass_claims, first_adjudicated_claims),
    "denial_rate": (denied_claims, adjudicated_claims),
    "denial_rate_dollars": (denied_claims, adjudicated_claims),
    "resubmission_rate": (resubmitted_claims, submitted_claims),
    "net_collection_rate": (collection_claims,) * 2,
    "gross_collection_rate": (collection_claims,) * 2,
    "revenue": (lambda s: ledger_claims(s, "payments"),) * 2,
    "revenue_growth_previous": (lambda s: ledger_claims(s, "payments"), lambda s: ledger_claims(s.previous(),
                                                                                               "payments")),
    "revenue_growth_baseline": (lambda s: ledger_claims(s, "payments"),) * 2,
    "charges": (lambda s: ledger_claims(s, "charges"),) * 2,
    "payments_per_visit": (lambda s: ledger_claims(s, "payments"), _billed_claims),
    "units_per_visit": (_billed_claims,) * 2,
    "days_in_ar": (_open_claims, lambda s: ledger_claims(s.period(s.end - datetime.timedelta(days=89), s.end),
                                                         "charges")),
    "ar_total": (_open_claims,) * 2,
    "ar_over_90": (lambda s: _open_claims(s, ("91-120", "120+")), _open_claims),
    "ar_over_120": (lambda s: _open_claims(s, ("120+",)), _open_claims),
    "charge_lag_days": (_charged_claims,) * 2,
    "submission_lag_days": (original_submissions,) * 2,
    "submitted_within_48h": (_within_promise, original_submissions),
}


def drill_claims(scope: Scope, key: str, part: str = "numerator"):
    """The claims behind one number. Keys: those of DRILLS, `aging:<bucket>`, `denial:<group>-<carc>` and
    `payer:<id>` (its charges in the period). A key it does not know is a ValueError (the view answers 404)."""
    if key.startswith("aging:"):
        bucket = key.split(":", 1)[1]
        if bucket not in AGE_BUCKETS:
            raise ValueError(key)
        return _open_claims(scope, (bucket,))
    if key.startswith("denial:"):
        group, _, carc = key.split(":", 1)[1].partition("-")
        denials = denials_in_period(scope).filter(group_code=group, carc=carc)
        return scope.claims().filter(pk__in=denials.values("claim_id"))
    if key.startswith("payer:"):
        try:
            payer_id = int(key.split(":", 1)[1])
        except ValueError as exc:
            raise ValueError(key) from exc
        return ledger_claims(replace(scope, payer_id=payer_id), "charges")
    if key not in DRILLS or part not in ("numerator", "denominator"):
        raise ValueError(key)
    numerator, denominator = DRILLS[key]
    return (numerator if part == "numerator" else denominator)(scope)
