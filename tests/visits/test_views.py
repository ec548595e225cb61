"""Browser views for treatment sessions: entry with service lines, errors beside their row, scoping, signing."""

import datetime

import pytest
from django.urls import reverse

from clinics.current import SESSION_KEY
from clinics.models import AccessLogEntry
from otbilling.tenancy import Role
from tests import factories
from visits.models import ServiceLine, Visit, VisitStatus

pytestmark = pytest.mark.django_db

DOS = "2026-10-05"


@pytest.fixture
def client_b(client, user_b):
    client.force_login(user_b)
    return client


@pytest.fixture
def visit_a(visit_setup):
    visit = factories.VisitFactory(patient=visit_setup["patient"], rendering_provider=visit_setup["provider"],
                                   status=VisitStatus.DRAFT, signed_by_name="", signed_at=None)
    factories.ServiceLineFactory(visit=visit, position=1, cpt="97530", minutes=30)
    return visit


def visit_post(setup, lines=(), **overrides):
    """Form data as the browser posts it: header fields, 12 diagnosis inputs and a 4-row line formset."""
    data = {
        "patient": str(setup["patient"].public_id), "coverage": str(setup["coverage"].public_id),
        "rendering_provider": str(setup["provider"].public_id),
        "referring_provider": str(setup["referrer"].public_id), "plan_of_care": "",
        "date_of_service": DOS, "place_of_service": "11", "note_text": "Therapeutic activities and exercise.",
        "signed_by_name": "", "diagnosis_1": "M62.81",
        "lines-TOTAL_FORMS": "4", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "20",
    }
    for index, line in enumerate(lines):
        for key, value in line.items():
            data[f"lines-{index}-{key}"] = value
    data.update(overrides)
    return data


TWO_LINES = (
    {"cpt": "97530", "minutes": "25", "diagnosis_pointers": "1"},
    {"cpt": "97110", "minutes": "15", "diagnosis_pointers": "1", "modifiers": "go, 59", "distinct_time_block": "on"},
)


def test_creating_a_visit_with_two_lines_creates_the_rows(client_a, visit_setup):
    response = client_a.post(reverse("visit-create"), visit_post(visit_setup, TWO_LINES))
    visit = Visit.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("visit-detail", args=[visit.public_id])
    assert visit.diagnoses == ["M62.81"]
    assert visit.status == VisitStatus.DRAFT
    assert visit.coverage == visit_setup["coverage"]
    lines = list(ServiceLine.objects.filter(visit=visit).order_by("position"))
    assert [(line.position, line.cpt, line.minutes) for line in lines] == [(1, "97530", 25), (2, "97110", 15)]
    assert lines[1].manual_modifiers == ["GO", "59"]
    assert lines[1].distinct_time_block is True
    assert lines[0].diagnosis_pointers == [1]


def test_creating_and_signing_in_one_step(client_a, visit_setup):
    client_a.post(reverse("visit-create"), visit_post(visit_setup, TWO_LINES, sign="on",
                                                      signed_by_name="Olive Therapist, OTR/L"))
    visit = Visit.objects.get()
    assert visit.status == VisitStatus.SIGNED
    assert visit.signed_by_name == "Olive Therapist, OTR/L"


def test_a_bad_pointer_shows_the_message_beside_the_row_and_creates_nothing(client_a, visit_setup):
    lines = (TWO_LINES[0], {**TWO_LINES[1], "diagnosis_pointers": "1,3"})
    response = client_a.post(reverse("visit-create"), visit_post(visit_setup, lines))
    assert response.status_code == 200
    message = "Pointer 3 is out of range: the session has 1 diagnoses."
    assert message in response.content.decode()
    assert response.context["formset"].forms[1].errors["diagnosis_pointers"] == [message]
    assert not Visit.objects.exists()
    assert not ServiceLine.objects.exists()


def test_errors_name_the_filled_row_even_after_blank_rows(client_a, visit_setup):
    lines = ({}, TWO_LINES[0], {}, {"cpt": "9753", "minutes": "10"})
    response = client_a.post(reverse("visit-create"), visit_post(visit_setup, lines))
    assert response.context["formset"].forms[3].errors["cpt"] == ["'9753' is not a 5-character CPT/HCPCS code."]
    assert not Visit.objects.exists()


def test_a_bad_diagnosis_is_shown_beside_its_input(client_a, visit_setup):
    data = visit_post(visit_setup, TWO_LINES, diagnosis_2="Z99", **{"lines-0-diagnosis_pointers": "1,2"})
    response = client_a.post(reverse("visit-create"), data)
    assert response.context["form"].errors["diagnosis_2"] == [
        "Z99 is a category header, not a billable code; pick a more specific child code."]
    assert not Visit.objects.exists()


