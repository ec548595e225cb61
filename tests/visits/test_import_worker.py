"""The visit import through a real Celery worker on Redis: the upload commits, the task is queued on commit, a
`celery -A otbilling worker` subprocess picks it up and writes the sessions into the test database.

Needs TEST_REDIS_URL (CI sets it). The test uses its own queue, so other workers on the same Redis (another
test run, a developer's worker) never take its messages, and its worker never takes theirs.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from clinics.services import role_grant
from otbilling.tenancy import Role
from tests import factories
from visits.importing import visit_import_job_create
from visits.models import ImportJobStatus, Visit, VisitImportJob

TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
BASE_DIR = Path(__file__).resolve().parent.parent.parent
GOOD = (BASE_DIR / "tests" / "fixtures" / "visits_good.csv").read_bytes()
TIMEOUT_SECONDS = 60

pytestmark = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="TEST_REDIS_URL is not set: the real-worker import test needs a Redis broker")


def database_url(settings_dict) -> str:
    """A DATABASE_URL for the database this test uses (the test database, not the one in the environment)."""
    user, password = settings_dict.get("USER") or "", settings_dict.get("PASSWORD") or ""
    auth = f"{quote(user, safe='')}{':' + quote(password, safe='') if password else ''}@" if user else ""
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


@pytest.fixture
def queue():
    name = f"test-visit-import-{uuid.uuid4().hex[:12]}"
    yield name
    import redis

    # Leave the shared Redis as found: the queue and the routing keys kombu kept for it.
    redis.Redis.from_url(TEST_REDIS_URL).delete(name, f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}")


@pytest.fixture
def celery_on_redis(queue):
    """The web side sends to Redis (not eagerly) on the test's queue; the settings come back afterwards."""
    from otbilling.celery import app

    keys = ("task_always_eager", "broker_url", "task_default_queue")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(task_always_eager=False, broker_url=TEST_REDIS_URL, task_default_queue=queue)
    _drop_broker_pools(app)  # earlier eager tests built them for the memory:// broker
    yield app
    _drop_broker_pools(app)
    app.conf.update(saved)


def _drop_broker_pools(app) -> None:
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    # kombu's global producer pools are keyed by the broker URL: another real-worker test's closed pool would
    # otherwise be handed back ("Acquire on closed pool").
    pools.reset()


@pytest.fixture
def worker(transactional_db, queue, tmp_path):
    """`celery -A otbilling worker` on the test database, dev settings, solo pool, listening on the test's queue.

    The worker's settings module is otbilling.settings.dev plus the queue name, so whatever the worker itself
    queues (e.g. coding of the new sessions) stays on this queue too, and without remote control, so it does
    not join the broadcast channel of the other workers on the same Redis.
    """
    (tmp_path / "import_worker_settings.py").write_text(
        "from otbilling.settings.dev import *  # noqa: F403\n"
        f"CELERY_TASK_DEFAULT_QUEUE = {queue!r}\n"
        "CELERY_WORKER_ENABLE_REMOTE_CONTROL = False\n")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": TEST_REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "import_worker_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(BASE_DIR), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("CELERY_BROKER_URL", None)
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "otbilling", "worker", "--pool=solo", "--concurrency=1",
             "-Q", queue, "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             f"--hostname=import-test-{queue}@%h"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    process.log_path = log_path
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until_finished(job, worker_process) -> VisitImportJob:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in (ImportJobStatus.DONE, ImportJobStatus.FAILED):
            return job
        if worker_process.poll() is not None:
            pytest.fail(f"the Celery worker exited ({worker_process.returncode}):\n"
                        f"{worker_process.log_path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.25)
    pytest.fail(f"job still {job.status} after {TIMEOUT_SECONDS}s; worker log:\n"
                f"{worker_process.log_path.read_text(errors='replace')[-4000:]}")


@pytest.mark.django_db(transaction=True)
def test_uploaded_file_is_imported_by_a_real_worker(code_sets, celery_on_redis, worker):
    payer = factories.PayerFactory(name="Acme Health", payer_id="ACME1")
    clinic = factories.ClinicFactory(legal_name="Alder Pediatric OT", slug="alder")
    user = factories.UserFactory(username="biller_a")
    role_grant(clinic=clinic, user=user, role=Role.BILLER, acting_user=None)
    for mrn in ("A1001", "A1002"):
        factories.CoverageFactory(patient=factories.PatientFactory(clinic=clinic, mrn=mrn), payer=payer)
    factories.ProviderFactory(clinic=clinic, npi="1000000004")
    factories.ReferringProviderFactory(clinic=clinic, npi="1000000012")

    job = visit_import_job_create(acting_user=user, clinic=clinic, file_name="visits_good.csv", content_bytes=GOOD)

    job = wait_until_finished(job, worker)
    assert job.status == ImportJobStatus.DONE, job.errors
    assert (job.visits_created, job.processed_rows, job.total_rows) == (4, 6, 6)
    assert set(Visit.objects.filter(clinic=clinic).values_list("external_id", flat=True)) == {
        "EHR-1001", "EHR-1002", "EHR-1003", "EHR-1004"}
    # The job row is committed before the task returns, so the worker may log "succeeded" a moment later.
    deadline = time.monotonic() + 10
    log = worker.log_path.read_text(errors="replace")
    while "succeeded" not in log and time.monotonic() < deadline and worker.poll() is None:
        time.sleep(0.1)
        log = worker.log_path.read_text(errors="replace")
    assert "visits.run_visit_import" in log and "succeeded" in log  # the worker ran it, not this process
