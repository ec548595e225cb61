"""Browser views for treatment sessions: list with filters, detail, entry/edit with service lines, signing.

Reads go through `visible_to` (narrowed by the clinic switcher); lookups by public id through
`get_visible_or_404`; writes through visits.services, whose AppError details are shown beside the field or
service-line row they name.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from clinics.current import current_clinic
from clinics.models import AccessAction, Patient
from clinics.services import access_log_record
from clinics.views import editable_current_clinic, paginate, require_edit, save_form
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to, get_visible_or_404, user_has_clinic_perm

from . import services
from .diagnoses import describe_icd10, search_icd10
from .forms import DIAGNOSIS_FIELDS, LineFormSet, PlanOfCareForm, SignForm, VisitFilterForm, VisitForm
from .models import Visit, VisitSource

LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.(\w+)$")
DIAGNOSIS_FIELD = re.compile(r"^diagnoses\[(\d+)\]$")
LINES_PREFIX = "lines"


@login_required
def visit_list(request):
    """Sessions of the user's clinics, filtered by patient, provider, status and date range."""
    clinic = current_clinic(request)
    form = VisitFilterForm(request.GET or None, user=request.user, clinic=clinic)
    visits = (Visit.objects.visible_to(request.user, VIEW_PHI, clinic=clinic)
              .select_related("clinic", "patient", "rendering_provider").prefetch_related("lines"))
    sort = "-date"
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        for word in data["patient"].split():
            visits = visits.filter(Q(patient__first_name__icontains=word) | Q(patient__last_name__icontains=word))
        if data["provider"]:
            visits = visits.filter(rendering_provider=data["provider"])
        if data["status"]:
            visits = visits.filter(status=data["status"])
        if data["date_from"]:
            visits = visits.filter(date_of_service__gte=data["date_from"])
        if data["date_to"]:
            visits = visits.filter(date_of_service__lte=data["date_to"])
        sort = data["sort"] or sort
    order = ("date_of_service", "created_at", "pk") if sort == "date" else ("-date_of_service", "-created_at", "-pk")
    page = paginate(request, visits.order_by(*order))
    access_log_record(request, action=AccessAction.LIST, object_type="visit", clinic=clinic,
                      label=f"{len(page.object_list)} shown")
    context = {
        "form": form, "page": page, "clinic": clinic, "sort": sort,
        "next_sort": "date" if sort == "-date" else "-date",
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
        "can_edit": clinics_visible_to(request.user, EDIT_SESSIONS).exists(),
    }
    template = "visits/_visit_table.html" if request.htmx else "visits/visit_list.html"
    return render(request, template, context)


def _detail_context(request, visit, sign_form=None):
    can_edit = user_has_clinic_perm(request.user, visit.clinic, EDIT_SESSIONS)
    if sign_form is None and can_edit and not visit.is_signed:
        sign_form = SignForm(initial={"signed_by_name": visit.signed_by_name})
    return {
        "visit": visit,
        "diagnoses": [(number, code, describe_icd10(code)) for number, code in enumerate(visit.diagnoses, start=1)],
        "lines": visit.lines.order_by("position"),
        "can_edit": can_edit,
        "sign_form": sign_form,
    }


def _visible_visit(request, public_id):
    queryset = Visit.objects.select_related("clinic", "patient", "coverage__payer", "rendering_provider",
                                            "referring_provider", "plan_of_care")
    return get_visible_or_404(queryset, request.user, VIEW_PHI, public_id=public_id)


@login_required
def visit_detail(request, public_id):
    visit = _visible_visit(request, public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=visit)
    return render(request, "visits/visit_detail.html", _detail_context(request, visit))


