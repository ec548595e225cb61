"""Browser screens of prior authorizations: record and edit, the burn-down page, the patient-page panel and the
renewal worklist with its CSV export.

Reads go through `visible_to(user, VIEW_PHI)` (billers and clinic staff both work renewals); objects by public id
through `get_visible_or_404`, so another clinic's authorization, coverage or patient is a 404. Recording, editing
and cancelling also need EDIT_SESSIONS on the clinic and go through eligibility.authorizations' services.
"""

import datetime
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinics.current import current_clinic
from clinics.models import AccessAction, Coverage, Patient
from clinics.services import access_log_record
from clinics.views import paginate, require_edit
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to, get_visible_or_404, user_has_clinic_perm
from otbilling.web import csv_cell, csv_response, render_page_or_fragment

from .alerts import AlertReason, auth_alerts
from .authorizations import auth_usage, auth_usages, authorization_cancel, authorization_save
from .forms_auth import AuthorizationForm, AuthWorklistFilterForm, CancelForm, CodeFormSet, apply_auth_errors
from .limits import visit_limit
from .models import AuthStatus, PriorAuthorization

PANEL_STATUSES = (AuthStatus.APPROVED, AuthStatus.REQUESTED)


# --- burn-down bars ------------------------------------------------------------------------------------------


@dataclass
class Bar:
    """One burn-down bar, drawn as a <meter>: used out of allowed, warning from `warn_at` used."""

    label: str
    used: int
    allowed: int
    warn_at: int
    noun: str = "visit"

    @property
    def remaining(self) -> int:
        return self.allowed - self.used

    @property
    def state(self) -> str:
        if self.remaining <= 0:
            return "danger"
        return "warning" if self.used >= self.warn_at else "success"

    @property
    def text(self) -> str:
        nouns = self.noun if self.allowed == 1 else f"{self.noun}s"
        if self.remaining < 0:
            return f"{self.used} of {self.allowed} {nouns} used · {-self.remaining} over"
        return f"{self.used} of {self.allowed} {nouns} used · {self.remaining} left"


def usage_bars(usage) -> list[Bar]:
    payer = usage.authorization.coverage.payer
    bars = []
    if usage.visits_authorized is not None:
        bars.append(Bar("Visits", usage.visits_used, usage.visits_authorized,
                        max(0, usage.visits_authorized - payer.auth_alert_visits_left)))
    units_warn = payer.auth_alert_units_left - 1  # "fewer than N left" starts at N - 1 left
    if usage.units_authorized is not None:
        bars.append(Bar("Units (any code)", usage.units_used, usage.units_authorized,
                        max(0, usage.units_authorized - units_warn), noun="unit"))
    for code in usage.codes:
        bars.append(Bar(code.cpt, code.used, code.authorized, max(0, code.authorized - units_warn), noun="unit"))
    return bars


def limit_bars(limit) -> list[Bar]:
    payer = limit.coverage.payer  # the same thresholds as the payer's authorizations
    bars = []
    if limit.visits_allowed is not None:
        bars.append(Bar("Visits this benefit period", limit.visits_used, limit.visits_allowed,
                        max(0, limit.visits_allowed - payer.auth_alert_visits_left)))
    if limit.units_allowed is not None:
        bars.append(Bar("Units this benefit period", limit.units_used, limit.units_allowed,
                        max(0, limit.units_allowed - payer.auth_alert_units_left + 1), noun="unit"))
    return bars


# --- lookups -------------------------------------------------------------------------------------------------


def _auths():
    return PriorAuthorization.objects.select_related("clinic", "coverage__payer", "coverage__patient",
                                                     "created_by").prefetch_related("codes")


def _visible_auth(request, public_id) -> PriorAuthorization:
    return get_visible_or_404(_auths(), request.user, VIEW_PHI, public_id=public_id)


def _visible_coverage(request, public_id) -> Coverage:
    return get_visible_or_404(Coverage.objects.select_related("clinic", "patient", "payer"), request.user, VIEW_PHI,
                              public_id=public_id)


def _reasons_for(request, auths, today) -> dict[int, list]:
    """Alert reasons by authorization pk, for the given (already visible) authorizations."""
    scoped = PriorAuthorization.objects.visible_to(request.user, VIEW_PHI).filter(pk__in=[a.pk for a in auths])
    return {alert.authorization.pk: alert for alert in auth_alerts(scoped, today=today)}


# --- record, edit, cancel ------------------------------------------------------------------------------------


