"""Reporting screens: the owner's and the operator's dashboard (KPI tiles with trend, server-drawn SVG charts,
tables), the drill-down from any number to the claims behind it, CSV exports of every table, the baseline settings
and the monthly PDF reports.

Every figure comes from reporting.kpis over a scope of the clinics where the user holds VIEW_REPORTS (narrowed to one
clinic by `?clinic=` or the switcher), so another clinic's numbers are never computed for them: another clinic's id
in a filter is an invalid choice, and another clinic's settings page or report is a 404. Lists that name patients
(top open items, drill-downs) are written to the access log.
"""

import datetime
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from clinics.current import current_clinic
from clinics.forms import apply_errors
from clinics.models import AccessAction
from clinics.services import access_log_record, clinic_record_save
from clinics.views import paginate
from denials.selectors import AGE_BUCKET_LABELS
from otbilling.errors import AppError
from otbilling.pagination import SortKey, keyset_page
from otbilling.tenancy import (
    MANAGE_CLINIC,
    VIEW_PHI,
    VIEW_REPORTS,
    WORK_CLAIMS,
    clinics_visible_to,
    get_visible_or_404,
)
from otbilling.tenancy import require_perm_on_some_clinic as _require_any
from otbilling.web import csv_cell, csv_response, render_page_or_fragment

from . import charts
from . import kpis as K
from .cache import Figures
from .forms import MONTH, MonthlyReportForm, ReportFilterForm, ReportFilters, ReportSettingsForm
from .models import MonthlyReport, ReportSettings
from .selectors import (
    COUNT_PARTS,
    SPARK_COUNT,
    TABLES,
    TREND_COUNT,
    Report,
    Table,
    drill_queryset,
    drill_title,
    drill_totals,
    report_for,
    settings_of,
)

NO_REPORTS = "You may see no clinic's reports."
PAGE_SIZE = 50
NUMERIC = ("count", "money", "percent", "days", "number")
DASHBOARD_TABLES = ("kpis", "aging", "denial_reasons", "payer_mix", "by_payer", "by_therapist", "open_items")
DRILL_SORTS = {"dos": SortKey(F("service_date_from"), "date")}
SETTINGS_EDIT_PERMS = (MANAGE_CLINIC, WORK_CLAIMS)
RESTRICTED = "(restricted)"  # a patient's name where the user may read reports but not the clinic's patients


# --- filters and scope --------------------------------------------------------------------------------------------


def _filters(request) -> tuple[ReportFilterForm, ReportFilters]:
    """The GET filters, with the switcher's clinic when the request names none and it is one of the user's
    reporting clinics."""
    data = request.GET.copy()
    form = ReportFilterForm(data, user=request.user)
    switcher = current_clinic(request)
    if "clinic" not in data and switcher is not None and "clinic" in form.fields \
            and any(clinic.pk == switcher.pk for clinic in form.clinics):
        data["clinic"] = str(switcher.public_id)
        form = ReportFilterForm(data, user=request.user)
    return form, form.filters()


def _phi_clinics(user) -> set[int]:
    return set(clinics_visible_to(user, VIEW_PHI).values_list("pk", flat=True))


def _scope(request, filters: ReportFilters) -> K.Scope:
    return K.scope_for_user(request.user, start=filters.start, end=filters.end, clinic=filters.clinic,
                            payer_id=filters.payer.pk if filters.payer else None,
                            provider_id=filters.therapist.pk if filters.therapist else None)


def _report(request, filters: ReportFilters) -> Report:
    return report_for(_scope(request, filters), filters.periods(TREND_COUNT), settings_of(filters.clinic))


def drill_url(filters: ReportFilters, key: str, part: str = "numerator", **overrides) -> str:
    return f"{reverse('reporting:drill')}?{filters.query(key=key, part=part, **overrides)}"


def export_url(filters: ReportFilters, table: str) -> str:
    return f"{reverse('reporting:export', kwargs={'table': table})}?{filters.query()}"


# --- formatting ---------------------------------------------------------------------------------------------------


def text_of(value, kind: str) -> str:
    """A value as the page shows it: "95.3 %", "$12,345.67", "31.4 d"; no value is a dash."""
    if value is None or value == "":
        return "—"
    if kind in ("money", "percent", "days", "number"):
        return charts.format_value(value, kind)
    if kind == "count":
        return f"{value:,}"
    if kind == "date":
        return f"{value:%Y-%m-%d}"
    return str(value)


