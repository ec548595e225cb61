"""Documentation review at its day boundaries: note signed, minutes, evaluation complexity, and the Medicare Part B
plan-of-care rules (certified interval, certification within 30 days, recertification at day 80, progress report
every 10 treatment days). Day 1 is the first day (the plan's start, or the first treatment)."""

import datetime

import pytest

from coding.models import CodingStatus, Severity
from coding.services import finding_apply_fix
from otbilling.tenancy import Role
from tests import factories
from tests.coding.test_edits import add_visit, build_scene, found, make_medicare, only, scrub
from visits.models import ProgressReport, VisitStatus

START = datetime.date(2026, 6, 1)  # the plan of care starts with the evaluation on day 1


def day(n: int) -> datetime.date:
    return START + datetime.timedelta(days=n - 1)


@pytest.fixture
def docs_scene(clinic_a, code_sets):
    """A Medicare patient whose payer applies the Part B documentation rules."""
    return build_scene(clinic_a, make_medicare(medicare_documentation_rules=True))


@pytest.fixture
def plain_scene(clinic_a, code_sets):
    """The same Medicare payer without the documentation rules (e.g. a Medicare Advantage plan that waives them)."""
    return build_scene(clinic_a, make_medicare(payer_id="MEDB9", medicare_documentation_rules=False))


def make_plan(scene, *, start=START, days=90, signed_day=3):
    return factories.PlanOfCareFactory(
        patient=scene.patient, start_date=start, certified_through=start + datetime.timedelta(days=days - 1),
        certification_signed_date=day(signed_day) if signed_day else None,
    )


def evaluation(scene, plan, n=1):
    return add_visit(scene, [{"cpt": "97165"}], dos=day(n), plan_of_care=plan, note_text="Low complexity evaluation.")


def treat(scene, plan, n, **kwargs):
    return add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=day(n), plan_of_care=plan, **kwargs)


def draft(**kwargs):
    return {"status": VisitStatus.DRAFT, "signed_at": None, "signed_by_name": "", **kwargs}


@pytest.fixture
def biller(make_user, clinic_a):
    return make_user("docs_biller", Role.BILLER, clinic_a)


# --- NOTE_UNSIGNED ------------------------------------------------------------------------------------------------


def test_an_unsigned_note_is_blocking_for_every_payer(plain_scene):
    visit = add_visit(plain_scene, [{"cpt": "97530", "minutes": 30}], **draft())
    coding = scrub(visit)
    finding = only(visit, "NOTE_UNSIGNED")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == "The note is not signed: the therapist must sign it before the visit is billed."
    assert coding.status == CodingStatus.HELD


def test_a_signed_note_raises_no_unsigned_finding(plain_scene):
    visit = add_visit(plain_scene, [{"cpt": "97530", "minutes": 30}])
    coding = scrub(visit)
    assert found(visit, "NOTE_UNSIGNED") == []
    assert coding.status == CodingStatus.BILLABLE


# --- DOC_MINUTES_MISSING ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [None, 0])
def test_a_timed_line_without_minutes_is_blocking(plain_scene, minutes):
    visit = add_visit(plain_scene, [{"cpt": "97110", "minutes": 20}, {"cpt": "97530", "minutes": minutes}])
    coding = scrub(visit)
    finding = only(visit, "DOC_MINUTES_MISSING")
    assert finding.message == "line 2 (97530): 97530 is a timed code; record the minutes of direct treatment."
    assert finding.field == "lines[2].minutes" and finding.service_line.cpt == "97530"
    assert coding.status == CodingStatus.HELD


def test_an_untimed_line_needs_no_minutes(plain_scene):
    visit = add_visit(plain_scene, [{"cpt": "97150", "minutes": None}, {"cpt": "G0283", "minutes": None}])
    scrub(visit)
    assert found(visit, "DOC_MINUTES_MISSING") == []


# --- EVAL_COMPLEXITY ----------------------------------------------------------------------------------------------


def test_an_evaluation_whose_note_does_not_state_the_complexity_is_blocking(plain_scene):
    visit = add_visit(plain_scene, [{"cpt": "97166"}], note_text="Evaluation: occupational profile and goals.")
    coding = scrub(visit)
    finding = only(visit, "EVAL_COMPLEXITY")
    assert finding.message == ('line 1 (97166): the note must state the evaluation complexity: add "moderate '
                               'complexity" with the occupational profile, performance deficits and clinical '
                               'decision-making that support it.')
    assert finding.fix_code == ""
    assert coding.status == CodingStatus.HELD


