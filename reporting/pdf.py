"""The monthly report of one clinic as a PDF (WeasyPrint), and the figures it prints.

The cover's figures are `kpis.as_json(compute(...))` for the clinic and month, with the clinic's baseline from its
ReportSettings: exactly what `manage.py kpis --json` prints and what is stored beside the PDF, so the report, the
dashboard and the command cannot disagree. The report is e-mailed, so it names no patient: open items are listed by
claim number, payer, date of service, balance and age.
"""

import datetime
import zoneinfo
from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import timezone

from claims.models import Claim
from denials.selectors import AGE_BUCKET_LABELS

from . import charts
from .kpis import (
    DEFINITIONS,
    TILE_KEYS,
    Kpis,
    Scope,
    as_json,
    compute,
    month_bounds,
    open_balances,
    scope_for_clinics,
    trend_periods,
)
from .models import ReportSettings

TEMPLATE = "reporting/monthly_report.html"
# The cover's rows: the dashboard's tiles, then the rest of the month's headline figures.
COVER_KEYS = (*TILE_KEYS, "denial_rate_dollars", "gross_collection_rate", "resubmission_rate", "charge_lag_days",
              "submission_lag_days", "payments_per_visit", "units_per_visit")
BIG_KEYS = ("revenue", "clean_claim_rate", "denial_rate", "days_in_ar")
TREND_MONTHS = 6
OPEN_ITEMS = 10
NO_VALUE = "—"
# Chart widths in SVG units: drawn across the page, a narrower box prints its text larger.
CHART_WIDTH = 520


# --- the figures ----------------------------------------------------------------------------------------------------

def report_settings_of(clinic) -> ReportSettings | None:
    return ReportSettings.objects.filter(clinic=clinic).first()


def baseline_scope(clinic, scope: Scope, settings: ReportSettings | None = None) -> Scope | None:
    """The clinic's "before" period with the same narrowing as `scope`, or None when it has none."""
    settings = settings if settings is not None else report_settings_of(clinic)
    if settings is None or not settings.has_baseline:
        return None
    return scope.period(settings.baseline_start, settings.baseline_end)


def month_scope(clinic, month_start: datetime.date, *, payer_id=None, provider_id=None) -> Scope:
    start, end = month_bounds(month_start)
    return scope_for_clinics([clinic], start=start, end=end, payer_id=payer_id, provider_id=provider_id)


def month_kpis(clinic, month_start: datetime.date, *, payer_id=None, provider_id=None,
               settings: ReportSettings | None = None) -> Kpis:
    """The month's figures of one clinic, compared with the clinic's baseline when it has one."""
    scope = month_scope(clinic, month_start, payer_id=payer_id, provider_id=provider_id)
    return compute(scope, baseline=baseline_scope(clinic, scope, settings))


def figures_of(clinic, kpis: Kpis) -> dict:
    """The JSON object of `manage.py kpis --json` and of MonthlyReport.figures."""
    return {"clinic": clinic.slug, "month": kpis.scope.start.strftime("%Y-%m"), **as_json(kpis)}


# --- how a number is printed --------------------------------------------------------------------------------------

def display(value, kind: str) -> str:
    """Money "$1,234.56", percent from a fraction "95.3 %", days "3.4 days", number "2.45"; no value "—"."""
    if value is None:
        return NO_VALUE
    if kind == "days":
        return f"{charts.format_value(value, 'number', decimals=1)} days"
    if kind == "number":
        return charts.format_value(value, "number", decimals=2)
    return charts.format_value(value, kind)


def target_text(key: str) -> str:
    definition = DEFINITIONS[key]
    if definition.target is None:
        return "trend"
    return f"{'≥' if definition.higher_is_better else '≤'} {display(definition.target, definition.kind)}"


def _met(key: str, value) -> str:
    definition = DEFINITIONS[key]
    if definition.target is None or value is None:
        return ""
    met = value >= definition.target if definition.higher_is_better else value <= definition.target
    return "met" if met else "missed"


# --- what the report shows ----------------------------------------------------------------------------------------

def _cover_rows(current: Kpis, previous: Kpis, baseline: Kpis | None) -> list[dict]:
    rows = []
    for key in COVER_KEYS:
        definition = DEFINITIONS[key]
        base = None
        if baseline is not None:
            # Money that flows is compared per month: the baseline's total scaled to this month's length.
            base = current.money.get("revenue_baseline") if key == "revenue" else baseline.values.get(key)
        rows.append({"key": key, "label": definition.label, "formula": definition.formula,
                     "value": display(current.values.get(key), definition.kind),
                     "previous": display(previous.values.get(key), definition.kind),
                     "baseline": display(base, definition.kind), "target": target_text(key),
                     "status": _met(key, current.values.get(key))})
    return rows


def _aging_rows(kpis: Kpis, balances: list[dict]) -> list[dict]:
    total = sum(kpis.aging.values(), Decimal("0.00"))
    rows = []
    for key, amount in kpis.aging.items():
        claims = sum(1 for row in balances if row["bucket"] == key)
        share = amount / total if total else None
        rows.append({"key": key, "label": AGE_BUCKET_LABELS.get(key, key), "amount": display(amount, "money"),
                     "share": display(share, "percent"), "claims": claims})
    return rows


