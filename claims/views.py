"""Biller screens of claims: the worklist (filters, keyset pages, bulk submit/assign, CSV), the claim page with its
history and actions, 837P batches with their progress and download, the rejection and timeliness worklists, and
the 999/277CA upload.

Reading needs VIEW_PHI; every action needs WORK_CLAIMS on the claim's clinic. Objects are found through
`get_visible_or_404`, and actions look them up with WORK_CLAIMS, so another clinic's claim or batch is a 404 (as is
a claim the user may read but not work, as on the coding screens). Writes go through claims.services,
claims.batches and claims.acks; their AppError is shown beside the field it names or as a message.
"""

import uuid

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.db.models import BooleanField, CharField, ExpressionWrapper, F, Q, Value
from django.db.models.functions import Concat
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinics.current import current_clinic
from clinics.current import switched_filter_data as _switched_data
from clinics.models import AccessAction
from clinics.services import access_log_record
from clinics.views import paginate
from otbilling.errors import AppError
from otbilling.pagination import SortKey, keyset_page
from otbilling.tenancy import (
    ROLE_PERMISSIONS,
    VIEW_PHI,
    WORK_CLAIMS,
    clinics_visible_to,
    get_visible_or_404,
    user_has_clinic_perm,
)
from otbilling.tenancy import require_perm_on_some_clinic as _require_any
from otbilling.web import csv_cell, csv_response, render_page_or_fragment
from otbilling.web import safe_next as _safe_next
from visits.diagnoses import describe_icd10

from . import services
from .forms import (
    ASSIGNEE_ME,
    ASSIGNEE_NONE,
    DEFAULT_SORT,
    SORTS,
    AckUploadForm,
    AgeBucket,
    AssignForm,
    ClaimFilterForm,
    CorrectForm,
    LineEditForm,
    UnsubmittedFilterForm,
    today,
    work_clinic_ids,
)
from .models import AckFile, BatchStatus, Claim, ClaimBatch, ClaimLine, ClaimStatus

PAGE_SIZE = 50
RECENT_ACKS = 20
BULK_ACTIONS = ("submit", "assign_me", "unassign")
MARK_READY_FROM = (ClaimStatus.DRAFT, ClaimStatus.REJECTED)

SORT_KEYS = {
    "age": SortKey(F("service_date_from"), "date", age_like=True),
    "amount": SortKey(F("total_charge"), "decimal"),
    "patient": SortKey(Concat("patient__last_name", Value(", "), "patient__first_name", output_field=CharField()),
                       "text"),
    "payer": SortKey(F("payer__name"), "text"),
    "status": SortKey(F("status"), "text"),
}


# --- worklist -----------------------------------------------------------------------------------------------------


def _filtered(claims, data: dict, user):
    if data.get("status"):
        claims = claims.filter(status=data["status"])
    if data.get("payer"):
        claims = claims.filter(payer=data["payer"])
    if data.get("age"):
        earliest, latest = AgeBucket.service_date_range(data["age"], today())
        claims = claims.filter(service_date_from__lte=latest)
        if earliest is not None:
            claims = claims.filter(service_date_from__gte=earliest)
    if data.get("amount_min") is not None:
        claims = claims.filter(total_charge__gte=data["amount_min"])
    if data.get("amount_max") is not None:
        claims = claims.filter(total_charge__lte=data["amount_max"])
    assignee = data.get("assignee")
    if assignee == ASSIGNEE_ME:
        claims = claims.filter(assignee=user)
    elif assignee == ASSIGNEE_NONE:
        claims = claims.filter(assignee__isnull=True)
    elif assignee:
        claims = claims.filter(assignee__username=assignee)
    if data.get("date_from"):
        claims = claims.filter(service_date_from__gte=data["date_from"])
    if data.get("date_to"):
        claims = claims.filter(service_date_from__lte=data["date_to"])
    return claims


def _worklist(request) -> dict:
    form = ClaimFilterForm(_switched_data(request), user=request.user)
    data = form.cleaned_data if form.is_valid() else {}
    clinic = data.get("clinic")
    claims = _filtered(services.claims_in_scope(request.user, VIEW_PHI, clinic=clinic), data, request.user)
    sort = data.get("sort") or DEFAULT_SORT
    rows, next_cursor, paged = keyset_page(claims, keys=SORT_KEYS, scope="claims", sort=sort,
                                           after=request.GET.get("after", ""), page_size=PAGE_SIZE)
    on_day = today()
    for claim in rows:
        claim.age_days = (on_day - claim.service_date_from).days
    return {
        "form": form, "rows": rows, "next_cursor": next_cursor, "paged": paged, "sort": sort, "clinic": clinic,
        "total_count": claims.count(), "columns": _sort_columns(sort),
        "work_clinics": work_clinic_ids(request.user),
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    }


