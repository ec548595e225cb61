"""Celery tasks of coding (eager in tests) and the `scrub` command: a visit saved through the visit service is
coded on commit; the nightly job codes every visit of the timely-filing window, including never-coded ones."""

import datetime
import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from coding import tasks
from coding.models import CodingStatus, Finding, VisitCoding
from otbilling.celery import app
from tests import factories
from tests.coding.test_edits import add_visit, build_scene, make_medicare
from visits.models import VisitStatus
from visits.services import LineInput, VisitInput, visit_create, visit_sign

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(clinic_a, code_sets):
    return build_scene(clinic_a, make_medicare())


def visit_input(scene, *, sign=False, days_ago=3):
    return VisitInput(
        patient=scene.patient, rendering_provider=scene.provider, coverage=scene.coverage,
        referring_provider=scene.referrer, date_of_service=timezone.localdate() - datetime.timedelta(days=days_ago),
        diagnoses=["M62.81"], lines=[LineInput(cpt="97530", minutes=30)],
        note_text="Therapeutic activities: standing balance during kitchen tasks.", sign=sign,
        signed_by_name="Olive Therapist, OTR/L" if sign else "",
    )


# --- coding.code_visit --------------------------------------------------------------------------------------------


def test_the_visit_service_and_the_beat_schedule_find_the_tasks_by_name():
    code_visit = app.tasks["coding.code_visit"]
    assert code_visit.acks_late is True
    assert code_visit.__wrapped__ is tasks.code_visit.__wrapped__
    assert app.tasks["coding.scrub_open_visits"].__wrapped__ is tasks.scrub_open_visits.__wrapped__
    assert settings.CELERY_BEAT_SCHEDULE["nightly-scrub"]["task"] == "coding.scrub_open_visits"


def test_saving_a_draft_visit_through_the_service_scrubs_it_on_commit(scene, user_a,
                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        visit = visit_create(acting_user=user_a, clinic=scene.clinic, data=visit_input(scene))
    assert len(callbacks) == 1
    assert list(Finding.objects.filter(visit=visit).values_list("rule_id", flat=True)) == ["NOTE_UNSIGNED"]
    assert VisitCoding.objects.get(visit=visit).status == CodingStatus.HELD


def test_signing_the_visit_scrubs_it_again_and_it_becomes_billable(scene, user_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        visit = visit_create(acting_user=user_a, clinic=scene.clinic, data=visit_input(scene))
    with django_capture_on_commit_callbacks(execute=True):
        visit_sign(acting_user=user_a, visit=visit, signed_by_name="Olive Therapist, OTR/L")
    assert not Finding.objects.filter(visit=visit).exists()
    assert VisitCoding.objects.get(visit=visit).status == CodingStatus.BILLABLE


def test_nothing_is_scrubbed_when_the_transaction_does_not_commit(scene, user_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        visit = visit_create(acting_user=user_a, clinic=scene.clinic, data=visit_input(scene))
    assert len(callbacks) == 1
    assert not VisitCoding.objects.filter(visit=visit).exists()


def test_code_visit_skips_a_deleted_visit_quietly(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    visit_id = visit.pk
    visit.delete()
    assert tasks.code_visit.delay(visit_id).get() is None
    assert not VisitCoding.objects.filter(visit_id=visit_id).exists()


def test_code_visit_twice_gives_the_same_findings(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], coverage=None)
    assert tasks.code_visit(visit.pk) == CodingStatus.HELD
    assert tasks.code_visit(visit.pk) == CodingStatus.HELD
    assert list(Finding.objects.filter(visit=visit).values_list("rule_id", flat=True)) == ["COVERAGE_MISSING"]


# --- coding.scrub_open_visits -------------------------------------------------------------------------------------


def test_scrub_open_visits_codes_visits_that_were_never_coded(scene):
    today = timezone.localdate()
    clean = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=today - datetime.timedelta(days=3))
    unsigned = add_visit(scene, [{"cpt": "97110", "minutes": 30}], dos=today - datetime.timedelta(days=2),
                         status=VisitStatus.DRAFT, signed_at=None, signed_by_name="")
    too_old = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=today - datetime.timedelta(days=401))
    assert not VisitCoding.objects.exists()
    counts = tasks.scrub_open_visits.delay().get()
    assert counts == {"visits": 2, "billable": 1, "held": 1}
    assert VisitCoding.objects.get(visit=clean).status == CodingStatus.BILLABLE
    assert VisitCoding.objects.get(visit=unsigned).status == CodingStatus.HELD
    assert Finding.objects.filter(visit=unsigned, rule_id="NOTE_UNSIGNED").exists()
    assert not VisitCoding.objects.filter(visit=too_old).exists()


def test_the_nightly_scrub_moves_date_driven_findings_with_the_calendar(clinic_a, code_sets):
    scene = build_scene(clinic_a, factories.PayerFactory(name="Quick Pay Health", payer_id="QUICK1",
                                                         go_required=False, timely_filing_days=90))
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=datetime.date(2026, 6, 1))
    assert tasks.scrub_open_visits(today="2026-06-05") == {"visits": 1, "billable": 1, "held": 0}
    assert tasks.scrub_open_visits(today="2026-08-30") == {"visits": 1, "billable": 0, "held": 1}
    assert Finding.objects.get(visit=visit).message == ("Quick Pay Health's 90-day timely filing limit passed on "
                                                        "2026-08-30.")


def test_one_failing_visit_does_not_stop_the_nightly_scrub(scene, monkeypatch):
    today = timezone.localdate()
    good = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=today - datetime.timedelta(days=3))
    bad = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=today - datetime.timedelta(days=4))
    real_visit_code = tasks.visit_code

    def flaky(*, visit, today=None):
        if visit.pk == bad.pk:
            raise RuntimeError("database hiccup")
        return real_visit_code(visit=visit, today=today)

    monkeypatch.setattr(tasks, "visit_code", flaky)
    assert tasks.scrub_open_visits() == {"visits": 1, "billable": 1, "held": 0, "failed": 1}
    assert VisitCoding.objects.filter(visit=good).exists()


# --- manage.py scrub ----------------------------------------------------------------------------------------------


def run_scrub(*args) -> dict:
    out = io.StringIO()
    call_command("scrub", *args, stdout=out)
    return json.loads(out.getvalue())


def test_scrub_command_prints_the_counts_of_one_clinic(scene, clinic_b):
    other = build_scene(clinic_b, scene.payer)
    add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    add_visit(scene, [{"cpt": "97110", "minutes": 30}], dos=datetime.date(2026, 9, 15), coverage=None)
    add_visit(other, [{"cpt": "97530", "minutes": 30}])
    assert run_scrub("--clinic", "alder", "--today", "2026-09-18") == {"visits": 2, "billable": 1, "held": 1}
    assert VisitCoding.objects.filter(clinic=scene.clinic).count() == 2
    assert not VisitCoding.objects.filter(clinic=clinic_b).exists()
    assert run_scrub("--today", "2026-09-18") == {"visits": 3, "billable": 2, "held": 1}


def test_scrub_command_refuses_an_unknown_clinic_and_a_bad_date(scene):
    with pytest.raises(CommandError, match="No clinic with slug 'nowhere'."):
        run_scrub("--clinic", "nowhere")
    with pytest.raises(CommandError, match="--today '2026-13-01' is not a date in YYYY-MM-DD form."):
        run_scrub("--today", "2026-13-01")
    assert not VisitCoding.objects.exists()
