"""Scrubber edits: every check a payer would apply to a visit's coded lines, caught before the claim leaves.

Each edit has a stable rule id (stored on findings, filtered on in the coding queue, cited in the README table and
the tests), a default severity, a message that names the line ("line 2 (97530)") or the visit field, and where
possible a one-click fix from coding.fixes. Documentation-review edits live in coding.docreview and register
through the import below. Edits read; only coding.services writes.
"""

import datetime

from clinics.models import ProviderKind
from clinics.validators import npi_is_valid
from visits.diagnoses import icd10_problem, normalize_icd10

from . import docreview, edits_eligibility  # noqa: F401  (register the documentation and eligibility edits)
from .engine import is_medicare
from .models import MueIndicator, NcciIndicator
from .scrubber import BLOCKING, WARNING, Proposal, ScrubContext, edit
from .selectors import (
    icd_code_sets,
    mue_limits_for,
    ncci_pairs_among,
    same_day_coded_units,
    same_day_lines,
)

DE_MINIMIS_SHARE = 0.10  # an OTA share at or under 10% of a line's minutes does not earn CO
SHORT_UNIT_MINUTES = 11  # CMS expects timed units to average about 15 minutes; under 11 invites review
FILING_WARNING_DAYS = 30
DISCIPLINE_NAMES = {"GO": "occupational therapy", "GP": "physical therapy", "GN": "speech-language pathology"}
MUE_MEANING = {
    MueIndicator.PER_LINE: "indicator 1, per claim line: units above it on one line are denied",
    MueIndicator.PER_DAY_POLICY: "indicator 2, an absolute per-day limit set by policy: units above it are denied "
                                 "and cannot be appealed",
    MueIndicator.PER_DAY_CLINICAL: "indicator 3, a clinical per-day limit: units above it are denied unless an "
                                   "appeal shows they were medically necessary",
}


def _where(line, name: str) -> str:
    return f"lines[{line.position}].{name}"


def _first_lines_by_code(context: ScrubContext) -> dict:
    """The first line of each code: it carries all units of that code (one line per code per DOS)."""
    first = {}
    for line in context.lines:
        first.setdefault(line.cpt, line)
    return first


def _billed_units(context: ScrubContext) -> dict[str, int]:
    units: dict[str, int] = {}
    for plan in context.plan.lines:
        if plan.units:
            units[plan.line.cpt] = units.get(plan.line.cpt, 0) + plan.units
    return units


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _dos(context: ScrubContext) -> str:
    return f"{context.visit.date_of_service:%Y-%m-%d}"


# --- Diagnoses ------------------------------------------------------------------------------------------------------


@edit("DX_INVALID", severity=BLOCKING, title="Diagnosis is not a billable ICD-10-CM code")
def diagnosis_invalid(context: ScrubContext):
    if not context.visit.diagnoses:
        yield Proposal("The visit has no diagnosis: add at least one billable ICD-10-CM code.", field="diagnoses")
    for position, code in enumerate(context.visit.diagnoses, start=1):
        problem = icd10_problem(code)
        if problem:
            yield Proposal(f"Diagnosis {position} ({normalize_icd10(code)}): {problem}",
                           field=f"diagnoses[{position}]")


@edit("DX_CODESET_DATE", severity=BLOCKING, title="No ICD-10-CM code set for the date of service")
def diagnosis_code_set_date(context: ScrubContext):
    """A DOS must fall in a loaded ICD-10-CM fiscal year. A DOS after the newest loaded year is checked against
    that year until the next one is loaded (every current visit would otherwise be held on 1 October)."""
    dos = context.visit.date_of_service
    code_sets = icd_code_sets()
    if any(s.effective_from <= dos <= s.effective_to for s in code_sets):
        return
    if code_sets and dos > code_sets[-1].effective_to:
        return
    yield Proposal(f"No ICD-10-CM code set is loaded for DOS {dos:%Y-%m-%d}; codes cannot be validated for that "
                   f"date.", field="date_of_service")


