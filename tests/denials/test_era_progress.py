"""Progress of a queued 835 import: "n of N claims" reported from inside the posting transaction through the cache
(never the database, which shows nothing of an open transaction), and the pending page's progress bar."""

import os

import pytest
from django.core.cache.backends.redis import RedisCache
from django.db import transaction
from django.urls import reverse

from claims.lifecycle import claim_transition
from claims.models import ClaimStatus, LedgerEntry
from denials import tasks
from denials.models import EraFile, EraStatus
from denials.posting import era_import
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import paid_with_contractual
from tests.denials.test_x835 import era

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.denials.urls_era")]
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")


@pytest.fixture
def claim(clinic_a, code_sets):
    built = make_claim(build_claim_scene(clinic_a, make_medicare(payer_id="ACME1")))
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=built, to_status=status, reason="test")
    return built


def three_claims(claim) -> str:
    """Our claim and two the clinic never sent (they go to the unmatched worklist): three CLPs, 315.00."""
    ours = paid_with_contractual(claim)
    others = [ours.replace(claim.patient_control_number, f"CNOTOURS000{n}") for n in (1, 2)]
    return era(ours + "".join(others), "315.00")


@pytest.fixture(autouse=True)
def no_broker(settings):
    """Without a broker the task runs in the web process and reports to Django's default cache."""
    settings.REDIS_URL = ""


def forget(text) -> None:
    tasks.progress_cache().delete(f"denials:era-progress:{tasks.content_sha256(text)}")


@pytest.fixture(params=["default cache", "redis"])
def progress_store(request, settings, monkeypatch):
    """A separate client of the store the task reports to: with Redis, another connection to it."""
    monkeypatch.setattr(tasks, "PROGRESS_EVERY_SECONDS", 0)
    if request.param == "default cache":
        yield tasks.progress_cache()
        return
    if not TEST_REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    settings.REDIS_URL = TEST_REDIS_URL
    tasks._redis_cache.cache_clear()
    yield RedisCache(TEST_REDIS_URL, {"KEY_PREFIX": "otb"})
    tasks._redis_cache.cache_clear()


def test_progress_total_is_the_number_of_clp_in_the_file_after_import(claim, user_a):
    era_import(file_name="three.835", content=three_claims(claim), acting_user=user_a)
    era_file = EraFile.objects.get()
    assert (era_file.status, era_file.progress_done, era_file.progress_total) == (EraStatus.POSTED, 3, 3)
    assert era_file.summary["claims_matched"] == 1 and era_file.summary["unmatched_claims"] == 2


def test_era_import_reports_each_claim_from_inside_its_transaction(claim, user_a):
    heard = []

    def progress(done, total):
        heard.append((done, total, transaction.get_connection().in_atomic_block,
                      EraFile.objects.filter(status=EraStatus.POSTED).exists()))

    era_import(file_name="three.835", content=three_claims(claim), acting_user=user_a, progress=progress)
    assert [(done, total) for done, total, _, _ in heard] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    # Every report comes while the file's row exists only inside the open transaction.
    assert all(in_atomic and row_in_transaction for _, _, in_atomic, row_in_transaction in heard)


def test_a_payment_already_posted_still_counts_its_claims(claim, user_a):
    era_import(file_name="first.835", content=three_claims(claim), acting_user=user_a)
    heard = []
    resent = three_claims(claim).replace("~\n", "~")  # the same payment (TRN) in other bytes
    summary = era_import(file_name="resent.835", content=resent, acting_user=user_a,
                         progress=lambda done, total: heard.append((done, total)))
    assert summary["duplicate"] is True and heard == [(0, 3), (3, 3)]