def test_an_evaluation_note_stating_the_matching_complexity_passes(plain_scene):
    visit = add_visit(plain_scene, [{"cpt": "97166"}], note_text="Evaluation of MODERATE complexity: 4 deficits.")
    coding = scrub(visit)
    assert found(visit, "EVAL_COMPLEXITY") == []
    assert coding.status == CodingStatus.BILLABLE


def test_a_note_stating_another_complexity_offers_the_matching_code(plain_scene, biller):
    visit = add_visit(plain_scene, [{"cpt": "97166"}], note_text="High-complexity evaluation: 6 deficits.")
    scrub(visit)
    finding = only(visit, "EVAL_COMPLEXITY")
    assert finding.message == ("line 1 (97166): the note documents high complexity, but 97166 is the moderate "
                               "complexity evaluation; bill 97167 or correct the note.")
    assert (finding.fix_code, finding.fix_params, finding.fix_label) == ("replace_code", {"new": "97167"},
                                                                         "Bill 97167 (high complexity)")
    coding = finding_apply_fix(acting_user=biller, finding=finding)
    assert visit.lines.get().cpt == "97167"
    assert coding.status == CodingStatus.BILLABLE


def test_a_re_evaluation_needs_no_complexity(plain_scene):
    visit = add_visit(plain_scene, [{"cpt": "97168"}], note_text="Re-evaluation: goals updated.")
    scrub(visit)
    assert found(visit, "EVAL_COMPLEXITY") == []


# --- POC_MISSING --------------------------------------------------------------------------------------------------


def test_no_plan_of_care_is_blocking_under_medicare_rules(docs_scene):
    visit = treat(docs_scene, None, 5)
    coding = scrub(visit, today=day(6))
    finding = only(visit, "POC_MISSING")
    assert finding.message == ("No plan of care is linked to this visit; therapy is paid only under a certified plan "
                               "of care.")
    assert coding.status == CodingStatus.HELD


def test_no_plan_of_care_is_not_checked_for_a_payer_without_the_medicare_rules(plain_scene):
    visit = treat(plain_scene, None, 5)
    coding = scrub(visit, today=day(6))
    assert found(visit, "POC_MISSING") == []
    assert coding.status == CodingStatus.BILLABLE


def test_day_90_is_the_last_certified_day(docs_scene):
    plan = make_plan(docs_scene)  # certified_through = start + 89 days
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 90)
    scrub(visit, today=day(91))
    assert visit.date_of_service == plan.certified_through
    assert found(visit, "POC_MISSING") == []


def test_day_91_is_outside_the_certified_interval(docs_scene):
    plan = make_plan(docs_scene)
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 91)
    coding = scrub(visit, today=day(92))
    finding = only(visit, "POC_MISSING")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == ("DOS 2026-08-30 is outside the plan of care's certified interval (2026-06-01 to "
                               "2026-08-29); recertify the plan or link the current one.")
    assert coding.status == CodingStatus.HELD


def test_a_dos_before_the_plan_start_is_outside_the_interval(docs_scene):
    plan = make_plan(docs_scene, start=day(5))
    visit = treat(docs_scene, plan, 4)
    scrub(visit, today=day(6))
    assert "is outside the plan of care's certified interval" in only(visit, "POC_MISSING").message


# --- POC_INTERVAL -------------------------------------------------------------------------------------------------


def test_a_certification_longer_than_90_days_is_blocking(docs_scene):
    plan = make_plan(docs_scene, days=91)
    visit = treat(docs_scene, plan, 1)
    coding = scrub(visit, today=day(2))
    finding = only(visit, "POC_INTERVAL")
    assert finding.message == ("The plan of care certifies 91 days (2026-06-01 to 2026-08-30); a certification "
                               "covers at most 90 days.")
    assert coding.status == CodingStatus.HELD


def test_a_certification_of_90_days_is_within_the_limit(docs_scene):
    plan = make_plan(docs_scene, days=90)
    visit = treat(docs_scene, plan, 1)
    coding = scrub(visit, today=day(2))
    assert found(visit, "POC_INTERVAL") == []
    assert coding.status == CodingStatus.BILLABLE


# --- POC_CERT_UNSIGNED --------------------------------------------------------------------------------------------


def unsigned_plan_visit(scene, n, *, today_day=None):
    plan = make_plan(scene, signed_day=None)
    evaluation(scene, plan)
    visit = treat(scene, plan, n)
    coding = scrub(visit, today=day(today_day or n))
    return visit, coding


