"""Reads behind the reporting screens: one report's figures (its period, the periods before it for the trends, the
baseline) and its tables, and the claims a drill-down lists. Every read takes its scope explicitly (a
reporting.kpis.Scope built from the user's VIEW_REPORTS clinics), so nothing here can reach another clinic.

A table is a list of columns with a kind (money, percent as a fraction, days, count, text, date) and rows of raw
values: the page formats them, the CSV writes them plain. A row's `links` name, per column, the drill-down behind the
cell (a drill key and part, and filters that narrow it, e.g. one clinic or one payer).
"""

import datetime
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property

from django.db.models import DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from claims.models import Claim, LedgerEntry
from clinics.models import Clinic, Payer, Provider
from denials.carc import carc_info
from denials.selectors import AGE_BUCKET_LABELS, AGE_BUCKETS

from . import kpis as K
from .cache import Figures

ZERO = Decimal("0.00")
MONEY_FIELD = DecimalField(max_digits=14, decimal_places=2)
TREND_COUNT = 12
SPARK_COUNT = 6
OPEN_ITEMS = 10
BREAKDOWN_KEYS = ("charges", "revenue", "net_collection_rate", "denial_rate", "clean_claim_rate", "days_in_ar",
                  "ar_total")
CLINIC_KEYS = (*K.TILE_KEYS, "charges", "ar_total")
DENIAL_KEY = re.compile(r"^denial:[A-Z]{2}-[A-Z0-9]{1,5}$")
# Rates whose parts are counts of claims: "numerator of denominator" is shown under the number.
COUNT_PARTS = {
    "clean_claim_rate": ("clean_claims", "original_claims_submitted"),
    "first_pass_yield": ("first_pass_claims", "claims_first_adjudicated"),
    "denial_rate": ("claims_denied", "claims_adjudicated"),
    "resubmission_rate": ("resubmitted_claims", "claims_submitted"),
}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: str = "text"  # text | date | count | money | percent | days | number | kind (the row's own kind)
    on_page: bool = True  # False: in the CSV only (e.g. the machine key of a row)


@dataclass
class Row:
    values: dict
    links: dict = field(default_factory=dict)  # column key -> {"key": drill key, "part": ..., **filter overrides}
    kind: str = ""  # for columns of kind "kind": the row's own kind (the KPI table mixes rates, money and days)
    claim: Claim | None = None  # open items: the claim page the first column opens


@dataclass
class Table:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[Row]
    phi: bool = False  # rows name patients: reading it is logged


# --- one report --------------------------------------------------------------------------------------------------


class Report:
    """The figures of one report (a scope and its period), each computed on first use and then kept."""

    def __init__(self, scope: K.Scope, *, periods: list[tuple[datetime.date, datetime.date]],
                 baseline: K.Scope | None = None, baseline_label: str = ""):
        self.scope = scope
        self.periods = periods  # oldest first, ending with the scope's own period
        self.baseline_scope = baseline
        self.baseline_label = baseline_label
        self.figures = Figures()

    @cached_property
    def kpis(self) -> K.Kpis:
        return self.figures.compute(self.scope, baseline=self.baseline_scope)

    @cached_property
    def previous(self) -> K.Kpis:
        return self.figures.compute(self.scope.previous())

    @cached_property
    def baseline(self) -> K.Kpis | None:
        return self.figures.compute(self.baseline_scope) if self.baseline_scope else None

    @cached_property
    def trend(self) -> list[K.Kpis]:
        """The figures of every period of `periods`; the last two are this period's and the previous one's."""
        earlier = [self.figures.compute(self.scope.period(start, end)) for start, end in self.periods[:-2]]
        return [*earlier, self.previous, self.kpis][-len(self.periods):]

    def series(self, key: str, count: int = TREND_COUNT) -> list:
        return [kpis.values.get(key) for kpis in self.trend[-count:]]


def report_for(scope: K.Scope, periods, settings=None) -> Report:
    """A report of `scope`; a single clinic's baseline settings add the "before vs after" figures."""
    if settings is None or not settings.has_baseline:
        return Report(scope, periods=periods)
    return Report(scope, periods=periods, baseline=scope.period(settings.baseline_start, settings.baseline_end),
                  baseline_label=settings.baseline_label)


def settings_of(clinic: Clinic | None):
    if clinic is None:
        return None
    from .models import ReportSettings

    return ReportSettings.objects.filter(clinic=clinic).first()


# --- the tables --------------------------------------------------------------------------------------------------