def test_a_gap_in_the_diagnoses_is_refused(client_a, visit_setup):
    response = client_a.post(reverse("visit-create"), visit_post(visit_setup, TWO_LINES, diagnosis_3="R26.89"))
    assert "Fill the diagnoses in order without gaps" in response.content.decode()
    assert not Visit.objects.exists()


def test_no_lines_is_reported_at_the_top(client_a, visit_setup):
    response = client_a.post(reverse("visit-create"), visit_post(visit_setup))
    assert response.context["top_errors"] == ["Enter at least one service line."]
    assert not Visit.objects.exists()


def test_signing_without_a_name_is_refused_beside_the_name(client_a, visit_setup):
    response = client_a.post(reverse("visit-create"), visit_post(visit_setup, TWO_LINES, sign="on"))
    assert response.context["form"].errors["signed_by_name"] == ["A signed note needs the signing therapist's name."]
    assert not Visit.objects.exists()


def test_a_patient_of_another_clinic_cannot_be_chosen(client_b, visit_setup):
    response = client_b.post(reverse("visit-create"), visit_post(visit_setup, TWO_LINES))
    assert "Select a valid choice" in response.content.decode()
    assert not Visit.objects.exists()


def test_a_coverage_of_another_patient_cannot_be_chosen(client_a, visit_setup, payer, clinic_a):
    other = factories.CoverageFactory(patient=factories.PatientFactory(clinic=clinic_a), payer=payer)
    response = client_a.post(reverse("visit-create"),
                             visit_post(visit_setup, TWO_LINES, coverage=str(other.public_id)))
    assert response.context["form"].errors["coverage"]
    assert not Visit.objects.exists()


def test_new_visit_form_preselects_the_patient_and_primary_coverage(client_a, visit_setup):
    response = client_a.get(reverse("visit-create"), {"patient": str(visit_setup["patient"].public_id)})
    form = response.context["form"]
    assert response.status_code == 200
    assert form["patient"].value() == visit_setup["patient"].public_id
    assert form.initial["coverage"] == visit_setup["coverage"]
    assert len(response.context["formset"].forms) == 4


def test_new_visit_form_for_another_clinics_patient_is_404(client_b, visit_setup):
    response = client_b.get(reverse("visit-create"), {"patient": str(visit_setup["patient"].public_id)})
    assert response.status_code == 404


