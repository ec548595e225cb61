"""Biller screens of coding: the 8-minute-rule calculator, the coding queue and the visit coding page.

Reads go through `visible_to(user, WORK_CLAIMS)` (the queue is narrowed by the clinic switcher or its own clinic
filter); objects by public id through `get_visible_or_404`, so another clinic's visit or finding is a 404. Fixes,
overrides and re-scrubs go through coding.services; their AppError is shown as a message or beside the field.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from itertools import zip_longest

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Prefetch, Value
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from clinics.current import current_clinic
from clinics.models import AccessAction, UnitMethod
from clinics.services import access_log_record
from clinics.views import paginate
from otbilling.errors import AppError
from otbilling.tenancy import VIEW_PHI, WORK_CLAIMS, clinics_visible_to, get_visible_or_404
from visits.models import Visit, VisitStatus

from . import services
from .forms import CalculatorForm, OverrideForm, QueueFilterForm, calculate_units, code_choices
from .models import CodedLine, CodingStatus, Finding, Severity, VisitCoding
from .selectors import code_book

CALCULATOR_ROWS = 5
CALCULATOR_MAX_ROWS = 20
LINE_FIELD_PREFIX = "lines["


# --- 8-minute-rule calculator -----------------------------------------------------------------------------------


@dataclass
class CalculatorRow:
    """One typed row of the calculator, with the problems found in it."""

    number: int
    code: str = ""
    minutes: str = ""
    errors: list[str] = field(default_factory=list)
    description: str = ""
    timed: bool = False

    @property
    def filled(self) -> bool:
        return bool(self.code or self.minutes)


def _require_any_grant(user) -> None:
    # The calculator shows no clinic data, but it is a tool for the platform's users, not the public.
    if not clinics_visible_to(user, VIEW_PHI).exists():
        raise PermissionDenied("You hold no role on any clinic.")


def _typed_rows(post) -> list[CalculatorRow]:
    pairs = zip_longest(post.getlist("code"), post.getlist("minutes"), fillvalue="")
    return [CalculatorRow(number=n, code=code.strip().upper()[:5], minutes=minutes.strip()[:6])
            for n, (code, minutes) in enumerate(pairs, start=1)][:CALCULATOR_MAX_ROWS]


def _with_blank_rows(rows: list[CalculatorRow], blanks: int) -> list[CalculatorRow]:
    rows = list(rows)
    while len(rows) < CALCULATOR_MAX_ROWS and (blanks > 0 or len(rows) < CALCULATOR_ROWS):
        rows.append(CalculatorRow(number=len(rows) + 1))
        blanks -= 1
    for number, row in enumerate(rows, start=1):
        row.number = number
    return rows


def _calculator_context(request) -> dict:
    today = timezone.localdate()
    book = code_book(today)
    context = {"codes": code_choices(book), "calculation": None, "top_errors": [], "today": today}
    if request.method != "POST":
        return _with_rows(context, book, CalculatorForm(), _with_blank_rows([], CALCULATOR_ROWS))
    form = CalculatorForm(request.POST)
    filled = [row for row in _typed_rows(request.POST) if row.filled]
    if "add_row" in request.POST:
        form.is_valid()  # show the chosen rule again without judging the rows yet
        form.errors.clear()
        return _with_rows(context, book, form, _with_blank_rows(filled, 1))
    rule = form.cleaned_data["rule"] if form.is_valid() else request.POST.get("rule", "")
    try:
        context["calculation"] = calculate_units(rule=rule, lines=[(r.code, r.minutes) for r in filled], book=book)
    except AppError as exc:
        for problem in exc.details or [{"field": exc.field, "message": exc.message}]:
            name, message = problem.get("field") or "", problem["message"]
            if name.startswith(LINE_FIELD_PREFIX) and "]" in name:
                number = int(name[len(LINE_FIELD_PREFIX):name.index("]")])
                filled[number - 1].errors.append(message)
            elif name == "rule":
                if form.is_valid():
                    form.add_error("rule", message)
            else:
                context["top_errors"].append(message)
    return _with_rows(context, book, form, _with_blank_rows(filled, 2))


def _with_rows(context: dict, book, form, rows: list[CalculatorRow]) -> dict:
    for row in rows:
        procedure = book.get(row.code)
        if procedure is not None:
            row.description, row.timed = procedure.description, procedure.is_timed
    context.update(form=form, rows=rows, rows_with_errors=[row for row in rows if row.errors])
    return context


@login_required
def units_calculator(request):
    """The 8-minute-rule calculator page; posting it without JavaScript shows the result on the same page."""
    _require_any_grant(request.user)
    return render(request, "coding/calculator.html", _calculator_context(request))


@login_required
@require_POST
def units_calculator_result(request):
    """HTMX fragment: the calculator form again (errors beside their row) and the result."""
    _require_any_grant(request.user)
    return render(request, "coding/_calculator.html", _calculator_context(request))


# --- coding queue -----------------------------------------------------------------------------------------------


def _require_work_claims(user) -> None:
    if not clinics_visible_to(user, WORK_CLAIMS).exists():
        raise PermissionDenied("The coding queue is for billers.")


def _rule_choices(user) -> list[tuple[str, str]]:
    """Every registered edit, plus any rule id found on the user's findings (e.g. from a retired edit)."""
    from . import edits  # noqa: F401  (registers the edits)
    from .scrubber import REGISTRY

    titles = {rule_id: rule.title for rule_id, rule in REGISTRY.items()}
    seen = Finding.objects.visible_to(user, WORK_CLAIMS).order_by().values_list("rule_id", flat=True).distinct()
    for rule_id in seen:
        titles.setdefault(rule_id, "")
    return [(rule_id, f"{rule_id} · {title}" if title else rule_id) for rule_id, title in sorted(titles.items())]


