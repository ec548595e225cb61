"""Biller screens for working the money: the denial worklist and the denial page with its actions (appeal letter,
outcome, transfer to the patient, write-off, bill secondary, notes and follow-up, assign, resolve), the A/R
follow-up worklist with aging totals, and the underpayment list.

Reading needs VIEW_PHI; every action needs WORK_CLAIMS on the object's clinic (a write-off also WRITE_OFF, which
the service checks). Objects are found through `get_visible_or_404`, and actions look them up with WORK_CLAIMS, so
another clinic's denial, appeal or claim is a 404. Writes go through denials.services (and denials.secondary);
their AppError is shown beside the field it names, never as a 500. Both worklists page by keyset (otbilling.pagination:
a signed cursor of the sort key and the primary key) and export exactly the rows on screen as CSV.
"""

import datetime
import uuid
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from claims.forms import today
from claims.ledger import claim_money
from claims.models import Claim, ClaimStatus
from clinics.current import switched_filter_data as _switched_data
from clinics.models import AccessAction
from clinics.services import access_log_record
from clinics.views import paginate
from otbilling.errors import AppError
from otbilling.pagination import SortKey, keyset_page
from otbilling.tenancy import (
    VIEW_PHI,
    WORK_CLAIMS,
    WRITE_OFF,
    clinics_visible_to,
    get_visible_or_404,
    user_has_clinic_perm,
)
from otbilling.tenancy import require_perm_on_some_clinic as _require_any
from otbilling.web import csv_cell, csv_response, render_page_or_fragment
from otbilling.web import safe_next as _safe_next

from . import services
from .carc import carc_info, group_label, rarc_text
from .forms import (
    AR_DEFAULT_SORT,
    AR_SORTS,
    ASSIGNEE_ME,
    ASSIGNEE_NONE,
    DENIAL_DEFAULT_SORT,
    DENIAL_SORTS,
    STATUS_ANY,
    AppealForm,
    ArFilterForm,
    AssignForm,
    BulkAssignForm,
    DenialFilterForm,
    FollowUpForm,
    OutcomeForm,
    ResolveForm,
    TransferForm,
    UnderpaymentFilterForm,
    UnderpaymentResolveForm,
    WriteOffForm,
    work_candidates,
)
from .models import Appeal, AppealOutcome, Denial, FollowUpNote, Underpayment
from .selectors import AGE_BUCKET_LABELS, ar_aging, ar_claims, denials_visible, underpayments_visible

PAGE_SIZE = 50
FAR_DATE = datetime.date(9999, 12, 31)  # an empty date sorts last instead of breaking the keyset

DENIAL_SORT_KEYS = {
    "deadline": SortKey(Coalesce(F("appeal_deadline"), Value(FAR_DATE)), "date"),
    "amount": SortKey(F("amount"), "decimal"),
    "age": SortKey(F("claim__service_date_from"), "date", age_like=True),
    "payer": SortKey(F("claim__payer__name"), "text"),
}
AR_SORT_KEYS = {
    "age": SortKey(F("service_date_from"), "date", age_like=True),
    "balance": SortKey(F("balance"), "decimal"),
    "payer": SortKey(F("payer__name"), "text"),
    "follow_up": SortKey(Coalesce(F("next_follow_up"), Value(FAR_DATE)), "date"),
}


# --- shared helpers -----------------------------------------------------------------------------------------------


def _show_error(form, exc: AppError) -> None:
    form.add_error(exc.field if exc.field in form.fields else None, exc.message)


def _person(user) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


def _selected(request, model, field: str, perm=WORK_CLAIMS) -> list:
    ids = []
    for value in request.POST.getlist(field):
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return list(model.objects.visible_to(request.user, perm).filter(public_id__in=ids).select_related("clinic"))


def _bulk_form(request):
    candidates = work_candidates(clinics_visible_to(request.user, WORK_CLAIMS))
    return BulkAssignForm(request.POST or None, user=request.user, candidates=candidates)


def _sort_columns(sorts: dict, sort: str) -> dict:
    """Per sortable column: its current direction ('' when unsorted) and the sort its header link applies."""
    columns = {}
    for name, label in sorts.items():
        current = "asc" if sort == name else "desc" if sort == f"-{name}" else ""
        columns[name] = {"label": label, "current": current, "next": f"-{name}" if current == "asc" else name}
    return columns