def test_an_unsigned_certification_on_day_19_raises_nothing_yet(docs_scene):
    visit, coding = unsigned_plan_visit(docs_scene, 19)
    assert found(visit, "POC_CERT_UNSIGNED") == []
    assert coding.status == CodingStatus.BILLABLE


def test_an_unsigned_certification_on_day_20_is_a_warning(docs_scene):
    visit, coding = unsigned_plan_visit(docs_scene, 20)
    finding = only(visit, "POC_CERT_UNSIGNED")
    assert finding.severity == Severity.WARNING
    assert finding.message == ("Plan of care certification is not signed: day 20 since the first treatment on "
                               "2026-06-01; the certifier must sign by 2026-06-30.")
    assert coding.status == CodingStatus.BILLABLE


def test_an_unsigned_certification_on_day_30_is_still_a_warning(docs_scene):
    visit, coding = unsigned_plan_visit(docs_scene, 30)
    assert only(visit, "POC_CERT_UNSIGNED").severity == Severity.WARNING
    assert coding.status == CodingStatus.BILLABLE


def test_an_unsigned_certification_on_day_31_is_blocking(docs_scene):
    visit, coding = unsigned_plan_visit(docs_scene, 31)
    finding = only(visit, "POC_CERT_UNSIGNED")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == ("Plan of care certification is not signed: the certification is 1 day late (day 31 "
                               "since the first treatment on 2026-06-01; due 2026-06-30).")
    assert coding.status == CodingStatus.HELD


def test_an_early_visit_is_held_once_the_unsigned_certification_is_late(docs_scene):
    """The nightly scrub sees the clock run: a day-5 visit scrubbed on day 31 is held too."""
    visit, coding = unsigned_plan_visit(docs_scene, 5, today_day=31)
    assert "the certification is 1 day late" in only(visit, "POC_CERT_UNSIGNED").message
    assert coding.status == CodingStatus.HELD


def test_the_certification_clock_starts_at_the_first_treatment_not_the_plan_start(docs_scene):
    plan = make_plan(docs_scene, signed_day=None)
    evaluation(docs_scene, plan, n=3)  # first treatment on day 3 of the plan
    visit = treat(docs_scene, plan, 32)  # the 30th day since the first treatment
    scrub(visit, today=day(32))
    assert only(visit, "POC_CERT_UNSIGNED").severity == Severity.WARNING


def test_a_certification_signed_on_day_30_is_timely(docs_scene):
    plan = make_plan(docs_scene, signed_day=30)
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 25)
    coding = scrub(visit, today=day(40))
    assert found(visit, "POC_CERT_UNSIGNED") == []
    assert coding.status == CodingStatus.BILLABLE


def test_a_certification_signed_on_day_31_is_late_for_the_visits_before_it(docs_scene):
    plan = make_plan(docs_scene, signed_day=31)
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 25)
    coding = scrub(visit, today=day(40))
    finding = only(visit, "POC_CERT_UNSIGNED")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == ("Plan of care certification was signed on 2026-07-01, day 31 after the first treatment "
                               "on 2026-06-01: the certification is 1 day late for this DOS; bill it only with the "
                               "reason for the delay.")
    assert coding.status == CodingStatus.HELD


def test_a_visit_after_a_late_signature_is_certified(docs_scene):
    plan = make_plan(docs_scene, signed_day=35)
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 36)
    scrub(visit, today=day(40))
    assert found(visit, "POC_CERT_UNSIGNED") == []


def test_certification_is_not_checked_without_the_medicare_rules(plain_scene):
    visit, coding = unsigned_plan_visit(plain_scene, 31)
    assert found(visit, "POC_CERT_UNSIGNED") == []


# --- POC_RECERT_DUE -----------------------------------------------------------------------------------------------


def test_day_79_of_the_certification_raises_no_recertification_alert(docs_scene):
    plan = make_plan(docs_scene)
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 79)
    coding = scrub(visit, today=day(80))
    assert found(visit, "POC_RECERT_DUE") == []
    assert coding.status == CodingStatus.BILLABLE


def test_day_80_of_the_certification_warns_that_recertification_is_due(docs_scene):
    plan = make_plan(docs_scene)
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 80)
    coding = scrub(visit, today=day(81))
    finding = only(visit, "POC_RECERT_DUE")
    assert finding.severity == Severity.WARNING
    assert finding.message == ("DOS 2026-08-19 is day 80 of the plan of care's certified interval: recertification "
                               "due by 2026-08-29.")
    assert coding.status == CodingStatus.BILLABLE