def csv_value(value, kind: str) -> str:
    """A value as the CSV writes it: money as a plain decimal, rates as fractions, dates ISO."""
    if value is None:
        return ""
    if kind == "money":
        return f"{Decimal(value):.2f}"
    if kind == "date":
        return value.isoformat()
    return str(value) if kind in NUMERIC else csv_cell(value)


def _change(current, previous, definition: K.Definition) -> dict | None:
    """The move from `previous` to `current`: its arrow, its size in the KPI's unit and whether it is good news."""
    if current is None or previous is None:
        return None
    delta = current - previous
    if delta == 0:
        return {"arrow": "■", "text": "no change", "tone": "flat"}
    if definition.kind == "percent":
        size = f"{abs(delta) * 100:.1f} pts"
    else:
        size = charts.format_value(abs(delta), definition.kind)
    better = (delta > 0) == definition.higher_is_better
    return {"arrow": "▲" if delta > 0 else "▼", "text": size, "tone": "good" if better else "bad",
            "words": f"{'up' if delta > 0 else 'down'} {size}"}


def _period_name(start, end, filters: ReportFilters) -> str:
    if filters.grain == MONTH and not filters.custom:
        return f"{start:%b %Y}"
    return f"{start:%-d %b} – {end:%-d %b %Y}"


# --- dashboard ----------------------------------------------------------------------------------------------------


def _tile(report: Report, filters: ReportFilters, key: str) -> dict:
    definition = K.DEFINITIONS[key]
    value, previous = report.kpis.values.get(key), report.previous.values.get(key)
    tile = {
        "key": key, "label": definition.label, "formula": definition.formula, "text": text_of(value, definition.kind),
        "href": drill_url(filters, key), "previous_text": text_of(previous, definition.kind),
        "change": _change(value, previous, definition),
        "target_text": text_of(definition.target, definition.kind) if definition.target is not None else "",
        "target_sign": "≥" if definition.higher_is_better else "≤",
        "sparkline": charts.sparkline(report.series(key, SPARK_COUNT), title=f"{definition.label}, last "
                                      f"{SPARK_COUNT} periods", y_format=definition.kind),
    }
    if key in COUNT_PARTS:
        numerator, denominator = COUNT_PARTS[key]
        tile["counts"] = {"numerator": report.kpis.counts.get(numerator, 0), "numerator_href": tile["href"],
                          "denominator": report.kpis.counts.get(denominator, 0),
                          "denominator_href": drill_url(filters, key, "denominator")}
    if report.baseline is not None:
        base = report.baseline.values.get(key)
        tile["baseline"] = {"text": text_of(base, definition.kind), "change": _change(value, base, definition)}
    return tile


def _charts(report: Report, filters: ReportFilters) -> dict:
    labels = [filters.period_label(start) for start, _end in report.periods]
    rates = {}
    for key in ("clean_claim_rate", "denial_rate"):
        definition = K.DEFINITIONS[key]
        rates[key] = charts.line_chart(labels, [charts.Series(definition.label, report.series(key))],
                                       y_format="percent", target=definition.target, title=definition.label)
    denials = report.kpis.top_denials
    mix = report.kpis.payer_mix
    return {
        "collections": charts.bar_chart(labels, report.series("revenue"), y_format="money", highlight_last=True,
                                        title="Net collections"),
        "clean_claim_rate": rates["clean_claim_rate"], "denial_rate": rates["denial_rate"],
        "aging": charts.aging_bar(report.kpis.aging, bucket_labels=AGE_BUCKET_LABELS),
        "pareto": charts.pareto_chart([f"{row['group']}-{row['carc']}" for row in denials],
                                      [row["amount"] for row in denials], y_format="money",
                                      title="Denial reasons (CARC Pareto)"),
        "payer_mix": charts.share_bars([row["payer"] for row in mix], [row["charges"] for row in mix],
                                       y_format="money", title="Payer mix (gross charges)"),
    }


def _readable(row, phi_clinics: set[int]) -> dict:
    """The row's values, with the patient's name withheld where the user may not read the clinic's patients."""
    if row.claim is None or row.claim.clinic_id in phi_clinics or "patient" not in row.values:
        return row.values
    return {**row.values, "patient": RESTRICTED}