def _filter_assignee(queryset, value: str, user, field: str = "assignee"):
    if value == ASSIGNEE_ME:
        return queryset.filter(**{field: user})
    if value == ASSIGNEE_NONE:
        return queryset.filter(**{f"{field}__isnull": True})
    if value:
        return queryset.filter(**{f"{field}__username": value})
    return queryset


# --- denial worklist ----------------------------------------------------------------------------------------------


def _filtered_denials(denials, data: dict, user, on_day: datetime.date):
    status = data.get("status") or ""
    if status == "":
        denials = denials.filter(status__in=services.OPEN_WORK)
    elif status != STATUS_ANY:
        denials = denials.filter(status=status)
    if data.get("payer"):
        denials = denials.filter(claim__payer=data["payer"])
    if data.get("category"):
        denials = denials.filter(category=data["category"])
    if data.get("amount_min") is not None:
        denials = denials.filter(amount__gte=data["amount_min"])
    if data.get("amount_max") is not None:
        denials = denials.filter(amount__lte=data["amount_max"])
    denials = _filter_assignee(denials, data.get("assignee", ""), user)
    if data.get("date_from"):
        denials = denials.filter(created_at__date__gte=data["date_from"])
    if data.get("date_to"):
        denials = denials.filter(created_at__date__lte=data["date_to"])
    if data.get("deadline_days") is not None:
        denials = denials.filter(appeal_deadline__gte=on_day,
                                 appeal_deadline__lte=on_day + datetime.timedelta(days=data["deadline_days"]))
    return denials


def _denial_worklist(request) -> dict:
    form = DenialFilterForm(_switched_data(request), user=request.user)
    data = form.cleaned_data if form.is_valid() else {}
    clinic = data.get("clinic")
    on_day = today()
    denials = _filtered_denials(denials_visible(request.user, VIEW_PHI, clinic=clinic), data, request.user, on_day)
    sort = data.get("sort") or DENIAL_DEFAULT_SORT
    rows, next_cursor, paged = keyset_page(denials, keys=DENIAL_SORT_KEYS, scope="denials", sort=sort,
                                           after=request.GET.get("after", ""), page_size=PAGE_SIZE)
    for denial in rows:
        denial.age_days = (on_day - denial.claim.service_date_from).days
        denial.days_left = (denial.appeal_deadline - on_day).days if denial.appeal_deadline else None
    work_clinics = set(clinics_visible_to(request.user, WORK_CLAIMS).values_list("pk", flat=True))
    return {
        "form": form, "rows": rows, "next_cursor": next_cursor, "paged": paged, "sort": sort, "clinic": clinic,
        "total_count": denials.count(), "columns": _sort_columns(DENIAL_SORTS, sort), "work_clinics": work_clinics,
        "can_work": bool(work_clinics), "bulk_form": _bulk_form(request) if work_clinics else None,
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    }


@login_required
@require_GET
def denial_list(request):
    """Denials of the user's clinics: filters, sortable columns, keyset pages, bulk assign, CSV of the screen."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    context = _denial_worklist(request)
    access_log_record(request, action=AccessAction.LIST, object_type="denial", clinic=context["clinic"],
                      label=f"denial worklist: {len(context['rows'])} shown")
    return render_page_or_fragment(request, "denials/denial_list.html", "denials/_denial_table.html", context)


DENIAL_CSV_HEADER = ["Claim", "Payer claim number", "Clinic", "Patient", "Payer", "Service date", "Line", "Code",
                     "Reason code", "Reason", "Category", "Recommended action", "Amount", "Denied on",
                     "Appeal deadline", "Days left", "Age (days)", "Status", "Assigned to"]


@login_required
@require_GET
def denial_list_csv(request):
    """The denial worklist as CSV: the same filters, sort and page as the screen."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    context = _denial_worklist(request)
    response, writer = csv_response(f"denials-{today():%Y-%m-%d}.csv")
    writer.writerow(DENIAL_CSV_HEADER)
    for denial in context["rows"]:
        claim, line = denial.claim, denial.claim_line
        writer.writerow([csv_cell(value) for value in (
            claim.patient_control_number, claim.payer_claim_control_number, denial.clinic.legal_name,
            str(claim.patient), claim.payer.name, f"{claim.service_date_from:%Y-%m-%d}",
            line.position if line else "claim", line.cpt if line else "",
            f"{denial.group_code}-{denial.carc}" if denial.group_code else denial.carc, denial.reason,
            denial.category, denial.recommended_action, f"{denial.amount:.2f}", f"{denial.created_at:%Y-%m-%d}",
            f"{denial.appeal_deadline:%Y-%m-%d}" if denial.appeal_deadline else "",
            denial.days_left if denial.days_left is not None else "", denial.age_days, denial.get_status_display(),
            denial.assignee.get_username() if denial.assignee else "",
        )])
    access_log_record(request, action=AccessAction.EXPORT, object_type="denial", clinic=context["clinic"],
                      label=f"denial worklist CSV: {len(context['rows'])} rows")
    return response


