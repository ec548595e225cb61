"""Browser views of the clinics app: dashboard, clinic switcher, patients, coverages, providers, access log.

Every read starts from `visible_to` (the switcher only narrows it further); every lookup by public id goes
through `get_visible_or_404`, so another clinic's record is a 404. Writes go through `clinic_record_save`.
"""

import datetime

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to, get_visible_or_404, user_has_clinic_perm

from .current import current_clinic, set_current_clinic
from .forms import (
    AccessLogFilterForm,
    CoverageForm,
    PatientForm,
    PatientSearchForm,
    ProviderForm,
    ReferringProviderForm,
    apply_errors,
)
from .models import AccessAction, AccessLogEntry, Clinic, Coverage, Patient, Provider, ReferringProvider
from .services import access_log_record, clinic_record_save

PAGE_SIZE = 50


def paginate(request, queryset, per_page: int = PAGE_SIZE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def editable_current_clinic(request):
    """The clinic new records go to: the switcher's (if editable) or the user's only editable clinic.

    None means the user may edit several clinics and the switcher is on "all": the form asks which clinic.
    """
    clinic = current_clinic(request)
    if clinic is not None and user_has_clinic_perm(request.user, clinic, EDIT_SESSIONS):
        return clinic
    editable = list(clinics_visible_to(request.user, EDIT_SESSIONS)[:2])
    return editable[0] if len(editable) == 1 else None


def require_edit(user, obj) -> None:
    """The record was found through the read scope; changing it also needs EDIT_SESSIONS on its clinic."""
    if not user_has_clinic_perm(user, obj.clinic, EDIT_SESSIONS):
        raise PermissionDenied("You may read this clinic's records but not change them.")


def save_form(request, form):
    """Save a valid ClinicRecordForm through the service; problems go back onto the form. Returns the record."""
    instance = form.save(commit=False)
    try:
        return clinic_record_save(acting_user=request.user, instance=instance)
    except (ValidationError, AppError) as exc:
        apply_errors(form, exc)
        return None


@login_required
def home(request):
    """Dashboard: what is in the user's clinics (or the switcher's clinic) right now."""
    # The dashboard spans apps; resolving Visit lazily keeps clinics from importing the visits app.
    visit_model = apps.get_model("visits", "Visit")
    clinic = current_clinic(request)
    today = timezone.localdate()
    visits = visit_model.objects.visible_to(request.user, VIEW_PHI, clinic=clinic)
    context = {
        "clinic": clinic,
        "patient_count": Patient.objects.visible_to(request.user, VIEW_PHI, clinic=clinic).count(),
        "month_visit_count": visits.filter(date_of_service__gte=today.replace(day=1),
                                           date_of_service__lte=today).count(),
        "draft_count": visits.filter(status="draft").count(),
        "can_edit": clinics_visible_to(request.user, EDIT_SESSIONS).exists(),
    }
    return render(request, "home.html", context)


@login_required
@require_POST
def clinic_switch(request):
    """Narrow the screens to one of the user's clinics, or back to all of them."""
    choice = request.POST.get("clinic", "").strip()
    if choice in ("", "all"):
        set_current_clinic(request, None)
    else:
        try:
            clinic = clinics_visible_to(request.user, VIEW_PHI).get(public_id=choice)
        except (Clinic.DoesNotExist, ValidationError, ValueError) as exc:
            raise Http404("No such clinic among yours.") from exc
        set_current_clinic(request, clinic)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "/"
    if request.htmx:
        return HttpResponseClientRedirect(target)
    return redirect(target)


# --- patients -------------------------------------------------------------------------------------------------


@login_required
def patient_list(request):
    clinic = current_clinic(request)
    patients = Patient.objects.visible_to(request.user, VIEW_PHI, clinic=clinic).select_related("clinic")
    search = PatientSearchForm(request.GET)
    if search.is_valid() and search.cleaned_data["q"]:
        for word in search.cleaned_data["q"].split():
            patients = patients.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word)
                                       | Q(mrn__iexact=word))
    page = paginate(request, patients.order_by("last_name", "first_name", "pk"))
    access_log_record(request, action=AccessAction.LIST, object_type="patient", clinic=clinic,
                      label=f"{len(page.object_list)} shown")
    context = {"page": page, "search": search, "clinic": clinic,
               "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1}
    template = "clinics/_patient_table.html" if request.htmx else "clinics/patient_list.html"
    return render(request, template, context)


@login_required
def patient_detail(request, public_id):
    patient = get_visible_or_404(Patient.objects.select_related("clinic"), request.user, VIEW_PHI,
                                 public_id=public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=patient)
    context = {
        "patient": patient,
        "coverages": patient.coverages.select_related("payer").order_by("priority", "-effective_from"),
        # Reverse relations of a patient already found through the scope; same clinic by construction.
        "plans": patient.plans_of_care.order_by("-start_date"),
        "visits": patient.visits.visible_to(request.user, VIEW_PHI).select_related("rendering_provider")
        .prefetch_related("lines").order_by("-date_of_service", "-created_at")[:10],
        "can_edit": user_has_clinic_perm(request.user, patient.clinic, EDIT_SESSIONS),
    }
    return render(request, "clinics/patient_detail.html", context)


@login_required
def patient_create(request):
    form = PatientForm(request.POST or None, user=request.user, clinic=editable_current_clinic(request))
    if request.method == "POST" and form.is_valid():
        patient = save_form(request, form)
        if patient is not None:
            messages.success(request, f"Patient {patient.display_name} added.")
            return redirect("patient-detail", public_id=patient.public_id)
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": "New patient", "cancel_url": "patient-list"})


@login_required
def patient_edit(request, public_id):
    patient = get_visible_or_404(Patient, request.user, VIEW_PHI, public_id=public_id)
    require_edit(request.user, patient)
    form = PatientForm(request.POST or None, instance=patient, user=request.user)
    if request.method == "POST" and form.is_valid():
        if save_form(request, form) is not None:
            messages.success(request, "Patient details saved.")
            return redirect("patient-detail", public_id=patient.public_id)
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": f"Edit patient {patient.display_name}", "patient": patient})


# --- coverages ------------------------------------------------------------------------------------------------


@login_required
def coverage_create(request, public_id):
    patient = get_visible_or_404(Patient, request.user, VIEW_PHI, public_id=public_id)
    require_edit(request.user, patient)
    form = CoverageForm(request.POST or None, user=request.user, patient=patient)
    if request.method == "POST" and form.is_valid():
        if save_form(request, form) is not None:
            messages.success(request, "Coverage added.")
            return redirect("patient-detail", public_id=patient.public_id)
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": f"Add coverage for {patient.display_name}", "patient": patient})


@login_required
def coverage_edit(request, public_id):
    coverage = get_visible_or_404(Coverage.objects.select_related("patient"), request.user, VIEW_PHI,
                                  public_id=public_id)
    require_edit(request.user, coverage)
    patient = coverage.patient
    form = CoverageForm(request.POST or None, instance=coverage, user=request.user, patient=patient)
    if request.method == "POST" and form.is_valid():
        if save_form(request, form) is not None:
            messages.success(request, "Coverage saved.")
            return redirect("patient-detail", public_id=patient.public_id)
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": f"Edit coverage of {patient.display_name}", "patient": patient})


# --- providers ------------------------------------------------------------------------------------------------


@login_required
def provider_list(request):
    clinic = current_clinic(request)
    providers = (Provider.objects.visible_to(request.user, VIEW_PHI, clinic=clinic)
                 .select_related("clinic", "supervising_therapist").order_by("last_name", "first_name", "pk"))
    return render(request, "clinics/provider_list.html", {
        "page": paginate(request, providers), "clinic": clinic,
        "can_edit": clinics_visible_to(request.user, EDIT_SESSIONS).exists(),
    })


@login_required
def provider_create(request):
    form = ProviderForm(request.POST or None, user=request.user, clinic=editable_current_clinic(request))
    if request.method == "POST" and form.is_valid():
        provider = save_form(request, form)
        if provider is not None:
            messages.success(request, f"Provider {provider} added.")
            return redirect("provider-list")
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": "New rendering provider", "cancel_url": "provider-list"})


@login_required
def provider_edit(request, public_id):
    provider = get_visible_or_404(Provider, request.user, VIEW_PHI, public_id=public_id)
    require_edit(request.user, provider)
    form = ProviderForm(request.POST or None, instance=provider, user=request.user)
    if request.method == "POST" and form.is_valid():
        if save_form(request, form) is not None:
            messages.success(request, f"Provider {provider} saved.")
            return redirect("provider-list")
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": f"Edit provider {provider}", "cancel_url": "provider-list"})


@login_required
def referring_provider_list(request):
    clinic = current_clinic(request)
    referrers = (ReferringProvider.objects.visible_to(request.user, VIEW_PHI, clinic=clinic)
                 .select_related("clinic").order_by("last_name", "first_name", "pk"))
    return render(request, "clinics/referring_provider_list.html", {
        "page": paginate(request, referrers), "clinic": clinic,
        "can_edit": clinics_visible_to(request.user, EDIT_SESSIONS).exists(),
    })


@login_required
def referring_provider_create(request):
    form = ReferringProviderForm(request.POST or None, user=request.user, clinic=editable_current_clinic(request))
    if request.method == "POST" and form.is_valid():
        referrer = save_form(request, form)
        if referrer is not None:
            messages.success(request, f"Referring provider {referrer} added.")
            return redirect("referring-provider-list")
    return render(request, "clinics/record_form.html",
                  {"form": form, "title": "New referring provider", "cancel_url": "referring-provider-list"})


# --- operator admin -------------------------------------------------------------------------------------------


@login_required
def access_log(request):
    """The PHI read-access log, for operator admins (staff) only; filter by user, clinic, action and dates."""
    if not request.user.is_staff:
        raise PermissionDenied("The access log is for operator admins.")
    # Operators audit every tenant, so the clinic filter lists all clinics (names only, no PHI).
    form = AccessLogFilterForm(request.GET or None, clinics=Clinic.objects.order_by("legal_name"),
                               actions=AccessAction.choices)
    entries = AccessLogEntry.objects.select_related("clinic").order_by("-at", "-pk")
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["user"]:
            entries = entries.filter(username__icontains=data["user"])
        if data["clinic"]:
            entries = entries.filter(clinic=data["clinic"])
        if data["action"]:
            entries = entries.filter(action=data["action"])
        if data["date_from"]:
            entries = entries.filter(at__gte=_day_start(data["date_from"]))
        if data["date_to"]:
            entries = entries.filter(at__lt=_day_start(data["date_to"] + datetime.timedelta(days=1)))
    page = paginate(request, entries)
    template = "clinics/_access_log_table.html" if request.htmx else "clinics/access_log.html"
    return render(request, template, {"form": form, "page": page})


def _day_start(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