@edit("DX_POINTER", severity=BLOCKING, title="Diagnosis pointer missing or out of range")
def diagnosis_pointer(context: ScrubContext):
    count = len(context.visit.diagnoses)
    for line in context.lines:
        label = context.line_label(line)
        if not line.diagnosis_pointers:
            yield Proposal(f"{label}: no diagnosis pointer; point the line at one of the visit's diagnoses.",
                           line=line, field=_where(line, "diagnosis_pointers"))
            continue
        for pointer in line.diagnosis_pointers:
            if not 1 <= pointer <= count:
                yield Proposal(f"{label}: diagnosis pointer {pointer} is beyond the visit's {count} diagnoses.",
                               line=line, field=_where(line, "diagnosis_pointers"))


# --- Procedure codes ------------------------------------------------------------------------------------------------


@edit("CPT_UNKNOWN", severity=BLOCKING, title="Code not in the code set on the date of service")
def cpt_unknown(context: ScrubContext):
    for line in context.lines:
        if context.book.get(line.cpt) is None:
            yield Proposal(f"{context.line_label(line)}: {line.cpt} is not in the code set in force on "
                           f"{_dos(context)}.", line=line, field=_where(line, "cpt"))


@edit("CPT_PAYER_NOT_ACCEPTED", severity=BLOCKING, title="Code not accepted by the payer")
def cpt_payer_not_accepted(context: ScrubContext):
    if not is_medicare(context.payer):
        return
    for line in context.lines:
        code = context.book.get(line.cpt)
        if code is None or code.medicare_accepted:
            continue
        replacement = code.medicare_replacement
        if replacement:
            yield Proposal(f"{context.line_label(line)}: Medicare does not accept {line.cpt}; bill {replacement} "
                           f"instead.", line=line, field=_where(line, "cpt"), fix_code="replace_code",
                           fix_label=f"Replace {line.cpt} with {replacement}", fix_params={"new": replacement})
        else:
            yield Proposal(f"{context.line_label(line)}: Medicare does not accept {line.cpt}.", line=line,
                           field=_where(line, "cpt"))


# --- Units ----------------------------------------------------------------------------------------------------------


@edit("UNITS_MINUTES", severity=WARNING, title="Units disagree with the documented minutes")
def units_minutes(context: ScrubContext):
    first = _first_lines_by_code(context)
    timed_minutes = timed_units = 0
    for plan in context.plan.lines:
        line = plan.line
        code = context.book.get(line.cpt)
        if code is None or not code.is_timed:
            continue
        timed_minutes += line.minutes or 0
        timed_units += plan.units
        if line.minutes and not plan.units and first[line.cpt] is line:
            yield Proposal(f"{context.line_label(line)}: {line.minutes} min earn no unit; it will not be billed.",
                           line=line, field=_where(line, "minutes"))
    if timed_units and timed_minutes < SHORT_UNIT_MINUTES * timed_units:
        average = timed_minutes / timed_units
        yield Proposal(f"Billed timed units average {average:.1f} min ({timed_minutes} min for "
                       f"{_plural(timed_units, 'unit')}); payers expect about 15 min per unit and review visits "
                       f"with short units.",
                       field="units")


@edit("MUE_EXCEEDED", severity=BLOCKING, title="Medically unlikely edit exceeded")
def mue_exceeded(context: ScrubContext):
    units = _billed_units(context)
    if not units:
        return
    limits = mue_limits_for(set(units), context.visit.date_of_service)
    elsewhere = same_day_coded_units(context.visit) if limits else {}
    first = _first_lines_by_code(context)
    for cpt, here in units.items():
        limit = limits.get(cpt)
        if limit is None:
            continue
        per_line = limit.adjudication_indicator == MueIndicator.PER_LINE
        total = here if per_line else here + elsewhere.get(cpt, 0)
        if total <= limit.max_units:
            continue
        line = first[cpt]
        if per_line:
            scope = "on one line"
        elif total == here:
            scope = f"on {_dos(context)}"
        else:
            scope = f"on {_dos(context)} across the patient's visits ({here} on this one)"
        meaning = MUE_MEANING.get(limit.adjudication_indicator, f"indicator {limit.adjudication_indicator}")
        yield Proposal(f"{context.line_label(line)}: {total} units of {cpt} {scope} exceed the MUE of "
                       f"{limit.max_units} ({meaning}).", line=line, field=_where(line, "units"))


