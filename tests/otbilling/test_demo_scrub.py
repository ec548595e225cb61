"""The demo's planted problems are each caught by the scrubber rule meant for them, and clean sessions bill."""

from datetime import date, timedelta

import pytest

from clinics.models import Clinic
from coding.models import CodingStatus, Finding, VisitCoding
from coding.scrubber import BLOCKING
from coding.tasks import scrub_open_visits
from eligibility.alerts import auth_alerts
from eligibility.models import PriorAuthorization
from eligibility.selectors import scheduled_patients
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
    "eligibility_never_verified": "ELIG_NOT_VERIFIED",
    "eligibility_inactive": "ELIG_INACTIVE",
    "auth_expired": "AUTH_EXPIRED",
    "auth_exhausted": "AUTH_EXHAUSTED",
    "visit_limit_reached": "VISIT_LIMIT_REACHED",
}
# Planted for the auth alerts (the renewal worklist), not the scrubber: no session is held by them yet.
ALERT_FOR_PLANT = {"auth_running_out": {"visits_low", "expiring"}}
ELIGIBILITY_RULES = {"ELIG_NOT_VERIFIED", "ELIG_INACTIVE", "AUTH_MISSING", "AUTH_EXPIRED", "AUTH_NOT_YET_VALID",
                     "AUTH_EXHAUSTED", "VISIT_LIMIT_REACHED"}


@pytest.fixture(scope="module")
def scrubbed_demo(django_db_setup, django_db_blocker):
    from django.db import connection, transaction

    with django_db_blocker.unblock(), transaction.atomic():
        result = demo_seed(seed=7, today=TODAY)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # statistics that see the seeded (uncommitted) rows: sane query plans
        counts = scrub_open_visits(today=TODAY.isoformat())
        yield result, counts
        transaction.set_rollback(True)


def planted_visits(planted):
    visits = Visit.objects.filter(clinic__slug=planted.clinic, patient__mrn=planted.mrn)
    if planted.date_of_service:
        visits = visits.filter(date_of_service=planted.date_of_service)
    return visits


def test_every_planted_problem_kind_has_a_rule():
    assert set(RULE_FOR_PLANT) | set(ALERT_FOR_PLANT) == set(PLANTED_PROBLEMS)
    assert not set(RULE_FOR_PLANT) & set(ALERT_FOR_PLANT)


@pytest.mark.django_db
def test_each_planted_problem_is_caught_by_its_rule(scrubbed_demo):
    result, _counts = scrubbed_demo
    missed = []
    for planted in result.planted:
        if planted.key in ALERT_FOR_PLANT:
            continue
        rule = RULE_FOR_PLANT[planted.key]
        if not Finding.objects.filter(visit__in=planted_visits(planted), rule_id=rule).exists():
            missed.append(f"{planted.key} ({planted.clinic} {planted.mrn} {planted.date_of_service}): no {rule}")
    assert not missed, "\n".join(missed)


@pytest.mark.django_db
def test_each_planted_eligibility_problem_is_held_by_its_own_eligibility_rule_only(scrubbed_demo):
    result, _counts = scrubbed_demo
    wrong = []
    for planted in result.planted:
        rule = RULE_FOR_PLANT.get(planted.key)
        if rule not in ELIGIBILITY_RULES:
            continue
        found = set(Finding.objects.filter(visit__in=planted_visits(planted), rule_id__in=ELIGIBILITY_RULES)
                    .values_list("rule_id", flat=True))
        if found != {rule}:
            wrong.append(f"{planted.key} ({planted.mrn} {planted.date_of_service}): {sorted(found)}")
    assert not wrong, "\n".join(wrong)
    assert {p.key for p in result.planted} >= {"eligibility_never_verified", "eligibility_inactive", "auth_expired",
                                                "auth_exhausted", "visit_limit_reached"}


@pytest.mark.django_db
def test_eligibility_edits_hold_no_session_that_was_not_planted(scrubbed_demo):
    result, _counts = scrubbed_demo
    planted = {(p.clinic, p.mrn, p.date_of_service) for p in result.planted}
    held = {(f.visit.clinic.slug, f.visit.patient.mrn, f.visit.date_of_service)
            for f in Finding.objects.filter(rule_id__in=ELIGIBILITY_RULES, severity=BLOCKING)
            .select_related("visit__clinic", "visit__patient")}
    assert held
    assert not held - planted, sorted(held - planted)
    assert not Finding.objects.filter(rule_id__in=("AUTH_MISSING", "AUTH_NOT_YET_VALID")).exists()


@pytest.mark.django_db
def test_the_authorization_running_out_alerts_for_a_patient_on_tomorrows_schedule(scrubbed_demo):
    result, _counts = scrubbed_demo
    [planted] = [p for p in result.planted if p.key == "auth_running_out"]
    clinic = Clinic.objects.get(slug=planted.clinic)
    alerts = [a for a in auth_alerts(PriorAuthorization.objects.filter(clinic=clinic), today=TODAY)
              if a.authorization.coverage.patient.mrn == planted.mrn]
    assert len(alerts) == 1
    assert set(alerts[0].reasons) >= ALERT_FOR_PLANT["auth_running_out"]
    assert alerts[0].usage.visits_remaining == 2 and 0 < alerts[0].days_to_expiry <= 7
    patients, _rule = scheduled_patients(user=None, clinic=clinic, for_date=TODAY + timedelta(days=1))
    assert planted.mrn in set(patients.values_list("mrn", flat=True))
    sessions = planted_visits(planted)
    assert not Finding.objects.filter(visit__in=sessions, rule_id__in=ELIGIBILITY_RULES).exists()


@pytest.mark.django_db
def test_most_demo_sessions_are_billable_and_every_session_is_coded(scrubbed_demo):
    _result, counts = scrubbed_demo
    assert counts["visits"] == Visit.objects.filter(clinic__slug__in=("sprouts", "summit", "homefirst")).count()
    billable = VisitCoding.objects.filter(status=CodingStatus.BILLABLE).count()
    assert billable / counts["visits"] > 0.8
    assert not counts.get("failed")