def top_open_items(scope: Scope, balances: list[dict], limit: int = OPEN_ITEMS) -> list[dict]:
    """The largest balances owed at the end of the period: claim number, payer, DOS, balance, age (no patient)."""
    owed = sorted((row for row in balances if row["balance"] > 0), key=lambda row: (-row["balance"], row["claim_id"]))
    owed = owed[:limit]
    claims = Claim.objects.select_related("payer").in_bulk([row["claim_id"] for row in owed])
    return [{"claim_number": claims[row["claim_id"]].patient_control_number,
             "payer": claims[row["claim_id"]].payer.name, "date_of_service": row["service_date_from"],
             "balance": display(row["balance"], "money"), "age_days": (scope.end - row["service_date_from"]).days,
             "bucket": AGE_BUCKET_LABELS.get(row["bucket"], row["bucket"])} for row in owed]


def _denial_rows(kpis: Kpis) -> list[dict]:
    return [{"code": f"{row['group']}-{row['carc']}" if row["group"] else row["carc"], "reason": row["reason"],
             "category": row["category"], "count": row["count"], "amount": display(row["amount"], "money"),
             "share": display(row["share"], "percent"), "cumulative": display(row["cumulative_share"], "percent")}
            for row in kpis.top_denials]


def _payer_rows(kpis: Kpis) -> list[dict]:
    return [{"payer": row["payer"], "charges": display(row["charges"], "money"),
             "share": display(row["share"], "percent"), "payments": display(row["payments"], "money")}
            for row in kpis.payer_mix]


def _charts(trend: list[Kpis], current: Kpis) -> dict:
    labels = [kpis.scope.start.strftime("%b %Y") for kpis in trend]
    return {
        "collections": charts.bar_chart(
            labels, [kpis.values["revenue"] for kpis in trend], y_format="money", highlight_last=True,
            title=f"Net collections, last {len(trend)} months", width=CHART_WIDTH, height=210),
        "rates": charts.line_chart(
            labels, [charts.Series("Clean claim rate", [kpis.values["clean_claim_rate"] for kpis in trend]),
                     charts.Series("Denial rate (claims)", [kpis.values["denial_rate"] for kpis in trend])],
            y_format="percent", title=f"Clean claim rate and denial rate, last {len(trend)} months",
            width=CHART_WIDTH, height=210, zero_based=True),
        "aging": charts.aging_bar(current.aging, bucket_labels=AGE_BUCKET_LABELS, show_title=False,
                                  title="A/R aging at the end of the month", width=CHART_WIDTH),
        "pareto": charts.pareto_chart(
            [f"{row['group']}-{row['carc']}" if row["group"] else row["carc"] for row in current.top_denials],
            [row["amount"] for row in current.top_denials], y_format="money",
            title="Denial reasons (CARC), by amount denied", width=CHART_WIDTH, height=220),
        "payer_mix": charts.share_bars(
            [row["payer"] for row in current.payer_mix], [row["charges"] for row in current.payer_mix],
            y_format="money", title="Payer mix, by gross charges", show_title=False, width=CHART_WIDTH),
    }


def _clinic_today(clinic) -> datetime.date:
    try:
        zone = zoneinfo.ZoneInfo(clinic.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = datetime.UTC
    return timezone.localdate(timezone=zone)


def report_data(clinic, month_start: datetime.date, *, today: datetime.date | None = None) -> dict:
    """Everything the report prints. `figures` is the cover's JSON (see figures_of)."""
    settings = report_settings_of(clinic)
    current = month_kpis(clinic, month_start, settings=settings)
    scope = current.scope
    earlier = [compute(scope.period(start, end))
               for start, end in trend_periods(scope.end, grain="month", count=TREND_MONTHS)[:-1]]
    trend = [*earlier, current]
    base_scope = baseline_scope(clinic, scope, settings)
    baseline = compute(base_scope) if base_scope is not None else None
    balances = open_balances(scope)
    return {
        "clinic": clinic, "month_start": scope.start, "month_end": scope.end,
        "today": today or _clinic_today(clinic), "settings": settings, "baseline_scope": base_scope,
        "figures": figures_of(clinic, current), "kpis": current, "previous_start": trend[-2].scope.start,
        "big": [{"label": DEFINITIONS[key].label, "value": display(current.values.get(key), DEFINITIONS[key].kind),
                 "status": _met(key, current.values.get(key))} for key in BIG_KEYS],
        "rows": _cover_rows(current, trend[-2], baseline),
        "ar_total": display(current.money["ar_total"], "money"),
        "aging_rows": _aging_rows(current, balances), "open_items": top_open_items(scope, balances),
        "open_items_limit": OPEN_ITEMS,
        "denial_rows": _denial_rows(current), "payer_rows": _payer_rows(current),
        "charts": _charts(trend, current),
    }


def _no_fetch(url, *args, **kwargs):
    raise ValueError(f"the monthly report loads nothing from outside ({url})")


def render_monthly_report(clinic, month_start: datetime.date, *,
                          today: datetime.date | None = None) -> tuple[bytes, dict]:
    """The month's report as PDF bytes, and the figures its cover prints."""
    from weasyprint import HTML

    data = report_data(clinic, month_start, today=today)
    html = render_to_string(TEMPLATE, data)
    return HTML(string=html, base_url=None, url_fetcher=_no_fetch).write_pdf(), data["figures"]