def kpi_table(report: Report) -> Table:
    """Every KPI with its value, the previous period's, the target and the formula."""
    columns = [Column("key", "Key", on_page=False), Column("label", "KPI"), Column("value", "Value", "kind"),
               Column("previous", "Previous period", "kind"), Column("target", "Target", "kind")]
    if report.baseline is not None:
        label = f"Baseline ({report.baseline_label})" if report.baseline_label else "Baseline"
        columns.append(Column("baseline", label, "kind"))
    columns += [Column("unit", "Unit", on_page=False), Column("formula", "Formula")]
    rows = []
    for key, definition in K.DEFINITIONS.items():
        values = {"key": key, "label": definition.label, "value": report.kpis.values.get(key),
                  "previous": report.previous.values.get(key), "target": definition.target,
                  "unit": definition.kind, "formula": definition.formula}
        if report.baseline is not None:
            values["baseline"] = report.baseline.values.get(key)
        rows.append(Row(values, links={"value": {"key": key, "part": "numerator"}}, kind=definition.kind))
    return Table("kpis", "All figures and how they are computed", tuple(columns), rows)


def aging_table(report: Report) -> Table:
    aging = report.kpis.aging
    total = sum(aging.values(), ZERO)
    rows = [Row({"bucket": key, "label": AGE_BUCKET_LABELS[key], "amount": aging.get(key, ZERO),
                 "share": K.ratio(aging.get(key, ZERO), total)},
                links={"amount": {"key": f"aging:{key}", "part": "numerator"}}) for key in AGE_BUCKETS]
    rows.append(Row({"bucket": "total", "label": "Total A/R", "amount": total, "share": K.ratio(total, total)},
                    links={"amount": {"key": "ar_total", "part": "numerator"}}))
    columns = (Column("bucket", "Bucket", on_page=False), Column("label", "Age from the date of service"),
               Column("amount", "Owed at period end", "money"), Column("share", "Share", "percent"))
    return Table("aging", "A/R aging", columns, rows)


def denial_reason_table(report: Report) -> Table:
    rows = []
    for item in report.kpis.top_denials:
        code = f"{item['group']}-{item['carc']}"
        link = {"key": f"denial:{code}", "part": "numerator"}
        rows.append(Row({"code": code, "reason": item["reason"], "category": item["category"],
                         "count": item["count"], "amount": item["amount"], "share": item["share"],
                         "cumulative_share": item["cumulative_share"]}, links={"count": link, "amount": link}))
    columns = (Column("code", "Reason (group-CARC)"), Column("reason", "Meaning"), Column("category", "Category"),
               Column("count", "Denials", "count"), Column("amount", "Amount", "money"),
               Column("share", "Share", "percent"), Column("cumulative_share", "Cumulative", "percent"))
    return Table("denial_reasons", "Top denial reasons (CARC Pareto)", columns, rows)


def payer_mix_table(report: Report) -> Table:
    public_ids = dict(Payer.objects.filter(pk__in=[row["payer_id"] for row in report.kpis.payer_mix])
                      .values_list("pk", "public_id"))
    rows = []
    for item in report.kpis.payer_mix:
        narrow = {"payer": str(public_ids[item["payer_id"]])} if item["payer_id"] in public_ids else {}
        rows.append(Row({"payer": item["payer"], "charges": item["charges"], "share": item["share"],
                         "payments": item["payments"]},
                        links={"charges": {"key": "charges", "part": "numerator", **narrow},
                               "payments": {"key": "revenue", "part": "numerator", **narrow}}))
    columns = (Column("payer", "Payer"), Column("charges", "Gross charges", "money"),
               Column("share", "Share of charges", "percent"), Column("payments", "Payments", "money"))
    return Table("payer_mix", "Payer mix", columns, rows)


def _figure_columns(keys) -> list[Column]:
    return [Column(key, K.DEFINITIONS[key].label, K.DEFINITIONS[key].kind) for key in keys]


def _figure_links(keys, **narrow) -> dict:
    return {key: {"key": key, "part": "numerator", **narrow} for key in keys}


def breakdown_table(report: Report, by: str) -> Table:
    """The headline figures per payer or per therapist (kpis.breakdown), each cell drilling into that one."""
    model, param, title = (Payer, "payer", "By payer") if by == "payer" else \
        (Provider, "therapist", "By therapist")
    items = K.breakdown(report.scope, by, compute_with=report.figures.compute)
    public_ids = dict(model.objects.filter(pk__in=[item["id"] for item in items]).values_list("pk", "public_id"))
    rows = [Row({"name": item["name"], **{key: item["kpis"].values.get(key) for key in BREAKDOWN_KEYS}},
                links=_figure_links(BREAKDOWN_KEYS, **{param: str(public_ids[item["id"]])}))
            for item in items]
    name = Column("name", "Payer" if by == "payer" else "Therapist (rendering provider)")
    return Table(f"by_{'payer' if by == 'payer' else 'therapist'}", title,
                 (name, *_figure_columns(BREAKDOWN_KEYS)), rows)


