"""Units, modifiers and expected reimbursement of one visit, each decision with its reason in words.

Pure logic over loaded rows: no writes. `coding.services.visit_code` stores the result and runs the scrubber.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from clinics.models import FeeScheduleQuery, PayerKind
from visits.models import PlaceOfService

from .selectors import CodeBook, ncci_pairs_among, ot_allowed_year_to_date, threshold_for_year
from .units import AMA, CMS, compute_units

CENT = Decimal("0.01")
DISCIPLINE_MODIFIERS = ("GO", "GP", "GN")
ASSISTANT_SHARE_LIMIT = Decimal("0.10")  # de minimis: more than 10% of the line's minutes
ASSISTANT_PAYMENT_FACTOR = Decimal("0.85")
TELEHEALTH_PLACES = (PlaceOfService.TELEHEALTH_HOME, PlaceOfService.TELEHEALTH_OTHER)
TELEHEALTH_MODIFIERS = ("95", "93")
MODIFIER_ORDER = ("GO", "GP", "GN", "CO", "CQ", "KX", "59", "XE", "XS", "XP", "XU", "95", "93")


@dataclass
class LinePlan:
    """What coding decided for one service line."""

    line: object  # visits.ServiceLine
    units: int = 0
    unit_reason: str = ""
    modifiers: dict[str, str] = field(default_factory=dict)  # modifier -> reason
    charge: Decimal = Decimal("0.00")
    full_allowed: Decimal = Decimal("0.00")
    mppr_reduction: Decimal = Decimal("0.00")
    assistant_reduction: Decimal = Decimal("0.00")
    fee_missing: bool = False

    @property
    def expected_allowed(self) -> Decimal:
        return self.full_allowed - self.mppr_reduction - self.assistant_reduction

    def ordered_modifiers(self) -> list[str]:
        rank = {m: i for i, m in enumerate(MODIFIER_ORDER)}
        return sorted(self.modifiers, key=lambda m: (rank.get(m, len(rank)), m))[:4]


@dataclass
class VisitPlan:
    rule: str
    lines: list[LinePlan]
    explanation: list[str]
    ot_ytd_before: Decimal = Decimal("0.00")
    ot_ytd_after: Decimal = Decimal("0.00")
    kx_threshold: Decimal | None = None
    targeted_review_threshold: Decimal | None = None


def _payer(visit):
    return visit.coverage.payer if visit.coverage_id else None


def plan_units(visit, lines, book: CodeBook, rule: str) -> tuple[dict[int, tuple[int, str]], list[str]]:
    """Units per line id. All units of one code go on the first line of that code (one line per code per DOS)."""
    timed: dict[str, int] = {}
    untimed: list[str] = []
    for line in lines:
        code = book.get(line.cpt)
        if code is None:
            continue
        if code.is_timed:
            timed[line.cpt] = timed.get(line.cpt, 0) + (line.minutes or 0)
        elif line.cpt not in untimed:
            untimed.append(line.cpt)
    result = compute_units(timed, rule=rule, untimed=untimed, families=book.families())
    decided: dict[int, tuple[int, str]] = {}
    seen: set[str] = set()
    for line in lines:
        code = book.get(line.cpt)
        if code is None:
            decided[line.pk] = (0, f"{line.cpt} is not in the code set: no units.")
        elif line.cpt in seen:
            decided[line.pk] = (0, f"Units of {line.cpt} are reported on its first line.")
        else:
            units = result.units.get(line.cpt, 0)
            if code.is_timed:
                reason = (f"{line.minutes or 0} min of {line.cpt}; {result.total_timed_minutes} timed min in the visit "
                          f"→ {units} unit(s) by the {'CMS total-time' if rule == CMS else 'AMA per-code'} rule.")
            else:
                reason = f"{line.cpt} is untimed: 1 unit."
            decided[line.pk] = (units, reason)
        seen.add(line.cpt)
    return decided, result.explanation


def _add_discipline(plan: LinePlan, payer) -> None:
    manual = set(plan.line.manual_modifiers)
    if payer is not None and payer.go_required and not manual & {"GP", "GN"}:
        plan.modifiers["GO"] = "Payer requires the OT discipline modifier on every therapy line."


def _add_assistant(plan: LinePlan) -> None:
    minutes = plan.line.minutes or 0
    if minutes and Decimal(plan.line.assistant_minutes) > ASSISTANT_SHARE_LIMIT * minutes:
        share = Decimal(plan.line.assistant_minutes) / minutes
        plan.modifiers["CO"] = (f"An OTA furnished {plan.line.assistant_minutes} of {minutes} min "
                                f"({share:.0%}), more than the 10% de minimis share.")


def _add_telehealth(plan: LinePlan, visit) -> None:
    if visit.place_of_service in TELEHEALTH_PLACES and not set(plan.line.manual_modifiers) & set(TELEHEALTH_MODIFIERS):
        plan.modifiers["95"] = f"Telehealth (place of service {visit.place_of_service}): synchronous audio-video."


def _add_ncci_bypass(plans: list[LinePlan], visit, payer) -> None:
    by_code = {p.line.cpt: p for p in plans if p.units}
    for pair in ncci_pairs_among(set(by_code), visit.date_of_service):
        column2 = by_code[pair.column2]
        if pair.modifier_indicator == "1" and column2.line.distinct_time_block:
            modifier = payer.ncci_bypass_modifier if payer else "59"
            column2.modifiers[modifier] = (f"NCCI pair {pair.column1}/{pair.column2} (indicator 1): the note documents "
                                           f"{pair.column2} in its own time block.")


def _price(plans: list[LinePlan], visit, payer, book: CodeBook) -> None:
    """Charges and expected allowed from the fee schedule, then MPPR and the CO reduction (payer settings)."""
    for plan in plans:
        fee = FeeScheduleQuery.fee_for(clinic=visit.clinic, payer=payer, cpt=plan.line.cpt,
                                       on_date=visit.date_of_service)
        if fee is None:
            plan.fee_missing = bool(plan.units)
            continue
        plan.charge = (fee.charge * plan.units).quantize(CENT, ROUND_HALF_UP)
        plan.full_allowed = (fee.expected_allowed * plan.units).quantize(CENT, ROUND_HALF_UP)
    if payer is not None and payer.applies_mppr:
        _apply_mppr(plans, book)
    if payer is not None and payer.applies_assistant_reduction:
        for plan in plans:
            if "CO" in plan.modifiers:
                after_mppr = plan.full_allowed - plan.mppr_reduction
                plan.assistant_reduction = (after_mppr * (1 - ASSISTANT_PAYMENT_FACTOR)).quantize(CENT, ROUND_HALF_UP)


def _apply_mppr(plans: list[LinePlan], book: CodeBook) -> None:
    """Full PE on the unit with the highest PE amount; 50% PE on every other unit that day (domain-rules §5.4)."""
    priced = [p for p in plans if p.units and p.full_allowed]
    if not priced:
        return

    def pe_per_unit(plan):
        code = book.get(plan.line.cpt)
        return (plan.full_allowed / plan.units) * (code.pe_share if code else 0)

    first = max(priced, key=lambda p: (pe_per_unit(p), p.full_allowed / p.units))
    for plan in priced:
        reduced_units = plan.units - (1 if plan is first else 0)
        plan.mppr_reduction = (pe_per_unit(plan) * Decimal("0.5") * reduced_units).quantize(CENT, ROUND_HALF_UP)


def _add_kx(plans: list[LinePlan], visit, payer, visit_plan: VisitPlan) -> None:
    """KX on the line where the year's OT allowed total passes the threshold, and on every later line."""
    if payer is None or not payer.kx_threshold_applies:
        return
    threshold = threshold_for_year(visit.date_of_service.year)
    if threshold is None:
        return
    running = ot_allowed_year_to_date(visit)
    visit_plan.ot_ytd_before = running
    visit_plan.kx_threshold = threshold.kx_threshold
    visit_plan.targeted_review_threshold = threshold.targeted_review_threshold
    for plan in plans:
        running += plan.expected_allowed
        if running > threshold.kx_threshold and plan.units:
            plan.modifiers["KX"] = (f"OT allowed amount for {visit.date_of_service.year} reaches ${running} with this "
                                    f"line, over the ${threshold.kx_threshold} threshold.")
    visit_plan.ot_ytd_after = running


def plan_visit(visit, lines, book: CodeBook) -> VisitPlan:
    payer = _payer(visit)
    rule = payer.unit_method if payer is not None else CMS
    rule = rule if rule in (CMS, AMA) else CMS
    units, explanation = plan_units(visit, lines, book, rule)
    plans = []
    for line in lines:
        plan = LinePlan(line=line, units=units[line.pk][0], unit_reason=units[line.pk][1])
        for manual in line.manual_modifiers:
            plan.modifiers[manual] = "Entered with the session."
        _add_discipline(plan, payer)
        _add_assistant(plan)
        _add_telehealth(plan, visit)
        plans.append(plan)
    _add_ncci_bypass(plans, visit, payer)
    _price(plans, visit, payer, book)
    visit_plan = VisitPlan(rule=rule, lines=plans, explanation=explanation)
    _add_kx(plans, visit, payer, visit_plan)
    return visit_plan


def is_medicare(payer) -> bool:
    return payer is not None and payer.kind == PayerKind.MEDICARE