def _sort_columns(sort: str) -> dict:
    """Per sortable column: its current direction ('' when unsorted) and the sort its header link applies."""
    columns = {}
    for name, label in SORTS.items():
        current = "asc" if sort == name else "desc" if sort == f"-{name}" else ""
        columns[name] = {"label": label, "current": current,
                         "next": f"-{name}" if current == "asc" else name}
    return columns


@login_required
def claim_list(request):
    """Claims of the user's clinics: filters, sortable columns, keyset pages, bulk actions, CSV of the screen."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    context = _worklist(request)
    access_log_record(request, action=AccessAction.LIST, object_type="claim", clinic=context["clinic"],
                      label=f"claims worklist: {len(context['rows'])} shown")
    context["can_work"] = bool(context["work_clinics"])
    return render_page_or_fragment(request, "claims/claim_list.html", "claims/_claim_table.html", context)


CSV_HEADER = ["Claim", "Clinic", "Patient", "Payer", "Rendering provider", "Service from", "Service to", "Age (days)",
              "Status", "Frequency", "Total charge", "Assigned to", "Submitted at"]


@login_required
@require_GET
def claim_list_csv(request):
    """The worklist as CSV: the same filters, sort and page as the screen."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    context = _worklist(request)
    response, writer = csv_response(f"claims-{today():%Y-%m-%d}.csv")
    writer.writerow(CSV_HEADER)
    for claim in context["rows"]:
        writer.writerow([csv_cell(value) for value in (
            claim.patient_control_number, claim.clinic.legal_name, str(claim.patient), claim.payer.name,
            str(claim.rendering_provider), f"{claim.service_date_from:%Y-%m-%d}", f"{claim.service_date_to:%Y-%m-%d}",
            claim.age_days, claim.get_status_display(), claim.frequency, f"{claim.total_charge:.2f}",
            claim.assignee.get_username() if claim.assignee else "",
            claim.submitted_at.isoformat() if claim.submitted_at else "",
        )])
    access_log_record(request, action=AccessAction.EXPORT, object_type="claim", clinic=context["clinic"],
                      label=f"claims worklist CSV: {len(context['rows'])} rows")
    return response


def _selected_claims(request):
    ids = []
    for value in request.POST.getlist("claims"):
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return list(Claim.objects.visible_to(request.user, WORK_CLAIMS).filter(public_id__in=ids)
                .select_related("clinic", "payer"))


@login_required
@require_POST
def claim_bulk(request):
    """Bulk actions on the checked rows: submit the ready ones, or assign them to me, or unassign them."""
    _require_any(request.user, WORK_CLAIMS, "You may not work claims.")
    back = _safe_next(request, reverse("claim-list"))
    action = request.POST.get("action", "")
    claims = _selected_claims(request)
    if action not in BULK_ACTIONS:
        messages.error(request, "Choose what to do with the selected claims.")
        return redirect(back)
    if not claims:
        messages.error(request, "Select at least one claim.")
        return redirect(back)
    if action == "submit":
        return _bulk_submit(request, claims, back)
    assignee = request.user if action == "assign_me" else None
    count = services.claim_assign(claims=claims, assignee=assignee, acting_user=request.user)
    word = "assigned to you" if assignee else "unassigned"
    messages.success(request, f"{count} claim{'s' if count != 1 else ''} {word}.")
    return redirect(back)


def _bulk_submit(request, claims, back):
    from .batches import batches_create

    ready = [claim for claim in claims if claim.status == ClaimStatus.READY]
    skipped = len(claims) - len(ready)
    if not ready:
        messages.error(request, "None of the selected claims is ready to batch.")
        return redirect(back)
    try:
        batches = batches_create(claims=ready, acting_user=request.user)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    # Generation may already have run (eager tasks, or a fast worker): say where each batch stands now.
    batches = ClaimBatch.objects.filter(pk__in=[batch.pk for batch in batches]).select_related("payer")
    names = "; ".join(f"{batch.file_name or batch.payer.name} ({batch.get_status_display().lower()})"
                      for batch in batches)
    text = (f"{len(ready)} claim{'s' if len(ready) != 1 else ''} put in {len(batches)} "
            f"batch{'es' if len(batches) != 1 else ''}: {names}.")
    if skipped:
        text += f" {skipped} selected claim{'s were' if skipped != 1 else ' was'} not ready and left out."
    held = any(batch.status == BatchStatus.HELD for batch in batches)
    (messages.warning if held else messages.success)(request, text)
    return redirect("batch-list")


