"""End to end in Chromium: a clinic owner opens the reports, picks October 2026, reads the denial-rate tile, drills
into the denied claim behind it, comes back, and generates and downloads the month's PDF report."""

from pathlib import Path

import pytest

from otbilling.tenancy import Role
from reporting.models import MonthlyReport
from tests.e2e.conftest import login
from tests.reporting.test_views import clinic_a_ledger

SHOTS = Path("/tmp/shots")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("tests.reporting.urls_for_views")
def test_owner_drills_into_denials_and_downloads_the_monthly_pdf(page, live_server, code_sets, clinic_a,
                                                                  make_user):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ledger = clinic_a_ledger(clinic_a)
    owner = make_user("owner_a", Role.CLINIC_OWNER, clinic_a)
    login(page, live_server, owner.username)

    page.goto(f"{live_server.url}/reports/")
    page.get_by_label("Period", exact=True).fill("2026-10")
    page.get_by_role("button", name="Show").click()
    page.wait_for_function("document.querySelector('#report-period').textContent.includes('October 2026')")
    tile = page.locator("#tile-denial_rate")
    assert tile.locator("#tile-link-denial_rate").inner_text() == "50.0 %"
    assert "Claims with a denial dated in the period" in tile.locator(".tile-formula").inner_text()
    page.screenshot(path=str(SHOTS / "owner-dashboard.png"), full_page=True)

    with page.expect_navigation():
        tile.locator("#tile-link-denial_rate").click()
    assert "Denial rate (claims): numerator" in page.locator("#drill-title").inner_text()
    rows = page.locator("#drill-table tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-claim") == ledger.denied.patient_control_number
    assert "Yarrow, Ben" in rows.first.inner_text() and "$180.00" in rows.first.inner_text()
    page.screenshot(path=str(SHOTS / "owner-drill-denials.png"), full_page=True)

    page.go_back()
    page.locator("#tile-link-denial_rate").wait_for()
    assert "October 2026" in page.locator("#report-period").inner_text()

    with page.expect_navigation():
        page.locator("#nav-monthly-reports").click()
    page.locator("#monthly-generate input[name=month]").fill("2026-10")
    with page.expect_navigation(timeout=90000):
        page.get_by_role("button", name="Generate the report").click()
    assert "is ready" in page.locator(".messages").inner_text()
    page.screenshot(path=str(SHOTS / "owner-monthly-reports.png"), full_page=True)
    with page.expect_download() as download_info:
        page.locator("#monthly-made-download").click()
    pdf = Path(download_info.value.path()).read_bytes()
    report = MonthlyReport.objects.get(clinic=clinic_a)
    assert pdf.startswith(b"%PDF") and pdf == bytes(report.pdf)
    assert download_info.value.suggested_filename == "alder-2026-10-report.pdf"
