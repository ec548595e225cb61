"""Biller screens of remittances: 835 upload (queued import or synchronous dry run), the 835 list and page, the
unmatched worklist with its manual match, manual posting of a paper EOB or a patient payment, and EFT
reconciliation (bank deposits against 835 payments).

Reading needs VIEW_PHI and every action WORK_CLAIMS, both on the object's clinic; objects are found through the
scope, so another clinic's object is a 404. An 835 file is special: a quarantined file may name none of our
clinics (EraFile.clinic is empty), so it is shown to the user who uploaded it and to operator admins only; a file
paying several clinics shows each user the payments of their own clinics. Writes go through denials.tasks,
denials.manual and denials.reconcile; their AppError is shown beside the field it names, never as a 500.

Import progress: the upload queues `denials.import_era` and sends the user to `era-pending?sha256=…`, a page that
polls (HTMX) until the EraFile with that SHA-256 exists (posted or quarantined) and then opens it, with its summary.
Meanwhile it shows "n of N claims" from the progress the task keeps in the cache (denials.tasks explains why not in
the database), to the user who uploaded the file and to operator admins only.
"""

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Exists, OuterRef, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from claims.ledger import claim_money
from claims.models import SENT_STATUSES, Claim, ClaimLine, LedgerEntry
from clinics.current import current_clinic
from clinics.models import AccessAction
from clinics.services import access_log_record
from clinics.views import paginate
from otbilling.errors import AppError
from otbilling.tenancy import (
    VIEW_PHI,
    WORK_CLAIMS,
    clinics_visible_to,
    get_visible_or_404,
    resolve_in_clinic,
    user_has_clinic_perm,
)
from otbilling.tenancy import require_perm_on_some_clinic as _require_any

from . import manual, reconcile
from .forms_era import (
    DepositForm,
    DepositImportForm,
    EobForm,
    EobLineForm,
    EraUploadForm,
    PatientPaymentForm,
    UnmatchedMatchForm,
)
from .models import (
    BankDeposit,
    ClaimRemittance,
    Denial,
    EraFile,
    EraPayment,
    EraStatus,
    Underpayment,
    UnmatchedRemittance,
)
from .posting import era_import
from .tasks import content_sha256, era_import_queue, era_progress

SHA256 = re.compile(r"^[0-9a-f]{64}$")
POLL_SECONDS = 2
MAX_POLLS = 150  # five minutes of waiting before the page stops polling and says so
SUGGESTIONS = 10
UNMATCHED_STATES = {"open": "Open", "resolved": "Matched", "all": "All"}


def _require_era_reader(user) -> None:
    # Operator admins may hold no clinic grant yet still need the quarantined files nobody else can see.
    if not user.is_staff:
        _require_any(user, VIEW_PHI, "You hold no role on any clinic.")


def _show_error(form, exc: AppError, fields=None) -> None:
    names = fields if fields is not None else form.fields
    form.add_error(exc.field if exc.field in names else None, exc.message)


# --- 835 files: selector ----------------------------------------------------------------------------------------


def era_files_visible_to(user, clinic=None):
    """835 files the user may open: files of their clinics, files paying several clinics when one of the payments
    is theirs, and files naming no clinic (quarantined) when they uploaded them or are an operator admin."""
    clinics = clinics_visible_to(user, VIEW_PHI)
    if clinic is not None:
        clinics = clinics.filter(pk=clinic.pk)
    ours = Exists(EraPayment.objects.filter(era_file=OuterRef("pk"), clinic__in=clinics.values("pk")))
    orphan = Q(clinic__isnull=True) & ~Exists(EraPayment.objects.filter(era_file=OuterRef("pk")))
    if not (user.is_active and user.is_staff):
        orphan &= Q(imported_by=user)
    return EraFile.objects.filter(Q(clinic__in=clinics.values("pk")) | Q(clinic__isnull=True) & ours | orphan)


def _visible_era(request, public_id) -> EraFile:
    era = era_files_visible_to(request.user).select_related("clinic", "imported_by").filter(
        public_id=public_id).first()
    if era is None:
        raise Http404("No 835 file matches the given query.")
    return era


def _visible_payments(user, era_files):
    return (EraPayment.objects.visible_to(user, VIEW_PHI).filter(era_file__in=era_files)
            .select_related("clinic", "payer").order_by("pk"))