# --- claim page ---------------------------------------------------------------------------------------------------


CLAIM_RELATED = ("clinic", "patient", "coverage", "payer", "rendering_provider", "referring_provider", "batch",
                 "assignee", "replaces")


def _visible_claim(request, public_id, perm=VIEW_PHI) -> Claim:
    return get_visible_or_404(Claim.objects.select_related(*CLAIM_RELATED), request.user, perm, public_id=public_id)


def _assign_candidates(clinic):
    roles = [role for role, perms in ROLE_PERMISSIONS.items() if WORK_CLAIMS in perms]
    return list(get_user_model().objects.filter(clinic_grants__clinic=clinic, clinic_grants__role__in=roles,
                                                is_active=True).distinct().order_by("username"))


def _replaced_chain(request, claim) -> list[Claim]:
    """The claims this one corrects, nearest first (a replacement of a replacement names both)."""
    chain, seen = [], {claim.pk}
    current = claim.replaces
    while current is not None and current.pk not in seen:
        chain.append(current)
        seen.add(current.pk)
        current = (Claim.objects.visible_to(request.user, VIEW_PHI).select_related("replaces")
                   .filter(pk=current.replaces_id).first() if current.replaces_id else None)
    return chain


def _line_form(line, data=None) -> LineEditForm:
    initial = {"position": line.position, "units": line.units, "modifiers": " ".join(line.modifiers),
               "charge": line.charge}
    return LineEditForm(data, initial=initial, auto_id=f"id_line{line.position}_%s")


def _claim_context(request, claim, *, correct_form=None, line_form=None, assign_form=None) -> dict:
    can_work = user_has_clinic_perm(request.user, claim.clinic, WORK_CLAIMS)
    lines = list(ClaimLine.objects.visible_to(request.user, VIEW_PHI).filter(claim=claim).order_by("position"))
    editable = can_work and claim.status == ClaimStatus.DRAFT
    for line in lines:
        line.edit_form = None
        if editable:
            bound = line_form is not None and line_form.data.get("position") == str(line.position)
            line.edit_form = line_form if bound else _line_form(line)
    if can_work and assign_form is None:
        assign_form = AssignForm(candidates=_assign_candidates(claim.clinic),
                                 initial={"assignee": claim.assignee.username if claim.assignee else ""})
    if can_work and correct_form is None and claim.status in services.CORRECTABLE:
        correct_form = CorrectForm()
    return {
        "claim": claim, "lines": lines, "can_work": can_work, "line_form_error": line_form,
        "diagnoses": [(n, code, describe_icd10(code)) for n, code in enumerate(claim.diagnoses, start=1)],
        "events": claim.events.select_related("actor").order_by("at", "pk"),
        "replaces_chain": _replaced_chain(request, claim),
        "corrections": Claim.objects.visible_to(request.user, VIEW_PHI).filter(replaces=claim).order_by("created_at"),
        "correct_form": correct_form if can_work else None, "assign_form": assign_form if can_work else None,
        "can_mark_ready": can_work and claim.status in MARK_READY_FROM,
        "lag_hours": claim.submission_lag_hours,
    }


def _render_claim(request, claim, **forms):
    access_log_record(request, action=AccessAction.VIEW, obj=claim, label=f"claim {claim.patient_control_number}")
    return render(request, "claims/claim_detail.html", _claim_context(request, claim, **forms))


@login_required
@require_GET
def claim_detail(request, public_id):
    """One claim: who and what is billed, its lines, its whole history and its corrections; actions for billers."""
    return _render_claim(request, _visible_claim(request, public_id))


@login_required
@require_POST
def claim_correct(request, public_id):
    """A replacement (7) or void (8): the new claim opens; a refusal is shown beside the field it names."""
    claim = _visible_claim(request, public_id, WORK_CLAIMS)
    form = CorrectForm(request.POST)
    if form.is_valid():
        try:
            correction = services.claim_correct(claim=claim, acting_user=request.user, **form.cleaned_data)
        except AppError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            kind = "Replacement" if correction.frequency == "7" else "Void"
            messages.success(request, f"{kind} {correction.patient_control_number} created for "
                                      f"{claim.patient_control_number}.")
            return redirect("claim-detail", public_id=correction.public_id)
    return _render_claim(request, claim, correct_form=form)