def test_the_progress_written_during_posting_is_readable_from_another_connection(claim, user_a, progress_store,
                                                                                 monkeypatch):
    text = three_claims(claim)
    key = f"denials:era-progress:{tasks.content_sha256(text)}"
    seen = []
    real_import = tasks.era_import

    def observed(**kwargs):
        report = kwargs.pop("progress")

        def progress(done, total):
            report(done, total)
            seen.append(progress_store.get(key))  # what the page's process would read now

        return real_import(progress=progress, **kwargs)

    monkeypatch.setattr(tasks, "era_import", observed)
    tasks.import_era("three.835", text, user_a.pk)
    assert [(entry["state"], entry["done"], entry["total"]) for entry in seen] == [
        ("posting", 0, 3), ("posting", 1, 3), ("posting", 2, 3), ("posting", 3, 3)]
    assert {entry["user_id"] for entry in seen} == {user_a.pk}
    assert progress_store.get(key) is None  # finished: the page now finds the committed EraFile instead
    assert EraFile.objects.get().progress_total == 3


def test_a_broken_progress_cache_never_stops_the_posting(claim, user_a, monkeypatch):
    class Broken:
        def set(self, *args, **kwargs):
            raise ConnectionError("cache down")

        get = delete = set

    monkeypatch.setattr(tasks, "progress_cache", Broken)
    outcome = tasks.import_era("three.835", three_claims(claim), user_a.pk)
    assert outcome["claims_matched"] == 1
    assert EraFile.objects.get().status == EraStatus.POSTED
    assert LedgerEntry.objects.filter(kind="payment").count() == 2


def test_an_import_that_breaks_leaves_a_failure_for_the_page(claim, user_a, monkeypatch, client):
    text = three_claims(claim)

    def broken(**kwargs):
        kwargs["progress"](1, 3)
        raise RuntimeError("worker lost its database")

    monkeypatch.setattr(tasks, "era_import", broken)
    with pytest.raises(RuntimeError):
        tasks.import_era("three.835", text, user_a.pk)
    client.force_login(user_a)
    page = client.get(reverse("era-pending"), {"sha256": tasks.content_sha256(text)}, headers={"HX-Request": "true"})
    body = page.content.decode()
    assert page.status_code == 200 and "Not posted" in body and "hx-trigger" not in body
    forget(text)


# --- the pending page --------------------------------------------------------------------------------------------


def report(text, user, done, total):
    tasks.ProgressReporter(tasks.content_sha256(text), user_id=user.pk if user else None)(done, total)


def pending(client, user, text):
    client.force_login(user)
    return client.get(reverse("era-pending"), {"sha256": tasks.content_sha256(text)},
                      headers={"HX-Request": "true"}).content.decode()


def test_the_pending_page_shows_n_of_n_claims_to_the_uploader_and_keeps_polling(client, claim, user_a):
    text = three_claims(claim)
    report(text, user_a, 1, 3)
    body = pending(client, user_a, text)
    assert '<progress id="era-progress" max="3" value="1"' in body and "1 of 3 claims" in body
    assert "hx-trigger" in body
    forget(text)


def test_another_user_sees_no_numbers_of_someone_elses_import(client, claim, user_a, user_b, make_user):
    text = three_claims(claim)
    report(text, user_a, 2, 3)
    assert "2 of 3" not in pending(client, user_b, text)
    assert "2 of 3" not in pending(client, make_user("biller_a2", "biller", claim.clinic), text)
    assert "2 of 3 claims" in pending(client, make_user("operator", staff=True), text)
    forget(text)


def test_the_pending_page_opens_the_file_with_its_summary_once_posted(client, claim, user_a,
                                                                     django_capture_on_commit_callbacks):
    client.force_login(user_a)
    with django_capture_on_commit_callbacks(execute=True):
        digest = tasks.era_import_queue(file_name="three.835", content=three_claims(claim), acting_user=user_a)
    done = client.get(reverse("era-pending"), {"sha256": digest}, headers={"HX-Request": "true"})
    era_file = EraFile.objects.get(sha256=digest)
    assert done.status_code == 204 and done["HX-Redirect"] == reverse("era-detail", args=[era_file.public_id])
    page = client.get(done["HX-Redirect"]).content.decode()
    assert 'data-key="claims_matched">1<' in page and 'data-key="unmatched_claims">2<' in page
