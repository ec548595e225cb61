"""The demo's planted problems are each caught by the scrubber rule meant for them, and clean sessions bill."""

from datetime import date

import pytest

from coding.models import CodingStatus, Finding, VisitCoding
from coding.tasks import scrub_open_visits
from otbilling.demo import PLANTED_PROBLEMS, demo_seed
from visits.models import Visit

TODAY = date(2026, 11, 20)
RULE_FOR_PLANT = {
    "unsigned_note": "NOTE_UNSIGNED",
    "timed_under_8_minutes": "UNITS_MINUTES",
    "ncci_97140_97530_same_block": "NCCI_CONFLICT",
    "medicare_wrong_discipline_modifier": "MOD_DISCIPLINE",
    "non_billable_diagnosis": "DX_INVALID",
    "two_evaluations_same_day": "EVAL_TWICE",
    "provider_not_credentialed": "RENDERING_NOT_CREDENTIALED",
    "visit_after_coverage_end": "COVERAGE_INACTIVE",
    "visit_beyond_poc": "POC_MISSING",
    "addon_97130_without_97129": "ADDON_WITHOUT_PRIMARY",
    "missing_referring_provider": "REFERRING_MISSING",
    "poc_certification_unsigned": "POC_CERT_UNSIGNED",
    "poc_certification_late": "POC_CERT_UNSIGNED",
    "progress_report_overdue": "PROGRESS_REPORT_DUE",
}


@pytest.fixture(scope="module")
def scrubbed_demo(django_db_setup, django_db_blocker):
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        result = demo_seed(seed=7, today=TODAY)
        counts = scrub_open_visits(today=TODAY.isoformat())
        yield result, counts
        transaction.set_rollback(True)


def test_every_planted_problem_kind_has_a_rule():
    assert set(RULE_FOR_PLANT) == set(PLANTED_PROBLEMS)


@pytest.mark.django_db
def test_each_planted_problem_is_caught_by_its_rule(scrubbed_demo):
    result, _counts = scrubbed_demo
    missed = []
    for planted in result.planted:
        visits = Visit.objects.filter(clinic__slug=planted.clinic, patient__mrn=planted.mrn)
        if planted.date_of_service:
            visits = visits.filter(date_of_service=planted.date_of_service)
        rule = RULE_FOR_PLANT[planted.key]
        if not Finding.objects.filter(visit__in=visits, rule_id=rule).exists():
            missed.append(f"{planted.key} ({planted.clinic} {planted.mrn} {planted.date_of_service}): no {rule}")
    assert not missed, "\n".join(missed)


@pytest.mark.django_db
def test_most_demo_sessions_are_billable_and_every_session_is_coded(scrubbed_demo):
    _result, counts = scrubbed_demo
    assert counts["visits"] == Visit.objects.filter(clinic__slug__in=("sprouts", "summit", "homefirst")).count()
    billable = VisitCoding.objects.filter(status=CodingStatus.BILLABLE).count()
    assert billable / counts["visits"] > 0.8
    assert not counts.get("failed")
