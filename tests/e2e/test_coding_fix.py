"""End to end in Chromium: a biller opens a Medicare visit whose line carries GP instead of GO, applies the
one-click fix of the MOD_DISCIPLINE finding, and sees the visit become billable with GO on the line."""

import re
from pathlib import Path

import pytest

from coding.models import CodingStatus, VisitCoding
from tests.coding.test_views import clean_medicare_visit, make_medicare
from tests.e2e.conftest import login

SHOTS = Path("/tmp/shots")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_biller_fixes_a_missing_go_modifier_and_the_visit_becomes_billable(page, live_server, code_sets, clinic_a,
                                                                          user_a):
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Everything else about the visit is clean: only the discipline modifier is wrong.
    visit = clean_medicare_visit(clinic_a, make_medicare(), last_name="Gopher",
                                 lines=[{"cpt": "97530", "minutes": 30, "manual_modifiers": ["GP"]}])
    login(page, live_server, user_a.username)

    page.goto(f"{live_server.url}/coding/queue/")
    row = page.locator("#queue-table tbody tr", has_text="Gopher")
    assert row.count() == 1
    with page.expect_navigation():
        row.get_by_role("link").first.click()
    assert page.url == f"{live_server.url}/coding/visits/{visit.public_id}/"

    status = page.locator("#coding-status")
    assert "Held: 1 blocking finding" in status.inner_text()
    finding = page.locator("li.finding[data-rule='MOD_DISCIPLINE']")
    assert finding.count() == 1
    assert "Blocking" in finding.inner_text()
    modifiers = page.locator("#coded-lines tr[data-cpt='97530'] td.modifiers")
    assert "GP" in modifiers.inner_text()
    fix = finding.get_by_role("button", name=re.compile(r"^Fix"))
    assert fix.is_visible()
    page.screenshot(path=str(SHOTS / "coding-before.png"), full_page=True)

    with page.expect_navigation():
        fix.click()

    assert "Billable" in page.locator("#coding-status").inner_text()
    assert "Held" not in page.locator("#coding-status").inner_text()
    assert page.locator("li.finding[data-rule='MOD_DISCIPLINE']").count() == 0
    modifier_codes = page.locator("#coded-lines tr[data-cpt='97530'] td.modifiers .modifier-code").all_inner_texts()
    assert modifier_codes == ["GO"]
    page.screenshot(path=str(SHOTS / "coding-after.png"), full_page=True)

    assert VisitCoding.objects.get(visit=visit).status == CodingStatus.BILLABLE
    assert visit.lines.get().manual_modifiers == ["GO"]