def test_patient_fields_fragment_lists_that_patients_coverages(client_a, visit_setup):
    response = client_a.get(reverse("visit-patient-fields"), {"patient": str(visit_setup["patient"].public_id)},
                            HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="patient-fields"' in body and str(visit_setup["coverage"].public_id) in body
    assert "<html" not in body


def test_patient_fields_fragment_for_another_clinics_patient_is_404(client_b, visit_setup):
    response = client_b.get(reverse("visit-patient-fields"), {"patient": str(visit_setup["patient"].public_id)})
    assert response.status_code == 404


def test_icd10_search_returns_an_option_fragment(client_a):
    response = client_a.get(reverse("icd10-search"), {"q": "M62.8"})
    body = response.content.decode()
    assert response.status_code == 200
    assert '<option value="M62.81">' in body and "<html" not in body


def test_icd10_search_reads_the_diagnosis_input_that_asked(client_a):
    response = client_a.get(reverse("icd10-search"), {"diagnosis_3": "muscle weakness"})
    assert '<option value="M62.81">' in response.content.decode()


def test_visit_detail_shows_lines_and_diagnosis_descriptions(client_a, visit_a):
    response = client_a.get(reverse("visit-detail", args=[visit_a.public_id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "97530" in body and "Muscle weakness (generalized)" in body
    entry = AccessLogEntry.objects.get(action="view")
    assert (entry.object_type, entry.object_id) == ("visit", str(visit_a.public_id))


def test_visit_detail_of_another_clinic_is_404(client_b, visit_a):
    assert client_b.get(reverse("visit-detail", args=[visit_a.public_id])).status_code == 404


def test_visit_edit_and_sign_of_another_clinic_are_404(client_b, visit_a):
    assert client_b.get(reverse("visit-edit", args=[visit_a.public_id])).status_code == 404
    response = client_b.post(reverse("visit-sign", args=[visit_a.public_id]), {"signed_by_name": "Mallory"})
    assert response.status_code == 404
    visit_a.refresh_from_db()
    assert visit_a.status == VisitStatus.DRAFT


def test_editing_a_draft_replaces_its_lines(client_a, visit_a, visit_setup):
    data = visit_post(visit_setup, TWO_LINES, **{"lines-TOTAL_FORMS": "5", "lines-INITIAL_FORMS": "1"})
    response = client_a.post(reverse("visit-edit", args=[visit_a.public_id]), data)
    assert response.status_code == 302
    assert list(visit_a.lines.order_by("position").values_list("cpt", "minutes")) == [("97530", 25), ("97110", 15)]


def test_a_signed_visit_cannot_be_edited(client_a, visit_setup):
    signed = factories.VisitFactory(patient=visit_setup["patient"], rendering_provider=visit_setup["provider"])
    response = client_a.get(reverse("visit-edit", args=[signed.public_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("visit-detail", args=[signed.public_id])


def test_the_sign_button_signs_a_draft(client_a, visit_a):
    response = client_a.post(reverse("visit-sign", args=[visit_a.public_id]), {"signed_by_name": "Olive T, OTR/L"})
    assert response.status_code == 302
    visit_a.refresh_from_db()
    assert (visit_a.status, visit_a.signed_by_name) == (VisitStatus.SIGNED, "Olive T, OTR/L")


def test_signing_a_draft_without_a_note_shows_why(client_a, visit_a):
    Visit.objects.filter(pk=visit_a.pk).update(note_text="")
    response = client_a.post(reverse("visit-sign", args=[visit_a.public_id]), {"signed_by_name": "Olive T"})
    assert "Write the note before signing." in response.content.decode()
    visit_a.refresh_from_db()
    assert visit_a.status == VisitStatus.DRAFT


# --- list -------------------------------------------------------------------------------------------------------


@pytest.fixture
def listed_visits(clinic_a, clinic_b):
    """Clinic A: Zebulonquist (signed, Oct 5) and Quill (draft, Oct 20); clinic B: Birchwood."""
    zeb = factories.VisitFactory(patient=factories.PatientFactory(clinic=clinic_a, last_name="Zebulonquist"))
    quill = factories.VisitFactory(patient=factories.PatientFactory(clinic=clinic_a, last_name="Quill"),
                                   date_of_service=datetime.date(2026, 10, 20), status=VisitStatus.DRAFT,
                                   signed_by_name="", signed_at=None)
    birch = factories.VisitFactory(patient=factories.PatientFactory(clinic=clinic_b, last_name="Birchwood"))
    return {"zeb": zeb, "quill": quill, "birch": birch}


def listed(response):
    return [visit.patient.last_name for visit in response.context["page"].object_list]


def test_visit_list_shows_only_the_users_clinics(client_a, listed_visits):
    response = client_a.get(reverse("visit-list"))
    assert listed(response) == ["Quill", "Zebulonquist"]
    assert "Birchwood" not in response.content.decode()
    assert AccessLogEntry.objects.filter(action="list", object_type="visit").count() == 1


def test_visit_list_filters_by_status_name_provider_and_dates(client_a, listed_visits):
    url = reverse("visit-list")
    assert listed(client_a.get(url, {"status": "draft"})) == ["Quill"]
    assert listed(client_a.get(url, {"patient": "zebul"})) == ["Zebulonquist"]
    provider = listed_visits["zeb"].rendering_provider
    assert listed(client_a.get(url, {"provider": str(provider.public_id)})) == ["Zebulonquist"]
    assert listed(client_a.get(url, {"date_from": "2026-10-10", "date_to": "2026-10-31"})) == ["Quill"]


def test_visit_list_sorts_by_date_both_ways(client_a, listed_visits):
    assert listed(client_a.get(reverse("visit-list"), {"sort": "date"})) == ["Zebulonquist", "Quill"]
    assert listed(client_a.get(reverse("visit-list"), {"sort": "-date"})) == ["Quill", "Zebulonquist"]


def test_visit_list_answers_htmx_with_the_table_only(client_a, listed_visits):
    response = client_a.get(reverse("visit-list"), {"status": "draft"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Quill" in body and "<html" not in body


def test_visit_list_follows_the_clinic_switcher(client, make_user, clinic_a, clinic_b, listed_visits):
    client.force_login(make_user("biller_ab", Role.BILLER, clinic_a, Role.BILLER, clinic_b))
    assert sorted(listed(client.get(reverse("visit-list")))) == ["Birchwood", "Quill", "Zebulonquist"]
    session = client.session
    session[SESSION_KEY] = str(clinic_b.public_id)
    session.save()
    assert listed(client.get(reverse("visit-list"))) == ["Birchwood"]
