"""End to end in Chromium: a biller of two clinics switches to clinic A, enters and signs a session with two
service lines, finds it in the session list; clinic B's owner gets a 404 for it."""

import datetime
from pathlib import Path

import pytest

from otbilling.tenancy import Role
from tests import factories
from tests.e2e.conftest import login
from visits.models import Visit, VisitStatus

SHOTS = Path("/tmp/shots")


@pytest.fixture
def two_clinics(make_user, clinic_a, clinic_b, payer):
    """Clinic A and B each with a patient and an OT; a biller on both clinics; the owner of clinic B only."""
    patient_a = factories.PatientFactory(clinic=clinic_a, first_name="Ada", last_name="Zebulonquist")
    coverage_a = factories.CoverageFactory(patient=patient_a, payer=payer, member_id="ZEB-001")
    provider_a = factories.ProviderFactory(clinic=clinic_a, first_name="Olive", last_name="Alder")
    factories.PatientFactory(clinic=clinic_b, first_name="Bea", last_name="Birchwood")
    factories.ProviderFactory(clinic=clinic_b, first_name="Bert", last_name="Birch")
    return {
        "patient": patient_a, "coverage": coverage_a, "provider": provider_a,
        "biller": make_user("biller_ab", Role.BILLER, clinic_a, Role.BILLER, clinic_b),
        "owner_b": make_user("owner_b", Role.CLINIC_OWNER, clinic_b),
    }


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_biller_enters_and_signs_a_session_that_clinic_b_cannot_open(browser, page, live_server, two_clinics,
                                                                     clinic_a):
    SHOTS.mkdir(parents=True, exist_ok=True)
    data = two_clinics
    login(page, live_server, "biller_ab")
    assert page.url == f"{live_server.url}/"

    # The switcher posts on change (htmx) and reloads the page narrowed to clinic A.
    page.goto(f"{live_server.url}/patients/")
    assert page.get_by_text("Birchwood").count() == 1
    with page.expect_navigation():
        page.select_option("#clinic-switch-select", label=clinic_a.legal_name)
    assert page.locator("#clinic-switch-select").input_value() == str(clinic_a.public_id)
    assert page.get_by_text("Birchwood").count() == 0

    page.goto(f"{live_server.url}/visits/new/")
    patient_options = page.locator("#id_patient option").all_inner_texts()
    assert not any("Birchwood" in text for text in patient_options)
    page.select_option("#id_patient", str(data["patient"].public_id))
    # htmx reloads the coverage / provider selects for the chosen patient.
    page.wait_for_selector(f"#id_coverage option[value='{data['coverage'].public_id}']", state="attached")
    page.select_option("#id_coverage", str(data["coverage"].public_id))
    page.select_option("#id_rendering_provider", str(data["provider"].public_id))
    page.fill("#id_date_of_service", (datetime.date.today() - datetime.timedelta(days=1)).isoformat())
    page.fill("#id_diagnosis_1", "M62.81")
    page.fill("#id_lines-0-cpt", "97530")
    page.fill("#id_lines-0-minutes", "25")
    page.fill("#id_lines-0-diagnosis_pointers", "1")
    page.fill("#id_lines-1-cpt", "97110")
    page.fill("#id_lines-1-minutes", "15")
    page.fill("#id_lines-1-diagnosis_pointers", "1")
    page.fill("#id_note_text", "Therapeutic activities for grasp; strengthening exercise for shoulder girdle.")
    page.check("#id_sign")
    page.fill("#id_signed_by_name", "Olive Alder, OTR/L")
    page.screenshot(path=str(SHOTS / "visit_form.png"), full_page=True)
    page.get_by_role("button", name="Save session").click()
    page.wait_for_url("**/visits/*-*-*-*-*/")

    visit = Visit.objects.get()
    assert visit.status == VisitStatus.SIGNED
    assert list(visit.lines.order_by("position").values_list("cpt", "minutes")) == [("97530", 25), ("97110", 15)]
    assert page.get_by_text("Session signed and saved.").is_visible()
    assert page.get_by_text("Muscle weakness (generalized)").is_visible()

    page.goto(f"{live_server.url}/visits/")
    row = page.locator("#visit-table tbody tr", has_text="Zebulonquist")
    assert row.count() == 1
    assert "97530" in row.inner_text() and "Signed" in row.inner_text()
    page.screenshot(path=str(SHOTS / "visit_list.png"), full_page=True)

    # Clinic B's owner, in a fresh browser context, cannot open clinic A's session.
    context_b = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page_b = context_b.new_page()
        login(page_b, live_server, "owner_b")
        response = page_b.goto(f"{live_server.url}/visits/{visit.public_id}/")
        assert response.status == 404
        assert "Zebulonquist" not in page_b.content()
    finally:
        context_b.close()