def _bulk_assign(request, *, model, field: str, assign, noun: str, fallback: str):
    _require_any(request.user, WORK_CLAIMS, "You may not work claims.")
    back = _safe_next(request, reverse(fallback))
    items = _selected(request, model, field)
    if not items:
        messages.error(request, f"Select at least one {noun}.")
        return redirect(back)
    form = _bulk_form(request)
    if not form.is_valid():
        messages.error(request, "Choose whom to assign the selected to.")
        return redirect(back)
    assignee = form.cleaned_data["assignee"]
    try:
        count = assign(items, assignee)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    who = "you" if assignee == request.user else _person(assignee) or "nobody"
    messages.success(request, f"{count} {noun}{'s' if count != 1 else ''} assigned to {who}.")
    return redirect(back)


@login_required
@require_POST
def denial_bulk_assign(request):
    """Give the checked denials to me, to nobody, or to a colleague who works their clinic."""
    return _bulk_assign(request, model=Denial, field="denials", noun="denial", fallback="denial-list",
                        assign=lambda items, who: services.denial_assign(denials=items, assignee=who,
                                                                         acting_user=request.user))


# --- denial page --------------------------------------------------------------------------------------------------


DENIAL_RELATED = ("clinic", "claim", "claim__clinic", "claim__patient", "claim__payer", "claim__coverage",
                  "claim__rendering_provider", "claim__assignee", "claim_line", "assignee", "payment")


def _visible_denial(request, public_id, perm=VIEW_PHI) -> Denial:
    return get_visible_or_404(Denial.objects.select_related(*DENIAL_RELATED), request.user, perm,
                              public_id=public_id)


def _form(cls, name: str, data=None, **kwargs):
    # Several forms share field names (note, amount) on one page: each gets its own element ids.
    return cls(data, auto_id=f"id_{name}_%s", **kwargs)


def _action_forms(denial, can_work: bool, can_write_off: bool, pending_appeal, given: dict) -> dict:
    if not can_work:
        return {}
    defaults = {
        # One appeal at a time: a new one (second level) once the payer has answered the pending one.
        "appeal_form": lambda: _form(AppealForm, "appeal")
        if denial.status in services.OPEN_WORK and pending_appeal is None else None,
        "outcome_form": lambda: _form(OutcomeForm, "outcome") if pending_appeal else None,
        "transfer_form": lambda: _form(TransferForm, "transfer"),
        "write_off_form": lambda: _form(WriteOffForm, "write_off") if can_write_off else None,
        "follow_up_form": lambda: _form(FollowUpForm, "follow_up",
                                        initial={"next_follow_up": denial.claim.next_follow_up}),
        "assign_form": lambda: _form(AssignForm, "assign", candidates=work_candidates([denial.clinic]),
                                     initial={"assignee": denial.assignee.username if denial.assignee else ""}),
        "resolve_form": lambda: _form(ResolveForm, "resolve") if denial.status in services.OPEN_WORK else None,
    }
    return {name: given.get(name) or make() for name, make in defaults.items()}