# --- 835 list, upload, progress, page -----------------------------------------------------------------------------


@login_required
@require_GET
def era_list(request):
    """Imported 835 files, newest first, with what each posted (quarantined ones with their first problem)."""
    _require_era_reader(request.user)
    status = request.GET.get("status", "")
    files = era_files_visible_to(request.user, current_clinic(request)).select_related("clinic", "imported_by")
    if status in EraStatus.values:
        files = files.filter(status=status)
    files = files.defer("content").order_by("-imported_at", "-pk")
    page = paginate(request, files)
    payments = list(_visible_payments(request.user, [era.pk for era in page]))
    for era in page:
        era.visible_payments = [payment for payment in payments if payment.era_file_id == era.pk]
        era.paid = sum((payment.amount for payment in era.visible_payments), 0)
    access_log_record(request, action=AccessAction.LIST, object_type="era_file",
                      label=f"835 list: {len(page)} shown")
    return render(request, "denials/era_list.html", {
        "page": page, "status": status, "statuses": EraStatus.choices,
        "can_work": clinics_visible_to(request.user, WORK_CLAIMS).exists(),
    })


@login_required
def era_upload(request):
    """Upload an 835: a dry run answers at once and posts nothing; a real import is queued (see the module doc)."""
    _require_any(request.user, WORK_CLAIMS, "You may not post remittances.")
    form = EraUploadForm(request.POST or None, request.FILES or None, user=request.user)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        name, content = form.cleaned_data["file_name"], form.cleaned_data["content"]
        if form.cleaned_data["dry_run"]:
            context.update(_dry_run(request, name, content))
        else:
            return _queue_import(request, name, content)
    return render(request, "denials/era_upload.html", context)


def _dry_run(request, name, content) -> dict:
    try:
        return {"summary": era_import(file_name=name, content=content, acting_user=request.user, dry_run=True)}
    except AppError as exc:
        return {"error": exc.message, "problems": exc.details}


def _queue_import(request, name, content):
    existing = EraFile.objects.filter(sha256=content_sha256(content)).first()
    if existing is not None:
        when = f"{existing.imported_at:%Y-%m-%d %H:%M} UTC as {existing.file_name}"
        if existing.status == EraStatus.QUARANTINED:
            messages.error(request, f"{name}: the same file was uploaded on {when} and refused; nothing was posted. "
                                    "Ask the payer for a corrected file.")
        else:
            messages.info(request, f"{name}: already posted — the same file was imported on {when}; nothing was "
                                   "posted twice.")
        if era_files_visible_to(request.user).filter(pk=existing.pk).exists():
            return redirect("era-detail", public_id=existing.public_id)
        return redirect("era-list")
    digest = era_import_queue(file_name=name, content=content, acting_user=request.user)
    messages.success(request, f"{name} received; it is being posted.")
    return redirect(f"{reverse('era-pending')}?{urlencode({'sha256': digest})}")


@login_required
@require_GET
def era_pending(request):
    """Waits for the queued import of the file with this SHA-256, then opens its page (HTMX polls this view)."""
    _require_era_reader(request.user)
    digest = request.GET.get("sha256", "").lower()
    era = era_files_visible_to(request.user).filter(sha256=digest).first() if SHA256.match(digest) else None
    if era is not None:
        target = reverse("era-detail", kwargs={"public_id": era.public_id})
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
    try:
        tries = max(0, int(request.GET.get("tries", "0")))
    except ValueError:
        tries = 0
    progress = _own_progress(request.user, digest) if SHA256.match(digest) else None
    failed = progress is not None and progress["state"] == "failed"
    context = {"digest": digest if SHA256.match(digest) else "", "tries": tries + 1, "progress": progress,
               "failed": failed, "polling": bool(SHA256.match(digest)) and tries < MAX_POLLS and not failed,
               "poll_seconds": POLL_SECONDS}
    template = "denials/era_pending_status.html" if request.htmx else "denials/era_pending.html"
    return render(request, template, context)


def _own_progress(user, digest: str) -> dict | None:
    """The running import's progress, for the user who uploaded the file (or an operator admin)."""
    progress = era_progress(digest)
    if not progress or not (user.is_staff or progress.get("user_id") == user.pk):
        return None
    return progress


