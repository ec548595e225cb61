"""The monthly job `reporting.monthly_reports`: one stored report per active clinic, each mailed to its own owners
with the PDF attached, nothing mailed twice, a clinic without owners stored but not mailed, one clinic's failure not
stopping the others; and once through a real Celery worker on Redis."""

import datetime
import time

import pytest
from django.core import mail

from otbilling.tenancy import Role
from reporting import services
from reporting.models import MonthlyReport, ReportSettings
from reporting.tasks import monthly_reports, previous_month
from tests import factories
from tests.reporting.test_pdf import september_scene
from tests.visits import test_import_worker as import_worker

pytestmark = pytest.mark.django_db
SEPTEMBER = datetime.date(2026, 9, 1)

# The real-worker fixtures of the visit import: a Celery worker subprocess on the test database and its own queue.
queue = import_worker.queue
celery_on_redis = import_worker.celery_on_redis
worker = import_worker.worker


@pytest.fixture
def locmem(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def clinics(clinic_a, clinic_b, make_user, code_sets):
    """Alder (the two-claim September) with an owner and a biller; Birch with its own owner; Cedar active with no
    owner; Dormant inactive."""
    september_scene(clinic_a)
    cedar = factories.ClinicFactory(legal_name="Cedar Kids OT", slug="cedar", billing_npi="1245319599")
    dormant = factories.ClinicFactory(legal_name="Dormant OT", slug="dormant", billing_npi="1679576722",
                                      is_active=False)
    make_user("owner_a", Role.CLINIC_OWNER, clinic_a)
    make_user("biller_a", Role.BILLER, clinic_a)
    make_user("owner_b", Role.CLINIC_OWNER, clinic_b)
    return {"alder": clinic_a, "birch": clinic_b, "cedar": cedar, "dormant": dormant}


def test_each_active_clinic_gets_its_report_and_only_its_owners_are_mailed(clinics, locmem):
    result = monthly_reports("2026-09")
    assert result == {"month": "2026-09", "generated": ["alder", "birch", "cedar"], "emailed": ["alder", "birch"],
                      "failed": []}
    stored = {report.clinic.slug: report for report in MonthlyReport.objects.select_related("clinic")}
    assert set(stored) == {"alder", "birch", "cedar"} and {r.month for r in stored.values()} == {SEPTEMBER}
    assert stored["alder"].figures["revenue"] == "105.00" and stored["birch"].figures["revenue"] == "0.00"
    by_recipient = {tuple(message.to): message for message in mail.outbox}
    assert set(by_recipient) == {("owner_a@example.test",), ("owner_b@example.test",)}
    message = by_recipient[("owner_a@example.test",)]
    assert message.subject == "Alder Pediatric OT: monthly report for September 2026"
    (name, content, mimetype), = message.attachments
    assert (name, mimetype) == ("alder-2026-09-report.pdf", "application/pdf")
    assert content == bytes(stored["alder"].pdf) and content.startswith(b"%PDF")
    assert "Zebulon" not in message.body and "Anna" not in message.body
    assert (stored["alder"].emailed_to, stored["cedar"].emailed_to, stored["cedar"].emailed_at) == (
        ["owner_a@example.test"], [], None)


def test_a_second_run_replaces_the_reports_and_mails_no_one_again(clinics, locmem):
    monthly_reports("2026-09")
    first = {report.clinic_id: (report.pk, report.public_id, report.emailed_at) for report in
             MonthlyReport.objects.all()}
    result = monthly_reports("2026-09")
    assert result["generated"] == ["alder", "birch", "cedar"] and result["emailed"] == []
    assert len(mail.outbox) == 2
    again = {report.clinic_id: (report.pk, report.public_id, report.emailed_at) for report in
             MonthlyReport.objects.all()}
    assert again == first  # the same rows, replaced in place, still marked as mailed once


def test_a_clinic_that_turned_mail_off_is_stored_but_not_mailed(clinics, locmem):
    ReportSettings.objects.create(clinic=clinics["birch"], email_owners=False)
    result = monthly_reports("2026-09")
    assert result["emailed"] == ["alder"] and MonthlyReport.objects.filter(clinic=clinics["birch"]).exists()
    assert [message.to for message in mail.outbox] == [["owner_a@example.test"]]


def test_one_clinic_failing_does_not_stop_the_others(clinics, locmem, monkeypatch):
    render = services.render_monthly_report

    def failing_for_birch(clinic, month_start):
        if clinic.slug == "birch":
            raise RuntimeError("broken data")
        return render(clinic, month_start)

    monkeypatch.setattr(services, "render_monthly_report", failing_for_birch)
    result = monthly_reports("2026-09")
    assert (result["generated"], result["failed"]) == (["alder", "cedar"], ["birch"])
    assert not MonthlyReport.objects.filter(clinic=clinics["birch"]).exists()
    assert [message.to for message in mail.outbox] == [["owner_a@example.test"]]


@pytest.mark.parametrize(("today", "month"), [
    (datetime.date(2026, 10, 1), datetime.date(2026, 9, 1)),
    (datetime.date(2027, 1, 1), datetime.date(2026, 12, 1)),
    (datetime.date(2026, 3, 31), datetime.date(2026, 2, 1)),
])
def test_without_a_month_the_job_reports_the_month_before(today, month):
    assert previous_month(today) == month


@pytest.mark.skipif(not import_worker.TEST_REDIS_URL, reason="TEST_REDIS_URL is not set: needs a Redis broker")
@pytest.mark.django_db(transaction=True)
def test_the_job_runs_through_a_real_worker(clinics, celery_on_redis, worker):
    monthly_reports.delay("2026-09")
    deadline = time.monotonic() + import_worker.TIMEOUT_SECONDS
    while "reporting.monthly_reports" not in _log(worker) or "succeeded" not in _log(worker):
        if worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail("the worker did not finish the job:\n" + _log(worker)[-4000:])
        time.sleep(0.5)
    assert set(MonthlyReport.objects.values_list("clinic__slug", flat=True)) == {"alder", "birch", "cedar"}
    assert MonthlyReport.objects.get(clinic__slug="alder").emailed_to == ["owner_a@example.test"]
    assert "To: owner_a@example.test" in _log(worker)  # the worker's console mail backend printed the message


def _log(worker) -> str:
    return worker.log_path.read_text(errors="replace")