def _denial_context(request, denial, **given) -> dict:
    claim = denial.claim
    can_work = user_has_clinic_perm(request.user, denial.clinic, WORK_CLAIMS)
    can_write_off = can_work and user_has_clinic_perm(request.user, denial.clinic, WRITE_OFF)
    on_day = today()
    appeals = list(denial.appeals.defer("letter_pdf").select_related("created_by").order_by("-created_at", "-pk"))
    pending = next((appeal for appeal in appeals if appeal.outcome == AppealOutcome.PENDING), None)
    info = carc_info(denial.carc)
    return {
        "denial": denial, "claim": claim, "line": denial.claim_line, "info": info,
        "group_text": group_label(denial.group_code) if denial.group_code else "",
        "remarks": [(code, rarc_text(code)) for code in denial.rarcs],
        "money": claim_money(claim), "appeals": appeals, "pending_appeal": pending,
        "days_left": (denial.appeal_deadline - on_day).days if denial.appeal_deadline else None,
        "deadline_passed": bool(denial.appeal_deadline and denial.appeal_deadline < on_day),
        "days_passed": (on_day - denial.appeal_deadline).days if denial.appeal_deadline else None,
        "events": claim.events.select_related("actor").order_by("at", "pk"),
        "notes": FollowUpNote.objects.visible_to(request.user, VIEW_PHI).filter(claim=claim)
        .select_related("author", "denial").order_by("-created_at", "-pk"),
        "other_denials": denials_visible(request.user, VIEW_PHI).filter(claim=claim).exclude(pk=denial.pk)
        .order_by("claim_line__position", "pk"),
        "corrections": Claim.objects.visible_to(request.user, VIEW_PHI).filter(replaces=claim).order_by("created_at"),
        "correctable": claim.status in (ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID, ClaimStatus.DENIED,
                                        ClaimStatus.CLOSED),
        "can_work": can_work, "can_write_off": can_write_off, "is_open": denial.status in services.OPEN_WORK,
        **_action_forms(denial, can_work, can_write_off, pending, given),
    }


def _render_denial(request, denial, status: int = 200, **given):
    access_log_record(request, action=AccessAction.VIEW, obj=denial,
                      label=f"denial {denial.group_code}-{denial.carc} on {denial.claim.patient_control_number}")
    return render(request, "denials/denial_detail.html", _denial_context(request, denial, **given), status=status)


@login_required
@require_GET
def denial_detail(request, public_id):
    """One denial: the claim and line, the reason in words, the deadline, the history and the biller's actions."""
    return _render_denial(request, _visible_denial(request, public_id))


def _run_action(request, denial, *, form_name: str, form, run, success):
    """Validate, call the service, and either go back to the denial with a message or show the form's errors."""
    status = 200
    if form.is_valid():
        try:
            result = run(form.cleaned_data)
        except AppError as exc:
            _show_error(form, exc)
            if exc.code == "forbidden":
                status = 403
                messages.error(request, exc.message)
        else:
            messages.success(request, success(result))
            return redirect("denial-detail", public_id=denial.public_id)
    return _render_denial(request, denial, status=status, **{form_name: form})


@login_required
@require_POST
def denial_appeal(request, public_id):
    """Write the appeal letter (PDF) from the biller's argument; the denial becomes appealed."""
    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    return _run_action(
        request, denial, form_name="appeal_form", form=_form(AppealForm, "appeal", request.POST),
        run=lambda data: services.denial_appeal(denial=denial, argument=data["argument"], acting_user=request.user),
        success=lambda appeal: "Appeal letter written: download it below and send it to the payer "
                               f"before {denial.appeal_deadline:%Y-%m-%d}." if denial.appeal_deadline
        else "Appeal letter written: download it below and send it to the payer.")


@login_required
@require_POST
def denial_appeal_outcome(request, public_id):
    """The payer's answer to the denial's pending appeal."""
    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    form = _form(OutcomeForm, "outcome", request.POST)
    appeal = denial.appeals.filter(outcome=AppealOutcome.PENDING).order_by("-created_at", "-pk").first()
    if appeal is None:
        messages.error(request, "This denial has no appeal waiting for the payer's answer.")
        return redirect("denial-detail", public_id=denial.public_id)
    return _run_action(
        request, denial, form_name="outcome_form", form=form,
        run=lambda data: services.appeal_outcome_record(appeal=appeal, outcome=data["outcome"], note=data["note"],
                                                        acting_user=request.user),
        success=lambda result: f"Appeal outcome recorded: {result.get_outcome_display().lower()}.")


@login_required
@require_POST
def denial_transfer(request, public_id):
    """Move the payer's open balance of the claim (or part of it) to the patient."""
    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    return _run_action(
        request, denial, form_name="transfer_form", form=_form(TransferForm, "transfer", request.POST),
        run=lambda data: services.balance_transfer_to_patient(
            claim=denial.claim, amount=data["amount"], reason=data["reason"], note=data["note"],
            acting_user=request.user),
        success=lambda amount: f"${amount} of claim {denial.claim.patient_control_number} moved to the patient.")