def _queue_form(request):
    data = request.GET.copy()
    switcher = current_clinic(request)
    if "clinic" not in data and switcher is not None and \
            clinics_visible_to(request.user, WORK_CLAIMS).filter(pk=switcher.pk).exists():
        data["clinic"] = str(switcher.public_id)
    return QueueFilterForm(data, user=request.user, rule_choices=_rule_choices(request.user))


@login_required
def coding_queue(request):
    """Signed visits with their coding status and open findings; filters, status counts, HTMX table fragment."""
    _require_work_claims(request.user)
    form = _queue_form(request)
    data = form.cleaned_data if form.is_valid() else {}
    clinic = data.get("clinic")
    open_findings = Finding.objects.visible_to(request.user, WORK_CLAIMS).filter(overridden_by__isnull=True)
    visits = (
        Visit.objects.visible_to(request.user, WORK_CLAIMS, clinic=clinic)
        .filter(status=VisitStatus.SIGNED)
        .annotate(coding_status=Coalesce("coding__status", Value(CodingStatus.PENDING)))
        .select_related("clinic", "patient", "coverage__payer", "coding")
    )
    if data.get("payer"):
        visits = visits.filter(coverage__payer=data["payer"])
    if data.get("severity"):
        visits = visits.filter(Exists(open_findings.filter(visit=OuterRef("pk"), severity=data["severity"])))
    if data.get("rule"):
        visits = visits.filter(Exists(open_findings.filter(visit=OuterRef("pk"), rule_id=data["rule"])))
    if data.get("date_from"):
        visits = visits.filter(date_of_service__gte=data["date_from"])
    if data.get("date_to"):
        visits = visits.filter(date_of_service__lte=data["date_to"])
    # Counts per status follow every filter but the status itself, so they say what each status link will show.
    counts = {status: 0 for status in CodingStatus.values}
    for row in visits.order_by().values("coding_status").annotate(n=Count("pk")):
        counts[row["coding_status"]] = row["n"]
    if data.get("status"):
        visits = visits.filter(coding_status=data["status"])
    sort = data.get("sort") or "-date"
    order = ("date_of_service", "created_at", "pk") if sort == "date" else ("-date_of_service", "-created_at", "-pk")
    visits = visits.prefetch_related(
        "lines",
        Prefetch("findings", queryset=open_findings.order_by("severity", "rule_id"), to_attr="open_findings"),
    ).order_by(*order)
    page = paginate(request, visits)
    access_log_record(request, action=AccessAction.LIST, object_type="visit", clinic=clinic,
                      label=f"coding queue: {len(page.object_list)} shown")
    context = {
        "form": form, "page": page, "clinic": clinic, "sort": sort,
        "next_sort": "date" if sort == "-date" else "-date",
        "status_counts": [(status, label, counts[status]) for status, label in CodingStatus.choices],
        "total_count": sum(counts.values()), "current_status": data.get("status", ""),
        "show_clinic": clinic is None and clinics_visible_to(request.user, WORK_CLAIMS).count() > 1,
    }
    template = "coding/_queue_table.html" if request.htmx else "coding/queue.html"
    return render(request, template, context)


# --- visit coding page ------------------------------------------------------------------------------------------


def _visible_visit(request, public_id):
    queryset = Visit.objects.select_related("clinic", "patient", "coverage__payer", "rendering_provider",
                                            "referring_provider", "plan_of_care")
    return get_visible_or_404(queryset, request.user, WORK_CLAIMS, public_id=public_id)


def _visible_finding(request, public_id):
    queryset = Finding.objects.select_related("visit", "service_line")
    return get_visible_or_404(queryset, request.user, WORK_CLAIMS, public_id=public_id)


