"""The 835 import tasks: `denials.import_era` (queued by the upload on commit; eager in tests) and the beat task
`denials.collect_era`, which imports the 835 inbox and files each file under done/ or failed/."""

import pytest
from django.conf import settings

from claims.lifecycle import claim_transition
from claims.models import ClaimStatus, LedgerEntry
from denials import tasks
from denials.models import EraFile, EraPayment, EraStatus
from otbilling.celery import app
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import paid_with_contractual
from tests.denials.test_x835 import era

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(clinic_a, code_sets):
    built = make_claim(build_claim_scene(clinic_a, make_medicare(payer_id="ACME1")))
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=built, to_status=status, reason="test")
    return built


@pytest.fixture
def inbox(tmp_path, settings):
    settings.ERA_INBOX_DIR = str(tmp_path / "inbox-835")
    (tmp_path / "inbox-835").mkdir()
    return tmp_path / "inbox-835"


def test_the_tasks_are_registered_under_their_names():
    assert {"denials.import_era", "denials.collect_era"} <= set(app.tasks)
    assert app.tasks["denials.import_era"].acks_late is True
    assert settings.CELERY_TASK_ALWAYS_EAGER is True


def test_the_queued_import_posts_the_file_once_the_request_commits(claim, user_a, django_capture_on_commit_callbacks):
    text = era(paid_with_contractual(claim), "105.00")
    with django_capture_on_commit_callbacks(execute=True):
        digest = tasks.era_import_queue(file_name="acme.835", content=text, acting_user=user_a)
        assert not EraFile.objects.exists()  # nothing before the commit
    era_file = EraFile.objects.get(sha256=digest)
    assert (era_file.status, era_file.imported_by, era_file.clinic) == (EraStatus.POSTED, user_a, claim.clinic)
    assert LedgerEntry.objects.filter(kind="payment").count() == 2


def test_a_redelivered_import_message_posts_nothing_twice(claim, user_a):
    text = era(paid_with_contractual(claim), "105.00")
    first = tasks.import_era("acme.835", text, user_a.pk)
    again = tasks.import_era("acme.835", text, user_a.pk)
    assert (first["duplicate"], again["duplicate"]) == (False, True)
    assert "Already imported" in again["message"]
    assert EraPayment.objects.count() == 1 and LedgerEntry.objects.filter(kind="payment").count() == 2


def test_an_unbalanced_file_is_reported_by_the_task_and_kept_quarantined_for_its_uploader(claim, user_a):
    outcome = tasks.import_era("bad.835", era(paid_with_contractual(claim), "105.01"), user_a.pk)
    assert "105.01" in outcome["error"] and outcome["details"]
    quarantined = EraFile.objects.get()
    # The file pays clinic A (N1*PE), so it is clinic A's quarantined file, not only its uploader's.
    assert (quarantined.status, quarantined.imported_by, quarantined.clinic) == (
        EraStatus.QUARANTINED, user_a, claim.clinic)
    assert quarantined.errors[0]["segment"] == "BPR" and quarantined.errors[0]["position"] == 4
    assert not EraPayment.objects.exists()


def test_the_inbox_task_posts_good_files_and_moves_bad_ones_to_failed(claim, inbox):
    (inbox / "good.835").write_text(era(paid_with_contractual(claim), "105.00"))
    (inbox / "bad.835").write_text("ISA*garbage~")
    result = tasks.collect_era()
    assert result == {"files": 2, "posted": 1, "duplicates": 0, "failed": 1}
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
    assert (inbox / "done" / "good.835").is_file() and (inbox / "failed" / "bad.835").is_file()
    assert EraFile.objects.get(file_name="good.835").status == EraStatus.POSTED
    assert EraFile.objects.get(file_name="bad.835").status == EraStatus.QUARANTINED
    assert LedgerEntry.objects.filter(kind="payment").count() == 2
    assert tasks.collect_era() == {"files": 0, "posted": 0, "duplicates": 0, "failed": 0}


def test_a_file_dropped_twice_in_the_inbox_is_done_and_posted_once(claim, inbox):
    text = era(paid_with_contractual(claim), "105.00")
    (inbox / "first.835").write_text(text)
    tasks.collect_era()
    (inbox / "again.835").write_text(text)
    assert tasks.collect_era() == {"files": 1, "posted": 0, "duplicates": 1, "failed": 0}
    assert (inbox / "done" / "again.835").is_file()
    assert EraPayment.objects.count() == 1


def test_the_inbox_defaults_to_its_own_folder_beside_the_271_inbox(settings, tmp_path):
    settings.ERA_INBOX_DIR = None
    settings.MEDIA_ROOT = str(tmp_path)
    assert tasks.era_inbox().inbox == tmp_path / "edi" / "inbox-835"
