"""REST API v1, visits: nested create through visit_create, tenant scoping, filters, PHI logging, plans of care."""

import datetime

import pytest
from rest_framework.test import APIClient

from clinics.models import AccessLogEntry
from clinics.services import api_token_create
from tests import factories
from visits.models import PlanOfCare, ServiceLine, Visit, VisitSource, VisitStatus


def token_client(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client


def session_client(user):
    client = APIClient()
    client.force_login(user)
    return client


def ids(response):
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def token_a(clinic_a):
    return api_token_create(clinic=clinic_a, name="Alder EHR", acting_user=None)


@pytest.fixture
def api_a(token_a):
    return token_client(token_a[1])


@pytest.fixture
def body(visit_setup):
    """A two-line session for clinic A's patient, as an EHR would send it."""
    return {
        "patient": str(visit_setup["patient"].public_id),
        "rendering_provider": str(visit_setup["provider"].public_id),
        "coverage": str(visit_setup["coverage"].public_id),
        "referring_provider": str(visit_setup["referrer"].public_id),
        "date_of_service": "2026-11-02",
        "diagnoses": ["M62.81", "r2689"],
        "note_text": "Therapeutic exercise and activities for upper-body dressing.",
        "external_id": "EHR-77",
        "lines": [
            {"cpt": "97110", "minutes": 23, "diagnosis_pointers": [1]},
            {"cpt": "97530", "minutes": 15, "diagnosis_pointers": [1, 2], "modifiers": ["59"]},
        ],
    }


# --- create -------------------------------------------------------------------------------------------------------

def test_creating_a_visit_with_two_lines_creates_exactly_those_rows_in_the_token_clinic(api_a, body, clinic_a,
                                                                                       token_a, visit_setup):
    response = api_a.post("/api/v1/visits/", body, format="json")

    assert response.status_code == 201, response.json()
    visit = Visit.objects.get()
    assert str(visit.public_id) == response.json()["id"]
    assert (visit.clinic, visit.patient, visit.coverage) == (clinic_a, visit_setup["patient"], visit_setup["coverage"])
    assert visit.diagnoses == ["M62.81", "R26.89"]
    assert (visit.source, visit.status, visit.external_id) == (VisitSource.API, VisitStatus.DRAFT, "EHR-77")
    assert visit.created_by == token_a[0].service_user
    lines = list(ServiceLine.objects.order_by("position").values_list(
        "clinic", "visit", "position", "cpt", "minutes", "diagnosis_pointers", "manual_modifiers"))
    assert lines == [(clinic_a.pk, visit.pk, 1, "97110", 23, [1], []),
                     (clinic_a.pk, visit.pk, 2, "97530", 15, [1, 2], ["59"])]
    assert [line["cpt"] for line in response.json()["lines"]] == ["97110", "97530"]


def test_session_user_creates_a_visit_in_the_clinic_named_by_slug(user_a, body, clinic_a):
    response = session_client(user_a).post("/api/v1/visits/", {**body, "clinic": "alder"}, format="json")

    assert response.status_code == 201, response.json()
    assert Visit.objects.get().clinic == clinic_a
    assert ServiceLine.objects.filter(clinic=clinic_a).count() == 2


def test_session_user_naming_a_foreign_clinic_creates_nothing(user_a, body, clinic_b):
    response = session_client(user_a).post("/api/v1/visits/", {**body, "clinic": "birch"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "clinic"
    assert not Visit.objects.exists()


def test_visit_for_another_clinics_patient_is_400_and_creates_nothing(api_a, body, clinic_b):
    foreign = factories.PatientFactory(clinic=clinic_b)

    response = api_a.post("/api/v1/visits/", {**body, "patient": str(foreign.public_id)}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "not_found", "field": "patient",
                                        "message": "No such patient in this clinic."}
    assert not Visit.objects.exists()
    assert not ServiceLine.objects.exists()


def test_user_a_cannot_link_a_visit_to_clinic_b_records_even_when_user_sees_both(make_user, body, clinic_a, clinic_b):
    both = make_user("both", "biller", clinic_a, "biller", clinic_b)
    foreign_provider = factories.ProviderFactory(clinic=clinic_b)

    response = session_client(both).post(
        "/api/v1/visits/", {**body, "clinic": "alder", "rendering_provider": str(foreign_provider.public_id)},
        format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "rendering_provider"
    assert not Visit.objects.exists()


def test_bad_diagnosis_pointer_is_400_naming_the_line(api_a, body):
    body["lines"][0]["diagnosis_pointers"] = [3]

    response = api_a.post("/api/v1/visits/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{
        "field": "lines[1].diagnosis_pointers",
        "message": "Pointer 3 is out of range: the session has 2 diagnoses.",
    }]
    assert not Visit.objects.exists()
    assert not ServiceLine.objects.exists()


def test_lines_are_numbered_from_one_in_serializer_errors_too(api_a, body):
    body["lines"][1]["minutes"] = -5
    body["lines"][1]["diagnosis_pointers"] = [13]

    response = api_a.post("/api/v1/visits/", body, format="json")

    assert response.status_code == 400
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"lines[2].minutes", "lines[2].diagnosis_pointers[1]"}
    assert not Visit.objects.exists()


def test_category_diagnosis_and_bad_cpt_are_named(api_a, body):
    body["diagnoses"] = ["M62.81", "M62"]
    body["lines"][0]["cpt"] = "9711"

    response = api_a.post("/api/v1/visits/", body, format="json")

    assert response.status_code == 400
    assert {d["field"] for d in response.json()["error"]["details"]} == {"diagnoses[2]", "lines[1].cpt"}


def test_diagnosis_outside_the_code_set_is_a_400_not_a_500(api_a, body):
    body["diagnoses"] = ["M62.81", "Z99.999"]

    response = api_a.post("/api/v1/visits/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "diagnoses[2]", "message": "Z99.999 is not in the ICD-10-CM code set."}]


def test_future_date_of_service_is_refused(api_a, body):
    response = api_a.post("/api/v1/visits/", {**body, "date_of_service": "2099-01-01"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "date_of_service"


def test_visit_can_be_signed_on_create(api_a, body):
    response = api_a.post("/api/v1/visits/", {**body, "sign": True, "signed_by_name": "Olive Oak, OTR/L"},
                          format="json")

    assert response.status_code == 201, response.json()
    visit = Visit.objects.get()
    assert visit.status == VisitStatus.SIGNED
    assert visit.signed_by_name == "Olive Oak, OTR/L"
    assert response.json()["status"] == "signed"
    assert "sign" not in response.json()


def test_signing_without_a_name_is_refused(api_a, body):
    response = api_a.post("/api/v1/visits/", {**body, "sign": True}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "signed_by_name"
    assert not Visit.objects.exists()


def test_same_external_id_twice_is_refused(api_a, body):
    assert api_a.post("/api/v1/visits/", body, format="json").status_code == 201

    again = api_a.post("/api/v1/visits/", body, format="json")

    assert again.status_code == 400
    assert again.json()["error"]["code"] == "duplicate"
    assert Visit.objects.count() == 1


def test_visit_without_lines_is_refused(api_a, body):
    response = api_a.post("/api/v1/visits/", {**body, "lines": []}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "lines"


def test_visits_cannot_be_changed_or_deleted_through_the_api(api_a, clinic_a):
    visit = factories.VisitFactory(clinic=clinic_a, patient=factories.PatientFactory(clinic=clinic_a))

    assert api_a.patch(f"/api/v1/visits/{visit.public_id}/", {"note_text": "x"}, format="json").status_code == 405
    assert api_a.delete(f"/api/v1/visits/{visit.public_id}/").status_code == 405


# --- reads --------------------------------------------------------------------------------------------------------

@pytest.fixture
def visit_a(clinic_a):
    visit = factories.VisitFactory(patient=factories.PatientFactory(clinic=clinic_a))
    factories.ServiceLineFactory(visit=visit, position=1)
    return visit


@pytest.fixture
def visit_b(clinic_b):
    return factories.VisitFactory(patient=factories.PatientFactory(clinic=clinic_b))


def test_visit_of_clinic_b_is_404_for_clinic_a_token_and_user_a(api_a, user_a, visit_a, visit_b):
    for client in (api_a, session_client(user_a)):
        assert client.get(f"/api/v1/visits/{visit_b.public_id}/").status_code == 404
        assert ids(client.get("/api/v1/visits/")) == {str(visit_a.public_id)}


def test_user_without_grant_sees_no_visits_or_plans(user_no_grant, visit_a, clinic_a):
    factories.PlanOfCareFactory(patient=visit_a.patient)
    client = session_client(user_no_grant)

    assert client.get("/api/v1/visits/").json()["results"] == []
    assert client.get("/api/v1/plans-of-care/").json()["results"] == []
    assert client.get(f"/api/v1/visits/{visit_a.public_id}/").status_code == 404


def test_visit_detail_shows_lines_and_public_ids(api_a, visit_a):
    body = api_a.get(f"/api/v1/visits/{visit_a.public_id}/").json()

    assert body["patient"] == str(visit_a.patient.public_id)
    assert body["rendering_provider"] == str(visit_a.rendering_provider.public_id)
    assert body["lines"] == [{"position": 1, "cpt": "97110", "minutes": 30, "assistant_minutes": 0,
                              "diagnosis_pointers": [1], "modifiers": [], "distinct_time_block": False}]


def test_visits_are_filtered_by_patient_date_range_and_status(api_a, clinic_a):
    patient = factories.PatientFactory(clinic=clinic_a)
    early = factories.VisitFactory(patient=patient, date_of_service=datetime.date(2026, 9, 1))
    late = factories.VisitFactory(patient=patient, date_of_service=datetime.date(2026, 10, 15))
    draft = factories.VisitFactory(patient=patient, date_of_service=datetime.date(2026, 10, 20),
                                   status=VisitStatus.DRAFT, signed_by_name="", signed_at=None)
    other = factories.VisitFactory(patient=factories.PatientFactory(clinic=clinic_a))

    assert ids(api_a.get("/api/v1/visits/", {"patient": str(patient.public_id)})) == {
        str(v.public_id) for v in (early, late, draft)}
    assert ids(api_a.get("/api/v1/visits/", {"date_from": "2026-10-01", "date_to": "2026-10-16"})) == {
        str(late.public_id), str(other.public_id)}
    assert ids(api_a.get("/api/v1/visits/", {"status": "draft"})) == {str(draft.public_id)}


def test_visit_list_and_retrieve_write_access_log_rows(api_a, token_a, visit_a, visit_b):
    api_a.get("/api/v1/visits/")
    api_a.get(f"/api/v1/visits/{visit_a.public_id}/")

    rows = AccessLogEntry.objects.filter(object_type="visit")
    assert rows.count() == 2
    assert set(rows.values_list("action", "object_id", "clinic", "user")) == {
        ("api", str(visit_a.public_id), visit_a.clinic_id, token_a[0].service_user_id)}


# --- plans of care ------------------------------------------------------------------------------------------------

def test_plan_of_care_is_created_and_listed_for_the_token_clinic(api_a, clinic_a, clinic_b):
    patient = factories.PatientFactory(clinic=clinic_a)
    factories.PlanOfCareFactory(patient=factories.PatientFactory(clinic=clinic_b))
    body = {"patient": str(patient.public_id), "start_date": "2026-11-01", "certified_through": "2027-01-29",
            "frequency": "2x/week", "duration": "12 weeks", "goals": "Independent grooming.", "diagnoses": ["m6281"]}

    created = api_a.post("/api/v1/plans-of-care/", body, format="json")
    listed = api_a.get("/api/v1/plans-of-care/")

    assert created.status_code == 201, created.json()
    plan = PlanOfCare.objects.get(public_id=created.json()["id"])
    assert (plan.clinic, plan.patient, plan.diagnoses) == (clinic_a, patient, ["M62.81"])
    assert ids(listed) == {created.json()["id"]}
    assert AccessLogEntry.objects.filter(object_type="planofcare", object_id=created.json()["id"]).exists()


def test_plan_of_care_rules_and_foreign_patients_are_refused(api_a, clinic_b):
    foreign = factories.PatientFactory(clinic=clinic_b)
    body = {"patient": str(foreign.public_id), "start_date": "2026-11-01", "certified_through": "2027-03-01",
            "frequency": "2x/week", "duration": "12 weeks", "goals": "Grooming.", "diagnoses": ["M62"]}

    response = api_a.post("/api/v1/plans-of-care/", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "diagnoses[1]"
    response = api_a.post("/api/v1/plans-of-care/", {**body, "diagnoses": []}, format="json")
    assert response.json()["error"]["message"] == "No such patient in this clinic."
    assert not PlanOfCare.objects.exists()
