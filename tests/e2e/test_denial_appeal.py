"""End to end in Chromium: a biller uploads an 835 that denies a submitted claim (CO-197, no authorization), opens
the new denial from the denial worklist, writes the argument, generates the appeal letter and downloads the PDF;
then sets the claim's next follow-up from its A/R row (HTMX, the row updates in place)."""

import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from denials.models import Appeal, Denial, EraFile, WorkStatus
from tests.denials.test_services import denial_835, submitted_claim
from tests.e2e.conftest import login

SHOTS = Path("/tmp/shots")
ARGUMENT = "The payer granted retro authorization RA-20260201 on 2026-02-01; the visit of 2026-09-14 falls inside it."


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.denials.urls_work")
def test_biller_imports_an_835_opens_the_denial_and_downloads_the_appeal_letter(page, live_server, code_sets,
                                                                                  clinic_a, user_a):
    SHOTS.mkdir(parents=True, exist_ok=True)
    claim = submitted_claim(clinic_a, appeal_window_days=3650)  # the deadline is years away: the appeal is on time
    login(page, live_server, user_a.username)

    page.goto(f"{live_server.url}/remittances/upload/")
    page.set_input_files("input[name=file]", files=[{"name": "denial.835", "mimeType": "text/plain",
                                                     "buffer": denial_835(claim).encode()}])
    with page.expect_navigation(url=lambda url: "/remittances/" in url and "upload" not in url):
        page.get_by_role("button", name="Upload").click()
    era = EraFile.objects.get()
    page.wait_for_url(f"{live_server.url}/remittances/{era.public_id}/")
    denial = Denial.objects.get(claim=claim, claim_line__position=1)

    page.goto(f"{live_server.url}/denials/")
    row = page.locator(f"#denial-table tr[data-denial='{denial.public_id}']")
    assert "Prior authorization or notification missing" in row.inner_text()
    page.screenshot(path=str(SHOTS / "denial-worklist.png"), full_page=True)
    with page.expect_navigation():
        row.get_by_role("link", name=claim.patient_control_number).click()

    assert "CO-197" in page.locator("#denial-reason").inner_text()
    page.get_by_label("Our argument").fill(ARGUMENT)
    with page.expect_navigation():
        page.get_by_role("button", name="Write the appeal letter").click()
    assert "Appeal letter written" in page.locator(".messages").inner_text()
    page.screenshot(path=str(SHOTS / "denial-appealed.png"), full_page=True)

    appeal = Appeal.objects.get()
    with page.expect_download() as download_info:
        page.locator(f"#appeal-letter-{appeal.public_id}").click()
    download = download_info.value
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and pdf == bytes(appeal.letter_pdf)
    assert download.suggested_filename.startswith(f"appeal-{claim.patient_control_number}")
    denial.refresh_from_db()
    assert (denial.status, appeal.argument, appeal.created_by) == (WorkStatus.APPEALED, ARGUMENT, user_a)

    follow_up = timezone.localdate() + datetime.timedelta(days=14)
    page.goto(f"{live_server.url}/ar/")
    ar_row = page.locator(f"#ar-table tr[data-claim='{claim.patient_control_number}']")
    assert "$180.00" in ar_row.inner_text()
    ar_row.locator("textarea[name=text]").fill("Appeal mailed; call the payer in two weeks.")
    ar_row.locator("input[name=next_follow_up]").fill(follow_up.isoformat())
    ar_row.get_by_role("button", name="Save").click()
    ar_row.locator(".badge.success").wait_for()
    assert page.url == f"{live_server.url}/ar/"  # answered in place, no page load
    assert follow_up.isoformat() in ar_row.locator("[data-follow-up]").inner_text()
    page.screenshot(path=str(SHOTS / "ar-worklist.png"), full_page=True)
    claim.refresh_from_db()
    assert claim.next_follow_up == follow_up
