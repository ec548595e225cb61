"""Write services of coding: code a visit (units, modifiers, prices, findings), fixes and overrides."""

from django.db import transaction
from django.utils import timezone

from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, user_has_clinic_perm
from visits.models import Visit

from . import fixes
from .engine import plan_visit
from .models import CodedLine, CodingStatus, Finding, Severity, VisitCoding
from .scrubber import ScrubContext, run_edits
from .selectors import code_book


def _finding_key(rule_id: str, line_id, field: str, message: str) -> tuple:
    return (rule_id, line_id, field, message)


@transaction.atomic
def visit_code(*, visit: Visit, today=None) -> VisitCoding:
    """Compute units, modifiers and expected payment, run every scrubber edit, and store the result.

    Overrides survive a re-run while the same finding (rule, line, field, message) is raised again.
    """
    from . import edits  # noqa: F401  (registers the edits)

    visit = Visit.objects.select_for_update(of=("self",)).select_related(
        "clinic", "patient", "coverage__payer", "rendering_provider", "referring_provider", "plan_of_care",
    ).get(pk=visit.pk)
    lines = list(visit.lines.order_by("position"))
    book = code_book(visit.date_of_service)
    plan = plan_visit(visit, lines, book)
    coding, _ = VisitCoding.objects.get_or_create(visit=visit, defaults={"clinic": visit.clinic})
    _store_lines(coding, plan)
    context = ScrubContext(visit=visit, lines=lines, plan=plan, book=book,
                           payer=visit.coverage.payer if visit.coverage_id else None,
                           today=today or timezone.localdate())
    _store_findings(visit, run_edits(context))
    blocking = visit.findings.filter(severity=Severity.BLOCKING, overridden_by__isnull=True).exists()
    coding.status = CodingStatus.HELD if blocking else CodingStatus.BILLABLE
    coding.unit_rule = plan.rule
    coding.explanation = plan.explanation
    coding.scrubbed_at = timezone.now()
    coding.save()
    return coding


def _store_lines(coding: VisitCoding, plan) -> None:
    coding.lines.all().delete()
    CodedLine.objects.bulk_create([
        CodedLine(
            clinic=coding.clinic, coding=coding, service_line=p.line, units=p.units,
            modifiers=p.ordered_modifiers(), modifier_reasons={m: p.modifiers[m] for m in p.ordered_modifiers()},
            unit_reason=p.unit_reason[:300], charge=p.charge, expected_allowed=p.expected_allowed,
            mppr_reduction=p.mppr_reduction, assistant_reduction=p.assistant_reduction,
        )
        for p in plan.lines
    ])


def _store_findings(visit: Visit, raised) -> None:
    previous = {
        _finding_key(f.rule_id, f.service_line_id, f.field, f.message): f
        for f in visit.findings.filter(overridden_by__isnull=False)
    }
    visit.findings.all().delete()
    rows = []
    for item in raised:
        p = item.proposal
        line_id = p.line.pk if p.line is not None else None
        kept = previous.get(_finding_key(item.rule_id, line_id, p.field, p.message[:400]))
        rows.append(Finding(
            clinic=visit.clinic, visit=visit, service_line_id=line_id, rule_id=item.rule_id,
            severity=item.severity, message=p.message[:400], field=p.field, fix_code=p.fix_code,
            fix_label=p.fix_label, fix_params=p.fix_params,
            overridden_by=kept.overridden_by if kept else None, override_reason=kept.override_reason if kept else "",
            overridden_at=kept.overridden_at if kept else None,
        ))
    Finding.objects.bulk_create(rows)


def _check_biller(acting_user, visit) -> None:
    if not user_has_clinic_perm(acting_user, visit.clinic, WORK_CLAIMS):
        raise AppError("Only billers of this clinic may change coding findings.", code="forbidden")


@transaction.atomic
def finding_override(*, acting_user, finding: Finding, reason: str) -> VisitCoding:
    """Accept a finding with a written reason (audited); a blocking finding then no longer holds the visit."""
    _check_biller(acting_user, finding.visit)
    if len(reason.strip()) < 5:
        raise AppError("Give a reason of at least a few words for the override.", code="required", field="reason")
    finding.overridden_by = acting_user
    finding.override_reason = reason.strip()[:300]
    finding.overridden_at = timezone.now()
    finding.save(update_fields=["overridden_by", "override_reason", "overridden_at"])
    return visit_code(visit=finding.visit)


@transaction.atomic
def finding_apply_fix(*, acting_user, finding: Finding) -> VisitCoding:
    """Apply a finding's one-click fix, then code the visit again."""
    _check_biller(acting_user, finding.visit)
    if not finding.fix_code:
        raise AppError("This finding has no automatic fix.", code="no_fix")
    fixes.apply(finding.fix_code, finding=finding, acting_user=acting_user)
    return visit_code(visit=finding.visit)