# --- NCCI -----------------------------------------------------------------------------------------------------------


@edit("NCCI_CONFLICT", severity=BLOCKING, title="NCCI procedure-to-procedure conflict")
def ncci_conflict(context: ScrubContext):
    """Raised on the column-2 line (the one the payer denies), so each conflict shows up once, on that line.

    Codes of the patient's other visits that day by the same rendering provider count too (the practitioner
    table applies per provider, patient and date of service).
    """
    here = {plan.line.cpt: plan.line for plan in context.plan.lines if plan.units}
    if not here:
        return
    other_codes = {line.cpt for line in same_day_lines(context.visit,
                                                      rendering_provider=context.visit.rendering_provider_id)
                   if getattr(line, "coded", None) is None or line.coded.units}
    codes = set(here) | other_codes
    bypass = context.payer.ncci_bypass_modifier if context.payer is not None else "59"
    for pair in sorted(ncci_pairs_among(codes, context.visit.date_of_service),
                       key=lambda p: (p.column2, p.column1)):
        line = here.get(pair.column2)
        if line is None or pair.column1 == pair.column2:
            continue
        where = "on this visit" if pair.column1 in here else "on another visit that day by the same provider"
        label = context.line_label(line)
        if pair.modifier_indicator == NcciIndicator.NEVER:
            yield Proposal(f"{label}: {pair.column1} ({where}) and {pair.column2} cannot be billed together on the "
                           f"same day (NCCI indicator 0); remove one of them.",
                           line=line, field=_where(line, "cpt"))
        elif pair.modifier_indicator == NcciIndicator.BYPASS_ALLOWED and not line.distinct_time_block:
            yield Proposal(f"{label}: NCCI pairs {pair.column2} with {pair.column1} ({where}); it is paid only when "
                           f"the note documents it in its own time block, then with {bypass}.",
                           line=line, field=_where(line, "distinct_time_block"),
                           fix_code="mark_distinct_time_block",
                           fix_label=f"Note documents separate time blocks: add {bypass}")


# --- Modifiers ------------------------------------------------------------------------------------------------------


@edit("MOD_DISCIPLINE", severity=BLOCKING, title="Missing or wrong discipline modifier")
def modifier_discipline(context: ScrubContext):
    if context.payer is None or not context.payer.go_required:
        return
    for plan in context.plan.lines:
        line = plan.line
        label = context.line_label(line)
        wrong = next((m for m in line.manual_modifiers if m in ("GP", "GN")), None)
        if wrong:
            if "GO" in line.manual_modifiers:
                fix = {"fix_code": "remove_modifier", "fix_label": f"Remove {wrong}", "fix_params": {"modifier": wrong}}
            else:
                fix = {"fix_code": "replace_modifier", "fix_label": f"Replace {wrong} with GO",
                       "fix_params": {"old": wrong, "new": "GO"}}
            yield Proposal(f"{label}: carries {wrong} ({DISCIPLINE_NAMES[wrong]}); this payer needs GO "
                           f"(occupational therapy) on every OT line.", line=line,
                           field=_where(line, "modifiers"), **fix)
        if "CO" in plan.modifiers and "GO" not in plan.modifiers:
            if wrong:
                fix = {"fix_code": "replace_modifier", "fix_label": f"Replace {wrong} with GO",
                       "fix_params": {"old": wrong, "new": "GO"}}
            else:
                fix = {"fix_code": "add_modifier", "fix_label": "Add GO", "fix_params": {"modifier": "GO"}}
            yield Proposal(f"{label}: CO (OTA) must be paired with GO, which this payer requires.", line=line,
                           field=_where(line, "modifiers"), **fix)


