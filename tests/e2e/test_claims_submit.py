"""End to end in Chromium: a biller opens the claims worklist, selects two ready claims, submits them, sees the
837P batch they went into and downloads its file, which holds a CLM segment for each claim."""

from pathlib import Path

import pytest

from claims.models import BatchStatus, ClaimBatch, ClaimStatus
from tests.claims.test_views import submittable_claims
from tests.e2e.conftest import login

SHOTS = Path("/tmp/shots")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.claims.urls_for_views")
def test_biller_submits_two_ready_claims_and_downloads_the_837p(page, live_server, code_sets, clinic_a, user_a):
    SHOTS.mkdir(parents=True, exist_ok=True)
    claims = submittable_claims(clinic_a, 3, names=("Ashgrove", "Birchall", "Cedarholm"))
    chosen, left = claims[:2], claims[2]
    login(page, live_server, user_a.username)

    page.goto(f"{live_server.url}/claims/?status=ready")
    rows = page.locator("#claim-table tbody tr")
    assert rows.count() == 3
    for claim in chosen:
        page.get_by_label(f"Select claim {claim.patient_control_number}").check()
    page.screenshot(path=str(SHOTS / "claims-worklist.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_role("button", name="Submit selected").click()

    assert page.url == f"{live_server.url}/claims/batches/"
    assert "2 claims put in 1 batch" in page.locator(".messages").inner_text()
    batch = ClaimBatch.objects.get()
    assert batch.status == BatchStatus.RELEASED
    row = page.locator(f"#batch-table tr[data-batch='{batch.public_id}']")
    assert "Released" in row.inner_text()
    with page.expect_navigation():
        row.get_by_role("link", name=batch.file_name).click()

    assert "Released" in page.locator("#batch-progress").inner_text()
    assert page.locator("#batch-claims tbody tr").count() == 2
    page.screenshot(path=str(SHOTS / "claims-batch.png"), full_page=True)
    with page.expect_download() as download_info:
        page.locator("#batch-download").click()
    download = download_info.value
    assert download.suggested_filename == batch.file_name
    text = Path(download.path()).read_text()
    assert text == batch.content
    for claim in chosen:
        assert f"CLM*{claim.patient_control_number}*" in text
    assert f"CLM*{left.patient_control_number}*" not in text

    for claim in chosen:
        claim.refresh_from_db()
        assert (claim.status, claim.batch_id) == (ClaimStatus.SUBMITTED, batch.pk)
    left.refresh_from_db()
    assert left.status == ClaimStatus.READY