def _coding_context(request, visit, override_form=None, override_finding=None) -> dict:
    coding = VisitCoding.objects.visible_to(request.user, WORK_CLAIMS).filter(visit=visit).first()
    if coding is None:
        # Coding runs after commit in the background; a visit opened before that happened is coded now.
        coding = services.visit_code(visit=visit)
    book = code_book(visit.date_of_service)
    lines = list(CodedLine.objects.visible_to(request.user, WORK_CLAIMS).filter(coding=coding)
                 .select_related("service_line").order_by("service_line__position"))
    for line in lines:
        procedure = book.get(line.service_line.cpt)
        line.description = procedure.description if procedure else "Not in the code set"
        line.modifier_list = [(m, line.modifier_reasons.get(m, "")) for m in line.modifiers]
    findings = list(Finding.objects.visible_to(request.user, WORK_CLAIMS).filter(visit=visit)
                    .select_related("service_line", "overridden_by"))
    findings.sort(key=lambda f: (f.overridden_by_id is not None, f.severity != Severity.BLOCKING,
                                 f.service_line.position if f.service_line else 0, f.rule_id))
    for finding in findings:
        if override_finding is not None and finding.pk == override_finding.pk:
            finding.override_form = override_form
        else:
            finding.override_form = OverrideForm(auto_id=f"id_override_{finding.public_id}_%s")
    totals = {name: sum((getattr(line, attr) for line in lines), Decimal("0.00"))
              for name, attr in (("charge", "charge"), ("expected_allowed", "expected_allowed"),
                                 ("mppr", "mppr_reduction"), ("assistant", "assistant_reduction"))}
    totals["units"] = sum(line.units for line in lines)
    return {
        "visit": visit, "coding": coding, "lines": lines, "findings": findings, "totals": totals,
        "blocking_count": sum(1 for f in findings if f.is_blocking),
        "open_count": sum(1 for f in findings if f.overridden_by_id is None),
        "rule_label": dict(UnitMethod.choices).get(coding.unit_rule, coding.unit_rule or "—"),
        "payer": visit.coverage.payer if visit.coverage_id else None,
    }


@login_required
def visit_coding(request, public_id):
    """A visit as it will be billed: units, modifiers and prices with their reasons, findings with fixes."""
    visit = _visible_visit(request, public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=visit, label=f"coding of {visit}"[:120])
    return render(request, "coding/visit_coding.html", _coding_context(request, visit))


@login_required
@require_POST
def visit_rescrub(request, public_id):
    """Code and scrub the visit again (after a coverage, fee or provider change elsewhere)."""
    visit = _visible_visit(request, public_id)
    coding = services.visit_code(visit=visit)
    messages.success(request, f"Re-scrubbed: {_status_words(request, coding)}.")
    return redirect("visit-coding", public_id=visit.public_id)


@login_required
@require_POST
def finding_fix(request, public_id):
    """Apply a finding's one-click fix; the visit is coded again in the same transaction."""
    finding = _visible_finding(request, public_id)
    visit = finding.visit
    try:
        coding = services.finding_apply_fix(acting_user=request.user, finding=finding)
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        label = finding.fix_label or "fix applied"
        messages.success(request, f"{finding.rule_id}: {label}. The visit is now {_status_words(request, coding)}.")
    return redirect("visit-coding", public_id=visit.public_id)


@login_required
@require_POST
def finding_override(request, public_id):
    """Accept a finding with a written reason (audited). A missing reason is shown beside the reason field."""
    finding = _visible_finding(request, public_id)
    visit = _visible_visit(request, finding.visit.public_id)
    form = OverrideForm(request.POST, auto_id=f"id_override_{finding.public_id}_%s")
    if form.is_valid():
        try:
            coding = services.finding_override(acting_user=request.user, finding=finding,
                                               reason=form.cleaned_data["reason"])
        except AppError as exc:
            form.add_error("reason" if exc.field == "reason" else None, exc.message)
        else:
            status = _status_words(request, coding)
            messages.success(request, f"{finding.rule_id} overridden with your reason. The visit is now {status}.")
            return redirect("visit-coding", public_id=visit.public_id)
    access_log_record(request, action=AccessAction.VIEW, obj=visit, label=f"coding of {visit}"[:120])
    context = _coding_context(request, visit, override_form=form, override_finding=finding)
    return render(request, "coding/visit_coding.html", context)


def _status_words(request, coding) -> str:
    if coding.status == CodingStatus.BILLABLE:
        return "billable"
    if coding.status == CodingStatus.HELD:
        count = Finding.objects.visible_to(request.user, WORK_CLAIMS).filter(
            visit_id=coding.visit_id, severity=Severity.BLOCKING, overridden_by__isnull=True).count()
        return f"held by {count} blocking finding{'s' if count != 1 else ''}"
    return "not yet scrubbed"