def _cell(row, column, filters: ReportFilters, phi_clinics: set[int]) -> dict:
    value = _readable(row, phi_clinics).get(column.key)
    kind = row.kind if column.kind == "kind" else column.kind
    cell = {"text": text_of(value, kind), "href": None, "numeric": kind in NUMERIC, "key": column.key}
    if column.key in row.links and value is not None:
        cell["href"] = drill_url(filters, **row.links[column.key])
    if row.claim is not None and column.key == "claim" and row.claim.clinic_id in phi_clinics:
        cell["href"] = reverse("claim-detail", kwargs={"public_id": row.claim.public_id})
    return cell


def table_display(table: Table, filters: ReportFilters, phi_clinics: set[int], *, show_clinic: bool) -> dict:
    """A table as the page shows it: formatted cells, drill links carrying the filters, the CSV link."""
    columns = [c for c in table.columns if c.on_page and (show_clinic or c.key != "clinic" or table.name == "clinics")]
    rows = [[_cell(row, column, filters, phi_clinics) for column in columns] for row in table.rows]
    return {"name": table.name, "title": table.title, "rows": rows, "csv": export_url(filters, table.name),
            "columns": [{"label": c.label, "numeric": c.kind in NUMERIC or c.kind == "kind"} for c in columns]}


def _neighbours(filters: ReportFilters) -> dict:
    """Links to the period before and after this one (month and week views)."""
    if filters.custom:
        return {}
    if filters.grain == MONTH:
        before = K.month_bounds(filters.start - datetime.timedelta(days=1))
        after = K.month_bounds(filters.end + datetime.timedelta(days=1))
        return {name: {"label": _period_name(*bounds, filters), "query": filters.query(period=f"{bounds[0]:%Y-%m}")}
                for name, bounds in (("before", before), ("after", after))}
    week = datetime.timedelta(days=7)
    return {name: {"label": _period_name(start, start + datetime.timedelta(days=6), filters),
                   "query": filters.query(period=start.isoformat())}
            for name, start in (("before", filters.start - week), ("after", filters.start + week))}


@login_required
@require_GET
def dashboard(request):
    """One clinic's dashboard (its owner's view), or every reporting clinic of the user with a comparison table."""
    _require_any(request.user, VIEW_REPORTS, NO_REPORTS)
    form, filters = _filters(request)
    report = _report(request, filters)
    names = DASHBOARD_TABLES if filters.clinic else ("clinics", *DASHBOARD_TABLES)
    phi_clinics = _phi_clinics(request.user)
    tables = {name: TABLES[name](report) for name in names}
    shown = {name: table_display(table, filters, phi_clinics, show_clinic=filters.clinic is None)
             for name, table in tables.items()}
    access_log_record(request, action=AccessAction.LIST, object_type="claim", clinic=filters.clinic,
                      label=f"report open items {filters.label}: {len(tables['open_items'].rows)} shown")
    previous = K.previous_period(filters.start, filters.end)
    context = {
        "form": form, "filters": filters, "clinic": filters.clinic, "report": report,
        "tiles": [_tile(report, filters, key) for key in K.TILE_KEYS], "charts": _charts(report, filters),
        "tables": shown, "previous_label": _period_name(*previous, filters), "neighbours": _neighbours(filters),
        "growth": _growth(report, filters), "settings_url": _settings_url(request, filters.clinic),
    }
    return render_page_or_fragment(request, "reporting/dashboard.html", "reporting/_dashboard_body.html", context)


def _growth(report: Report, filters: ReportFilters) -> list[dict]:
    keys = ["revenue_growth_previous"] + (["revenue_growth_baseline"] if report.baseline is not None else [])
    return [{"key": key, "label": K.DEFINITIONS[key].label, "formula": K.DEFINITIONS[key].formula,
             "text": text_of(report.kpis.values.get(key), "percent"), "href": drill_url(filters, key)}
            for key in keys]


def _settings_url(request, clinic) -> str | None:
    if clinic is None:
        return None
    return reverse("reporting:settings", kwargs={"public_id": clinic.public_id})


# --- CSV exports --------------------------------------------------------------------------------------------------


def _file_stem(filters: ReportFilters) -> str:
    who = filters.clinic.slug if filters.clinic else "all-clinics"
    return f"{who}-{filters.start:%Y-%m-%d}-{filters.end:%Y-%m-%d}"