@login_required
@require_POST
def claim_mark_ready(request, public_id):
    """A draft replacement or a fixed rejection goes back in line for the next batch."""
    claim = _visible_claim(request, public_id, WORK_CLAIMS)
    back = _safe_next(request, reverse("claim-detail", kwargs={"public_id": claim.public_id}))
    if claim.status not in MARK_READY_FROM:
        messages.error(request, f"Claim {claim.patient_control_number} is {claim.get_status_display().lower()}: "
                                "only a draft or a rejected claim is marked ready.")
        return redirect(back)
    try:
        services.claim_mark_ready(claim=claim, acting_user=request.user,
                                  reason=request.POST.get("reason", "").strip()[:400])
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Claim {claim.patient_control_number} is ready for the next batch.")
    return redirect(back)


@login_required
@require_POST
def claim_line_edit(request, public_id):
    """Units, modifiers and charge of one line of a draft replacement, addressed by its position on the claim."""
    claim = _visible_claim(request, public_id, WORK_CLAIMS)
    form = LineEditForm(request.POST, auto_id=f"id_line{request.POST.get('position', '')}_%s")
    if form.is_valid():
        data = form.cleaned_data
        line = claim.lines.filter(position=data["position"]).first()
        if line is None:
            form.add_error("position", f"Claim {claim.patient_control_number} has no line {data['position']}.")
        else:
            try:
                services.claim_line_update(line=line, acting_user=request.user, units=data["units"],
                                           modifiers=data["modifiers"], charge=data["charge"])
            except AppError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Line {line.position} ({line.cpt}) saved.")
                return redirect("claim-detail", public_id=claim.public_id)
    if form.errors.get("position") or form.non_field_errors():
        for message in [*form.errors.get("position", []), *form.non_field_errors()]:
            messages.error(request, message)
    return _render_claim(request, claim, line_form=form)


@login_required
@require_POST
def claim_assign(request, public_id):
    """Give the claim to one of its clinic's billers, or to nobody."""
    claim = _visible_claim(request, public_id, WORK_CLAIMS)
    form = AssignForm(request.POST, candidates=_assign_candidates(claim.clinic))
    if not form.is_valid():
        return _render_claim(request, claim, assign_form=form)
    assignee = form.cleaned_data["assignee"]
    services.claim_assign(claims=[claim], assignee=assignee, acting_user=request.user)
    who = (assignee.get_full_name() or assignee.get_username()) if assignee else "nobody"
    messages.success(request, f"Claim {claim.patient_control_number} assigned to {who}.")
    return redirect(_safe_next(request, reverse("claim-detail", kwargs={"public_id": claim.public_id})))


