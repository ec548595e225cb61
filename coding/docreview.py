"""Documentation review: what the note and the plan of care must show before a visit is billed.

NOTE_UNSIGNED, DOC_MINUTES_MISSING and EVAL_COMPLEXITY apply to every payer. The plan-of-care and
progress-report rules are Medicare Part B's (domain-rules §5.1-5.2) and apply when the payer is set to
`medicare_documentation_rules`. Day numbers count the first day as day 1.
"""

import datetime
import re

from .scrubber import BLOCKING, WARNING, Proposal, ScrubContext, edit
from .selectors import (
    last_progress_report_date,
    later_plan_of_care_exists,
    plan_first_treatment_day,
    plan_treatment_days,
)

MAX_CERTIFIED_DAYS = 90
CERTIFICATION_WARN_DAY = 20
CERTIFICATION_DUE_DAY = 30
RECERTIFICATION_ALERT_DAY = 80
PROGRESS_REPORT_EVERY = 10  # treatment days
EVALUATION_COMPLEXITY = {"97165": "low", "97166": "moderate", "97167": "high"}
COMPLEXITY_CODE = {level: code for code, level in EVALUATION_COMPLEXITY.items()}
COMPLEXITY_STATED = re.compile(r"\b(low|moderate|high)[\s-]+complexity\b", re.IGNORECASE)


def _day(value: datetime.date) -> str:
    return f"{value:%Y-%m-%d}"


def _days(count: int) -> str:
    return "1 day" if count == 1 else f"{count} days"


def _medicare_rules(context: ScrubContext) -> bool:
    return context.payer is not None and context.payer.medicare_documentation_rules


@edit("NOTE_UNSIGNED", severity=BLOCKING, title="Note not signed")
def note_unsigned(context: ScrubContext):
    if not context.visit.is_signed:
        yield Proposal("The note is not signed: the therapist must sign it before the visit is billed.",
                       field="signed_at")


@edit("DOC_MINUTES_MISSING", severity=BLOCKING, title="Minutes missing on a timed line")
def minutes_missing(context: ScrubContext):
    for line in context.lines:
        code = context.book.get(line.cpt)
        if code is not None and code.is_timed and not line.minutes:
            yield Proposal(f"{context.line_label(line)}: {line.cpt} is a timed code; record the minutes of direct "
                           f"treatment.", line=line, field=f"lines[{line.position}].minutes")


@edit("EVAL_COMPLEXITY", severity=BLOCKING, title="Evaluation complexity not documented")
def evaluation_complexity(context: ScrubContext):
    stated = {match.lower() for match in COMPLEXITY_STATED.findall(context.visit.note_text or "")}
    for line in context.lines:
        level = EVALUATION_COMPLEXITY.get(line.cpt)
        if level is None or level in stated:
            continue
        label = context.line_label(line)
        where = f"lines[{line.position}].cpt"
        if len(stated) == 1:
            documented = next(iter(stated))
            other = COMPLEXITY_CODE[documented]
            yield Proposal(f"{label}: the note documents {documented} complexity, but {line.cpt} is the {level} "
                           f"complexity evaluation; bill {other} or correct the note.", line=line, field=where,
                           fix_code="replace_code", fix_label=f"Bill {other} ({documented} complexity)",
                           fix_params={"new": other})
        else:
            yield Proposal(f"{label}: the note must state the evaluation complexity: add \"{level} complexity\" "
                           f"with the occupational profile, performance deficits and clinical decision-making "
                           f"that support it.", line=line, field=where)


@edit("POC_MISSING", severity=BLOCKING, title="No plan of care covering the date of service")
def plan_of_care_missing(context: ScrubContext):
    if not _medicare_rules(context):
        return
    plan = context.visit.plan_of_care
    dos = context.visit.date_of_service
    if plan is None:
        yield Proposal("No plan of care is linked to this visit; therapy is paid only under a certified plan of "
                       "care.", field="plan_of_care")
    elif not plan.covers(dos):
        yield Proposal(f"DOS {_day(dos)} is outside the plan of care's certified interval ({_day(plan.start_date)} "
                       f"to {_day(plan.certified_through)}); recertify the plan or link the current one.",
                       field="plan_of_care")


@edit("POC_INTERVAL", severity=BLOCKING, title="Certification interval longer than 90 days")
def plan_of_care_interval(context: ScrubContext):
    plan = context.visit.plan_of_care
    if not _medicare_rules(context) or plan is None:
        return
    days = (plan.certified_through - plan.start_date).days + 1
    if days > MAX_CERTIFIED_DAYS:
        yield Proposal(f"The plan of care certifies {days} days ({_day(plan.start_date)} to "
                       f"{_day(plan.certified_through)}); a certification covers at most {MAX_CERTIFIED_DAYS} days.",
                       field="plan_of_care.certified_through")