@login_required
@require_POST
def visit_sign(request, public_id):
    """Sign a draft session's note; a refused signature is shown beside the name on the detail page."""
    visit = _visible_visit(request, public_id)
    require_edit(request.user, visit)
    form = SignForm(request.POST)
    if form.is_valid():
        try:
            services.visit_sign(acting_user=request.user, visit=visit,
                                signed_by_name=form.cleaned_data["signed_by_name"])
        except AppError as exc:
            form.add_error("signed_by_name" if exc.field == "signed_by_name" else None, exc.message)
        else:
            messages.success(request, "Session signed.")
            return redirect("visit-detail", public_id=visit.public_id)
    return render(request, "visits/visit_detail.html", _detail_context(request, visit, sign_form=form))


def map_visit_errors(exc: AppError, form, line_forms) -> list[str]:
    """Put each problem beside its field or row ("lines[2].minutes", "diagnoses[1]"); return the rest."""
    problems = [(d.get("field") or "", d.get("message")) for d in exc.details] or [(exc.field or "", exc.message)]
    top = []
    for field, message in problems:
        if match := LINE_FIELD.match(field):
            number, name = int(match[1]), match[2]
            if 1 <= number <= len(line_forms) and name in line_forms[number - 1].fields:
                line_forms[number - 1].add_error(name, message)
                continue
        elif match := DIAGNOSIS_FIELD.match(field):
            name = f"diagnosis_{match[1]}"
            if name in form.fields:
                form.add_error(name, message)
                continue
        elif field == "diagnoses":
            form.add_error(DIAGNOSIS_FIELDS[0], message)
            continue
        elif field in form.fields:
            form.add_error(field, message)
            continue
        top.append(message)
    return top


def _save_visit(request, form, formset, visit=None):
    """Create (or update a draft) through the service. Returns (visit or None, errors for the top)."""
    if not (form.is_valid() and formset.is_valid()):
        return None, []
    data = form.cleaned_data
    line_forms = formset.filled_forms()
    lines = [
        services.LineInput(
            cpt=line.cleaned_data["cpt"], minutes=line.cleaned_data.get("minutes"),
            assistant_minutes=line.cleaned_data.get("assistant_minutes") or 0,
            # A blank pointer means the first diagnosis, as on most paper superbills.
            diagnosis_pointers=line.cleaned_data.get("diagnosis_pointers") or [1],
            modifiers=line.cleaned_data.get("modifiers") or [],
            distinct_time_block=line.cleaned_data.get("distinct_time_block", False),
        )
        for line in line_forms
    ]
    visit_input = services.VisitInput(
        patient=data["patient"], rendering_provider=data["rendering_provider"],
        date_of_service=data["date_of_service"], diagnoses=data["diagnoses"], lines=lines,
        coverage=data.get("coverage"), referring_provider=data.get("referring_provider"),
        plan_of_care=data.get("plan_of_care"), place_of_service=data["place_of_service"],
        note_text=data.get("note_text", ""), sign=data.get("sign", False),
        signed_by_name=data.get("signed_by_name", ""), source=VisitSource.FORM,
    )
    try:
        if visit is None:
            saved = services.visit_create(acting_user=request.user, clinic=data["patient"].clinic, data=visit_input)
        else:
            saved = services.visit_update(acting_user=request.user, visit=visit, data=visit_input)
    except AppError as exc:
        return None, map_visit_errors(exc, form, line_forms)
    return saved, []


def _render_form(request, form, formset, top_errors, visit=None):
    has_errors = bool(top_errors or form.errors or any(formset.errors) or formset.non_form_errors())
    return render(request, "visits/visit_form.html", {
        "form": form, "formset": formset, "top_errors": top_errors, "visit": visit, "has_errors": has_errors,
    })


