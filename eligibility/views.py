"""Eligibility screens: the worklist, manual verification, 271 upload, 270 batches and their download.

Reading needs VIEW_PHI, writing (verify, import, build a batch) EDIT_SESSIONS. Objects are found through
`get_visible_or_404`, so another clinic's coverage or batch is a 404; services refuse the rest with AppError,
shown beside the field it names.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from clinics.current import current_clinic
from clinics.forms import apply_errors
from clinics.models import AccessAction, Coverage
from clinics.services import access_log_record
from clinics.views import paginate, require_edit
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to, get_visible_or_404
from otbilling.tenancy import require_perm_on_some_clinic as _require_any

from . import services
from .forms import BatchCreateForm, ManualVerificationForm, ResponseUploadForm, WorklistFilterForm, tomorrow
from .models import Inquiry, InquiryBatch, ResponseFile
from .selectors import WorklistStatus, eligibility_worklist, latest_snapshot

RECENT_FILES = 10
WHO_WHEN_FIELDS = ("source", "checked_at", "checked_by_name", "reference_number", "notes", "is_active")


# --- worklist -----------------------------------------------------------------------------------------------------


@login_required
def eligibility_worklist_view(request):
    """Tomorrow's (or the chosen date's) coverages: unverified, failed, changed since last check, verified."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    data = request.GET.copy()
    switcher = current_clinic(request)
    if "clinic" not in data and switcher is not None:
        data["clinic"] = str(switcher.public_id)
    form = WorklistFilterForm(data, user=request.user)
    cleaned = form.cleaned_data if form.is_valid() else {}
    for_date = cleaned.get("date") or tomorrow()
    clinic = cleaned.get("clinic")
    rows = eligibility_worklist(request.user, clinic, for_date=for_date, payer=cleaned.get("payer"))
    counts = {status: 0 for status in WorklistStatus.values}
    for row in rows:
        counts[row.status] += 1
    status = cleaned.get("status", "")
    if status:
        rows = [row for row in rows if row.status == status]
    page = paginate(request, rows)
    access_log_record(request, action=AccessAction.LIST, object_type="coverage", clinic=clinic,
                      label=f"eligibility worklist {for_date:%Y-%m-%d}: {len(page.object_list)} shown")
    editable = set(clinics_visible_to(request.user, EDIT_SESSIONS).values_list("pk", flat=True))
    context = {
        "form": form, "page": page, "for_date": for_date, "clinic": clinic, "current_status": status,
        "status_counts": [(value, label, counts[value]) for value, label in WorklistStatus.choices],
        "total_count": sum(counts.values()), "editable_clinics": editable,
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    }
    template = "eligibility/_worklist_table.html" if request.htmx else "eligibility/worklist.html"
    return render(request, template, context)


# --- manual verification ----------------------------------------------------------------------------------------


@login_required
def coverage_verify(request, public_id):
    """Record a phone or portal verification of one coverage; the result is a benefit snapshot."""
    coverage = get_visible_or_404(Coverage.objects.select_related("clinic", "patient", "payer"), request.user,
                                  VIEW_PHI, public_id=public_id)
    require_edit(request.user, coverage)
    initial = {"checked_at": timezone.localtime().replace(second=0, microsecond=0),
               "checked_by_name": request.user.get_full_name() or request.user.get_username()}
    form = ManualVerificationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.manual_verification_record(acting_user=request.user, coverage=coverage, **form.cleaned_data)
        except AppError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Verification of {coverage.payer.name} for {coverage.patient.display_name} "
                                      "recorded.")
            return redirect("patient-detail", public_id=coverage.patient.public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=coverage, label=f"verify {coverage}"[:120])
    return render(request, "eligibility/verify.html", {
        "form": form, "coverage": coverage, "patient": coverage.patient, "latest": latest_snapshot(coverage),
        "benefit_fields": [form[name] for name in form.fields if name not in WHO_WHEN_FIELDS],
    })


# --- 271 import ---------------------------------------------------------------------------------------------------


@login_required
def response_import(request):
    """Upload a 271; the page shows what was stored, what was rejected and what matched nothing."""
    _require_any(request.user, EDIT_SESSIONS, "You may not import eligibility responses.")
    form = ResponseUploadForm(request.POST or None, request.FILES or None)
    summary = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            summary = services.response_file_import(
                acting_user=request.user, file_name=upload.name,
                content=upload.read(services.MAX_RESPONSE_BYTES + 1))
        except AppError as exc:
            form.add_error("file", exc.message)
        else:
            if summary["duplicate"]:
                messages.warning(request, f"{upload.name}: {summary['message']}")
            else:
                messages.success(request, f"{upload.name}: {summary['message']}")
    recent = ResponseFile.objects.filter(imported_by=request.user).defer("content")[:RECENT_FILES]
    return render(request, "eligibility/import.html", {"form": form, "summary": summary, "recent": recent})


# --- 270 batches --------------------------------------------------------------------------------------------------


@login_required
def batch_list(request):
    """The 270 files of the user's clinics (narrowed by the switcher), and a form to build one now."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    can_build = clinics_visible_to(request.user, EDIT_SESSIONS).exists()
    switcher = current_clinic(request)
    form = BatchCreateForm(request.POST or None, user=request.user,
                           initial={"for_date": tomorrow(), "clinic": switcher})
    if request.method == "POST":
        if not can_build:
            raise PermissionDenied("You may not send eligibility inquiries.")
        if form.is_valid():
            try:
                batch = services.inquiry_batch_create(acting_user=request.user, clinic=form.cleaned_data["clinic"],
                                                      for_date=form.cleaned_data["for_date"])
                services.inquiry_batch_deliver(batch=batch)
            except AppError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, f"{batch.file_name}: {batch.inquiries.count()} inquiries, "
                                          f"delivered to the outbox.")
                return redirect("eligibility-batches")
    batches = (InquiryBatch.objects.visible_to(request.user, VIEW_PHI, clinic=switcher)
               .select_related("clinic", "created_by").defer("content"))
    page = paginate(request, batches)
    counts = {}
    for batch in page.object_list:
        counts[batch.pk] = {status: 0 for status in ("sent", "answered", "rejected")}
    for inquiry in (Inquiry.objects.visible_to(request.user, VIEW_PHI)
                    .filter(batch__in=[b.pk for b in page.object_list]).values("batch", "status")):
        counts[inquiry["batch"]][inquiry["status"]] += 1
    for batch in page.object_list:
        batch.status_counts = counts[batch.pk]
    return render(request, "eligibility/batches.html", {"form": form, "page": page, "can_build": can_build})


@login_required
def batch_download(request, public_id):
    """The 270 file as we wrote it; every download is in the access log."""
    batch = get_visible_or_404(InquiryBatch.objects.select_related("clinic"), request.user, VIEW_PHI,
                               public_id=public_id)
    access_log_record(request, action=AccessAction.DOWNLOAD, obj=batch, label=batch.file_name)
    response = HttpResponse(batch.content, content_type="application/edi-x12")
    response["Content-Disposition"] = f'attachment; filename="{batch.file_name}"'
    return response