def test_no_recertification_alert_once_the_next_plan_exists(docs_scene):
    plan = make_plan(docs_scene)
    make_plan(docs_scene, start=day(90))
    evaluation(docs_scene, plan)
    visit = treat(docs_scene, plan, 85)
    scrub(visit, today=day(86))
    assert found(visit, "POC_RECERT_DUE") == []


# --- PROGRESS_REPORT_DUE ------------------------------------------------------------------------------------------


def treatment_series(scene, plan, count, *, skip_signing=()):
    """The evaluation on day 1 and treatments on days 2..count, all signed unless listed in skip_signing."""
    evaluation(scene, plan)
    for n in range(2, count + 1):
        treat(scene, plan, n, **(draft() if n in skip_signing else {}))


def progress_finding(scene, nth):
    plan = make_plan(scene)
    treatment_series(scene, plan, nth - 1)
    visit = treat(scene, plan, nth)
    coding = scrub(visit, today=day(nth))
    return visit, coding


def test_the_8th_treatment_day_needs_no_progress_report_yet(docs_scene):
    visit, _coding = progress_finding(docs_scene, 8)
    assert found(visit, "PROGRESS_REPORT_DUE") == []


def test_the_9th_treatment_day_warns_a_report_is_due_within_one_day(docs_scene):
    visit, coding = progress_finding(docs_scene, 9)
    finding = only(visit, "PROGRESS_REPORT_DUE")
    assert finding.severity == Severity.WARNING
    assert finding.message == ("Progress report due within 1 treatment day: this is treatment day 9 since the plan "
                               "of care started on 2026-06-01.")
    assert coding.status == CodingStatus.BILLABLE


def test_the_10th_treatment_day_warns_the_report_is_due_today(docs_scene):
    visit, coding = progress_finding(docs_scene, 10)
    finding = only(visit, "PROGRESS_REPORT_DUE")
    assert finding.severity == Severity.WARNING
    assert finding.message == ("Progress report due today: this is treatment day 10 since the plan of care started "
                               "on 2026-06-01.")
    assert coding.status == CodingStatus.BILLABLE


def test_the_11th_treatment_day_without_a_report_is_blocking(docs_scene):
    visit, coding = progress_finding(docs_scene, 11)
    finding = only(visit, "PROGRESS_REPORT_DUE")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == ("Progress report overdue: this is treatment day 11 since the plan of care started on "
                               "2026-06-01; one is required at least every 10 treatment days.")
    assert coding.status == CodingStatus.HELD


def test_a_report_written_on_a_treatment_day_restarts_the_count_after_that_day(docs_scene):
    plan = make_plan(docs_scene)
    treatment_series(docs_scene, plan, 11)
    ProgressReport.objects.create(clinic=docs_scene.clinic, patient=docs_scene.patient, plan_of_care=plan,
                                  report_date=day(2), author=docs_scene.provider, summary="Progress toward goals.")
    visit = treat(docs_scene, plan, 12)  # days 3..12: the 10th treatment day since the report
    scrub(visit, today=day(12))
    assert only(visit, "PROGRESS_REPORT_DUE").message == ("Progress report due today: this is treatment day 10 since "
                                                          "the last progress report on 2026-06-02.")


def test_a_recent_report_clears_the_overdue_finding(docs_scene):
    plan = make_plan(docs_scene)
    treatment_series(docs_scene, plan, 10)
    ProgressReport.objects.create(clinic=docs_scene.clinic, patient=docs_scene.patient, plan_of_care=plan,
                                  report_date=day(5), author=docs_scene.provider, summary="Progress toward goals.")
    visit = treat(docs_scene, plan, 11)
    coding = scrub(visit, today=day(11))
    assert found(visit, "PROGRESS_REPORT_DUE") == []
    assert coding.status == CodingStatus.BILLABLE


def test_unsigned_visits_are_not_counted_as_treatment_days(docs_scene):
    plan = make_plan(docs_scene)
    treatment_series(docs_scene, plan, 10, skip_signing={5})
    visit = treat(docs_scene, plan, 11)
    scrub(visit, today=day(11))
    assert only(visit, "PROGRESS_REPORT_DUE").message.startswith("Progress report due today: this is treatment day 10")


def test_progress_reports_are_not_checked_without_the_medicare_rules(plain_scene):
    visit, coding = progress_finding(plain_scene, 11)
    assert found(visit, "PROGRESS_REPORT_DUE") == []
    assert coding.status == CodingStatus.BILLABLE