@login_required
@require_GET
def era_detail(request, public_id):
    """One 835 file: its payments and PLBs, claims answered, denials and underpayments opened, unmatched items, or
    the problems that kept it from posting (segment, position, message)."""
    era = _visible_era(request, public_id)
    payments = list(_visible_payments(request.user, [era.pk]).select_related("deposit")
                    .prefetch_related("provider_adjustments"))
    payment_ids = [payment.pk for payment in payments]
    user = request.user
    access_log_record(request, action=AccessAction.VIEW, obj=era, label=f"835 {era.file_name}"[:120])
    return render(request, "denials/era_detail.html", {
        "era": era, "payments": payments,
        # A file paying several clinics has one summary for all of them: show it only to whoever sees them all.
        "summary": era.summary if era.clinic_id or len(payments) == era.payments.count() else None,
        "remittances": (ClaimRemittance.objects.visible_to(user, VIEW_PHI).filter(payment_id__in=payment_ids)
                        .select_related("claim", "claim__patient", "payment")),
        "denials": (Denial.objects.visible_to(user, VIEW_PHI).filter(payment_id__in=payment_ids)
                    .select_related("claim", "claim_line")),
        "underpayments": (Underpayment.objects.visible_to(user, VIEW_PHI).filter(payment_id__in=payment_ids)
                          .select_related("claim", "claim_line")),
        "unmatched": (UnmatchedRemittance.objects.visible_to(user, VIEW_PHI).filter(payment_id__in=payment_ids)
                      .select_related("claim", "resolved_by")),
        "can_work": clinics_visible_to(user, WORK_CLAIMS).exists(),
    })


# --- unmatched worklist and manual match ----------------------------------------------------------------------------


@login_required
@require_GET
def unmatched_list(request):
    """835 claims and lines that matched none of ours: open ones first to a biller, for a manual match."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    state = request.GET.get("state", "open")
    state = state if state in UNMATCHED_STATES else "open"
    items = (UnmatchedRemittance.objects.visible_to(request.user, VIEW_PHI, clinic=current_clinic(request))
             .select_related("clinic", "payment", "payment__era_file", "claim", "resolved_by")
             .order_by("-created_at", "-pk"))
    if state == "open":
        items = items.filter(resolved_at__isnull=True)
    elif state == "resolved":
        items = items.filter(resolved_at__isnull=False)
    page = paginate(request, items)
    access_log_record(request, action=AccessAction.LIST, object_type="unmatchedremittance",
                      label=f"unmatched remittances: {len(page)} shown")
    return render(request, "denials/unmatched_list.html", {
        "page": page, "state": state, "states": UNMATCHED_STATES,
        "work_clinics": set(clinics_visible_to(request.user, WORK_CLAIMS).values_list("pk", flat=True)),
    })


def _line_label(line: ClaimLine) -> str:
    modifiers = "-".join(line.modifiers)
    return (f"{line.position}: {line.cpt}{'-' + modifiers if modifiers else ''} × {line.units} on "
            f"{line.date_of_service:%Y-%m-%d}, charge {line.charge}")


def _suggestions(request, item) -> list[Claim]:
    """Claims of the item's clinic that may be the one the payer meant: same total charge or same surname."""
    if item.claim_id:
        return []
    claims = (Claim.objects.visible_to(request.user, WORK_CLAIMS).filter(clinic=item.clinic,
                                                                         status__in=SENT_STATUSES)
              .select_related("patient", "payer"))
    match = Q(total_charge=item.data.get("charge") or -1)
    surname = (item.data.get("patient") or "").split(",")[0].strip()
    if surname:
        match |= Q(patient__last_name__iexact=surname)
    return list(claims.filter(match).order_by("-service_date_from", "-pk")[:SUGGESTIONS])


def _match_context(request, item, form) -> dict:
    return {"item": item, "form": form, "suggestions": _suggestions(request, item),
            "lines": item.data.get("lines") if item.claim_id is None else [item.data]}