@login_required
def visit_create(request):
    """New session; `?patient=<id>` preselects the patient (and narrows the form to the patient's clinic)."""
    clinic = editable_current_clinic(request)
    initial = {}
    if request.method == "GET" and request.GET.get("patient"):
        patient = get_visible_or_404(Patient, request.user, EDIT_SESSIONS, public_id=request.GET["patient"])
        initial["patient"], clinic = patient, patient.clinic
    form = VisitForm(request.POST or None, user=request.user, clinic=clinic, initial=initial)
    formset = LineFormSet(request.POST or None, prefix=LINES_PREFIX)
    top_errors = []
    if request.method == "POST":
        visit, top_errors = _save_visit(request, form, formset)
        if visit is not None:
            messages.success(request, "Session signed and saved." if visit.is_signed else "Session saved as draft.")
            return redirect("visit-detail", public_id=visit.public_id)
    return _render_form(request, form, formset, top_errors)


@login_required
def visit_edit(request, public_id):
    """Edit a draft session (signed sessions are locked)."""
    visit = _visible_visit(request, public_id)
    require_edit(request.user, visit)
    if visit.is_signed:
        messages.info(request, "This session is signed and can no longer be edited.")
        return redirect("visit-detail", public_id=visit.public_id)
    initial = {
        "patient": visit.patient, "coverage": visit.coverage, "rendering_provider": visit.rendering_provider,
        "referring_provider": visit.referring_provider, "plan_of_care": visit.plan_of_care,
        "date_of_service": visit.date_of_service, "place_of_service": visit.place_of_service,
        "note_text": visit.note_text, "signed_by_name": visit.signed_by_name,
        **dict(zip(DIAGNOSIS_FIELDS, visit.diagnoses, strict=False)),
    }
    line_initial = [
        {"cpt": line.cpt, "minutes": line.minutes, "assistant_minutes": line.assistant_minutes or None,
         "diagnosis_pointers": ",".join(str(p) for p in line.diagnosis_pointers),
         "modifiers": ",".join(line.manual_modifiers), "distinct_time_block": line.distinct_time_block}
        for line in visit.lines.order_by("position")
    ]
    form = VisitForm(request.POST or None, user=request.user, clinic=visit.clinic, initial=initial)
    formset = LineFormSet(request.POST or None, prefix=LINES_PREFIX, initial=line_initial)
    top_errors = []
    if request.method == "POST":
        saved, top_errors = _save_visit(request, form, formset, visit=visit)
        if saved is not None:
            messages.success(request, "Session signed and saved." if saved.is_signed else "Draft saved.")
            return redirect("visit-detail", public_id=saved.public_id)
    return _render_form(request, form, formset, top_errors, visit=visit)


@login_required
def visit_patient_fields(request):
    """HTMX fragment: the coverage, plan-of-care and provider selects narrowed to the chosen patient."""
    initial = {name: request.GET[name] for name in ("rendering_provider", "referring_provider")
               if request.GET.get(name)}
    clinic = editable_current_clinic(request)
    if request.GET.get("patient"):
        patient = get_visible_or_404(Patient, request.user, EDIT_SESSIONS, public_id=request.GET["patient"])
        initial["patient"], clinic = patient, patient.clinic
    form = VisitForm(user=request.user, clinic=clinic, initial=initial)
    return render(request, "visits/_patient_fields.html", {"form": form})


@login_required
def icd10_search(request):
    """HTMX fragment: billable ICD-10-CM codes matching `q` (or the diagnosis input that asked) as <option>s."""
    term = request.GET.get("q") or next(
        (value for key, value in request.GET.items() if key.startswith("diagnosis_") and value), "")
    return render(request, "visits/_icd10_options.html", {"results": search_icd10(term), "term": term})


@login_required
def plan_of_care_create(request, public_id):
    patient = get_visible_or_404(Patient, request.user, VIEW_PHI, public_id=public_id)
    require_edit(request.user, patient)
    form = PlanOfCareForm(request.POST or None, user=request.user, patient=patient)
    if request.method == "POST" and form.is_valid():
        if save_form(request, form) is not None:
            messages.success(request, "Plan of care added.")
            return redirect("patient-detail", public_id=patient.public_id)
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": f"Add plan of care for {patient.display_name}", "patient": patient})