@login_required
@require_POST
def denial_write_off(request, public_id):
    """Write off part or all of the claim's balance with a reason; refused without the write-off permission."""
    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    return _run_action(
        request, denial, form_name="write_off_form", form=_form(WriteOffForm, "write_off", request.POST),
        run=lambda data: services.balance_write_off(
            claim=denial.claim, amount=data["amount"], reason_code=data["reason_code"], note=data["note"],
            party=data["party"], acting_user=request.user),
        success=lambda amount: f"${amount} of claim {denial.claim.patient_control_number} written off.")


@login_required
@require_POST
def denial_bill_secondary(request, public_id):
    """Bill the patient's next coverage with the primary's adjudication, then open the new claim."""
    from .secondary import secondary_claim_create  # its own module; loaded only when a biller asks

    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    try:
        secondary = secondary_claim_create(claim=denial.claim, acting_user=request.user)
    except AppError as exc:
        messages.error(request, exc.message)
        return redirect("denial-detail", public_id=denial.public_id)
    note = f"Billed to the next payer as claim {secondary.patient_control_number}."
    if denial.status in services.OPEN_WORK:
        try:
            services.denial_resolve(denial=denial, status="transferred", acting_user=request.user, note=note)
        except AppError:
            pass  # the secondary exists either way; the biller can still close the denial by hand
    messages.success(request, f"Secondary claim {secondary.patient_control_number} created for "
                              f"{denial.claim.patient_control_number}.")
    return redirect("claim-detail", public_id=secondary.public_id)


@login_required
@require_POST
def denial_follow_up(request, public_id):
    """A note on the denial's claim and the next date to look at it."""
    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    return _run_action(
        request, denial, form_name="follow_up_form", form=_form(FollowUpForm, "follow_up", request.POST),
        run=lambda data: services.claim_follow_up_set(
            claim=denial.claim, denial=denial, next_follow_up=data["next_follow_up"], text=data["text"],
            acting_user=request.user),
        success=lambda note: "Note saved." + (f" Next follow-up {note.next_follow_up:%Y-%m-%d}."
                                              if note.next_follow_up else ""))


@login_required
@require_POST
def denial_assign(request, public_id):
    """Give the denial to a biller of its clinic, or to nobody."""
    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    form = _form(AssignForm, "assign", request.POST, candidates=work_candidates([denial.clinic]))

    def assign(data):
        services.denial_assign(denials=[denial], assignee=data["assignee"], acting_user=request.user)
        return data["assignee"]

    return _run_action(request, denial, form_name="assign_form", form=form, run=assign,
                       success=lambda who: f"Denial assigned to {_person(who) or 'nobody'}.")


@login_required
@require_POST
def denial_resolve(request, public_id):
    """Close the denial by hand: corrected claim sent, balance transferred, or otherwise resolved."""
    denial = _visible_denial(request, public_id, WORK_CLAIMS)
    return _run_action(
        request, denial, form_name="resolve_form", form=_form(ResolveForm, "resolve", request.POST),
        run=lambda data: services.denial_resolve(denial=denial, status=data["status"], note=data["note"],
                                                 acting_user=request.user),
        success=lambda result: f"Denial marked {result.get_status_display().lower()}.")


@login_required
@require_GET
def appeal_letter(request, public_id):
    """The stored appeal letter as PDF; every download is in the access log as an export."""
    appeal = get_visible_or_404(Appeal.objects.select_related("clinic", "claim"), request.user, VIEW_PHI,
                                public_id=public_id)
    access_log_record(request, action=AccessAction.EXPORT, obj=appeal,
                      label=f"appeal letter of claim {appeal.claim.patient_control_number}")
    response = HttpResponse(bytes(appeal.letter_pdf), content_type="application/pdf")
    name = f"appeal-{appeal.claim.patient_control_number}-{appeal.created_at:%Y%m%d}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- A/R follow-up worklist ---------------------------------------------------------------------------------------