@edit("POC_CERT_UNSIGNED", severity=BLOCKING, title="Plan of care certification not signed in time")
def plan_of_care_certification(context: ScrubContext):
    """The certifier must sign within 30 days of the first treatment day (the evaluation counts).

    Unsigned: day N is counted up to today (the nightly scrub sees the clock run): a warning from day 20, blocking
    from day 31. Signed by day 30: fine. Signed later: the visits before the signature need a delayed-certification
    reason (blocking; a biller overrides with that reason); visits on or after the signature are certified.
    """
    plan = context.visit.plan_of_care
    if not _medicare_rules(context) or plan is None:
        return
    dos = context.visit.date_of_service
    first = plan_first_treatment_day(context.visit)
    as_of = max(context.today, dos)
    signed = plan.certification_signed_date
    if signed is not None and signed <= as_of:
        signed_day = (signed - first).days + 1
        if signed_day <= CERTIFICATION_DUE_DAY or dos >= signed:
            return
        late = signed_day - CERTIFICATION_DUE_DAY
        yield Proposal(f"Plan of care certification was signed on {_day(signed)}, day {signed_day} after the first "
                       f"treatment on {_day(first)}: the certification is {_days(late)} late for this DOS; bill it "
                       f"only with the reason for the delay.", field="plan_of_care.certification_signed_date")
        return
    day = (as_of - first).days + 1
    due = first + datetime.timedelta(days=CERTIFICATION_DUE_DAY - 1)
    if day < CERTIFICATION_WARN_DAY:
        return
    if day <= CERTIFICATION_DUE_DAY:
        yield Proposal(f"Plan of care certification is not signed: day {day} since the first treatment on "
                       f"{_day(first)}; the certifier must sign by {_day(due)}.",
                       field="plan_of_care.certification_signed_date", severity=WARNING)
    else:
        yield Proposal(f"Plan of care certification is not signed: the certification is "
                       f"{_days(day - CERTIFICATION_DUE_DAY)} late (day {day} since the first treatment on "
                       f"{_day(first)}; due {_day(due)}).",
                       field="plan_of_care.certification_signed_date")


@edit("POC_RECERT_DUE", severity=WARNING, title="Recertification due")
def plan_of_care_recertification(context: ScrubContext):
    plan = context.visit.plan_of_care
    dos = context.visit.date_of_service
    if not _medicare_rules(context) or plan is None or not plan.covers(dos):
        return
    day = (dos - plan.start_date).days + 1
    if day < RECERTIFICATION_ALERT_DAY or later_plan_of_care_exists(plan):
        return
    yield Proposal(f"DOS {_day(dos)} is day {day} of the plan of care's certified interval: recertification due by "
                   f"{_day(plan.certified_through)}.", field="plan_of_care.certified_through")


@edit("PROGRESS_REPORT_DUE", severity=BLOCKING, title="Progress report due")
def progress_report_due(context: ScrubContext):
    """At least one progress report every 10 treatment days. Treatment days are the distinct dates of service of
    the patient's signed visits under the plan of care (and this visit), counted after the last report (a report
    written on a treatment day restarts the count after that day) or from the plan's start."""
    plan = context.visit.plan_of_care
    if not _medicare_rules(context) or plan is None:
        return
    dos = context.visit.date_of_service
    report = last_progress_report_date(context.visit, since=plan.start_date, until=dos)
    if report is not None:
        days = plan_treatment_days(context.visit, after=report)
        since = f"the last progress report on {_day(report)}"
    else:
        days = plan_treatment_days(context.visit, since=plan.start_date)
        since = f"the plan of care started on {_day(plan.start_date)}"
    count = len(days)
    if count < PROGRESS_REPORT_EVERY - 1:
        return
    if count == PROGRESS_REPORT_EVERY - 1:
        yield Proposal(f"Progress report due within 1 treatment day: this is treatment day {count} since {since}.",
                       field="progress_report", severity=WARNING)
    elif count == PROGRESS_REPORT_EVERY:
        yield Proposal(f"Progress report due today: this is treatment day {count} since {since}.",
                       field="progress_report", severity=WARNING)
    else:
        yield Proposal(f"Progress report overdue: this is treatment day {count} since {since}; one is required at "
                       f"least every {PROGRESS_REPORT_EVERY} treatment days.", field="progress_report")