@login_required
@require_GET
def export(request, table):
    """One dashboard table as CSV with the dashboard's filters: money as plain decimals, rates as fractions."""
    _require_any(request.user, VIEW_REPORTS, NO_REPORTS)
    if table not in TABLES:
        raise Http404("No such table.")
    _form, filters = _filters(request)
    data = TABLES[table](_report(request, filters))
    phi_clinics = _phi_clinics(request.user)
    response, writer = csv_response(f"{table}-{_file_stem(filters)}.csv")
    writer.writerow([column.label for column in data.columns])
    for row in data.rows:
        values = _readable(row, phi_clinics)
        writer.writerow([csv_value(values.get(c.key), row.kind if c.kind == "kind" else c.kind) for c in data.columns])
    if data.phi:
        access_log_record(request, action=AccessAction.EXPORT, object_type="claim", clinic=filters.clinic,
                          label=f"report {table} CSV {filters.label}: {len(data.rows)} rows")
    return response


# --- drill-down ---------------------------------------------------------------------------------------------------


def _drill(request):
    _require_any(request.user, VIEW_REPORTS, NO_REPORTS)
    form, filters = _filters(request)
    key, part = request.GET.get("key", ""), request.GET.get("part", "") or "numerator"
    scope = _scope(request, filters)
    try:
        claims = drill_queryset(scope, key, part)
        title = drill_title(key, part)
    except (ValueError, KeyError) as exc:
        raise Http404("No such figure.") from exc
    return form, filters, scope, key, part, claims, title


DRILL_CSV_HEADER = ["Claim", "Clinic", "Patient", "Payer", "Therapist", "Date of service", "Status", "Charge",
                    "Current balance"]


@login_required
@require_GET
def drill(request):
    """The claims behind one number, with the number, its formula and the totals of the list."""
    form, filters, scope, key, part, claims, title = _drill(request)
    page = keyset_page(claims, keys=DRILL_SORTS, scope="reporting-drill", sort="-dos",
                       after=request.GET.get("after", ""), page_size=PAGE_SIZE)
    phi_clinics = _phi_clinics(request.user)
    figure = None
    if title.definition_key:
        kpis = Figures().compute(scope)
        definition = K.DEFINITIONS[title.definition_key]
        figure = {"label": definition.label, "text": text_of(kpis.values.get(title.definition_key), definition.kind)}
        if title.definition_key in COUNT_PARTS:
            numerator, denominator = COUNT_PARTS[title.definition_key]
            figure["counts"] = (kpis.counts.get(numerator, 0), kpis.counts.get(denominator, 0))
    access_log_record(request, action=AccessAction.LIST, object_type="claim", clinic=filters.clinic,
                      label=f"report drill {key} {part} {filters.label}: {len(page.rows)} shown")
    other = "denominator" if part == "numerator" else "numerator"
    return render(request, "reporting/drill.html", {
        "form": form, "filters": filters, "clinic": filters.clinic, "key": key, "part": part, "title": title,
        "figure": figure, "rows": page.rows, "next_cursor": page.next_cursor, "paged": page.paged,
        "totals": drill_totals(claims), "phi_clinics": phi_clinics, "show_clinic": filters.clinic is None,
        "back_url": f"{reverse('reporting:dashboard')}?{filters.query()}",
        "csv_url": f"{reverse('reporting:drill_csv')}?{filters.query(key=key, part=part)}",
        "other_part": other if key in K.DRILLS else None,
        "other_url": drill_url(filters, key, other) if key in K.DRILLS else None,
    })


@login_required
@require_GET
def drill_csv(request):
    """Every claim behind the number (not only the page on screen), so the CSV adds up to it."""
    _form, filters, _scope_, key, part, claims, _title = _drill(request)
    phi_clinics = _phi_clinics(request.user)
    response, writer = csv_response(f"drill-{key.replace(':', '-')}-{part}-{_file_stem(filters)}.csv")
    writer.writerow(DRILL_CSV_HEADER)
    count = 0
    for claim in claims.order_by("-service_date_from", "-pk"):
        patient = str(claim.patient) if claim.clinic_id in phi_clinics else RESTRICTED
        writer.writerow([csv_value(value, kind) for value, kind in (
            (claim.patient_control_number, "text"), (claim.clinic.legal_name, "text"), (patient, "text"),
            (claim.payer.name, "text"), (str(claim.rendering_provider), "text"), (claim.service_date_from, "date"),
            (claim.get_status_display(), "text"), (claim.total_charge, "money"), (claim.balance, "money"))])
        count += 1
    access_log_record(request, action=AccessAction.EXPORT, object_type="claim", clinic=filters.clinic,
                      label=f"report drill {key} {part} CSV {filters.label}: {count} rows")
    return response