def clinic_table(report: Report) -> Table:
    """One row per clinic of the scope, each figure computed on that clinic alone."""
    rows = []
    for clinic in Clinic.objects.filter(pk__in=report.scope.clinic_ids).order_by("legal_name"):
        kpis = report.figures.compute(replace(report.scope, clinic_ids=(clinic.pk,)))
        rows.append(Row({"clinic": clinic.legal_name, **{key: kpis.values.get(key) for key in CLINIC_KEYS}},
                        links=_figure_links(CLINIC_KEYS, clinic=str(clinic.public_id))))
    return Table("clinics", "Clinics compared", (Column("clinic", "Clinic"), *_figure_columns(CLINIC_KEYS)), rows)


def open_items_table(report: Report, limit: int = OPEN_ITEMS) -> Table:
    """The largest balances still owed at the end of the period, largest first."""
    scope = report.scope
    balances = sorted(K.open_balances(scope), key=lambda row: (-row["balance"], row["claim_id"]))[:limit]
    claims = Claim.objects.filter(pk__in=[row["claim_id"] for row in balances]).select_related(
        "clinic", "patient", "payer")
    by_id = {claim.pk: claim for claim in claims}
    rows = []
    for item in balances:
        claim = by_id[item["claim_id"]]
        rows.append(Row({"claim": claim.patient_control_number, "clinic": claim.clinic.legal_name,
                         "patient": str(claim.patient), "payer": claim.payer.name,
                         "service_date": claim.service_date_from, "balance": item["balance"],
                         "age_days": (scope.end - claim.service_date_from).days,
                         "bucket": AGE_BUCKET_LABELS[item["bucket"]]}, claim=claim))
    columns = (Column("claim", "Claim"), Column("clinic", "Clinic"), Column("patient", "Patient"),
               Column("payer", "Payer"), Column("service_date", "Date of service", "date"),
               Column("balance", "Balance at period end", "money"), Column("age_days", "Age (days)", "count"),
               Column("bucket", "Bucket"))
    return Table("open_items", f"Top {limit} open items", columns, rows, phi=True)


TABLES = {
    "kpis": kpi_table,
    "aging": aging_table,
    "denial_reasons": denial_reason_table,
    "payer_mix": payer_mix_table,
    "by_payer": lambda report: breakdown_table(report, "payer"),
    "by_therapist": lambda report: breakdown_table(report, "provider"),
    "open_items": open_items_table,
    "clinics": clinic_table,
}


# --- drill-down --------------------------------------------------------------------------------------------------


def _ledger_balance():
    rows = LedgerEntry.objects.filter(claim=OuterRef("pk")).order_by().values("claim").annotate(
        total=Sum("amount")).values("total")[:1]
    return Coalesce(Subquery(rows, output_field=MONEY_FIELD), Value(ZERO), output_field=MONEY_FIELD)


def drill_queryset(scope: K.Scope, key: str, part: str):
    """The claims behind one number, each with its current balance (the sum of its ledger rows). A key or part
    kpis does not know is a ValueError; so is kpis' `payer:<pk>`, since the pages narrow to a payer by its public
    id in the filters instead."""
    if key.startswith("payer:") or (key.startswith("denial:") and not DENIAL_KEY.match(key)):
        raise ValueError(key)
    claims = K.drill_claims(scope, key, part)
    return (Claim.objects.filter(pk__in=claims.values("pk"))
            .select_related("clinic", "patient", "payer", "rendering_provider")
            .annotate(balance=_ledger_balance()))


def drill_totals(claims) -> dict:
    """Count, charges and current balance of the whole list (not only the page on screen)."""
    plain = Claim.objects.filter(pk__in=claims.values("pk"))
    charges = plain.aggregate(total=Sum("total_charge"))["total"] or ZERO
    balance = LedgerEntry.objects.filter(claim__in=plain).aggregate(total=Sum("amount"))["total"] or ZERO
    return {"count": plain.count(), "charges": charges, "balance": balance}


@dataclass(frozen=True)
class DrillTitle:
    label: str
    formula: str
    definition_key: str | None  # the KPI whose value the page repeats, when the key is one


def drill_title(key: str, part: str) -> DrillTitle:
    """What the list is: the KPI and which side of its fraction, or the aging bucket, or the denial reason."""
    if key.startswith("aging:"):
        bucket = key.split(":", 1)[1]
        return DrillTitle(f"A/R {AGE_BUCKET_LABELS.get(bucket, bucket)}",
                          f"Claims still owing at the end of the period whose first date of service was "
                          f"{AGE_BUCKET_LABELS.get(bucket, bucket)} before it.", None)
    if key.startswith("denial:"):
        code = key.split(":", 1)[1]
        meaning = carc_info(code.partition("-")[2]).meaning
        return DrillTitle(f"Denial reason {code}: {meaning}",
                          f"Claims with a {code} denial dated in the period.", None)
    definition = K.DEFINITIONS[key]
    numerator, sep, denominator = definition.formula.partition(" ÷ ")
    if not sep:
        return DrillTitle(definition.label, definition.formula, key)
    side = numerator if part == "numerator" else denominator
    return DrillTitle(f"{definition.label}: {part} — {side.strip().rstrip('.')}", definition.formula, key)