def _auth_form_page(request, coverage: Coverage, authorization: PriorAuthorization | None = None):
    initial, code_rows = {}, []
    if authorization is not None:
        initial = {name: getattr(authorization, name) for name in AuthorizationForm.base_fields}
        code_rows = [{"cpt": c.cpt, "units": c.units_authorized} for c in authorization.codes.all()]
    data = request.POST if request.method == "POST" else None
    form = AuthorizationForm(data, initial=initial)
    formset = CodeFormSet(data, initial=code_rows, prefix="codes")
    if data is not None and form.is_valid() and formset.is_valid():
        target = authorization or PriorAuthorization(coverage=coverage)
        for name, value in form.cleaned_data.items():
            setattr(target, name, value)
        try:
            saved = authorization_save(acting_user=request.user, authorization=target, codes=formset.codes())
        except AppError as exc:
            apply_auth_errors(exc, form, formset.filled_forms())
        else:
            messages.success(request, f"Authorization {saved.number} saved.")
            return redirect("auth-detail", public_id=saved.public_id)
    title = f"Edit authorization {authorization.number}" if authorization else "New prior authorization"
    return render(request, "eligibility/auth_form.html", {
        "form": form, "formset": formset, "coverage": coverage, "patient": coverage.patient,
        "authorization": authorization, "title": title,
    })


@login_required
def auth_create(request, public_id):
    """Record a payer's prior authorization for one coverage."""
    coverage = _visible_coverage(request, public_id)
    require_edit(request.user, coverage)
    return _auth_form_page(request, coverage)


@login_required
def auth_edit(request, public_id):
    authorization = _visible_auth(request, public_id)
    require_edit(request.user, authorization)
    return _auth_form_page(request, authorization.coverage, authorization)


@login_required
@require_POST
def auth_cancel(request, public_id):
    authorization = _visible_auth(request, public_id)
    require_edit(request.user, authorization)
    form = CancelForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["reason"][0])
        return redirect("auth-detail", public_id=authorization.public_id)
    try:
        authorization_cancel(acting_user=request.user, authorization=authorization,
                             reason=form.cleaned_data["reason"])
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Authorization {authorization.number} cancelled.")
    return redirect("auth-detail", public_id=authorization.public_id)


# --- burn-down page and lists --------------------------------------------------------------------------------


@login_required
def auth_detail(request, public_id):
    """An authorization's burn-down: bars, the visits that used it with their units, and why it needs attention."""
    authorization = _visible_auth(request, public_id)
    today = timezone.localdate()
    usage = auth_usage(authorization, today=today)
    alert = _reasons_for(request, [authorization], today).get(authorization.pk)
    visit_rows = []
    uncoded = {v.pk for v in usage.uncoded_visits}
    for number, visit in enumerate(usage.visits, start=1):
        units = usage.units_by_visit.get(visit.pk, {})
        visit_rows.append({"number": number, "visit": visit, "coded": visit.pk not in uncoded,
                           "units": sorted(units.items()), "total": sum(units.values())})
    access_log_record(request, action=AccessAction.VIEW, obj=authorization,
                      label=f"auth {authorization.number} of {authorization.coverage.patient}"[:120])
    return render(request, "eligibility/auth_detail.html", {
        "authorization": authorization, "coverage": authorization.coverage,
        "patient": authorization.coverage.patient, "usage": usage, "bars": usage_bars(usage), "alert": alert,
        "visit_rows": visit_rows, "today": today, "cancel_form": CancelForm(),
        "can_edit": user_has_clinic_perm(request.user, authorization.clinic, EDIT_SESSIONS),
        "cancelled": authorization.status == AuthStatus.CANCELLED,
    })


def _rows(request, auths, today) -> list[dict]:
    usages = auth_usages(auths, today=today)
    alerts = _reasons_for(request, auths, today)
    return [{"authorization": a, "usage": usages[a.pk], "bars": usage_bars(usages[a.pk]), "alert": alerts.get(a.pk)}
            for a in auths]


@login_required
def auth_list(request, public_id):
    """Every authorization of one coverage (cancelled and denied too), newest first, with the visit limit."""
    coverage = _visible_coverage(request, public_id)
    today = timezone.localdate()
    auths = list(_auths().visible_to(request.user, VIEW_PHI).filter(coverage=coverage)
                 .order_by("-start_date", "-created_at"))
    limit = visit_limit(coverage, today=today)
    access_log_record(request, action=AccessAction.LIST, obj=coverage, object_type="priorauthorization",
                      label=f"authorizations of {coverage.patient}"[:120])
    return render(request, "eligibility/auth_list.html", {
        "coverage": coverage, "patient": coverage.patient, "rows": _rows(request, auths, today),
        "limit": limit, "limit_bars": limit_bars(limit) if limit else [],
        "can_edit": user_has_clinic_perm(request.user, coverage.clinic, EDIT_SESSIONS),
    })