def _filtered_ar(claims, data: dict, user, on_day: datetime.date):
    if data.get("payer"):
        claims = claims.filter(payer=data["payer"])
    if data.get("age"):
        claims = claims.filter(age_bucket=data["age"])
    if data.get("category"):
        claims = claims.filter(denial_category=data["category"])
    if data.get("amount_min") is not None:
        claims = claims.filter(balance__gte=data["amount_min"])
    if data.get("amount_max") is not None:
        claims = claims.filter(balance__lte=data["amount_max"])
    claims = _filter_assignee(claims, data.get("assignee", ""), user)
    follow_up = data.get("follow_up")
    if follow_up == "due":
        claims = claims.filter(next_follow_up__lte=on_day)
    elif follow_up == "week":
        claims = claims.filter(next_follow_up__lte=on_day + datetime.timedelta(days=7))
    elif follow_up == "unset":
        claims = claims.filter(next_follow_up__isnull=True)
    return claims


def _ar_worklist(request) -> dict:
    form = ArFilterForm(_switched_data(request), user=request.user)
    data = form.cleaned_data if form.is_valid() else {}
    clinic = data.get("clinic")
    on_day = today()
    claims = _filtered_ar(ar_claims(request.user, VIEW_PHI, clinic, today=on_day), data, request.user, on_day)
    sort = data.get("sort") or AR_DEFAULT_SORT
    rows, next_cursor, paged = keyset_page(claims, keys=AR_SORT_KEYS, scope="ar", sort=sort,
                                           after=request.GET.get("after", ""), page_size=PAGE_SIZE)
    work_clinics = set(clinics_visible_to(request.user, WORK_CLAIMS).values_list("pk", flat=True))
    for claim in rows:
        claim.follow_up_form = (_form(FollowUpForm, f"fu_{claim.pk}", initial={"next_follow_up": claim.next_follow_up})
                                if claim.clinic_id in work_clinics else None)
    aging = ar_aging(request.user, VIEW_PHI, clinic, today=on_day)
    return {
        "form": form, "rows": rows, "next_cursor": next_cursor, "paged": paged, "sort": sort, "clinic": clinic,
        "total_count": claims.count(), "columns": _sort_columns(AR_SORTS, sort), "work_clinics": work_clinics,
        "can_work": bool(work_clinics), "bulk_form": _bulk_form(request) if work_clinics else None,
        "aging": [(key, AGE_BUCKET_LABELS[key], total) for key, total in aging.items()],
        "aging_total": sum(aging.values(), Decimal("0.00")), "today": on_day,
        "bucket_labels": AGE_BUCKET_LABELS,
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    }


@login_required
@require_GET
def ar_list(request):
    """Claims that still owe money, with aging totals on top, filters, keyset pages, bulk assign and inline
    follow-up (HTMX)."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    context = _ar_worklist(request)
    access_log_record(request, action=AccessAction.LIST, object_type="claim", clinic=context["clinic"],
                      label=f"A/R worklist: {len(context['rows'])} shown")
    return render_page_or_fragment(request, "denials/ar_list.html", "denials/_ar_table.html", context)


AR_CSV_HEADER = ["Claim", "Clinic", "Patient", "Payer", "Service date", "Age (days)", "Age bucket", "Status",
                 "Balance", "Payer balance", "Patient balance", "CARC category", "Assigned to", "Next follow-up"]


@login_required
@require_GET
def ar_list_csv(request):
    """The A/R worklist as CSV: the same filters, sort and page as the screen."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    context = _ar_worklist(request)
    response, writer = csv_response(f"ar-{today():%Y-%m-%d}.csv")
    writer.writerow(AR_CSV_HEADER)
    for claim in context["rows"]:
        writer.writerow([csv_cell(value) for value in (
            claim.patient_control_number, claim.clinic.legal_name, str(claim.patient), claim.payer.name,
            f"{claim.service_date_from:%Y-%m-%d}", claim.age_days, AGE_BUCKET_LABELS[claim.age_bucket],
            claim.get_status_display(), f"{claim.balance:.2f}", f"{claim.payer_balance:.2f}",
            f"{claim.patient_balance:.2f}", claim.denial_category or "",
            claim.assignee.get_username() if claim.assignee else "",
            f"{claim.next_follow_up:%Y-%m-%d}" if claim.next_follow_up else "",
        )])
    access_log_record(request, action=AccessAction.EXPORT, object_type="claim", clinic=context["clinic"],
                      label=f"A/R worklist CSV: {len(context['rows'])} rows")
    return response


@login_required
@require_POST
def ar_bulk_assign(request):
    """Give the checked claims to me, to nobody, or to a colleague who works their clinic."""
    return _bulk_assign(request, model=Claim, field="claims", noun="claim", fallback="ar-list",
                        assign=lambda items, who: services.claims_assign(claims=items, assignee=who,
                                                                         acting_user=request.user))