# --- batches ------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def batch_list(request):
    """The 837P files of the user's clinics (narrowed by the switcher), newest first."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    batches = (ClaimBatch.objects.visible_to(request.user, VIEW_PHI, clinic=current_clinic(request))
               .select_related("clinic", "payer", "created_by").defer("content")
               .annotate(has_file=ExpressionWrapper(~Q(content=""), output_field=BooleanField()))
               .order_by("-created_at", "-pk"))
    page = paginate(request, batches)
    return render(request, "claims/batch_list.html", {
        "page": page, "show_clinic": clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    })


def _visible_batch(request, public_id) -> ClaimBatch:
    queryset = ClaimBatch.objects.select_related("clinic", "payer", "created_by")
    return get_visible_or_404(queryset, request.user, VIEW_PHI, public_id=public_id)


def _batch_context(batch) -> dict:
    return {"batch": batch, "polling": batch.status in (BatchStatus.QUEUED, BatchStatus.GENERATING)}


@login_required
@require_GET
def batch_detail(request, public_id):
    """One batch: status, counts, progress while it is generated, validation errors when held, and its claims."""
    batch = _visible_batch(request, public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=batch, label=str(batch)[:120])
    context = _batch_context(batch)
    context["claims"] = services.claims_in_scope(request.user, VIEW_PHI).filter(batch=batch).order_by(
        "patient__last_name", "patient__first_name", "pk")
    return render(request, "claims/batch_detail.html", context)


@login_required
@require_GET
def batch_progress(request, public_id):
    """HTMX fragment polled every second while the batch is queued or generating; without the trigger once done."""
    return render(request, "claims/_batch_progress.html", _batch_context(_visible_batch(request, public_id)))


@login_required
@require_GET
def batch_download(request, public_id):
    """The 837P exactly as stored; every download is in the access log as an export."""
    batch = _visible_batch(request, public_id)
    if not batch.content:
        messages.warning(request, "The file of this batch has not been written yet.")
        return redirect("batch-detail", public_id=batch.public_id)
    access_log_record(request, action=AccessAction.EXPORT, obj=batch, label=batch.file_name or str(batch))
    response = HttpResponse(batch.content, content_type="text/plain; charset=utf-8")
    name = batch.file_name or f"{batch.public_id}.837"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- rejection and timeliness worklists ---------------------------------------------------------------------------


def _clinic_payer_form(request):
    form = UnsubmittedFilterForm(_switched_data(request), user=request.user)
    return form, (form.cleaned_data if form.is_valid() else {})


@login_required
@require_GET
def claim_rejections(request):
    """Rejected claims with the payer's reason, oldest first; each can be marked ready to resend once fixed."""
    from .selectors import rejected_claims

    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    form, data = _clinic_payer_form(request)
    clinic = data.get("clinic")
    claims = rejected_claims(request.user, VIEW_PHI, clinic=clinic)
    if data.get("payer"):
        claims = claims.filter(payer=data["payer"])
    # The selector lists the newest rejection first; the worklist works the oldest first (timely filing runs).
    page = paginate(request, claims.order_by(F("rejected_at").asc(nulls_first=True), "pk"))
    access_log_record(request, action=AccessAction.LIST, object_type="claim", clinic=clinic,
                      label=f"rejections: {len(page.object_list)} shown")
    return render(request, "claims/rejections.html", {
        "form": form, "page": page, "clinic": clinic, "work_clinics": work_clinic_ids(request.user),
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    })


@login_required
@require_GET
def claim_unsubmitted(request):
    """Signed visits still not on a submitted claim 24 hours after the note was signed, oldest first."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    form, data = _clinic_payer_form(request)
    clinic = data.get("clinic")
    now = timezone.now()
    visits = services.overdue_unbilled_visits(request.user, VIEW_PHI, clinic=clinic, now=now)
    if data.get("payer"):
        visits = visits.filter(coverage__payer=data["payer"])
    page = paginate(request, visits.order_by("signed_at", "pk"))
    for visit in page.object_list:
        visit.hours_since_signature = int((now - visit.signed_at).total_seconds() // 3600)
    access_log_record(request, action=AccessAction.LIST, object_type="visit", clinic=clinic,
                      label=f"unsubmitted visits: {len(page.object_list)} shown")
    return render(request, "claims/unsubmitted.html", {
        "form": form, "page": page, "clinic": clinic,
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    })


# --- acknowledgments ----------------------------------------------------------------------------------------------


def _recent_acks(user):
    # An ack that matched none of our batches has no clinic: only the person who uploaded it sees it.
    from .selectors import ack_files_visible_to

    visible = ack_files_visible_to(user, VIEW_PHI).values("pk")
    return (AckFile.objects.filter(Q(pk__in=visible) | Q(clinic__isnull=True, imported_by=user))
            .select_related("clinic", "imported_by").defer("content").order_by("-imported_at", "-pk")[:RECENT_ACKS])


@login_required
def ack_upload(request):
    """Upload a 999 or 277CA; the page shows what it accepted and rejected, and the recent acknowledgments."""
    from .acks import MAX_FILE_BYTES, ack_import

    _require_any(request.user, WORK_CLAIMS, "You may not import acknowledgments.")
    form = AckUploadForm(request.POST or None, request.FILES or None)
    summary = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            # One byte over the limit is enough for the service to refuse the file by name.
            summary = ack_import(file_name=upload.name, content=upload.read(MAX_FILE_BYTES + 1),
                                 acting_user=request.user)
        except AppError as exc:
            form.add_error("file", exc.message)
        else:
            (messages.warning if summary.get("duplicate") else messages.success)(
                request, f"{upload.name}: {summary.get('message', 'imported')}")
    return render(request, "claims/ack_upload.html", {
        "form": form, "summary": summary, "recent": _recent_acks(request.user),
        "summary_problems": [("Not matched", (summary or {}).get("unmatched", [])),
                             ("Skipped", (summary or {}).get("skipped", []))],
    })