def patient_auth_panel(request, patient: Patient) -> dict:
    """Per coverage of the patient: the benefit-period limit and the current authorizations with their bars."""
    today = timezone.localdate()
    coverages = list(Coverage.objects.visible_to(request.user, VIEW_PHI).filter(patient=patient)
                     .select_related("payer", "clinic").order_by("priority", "-effective_from"))
    auths = list(_auths().visible_to(request.user, VIEW_PHI)
                 .filter(coverage__in=coverages, status__in=PANEL_STATUSES,
                         end_date__gte=today - datetime.timedelta(days=365))
                 .order_by("-start_date", "-created_at"))
    rows = _rows(request, auths, today)
    panel = []
    for coverage in coverages:
        limit = visit_limit(coverage, today=today)
        panel.append({"coverage": coverage, "limit": limit, "limit_bars": limit_bars(limit) if limit else [],
                      "rows": [r for r in rows if r["authorization"].coverage_id == coverage.pk]})
    return {"patient": patient, "auth_panel": panel, "auth_panel_loaded": True,
            "auth_can_edit": user_has_clinic_perm(request.user, patient.clinic, EDIT_SESSIONS)}


@login_required
def patient_auths(request, public_id):
    """The patient page's authorization panel (HTMX fragment; a page of its own without JavaScript)."""
    patient = get_visible_or_404(Patient.objects.select_related("clinic"), request.user, VIEW_PHI,
                                 public_id=public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=patient, label=f"authorizations of {patient}"[:120])
    template = "eligibility/_patient_auths.html" if request.htmx else "eligibility/auth_patient.html"
    return render(request, template, patient_auth_panel(request, patient))


# --- renewal worklist ----------------------------------------------------------------------------------------


def _worklist(request):
    data = request.GET.copy()
    switcher = current_clinic(request)
    if "clinic" not in data and switcher is not None:
        data["clinic"] = str(switcher.public_id)
    form = AuthWorklistFilterForm(data, user=request.user)
    chosen = form.cleaned_data if form.is_valid() else {}
    clinic = chosen.get("clinic")
    auths = PriorAuthorization.objects.visible_to(request.user, VIEW_PHI, clinic=clinic)
    if chosen.get("payer"):
        auths = auths.filter(coverage__payer=chosen["payer"])
    alerts = auth_alerts(auths, today=timezone.localdate())
    if chosen.get("reason"):
        alerts = [a for a in alerts if chosen["reason"] in a.reasons]
    sort = chosen.get("sort") or "expiry"
    if sort == "-expiry":
        alerts.sort(key=lambda a: (-a.days_to_expiry, a.authorization.coverage.patient.last_name))
    for alert in alerts:
        alert.bars = usage_bars(alert.usage)
    page = paginate(request, alerts)
    return form, clinic, sort, page


@login_required
def auth_worklist(request):
    """Authorizations that run low, expire or ran out: filter by clinic, payer and reason; sort by expiry."""
    form, clinic, sort, page = _worklist(request)
    access_log_record(request, action=AccessAction.LIST, object_type="priorauthorization", clinic=clinic,
                      label=f"auth worklist: {len(page.object_list)} shown")
    context = {
        "form": form, "page": page, "clinic": clinic, "sort": sort,
        "next_sort": "-expiry" if sort == "expiry" else "expiry",
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
        "reasons": AlertReason.choices,
    }
    return render_page_or_fragment(request, "eligibility/auth_worklist.html", "eligibility/auth_worklist_table.html",
                                   context)


CSV_HEADER = ["Clinic", "Patient", "MRN", "Payer", "Member ID", "Authorization", "Start", "End", "Days to expiry",
              "Visits authorized", "Visits used", "Visits left", "Units authorized", "Units used", "Units left",
              "Per code (used/authorized)", "Reasons", "Details"]


@login_required
def auth_worklist_csv(request):
    """The worklist as CSV: the same filters, sort and page as the screen."""
    form, clinic, sort, page = _worklist(request)
    response, writer = csv_response(f"auth-worklist-{timezone.localdate():%Y-%m-%d}.csv")
    writer.writerow(CSV_HEADER)
    for alert in page.object_list:
        auth, usage = alert.authorization, alert.usage
        coverage = auth.coverage
        writer.writerow([csv_cell(v) for v in (
            auth.clinic.legal_name, f"{coverage.patient.last_name}, {coverage.patient.first_name}",
            coverage.patient.mrn, coverage.payer.name, coverage.member_id, auth.number,
            f"{auth.start_date:%Y-%m-%d}", f"{auth.end_date:%Y-%m-%d}", alert.days_to_expiry,
            usage.visits_authorized, usage.visits_used, usage.visits_remaining,
            usage.units_authorized, usage.units_used, usage.units_remaining,
            "; ".join(f"{c.cpt} {c.used}/{c.authorized}" for c in usage.codes),
            ", ".join(label for _reason, label in alert.reason_labels), " ".join(alert.messages),
        )])
    access_log_record(request, action=AccessAction.EXPORT, object_type="priorauthorization", clinic=clinic,
                      label=f"auth worklist CSV: {len(page.object_list)} rows")
    return response