@login_required
@require_POST
def claim_follow_up(request, public_id):
    """A follow-up note and date on a claim; answers the A/R row's HTMX form with the refreshed cell."""
    claim = get_visible_or_404(Claim.objects.select_related("clinic"), request.user, WORK_CLAIMS, public_id=public_id)
    form = _form(FollowUpForm, f"fu_{claim.pk}", request.POST)
    saved = None
    if form.is_valid():
        try:
            saved = services.claim_follow_up_set(claim=claim, next_follow_up=form.cleaned_data["next_follow_up"],
                                                 text=form.cleaned_data["text"], acting_user=request.user)
        except AppError as exc:
            _show_error(form, exc)
        else:
            form = _form(FollowUpForm, f"fu_{claim.pk}", initial={"next_follow_up": claim.next_follow_up})
    if request.htmx:
        return render(request, "denials/_follow_up_cell.html", {
            "claim": claim, "form": form, "saved": saved,
            "next_url": request.htmx.current_url_abs_path or reverse("ar-list")})
    if saved is not None:
        messages.success(request, f"Follow-up saved on claim {claim.patient_control_number}.")
    else:
        errors = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        messages.error(request, f"Claim {claim.patient_control_number}: {errors}")
    return redirect(_safe_next(request, reverse("ar-list")))


# --- underpayments ------------------------------------------------------------------------------------------------


@login_required
@require_GET
def underpayment_list(request):
    """Lines paid below what the fee schedule expects: expected, allowed, paid and shortfall, to assign and work."""
    _require_any(request.user, VIEW_PHI, "You hold no role on any clinic.")
    form = UnderpaymentFilterForm(_switched_data(request), user=request.user)
    data = form.cleaned_data if form.is_valid() else {}
    clinic = data.get("clinic")
    items = underpayments_visible(request.user, VIEW_PHI, clinic)
    status = data.get("status") or ""
    if status == "":
        items = items.filter(status__in=services.OPEN_WORK)
    elif status != STATUS_ANY:
        items = items.filter(status=status)
    if data.get("payer"):
        items = items.filter(claim__payer=data["payer"])
    items = _filter_assignee(items, data.get("assignee", ""), request.user)
    page = paginate(request, items.order_by("created_at", "pk"))
    work_clinics = set(clinics_visible_to(request.user, WORK_CLAIMS).values_list("pk", flat=True))
    for item in page.object_list:
        item.resolve_form = (_form(UnderpaymentResolveForm, f"up_{item.pk}")
                             if item.clinic_id in work_clinics and item.status in services.OPEN_WORK else None)
    access_log_record(request, action=AccessAction.LIST, object_type="underpayment", clinic=clinic,
                      label=f"underpayments: {len(page.object_list)} shown")
    return render(request, "denials/underpayment_list.html", {
        "form": form, "page": page, "clinic": clinic, "work_clinics": work_clinics, "can_work": bool(work_clinics),
        "bulk_form": _bulk_form(request) if work_clinics else None,
        "show_clinic": clinic is None and clinics_visible_to(request.user, VIEW_PHI).count() > 1,
    })


@login_required
@require_POST
def underpayment_bulk_assign(request):
    return _bulk_assign(request, model=Underpayment, field="underpayments", noun="underpayment",
                        fallback="underpayment-list",
                        assign=lambda items, who: services.underpayment_assign(underpayments=items, assignee=who,
                                                                               acting_user=request.user))


@login_required
@require_POST
def underpayment_resolve(request, public_id):
    """Close one underpayment item with how it was resolved."""
    item = get_visible_or_404(Underpayment.objects.select_related("clinic", "claim", "claim_line"), request.user,
                              WORK_CLAIMS, public_id=public_id)
    back = _safe_next(request, reverse("underpayment-list"))
    form = _form(UnderpaymentResolveForm, f"up_{item.pk}", request.POST)
    if not form.is_valid():
        errors = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        messages.error(request, f"Claim {item.claim.patient_control_number}: {errors}")
        return redirect(back)
    try:
        services.underpayment_resolve(underpayment=item, status=form.cleaned_data["status"],
                                      note=form.cleaned_data["note"], acting_user=request.user)
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Underpayment on claim {item.claim.patient_control_number} marked "
                                  f"{item.get_status_display().lower()}.")
    return redirect(back)