# --- baseline settings --------------------------------------------------------------------------------------------


def _settings_clinic(user, public_id):
    """The clinic, when the user may read its reports or edit its settings; otherwise it does not exist."""
    for perm in (VIEW_REPORTS, *SETTINGS_EDIT_PERMS):
        clinic = clinics_visible_to(user, perm).filter(public_id=public_id).first()
        if clinic is not None:
            return clinic
    raise Http404("No such clinic among yours.")


def _edit_perm(user, clinic) -> str | None:
    return next((perm for perm in SETTINGS_EDIT_PERMS if clinics_visible_to(user, perm).filter(pk=clinic.pk)
                 .exists()), None)


@login_required
def report_settings(request, public_id):
    """The clinic's baseline ("before") period and the monthly e-mail; owners read it, billers and managers edit."""
    clinic = _settings_clinic(request.user, public_id)
    perm = _edit_perm(request.user, clinic)
    instance = ReportSettings.objects.filter(clinic=clinic).first() or ReportSettings(clinic=clinic)
    if request.method == "POST" and perm is None:
        raise PermissionDenied("You may read this clinic's report settings but not change them.")
    form = ReportSettingsForm(request.POST or None, instance=instance, read_only=perm is None)
    if request.method == "POST" and form.is_valid():
        try:
            clinic_record_save(acting_user=request.user, instance=form.save(commit=False), perm=perm)
        except (ValidationError, AppError) as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Report settings of {clinic.legal_name} saved.")
            return redirect("reporting:settings", public_id=clinic.public_id)
    return render(request, "reporting/settings.html", {
        "form": form, "clinic": clinic, "can_edit": perm is not None,
        "dashboard_url": f"{reverse('reporting:dashboard')}?clinic={clinic.public_id}",
    })


# --- monthly reports ----------------------------------------------------------------------------------------------


def _generate(request, form: MonthlyReportForm):
    """Run the monthly report service; its refusal goes onto the form. None when nothing was made."""
    try:
        from .services import monthly_report_generate
    except ModuleNotFoundError as exc:
        if exc.name != "reporting.services":
            raise
        form.add_error(None, "Monthly reports cannot be generated here yet: the PDF service is not installed.")
        return None
    try:
        return monthly_report_generate(clinic=form.cleaned_data["clinic"], month=form.cleaned_data["month"],
                                       acting_user=request.user)
    except AppError as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        return None


def _report_clinic(request):
    """The switcher's clinic when the user sees its reports (else None: all of them)."""
    clinic = current_clinic(request)
    if clinic is not None and clinics_visible_to(request.user, VIEW_REPORTS).filter(pk=clinic.pk).exists():
        return clinic
    return None


@login_required
def monthly_list(request):
    """The stored monthly PDF reports of the user's clinics, and a form to generate one for a past month."""
    _require_any(request.user, VIEW_REPORTS, NO_REPORTS)
    form = MonthlyReportForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        made = _generate(request, form)
        if made is not None:
            messages.success(request, f"The {made.month:%B %Y} report of {made.clinic.legal_name} is ready.")
            return redirect(f"{reverse('reporting:monthly_list')}?made={made.public_id}")
    clinic = _report_clinic(request)
    reports = (MonthlyReport.objects.visible_to(request.user, VIEW_REPORTS, clinic=clinic)
               .select_related("clinic", "generated_by").defer("pdf").order_by("-month", "clinic__legal_name"))
    made = None
    if request.GET.get("made"):
        try:
            made = reports.filter(public_id=request.GET["made"]).first()
        except ValidationError:
            made = None
    return render(request, "reporting/monthly_list.html", {
        "form": form, "page": paginate(request, reports), "clinic": clinic, "made": made,
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_REPORTS).count() > 1,
    })


@login_required
@require_GET
def monthly_download(request, public_id):
    """The monthly PDF as stored; every download is in the access log (the report lists open items by patient)."""
    report = get_visible_or_404(MonthlyReport.objects.select_related("clinic"), request.user, VIEW_REPORTS,
                                public_id=public_id)
    access_log_record(request, action=AccessAction.DOWNLOAD, obj=report, label=report.file_name)
    response = HttpResponse(bytes(report.pdf), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{report.file_name}"'
    return response