@login_required
def unmatched_match(request, public_id):
    """Tie an unmatched 835 claim to one of the clinic's claims (or a line to a line of its claim) and post it."""
    item = get_visible_or_404(UnmatchedRemittance.objects.select_related(
        "clinic", "payment", "payment__era_file", "claim", "resolved_by"), request.user, WORK_CLAIMS,
        public_id=public_id)
    line_choices = None
    if item.claim_id:
        line_choices = [(line.position, _line_label(line)) for line in item.claim.lines.order_by("position")]
    initial = {"claim": item.claim.patient_control_number if item.claim_id else ""}
    form = UnmatchedMatchForm(request.POST or None, initial=initial, line_choices=line_choices)
    if request.method == "POST" and item.resolved_at is None and form.is_valid():
        try:
            claim = resolve_in_clinic(Claim, request.user, item.clinic, WORK_CLAIMS, field="claim",
                                      patient_control_number__iexact=form.cleaned_data["claim"].strip())
            summary = manual.unmatched_match(item=item, claim=claim, acting_user=request.user,
                                             line_position=form.cleaned_data.get("line"))
        except AppError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, f"Posted to claim {claim.patient_control_number}: paid "
                                      f"{summary['paid_total']}, {summary['lines_posted']} "
                                      f"line{'s' if summary['lines_posted'] != 1 else ''}.")
            return redirect("unmatched-list")
    access_log_record(request, action=AccessAction.VIEW, obj=item)
    return render(request, "denials/unmatched_match.html", _match_context(request, item, form))


# --- manual posting: paper EOB and patient payment ----------------------------------------------------------------


def _posting_claim(request, public_id) -> Claim:
    return get_visible_or_404(Claim.objects.select_related("clinic", "patient", "payer"), request.user, WORK_CLAIMS,
                              public_id=public_id)


def _line_forms(lines, data=None):
    return [(line, EobLineForm(data, prefix=f"line{line.position}")) for line in lines]


def _posting_context(claim, *, eob_form=None, line_forms=None, patient_form=None, top_errors=()) -> dict:
    lines = list(claim.lines.order_by("position"))
    balances = {}
    for entry in LedgerEntry.objects.filter(claim=claim, claim_line__isnull=False).values("claim_line_id", "party",
                                                                                           "amount"):
        per_line = balances.setdefault(entry["claim_line_id"], {"payer": 0, "patient": 0})
        if entry["party"] in per_line:
            per_line[entry["party"]] += entry["amount"]
    line_forms = line_forms or _line_forms(lines)
    for line, _form in line_forms:
        line.balances = balances.get(line.pk, {"payer": 0, "patient": 0})
    return {"claim": claim, "money": claim_money(claim), "eob_form": eob_form or EobForm(),
            "line_forms": line_forms, "patient_form": patient_form or PatientPaymentForm(),
            "top_errors": list(top_errors), "postable": claim.status in manual.POSTABLE}


@login_required
def manual_posting(request, public_id):
    """Post a paper EOB against the claim's lines (GET shows the balances and one form per line)."""
    claim = _posting_claim(request, public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=claim, label=f"posting {claim.patient_control_number}")
    if request.method != "POST":
        return render(request, "denials/manual_posting.html", _posting_context(claim))
    eob_form = EobForm(request.POST)
    line_forms = _line_forms(claim.lines.order_by("position"), request.POST)
    top_errors = []
    if eob_form.is_valid() and all(form.is_valid() for _line, form in line_forms):
        try:
            summary = manual.manual_posting_record(
                claim=claim, lines=[form.as_spec(line.position) for line, form in line_forms],
                acting_user=request.user, **eob_form.cleaned_data)
        except AppError as exc:
            top_errors = _spread_errors(exc, eob_form, line_forms)
        else:
            messages.success(request, _posted_message(summary))
            return redirect("manual-posting", public_id=claim.public_id)
    return render(request, "denials/manual_posting.html", _posting_context(
        claim, eob_form=eob_form, line_forms=line_forms, top_errors=top_errors))


def _posted_message(summary: dict) -> str:
    lines = summary["lines_posted"]
    text = (f"Posted {lines} line{'s' if lines != 1 else ''}: paid {summary['paid_total']}, adjusted "
            f"{summary['adjustment_total']}, patient responsibility {summary['patient_responsibility_total']}")
    if summary["denials_opened"]:
        text += f"; {summary['denials_opened']} denial{'s' if summary['denials_opened'] != 1 else ''} opened"
    return text + "."


def _spread_errors(exc: AppError, eob_form, line_forms) -> list[str]:
    """Each problem beside its line or field; the rest at the top of the page."""
    by_line = {f"line {line.position}": form for line, form in line_forms}
    top = []
    for problem in exc.details or [{"field": exc.field, "message": exc.message}]:
        field, message = problem.get("field"), problem["message"]
        if field in by_line:
            by_line[field].add_error(None, message)
        elif field in eob_form.fields:
            eob_form.add_error(field, message)
        else:
            top.append(message)
    return top