@edit("MOD_ASSISTANT", severity=BLOCKING, title="Assistant modifier or OTA rendering provider")
def modifier_assistant(context: ScrubContext):
    provider = context.visit.rendering_provider
    if provider.kind == ProviderKind.ASSISTANT:
        yield Proposal(f"Rendering provider {provider} is an OTA; bill under the supervising OT and mark the OTA's "
                       f"minutes on each line (CO).", field="rendering_provider")
    for line in context.lines:
        if "CO" not in line.manual_modifiers:
            continue
        minutes = line.minutes or 0
        if minutes and line.assistant_minutes > DE_MINIMIS_SHARE * minutes:
            continue
        share = f"{line.assistant_minutes / minutes:.0%}" if minutes else "0%"
        yield Proposal(f"{context.line_label(line)}: CO was entered, but the OTA furnished {line.assistant_minutes} "
                       f"of {minutes} min ({share}), within the 10% de minimis share; CO would cut payment by 15%.",
                       line=line, field=_where(line, "modifiers"), fix_code="remove_modifier",
                       fix_label="Remove CO", fix_params={"modifier": "CO"})


@edit("KX_THRESHOLD", severity=WARNING, title="KX added: therapy threshold passed")
def kx_threshold(context: ScrubContext):
    plan = context.plan
    kx_lines = [p.line for p in plan.lines if "KX" in p.modifiers]
    if not kx_lines or plan.kx_threshold is None:
        return
    line = kx_lines[0]
    year = context.visit.date_of_service.year
    yield Proposal(f"{context.line_label(line)}: KX added: the patient's OT allowed amount for {year} reaches "
                   f"${plan.ot_ytd_after} with this visit (${plan.ot_ytd_before} before), over the "
                   f"${plan.kx_threshold} threshold; the note must support medical necessity.",
                   line=line, field=_where(line, "modifiers"))


@edit("TARGETED_REVIEW", severity=WARNING, title="Targeted medical review amount passed")
def targeted_review(context: ScrubContext):
    plan = context.plan
    if plan.targeted_review_threshold is None or plan.ot_ytd_after <= plan.targeted_review_threshold:
        return
    yield Proposal(f"The patient's OT allowed amount for {context.visit.date_of_service.year} reaches "
                   f"${plan.ot_ytd_after} with this visit, past the ${plan.targeted_review_threshold} targeted "
                   f"medical review amount: the claim may be selected for review.", field="lines")


# --- Same-day rules -------------------------------------------------------------------------------------------------


@edit("EVAL_TWICE", severity=BLOCKING, title="More than one evaluation on the same day")
def evaluation_twice(context: ScrubContext):
    def is_eval(line):
        code = context.book.get(line.cpt)
        return code is not None and code.is_evaluation

    here = [line for line in context.lines if is_eval(line)]
    if not here:
        return
    elsewhere = [line for line in same_day_lines(context.visit) if is_eval(line)]
    if len(here) + len(elsewhere) < 2:
        return
    target = here[1] if len(here) > 1 else here[0]
    listed = [f"{line.cpt} on line {line.position}" for line in here]
    listed += [f"{line.cpt} on another visit" for line in elsewhere]
    yield Proposal(f"{context.line_label(target)}: more than one evaluation or re-evaluation on {_dos(context)} "
                   f"({', '.join(listed)}); bill one per day.", line=target, field=_where(target, "cpt"))


@edit("ADDON_WITHOUT_PRIMARY", severity=BLOCKING, title="Add-on code without its primary code")
def addon_without_primary(context: ScrubContext):
    codes_today = {line.cpt for line in context.lines} | {line.cpt for line in same_day_lines(context.visit)}
    for line in context.lines:
        code = context.book.get(line.cpt)
        if code is None or not code.addon_of or set(code.addon_of) & codes_today:
            continue
        primaries = " or ".join(code.addon_of)
        yield Proposal(f"{context.line_label(line)}: add-on code {line.cpt} needs its primary code {primaries} on "
                       f"the same day; add a {primaries} line.", line=line, field=_where(line, "cpt"))


@edit("DUPLICATE_SERVICE", severity=BLOCKING, title="Duplicate of a service on another signed visit")
def duplicate_service(context: ScrubContext):
    others = {}
    for line in same_day_lines(context.visit, signed_only=True):
        others.setdefault(line.cpt, line)
    first = _first_lines_by_code(context)
    for cpt, line in first.items():
        other = others.get(cpt)
        if other is None:
            continue
        yield Proposal(f"{context.line_label(line)}: {cpt} is already on another signed visit of this patient on "
                       f"{_dos(context)} (entered {other.visit.created_at:%Y-%m-%d %H:%M}); remove the duplicate.",
                       line=line, field=_where(line, "cpt"))