@login_required
@require_POST
def patient_payment(request, public_id):
    """Record what the patient paid toward this claim; refused above what the patient owes."""
    claim = _posting_claim(request, public_id)
    form = PatientPaymentForm(request.POST)
    if form.is_valid():
        try:
            result = manual.patient_payment_record(claim=claim, acting_user=request.user, **form.cleaned_data)
        except AppError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, f"Patient payment of {result['amount']} posted; the patient now owes "
                                      f"{result['patient_balance']}.")
            return redirect("manual-posting", public_id=claim.public_id)
    return render(request, "denials/manual_posting.html", _posting_context(claim, patient_form=form))


# --- EFT reconciliation ---------------------------------------------------------------------------------------------


def _default_work_clinic(request):
    clinic = current_clinic(request)
    if clinic is not None and user_has_clinic_perm(request.user, clinic, WORK_CLAIMS):
        return clinic
    clinics = list(clinics_visible_to(request.user, WORK_CLAIMS)[:2])
    return clinics[0] if len(clinics) == 1 else None


@login_required
@require_GET
def deposit_list(request):
    """Bank deposits without an 835 payment, 835 payments without a deposit, and the totals of both sides."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    clinic = current_clinic(request)
    return render(request, "denials/deposit_list.html", {
        "deposits": reconcile.deposits_unmatched(user=request.user, clinic=clinic).order_by("deposit_date", "pk"),
        "payments": reconcile.payments_without_deposit(user=request.user, clinic=clinic).order_by("payment_date",
                                                                                                   "pk"),
        "matched": (BankDeposit.objects.visible_to(request.user, VIEW_PHI, clinic=clinic)
                    .filter(era_payment__isnull=False).select_related("clinic", "era_payment")
                    .order_by("-matched_at", "-pk")[:20]),
        "totals": reconcile.reconciliation_totals(user=request.user, clinic=clinic),
        "can_work": clinics_visible_to(request.user, WORK_CLAIMS).exists(),
    })


@login_required
def deposit_create(request):
    """Enter one bank deposit; it is matched at once if its 835 payment is posted."""
    _require_any(request.user, WORK_CLAIMS, "You may not record deposits.")
    form = DepositForm(request.POST or None, user=request.user, initial={"clinic": _default_work_clinic(request)})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            deposit = reconcile.deposit_record(
                clinic=data["clinic"], deposit_date=data["deposit_date"], amount=data["amount"],
                trace_number=data["trace_number"], description=data["description"], acting_user=request.user)
        except AppError as exc:
            for problem in exc.details or [{"field": exc.field, "message": exc.message}]:
                form.add_error(problem["field"] if problem["field"] in form.fields else None, problem["message"])
        else:
            matched = (f" and matched to the 835 payment {deposit.era_payment.trace_number}" if deposit.era_payment
                       else "; no 835 payment with that trace number and amount yet")
            messages.success(request, f"Deposit of {deposit.amount} on {deposit.deposit_date} recorded{matched}.")
            return redirect("deposit-list")
    return render(request, "denials/deposit_form.html", {"form": form})


@login_required
def deposit_import(request):
    """Import the bank's CSV of deposits: all rows or none, every bad row named by its number."""
    _require_any(request.user, WORK_CLAIMS, "You may not record deposits.")
    form = DepositImportForm(request.POST or None, request.FILES or None, user=request.user,
                             initial={"clinic": _default_work_clinic(request)})
    problems = []
    if request.method == "POST" and form.is_valid():
        try:
            result = reconcile.deposits_import_csv(clinic=form.cleaned_data["clinic"],
                                                   content=form.cleaned_data["content"], acting_user=request.user)
        except AppError as exc:
            problems = exc.details
            form.add_error(None, "Nothing was imported: fix the rows below and upload the file again."
                           if exc.details else exc.message)
        else:
            messages.success(request, f"{result['imported']} deposit{'s' if result['imported'] != 1 else ''} "
                                      f"imported, {result['duplicates']} already recorded, {result['matched']} "
                                      "matched to 835 payments.")
            return redirect("deposit-list")
    return render(request, "denials/deposit_import.html", {"form": form, "problems": problems,
                                                           "columns": reconcile.REQUIRED_COLUMNS})