# --- Providers ------------------------------------------------------------------------------------------------------


@edit("RENDERING_NPI_INVALID", severity=BLOCKING, title="Rendering provider NPI invalid")
def rendering_npi_invalid(context: ScrubContext):
    provider = context.visit.rendering_provider
    if not npi_is_valid(provider.npi):
        yield Proposal(f"Rendering provider {provider}: NPI {provider.npi!r} is not valid (10 digits starting with "
                       f"1 or 2 and a correct check digit).", field="rendering_provider.npi")


@edit("RENDERING_NOT_CREDENTIALED", severity=BLOCKING, title="Rendering provider not credentialed with the payer")
def rendering_not_credentialed(context: ScrubContext):
    if context.payer is None:
        return
    provider = context.visit.rendering_provider
    credentialed = set(provider.credentialed_payers.values_list("pk", flat=True))
    if not credentialed:
        yield Proposal(f"Rendering provider {provider}: credentialing not recorded; record the payers they are "
                       f"credentialed with.", field="rendering_provider", severity=WARNING)
    elif context.payer.pk not in credentialed:
        yield Proposal(f"Rendering provider {provider} is not credentialed with {context.payer}; the claim would be "
                       f"denied.", field="rendering_provider")


@edit("REFERRING_MISSING", severity=BLOCKING, title="Referring provider missing")
def referring_missing(context: ScrubContext):
    payer = context.payer
    if payer is not None and payer.referring_provider_required and not context.visit.referring_provider_id:
        yield Proposal(f"{context.payer} requires a referring provider: add the referring physician or NPP.",
                       field="referring_provider")


# --- Dates ----------------------------------------------------------------------------------------------------------


@edit("DOS_FUTURE", severity=BLOCKING, title="Date of service in the future")
def dos_future(context: ScrubContext):
    if context.visit.date_of_service > context.today:
        yield Proposal(f"Date of service {_dos(context)} is after today ({context.today:%Y-%m-%d}).",
                       field="date_of_service")


@edit("TIMELY_FILING", severity=BLOCKING, title="Timely filing window closing or passed")
def timely_filing(context: ScrubContext):
    if context.payer is None:
        return
    limit = context.payer.timely_filing_days
    closes = context.visit.date_of_service + datetime.timedelta(days=limit)
    days_left = (closes - context.today).days
    if days_left <= 0:
        yield Proposal(f"{context.payer}'s {limit}-day timely filing limit passed on {closes:%Y-%m-%d}.",
                       field="date_of_service")
    elif days_left <= FILING_WARNING_DAYS:
        yield Proposal(f"{context.payer}'s {limit}-day timely filing window closes on {closes:%Y-%m-%d} "
                       f"({days_left} days left).", field="date_of_service", severity=WARNING)


# --- Coverage and fees ----------------------------------------------------------------------------------------------


@edit("COVERAGE_MISSING", severity=BLOCKING, title="No coverage on the visit")
def coverage_missing(context: ScrubContext):
    if context.visit.coverage_id is None:
        yield Proposal("No coverage: bill the patient or add coverage.", field="coverage")


@edit("COVERAGE_INACTIVE", severity=BLOCKING, title="Coverage not active on the date of service")
def coverage_inactive(context: ScrubContext):
    coverage = context.visit.coverage
    if coverage is None or coverage.is_active_on(context.visit.date_of_service):
        return
    ends = f"{coverage.effective_to:%Y-%m-%d}" if coverage.effective_to else "open"
    yield Proposal(f"Coverage {coverage} is not active on {_dos(context)} (effective "
                   f"{coverage.effective_from:%Y-%m-%d} to {ends}).", field="coverage")


@edit("FEE_MISSING", severity=BLOCKING, title="No fee schedule entry")
def fee_missing(context: ScrubContext):
    for plan in context.plan.lines:
        if plan.fee_missing:
            line = plan.line
            yield Proposal(f"{context.line_label(line)}: no fee schedule entry for {line.cpt} on {_dos(context)}; "
                           f"add one (for this payer or the clinic default).", line=line, field=_where(line, "cpt"))

