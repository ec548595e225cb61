"""REST API v1, clinics resources: token auth, tenant scoping, writes through services, PHI logging, schema."""

import io
import uuid

import pytest
from django.core.management import call_command
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from clinics.models import AccessLogEntry, Coverage, Patient, Provider, ReferringProvider
from clinics.services import api_token_create, api_token_revoke
from tests import factories

PATIENT_BODY = {
    "mrn": "A-1001", "first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1948-12-10", "sex": "F",
    "address_line1": "12 Oak St", "city": "Portland", "state": "OR", "zip_code": "97201",
}


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
def patient_a(clinic_a):
    return factories.PatientFactory(clinic=clinic_a, last_name="Aspen")


@pytest.fixture
def patient_b(clinic_b):
    return factories.PatientFactory(clinic=clinic_b, last_name="Beech")


# --- authentication ---------------------------------------------------------------------------------------------

def test_token_lists_only_the_patients_of_its_own_clinic(api_a, patient_a, patient_b):
    response = api_a.get("/api/v1/patients/")

    assert response.status_code == 200
    assert ids(response) == {str(patient_a.public_id)}


def test_token_use_is_recorded_on_the_token(api_a, token_a, patient_a):
    api_a.get("/api/v1/patients/")

    token_a[0].refresh_from_db()
    assert token_a[0].last_used_at is not None


def test_revoked_token_is_refused_with_401(token_a, patient_a):
    api_token_revoke(token=token_a[0], acting_user=None)

    response = token_client(token_a[1]).get("/api/v1/patients/")

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked API token."


def test_unknown_token_is_refused_with_401(db):
    assert token_client("otb_not-a-real-key").get("/api/v1/patients/").status_code == 401


def test_request_without_credentials_is_refused_with_401(db):
    assert APIClient().get("/api/v1/patients/").status_code == 401


def test_session_user_reads_the_api_with_a_login(user_a, patient_a, patient_b):
    response = session_client(user_a).get("/api/v1/patients/")

    assert response.status_code == 200
    assert ids(response) == {str(patient_a.public_id)}


# --- another clinic's records are 404, never 403 ---------------------------------------------------------------

def test_patient_of_clinic_b_is_404_for_clinic_a_token(api_a, patient_b):
    url = f"/api/v1/patients/{patient_b.public_id}/"

    assert api_a.get(url).status_code == 404
    assert api_a.patch(url, {"first_name": "Hacked"}, format="json").status_code == 404
    patient_b.refresh_from_db()
    assert patient_b.first_name != "Hacked"


def test_patient_of_clinic_b_is_404_for_user_a(user_a, patient_b):
    client = session_client(user_a)
    url = f"/api/v1/patients/{patient_b.public_id}/"

    assert client.get(url).status_code == 404
    assert client.put(url, {**PATIENT_BODY, "clinic": "birch"}, format="json").status_code == 404


def test_malformed_id_is_404_not_500(api_a):
    assert api_a.get("/api/v1/patients/not-a-uuid/").status_code == 404


def test_user_without_grant_sees_empty_lists_and_404_on_details(user_no_grant, patient_a, payer):
    coverage = factories.CoverageFactory(patient=patient_a, payer=payer)
    provider = factories.ProviderFactory(clinic=patient_a.clinic)
    factories.ReferringProviderFactory(clinic=patient_a.clinic)
    client = session_client(user_no_grant)

    for resource in ("patients", "coverages", "providers", "referring-providers"):
        response = client.get(f"/api/v1/{resource}/")
        assert response.status_code == 200, resource
        assert response.json()["results"] == [], resource
    assert client.get(f"/api/v1/patients/{patient_a.public_id}/").status_code == 404
    assert client.get(f"/api/v1/coverages/{coverage.public_id}/").status_code == 404
    assert client.get(f"/api/v1/providers/{provider.public_id}/").status_code == 404


def test_user_without_grant_cannot_create_anywhere(user_no_grant, clinic_a):
    response = session_client(user_no_grant).post("/api/v1/patients/", {**PATIENT_BODY, "clinic": "alder"},
                                                  format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "clinic"
    assert not Patient.objects.exists()


def test_visible_but_read_only_record_is_403_on_write(make_user, patient_a):
    reader = make_user("reader")
    assign_perm("clinics.view_phi", reader, patient_a.clinic)
    client = session_client(reader)
    url = f"/api/v1/patients/{patient_a.public_id}/"

    assert client.get(url).status_code == 200
    assert client.patch(url, {"first_name": "Changed"}, format="json").status_code == 403
    patient_a.refresh_from_db()
    assert patient_a.first_name != "Changed"


def test_integer_keys_never_appear_in_responses(api_a, patient_a):
    body = api_a.get(f"/api/v1/patients/{patient_a.public_id}/").json()

    assert body["id"] == str(patient_a.public_id)
    assert body["clinic"] == "alder"
    assert str(patient_a.pk) not in {str(value) for value in body.values()}


def test_malformed_json_gets_the_same_error_shape(api_a):
    response = api_a.post("/api/v1/patients/", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


# --- pagination --------------------------------------------------------------------------------------------------

def walk(client, url, **params):
    """Every row of a cursor-paginated list, following `next`."""
    rows, response = [], client.get(url, params)
    while True:
        rows += response.json()["results"]
        if not response.json()["next"]:
            return rows
        response = client.get(response.json()["next"])


def test_cursor_pages_return_every_patient_once(api_a, clinic_a):
    made = {str(factories.PatientFactory(clinic=clinic_a).public_id) for _ in range(5)}

    rows = walk(api_a, "/api/v1/patients/", page_size=2)

    assert [row["id"] for row in rows if row["id"] in made] == [row["id"] for row in rows]
    assert sorted(row["id"] for row in rows) == sorted(made)


def test_cursor_pages_handle_equal_ordering_values(api_a, clinic_a, payer):
    made = {str(factories.CoverageFactory(patient=factories.PatientFactory(clinic=clinic_a), payer=payer).public_id)
            for _ in range(5)}

    rows = walk(api_a, "/api/v1/coverages/", page_size=2)

    assert sorted(row["id"] for row in rows) == sorted(made)


# --- patients ----------------------------------------------------------------------------------------------------

def test_token_creates_a_patient_in_its_own_clinic(api_a, clinic_a):
    response = api_a.post("/api/v1/patients/", PATIENT_BODY, format="json")

    assert response.status_code == 201, response.json()
    patient = Patient.objects.get(public_id=response.json()["id"])
    assert patient.clinic == clinic_a
    assert patient.mrn == "A-1001"


def test_token_naming_another_clinic_is_refused(api_a, clinic_b):
    response = api_a.post("/api/v1/patients/", {**PATIENT_BODY, "clinic": "birch"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "clinic"
    assert not Patient.objects.exists()


def test_session_user_must_name_the_clinic(user_a):
    response = session_client(user_a).post("/api/v1/patients/", PATIENT_BODY, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "required", "field": "clinic",
                                        "message": "Give the slug of the clinic this record belongs to."}


def test_session_user_cannot_create_in_a_foreign_clinic(user_a, clinic_b):
    response = session_client(user_a).post("/api/v1/patients/", {**PATIENT_BODY, "clinic": "birch"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "clinic"
    assert response.json()["error"]["message"] == "No clinic 'birch' that you may enter records for."
    assert not Patient.objects.filter(clinic=clinic_b).exists()


def test_session_user_creates_a_patient_in_the_named_clinic(user_a, clinic_a):
    response = session_client(user_a).post("/api/v1/patients/", {**PATIENT_BODY, "clinic": "alder"}, format="json")

    assert response.status_code == 201
    assert Patient.objects.get(public_id=response.json()["id"]).clinic == clinic_a


def test_bad_patient_fields_are_named_in_one_error(api_a):
    response = api_a.post("/api/v1/patients/", {**PATIENT_BODY, "state": "Oregon", "date_of_birth": "10/12/1948"},
                          format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert {detail["field"] for detail in error["details"]} == {"state", "date_of_birth"}
    assert not Patient.objects.exists()


def test_duplicate_mrn_in_the_same_clinic_is_refused_by_the_model_check(api_a, patient_a):
    response = api_a.post("/api/v1/patients/", {**PATIENT_BODY, "mrn": patient_a.mrn}, format="json")

    assert response.status_code == 400
    assert "already exists" in response.json()["error"]["message"]
    assert Patient.objects.filter(mrn=patient_a.mrn).count() == 1


def test_same_mrn_in_another_clinic_is_fine(api_a, patient_b):
    response = api_a.post("/api/v1/patients/", {**PATIENT_BODY, "mrn": patient_b.mrn}, format="json")

    assert response.status_code == 201


def test_patch_updates_a_patient_through_the_service(api_a, patient_a):
    response = api_a.patch(f"/api/v1/patients/{patient_a.public_id}/", {"phone": "503-555-0100"}, format="json")

    assert response.status_code == 200
    patient_a.refresh_from_db()
    assert patient_a.phone == "503-555-0100"


def test_a_patient_cannot_move_to_another_clinic(user_a, make_user, clinic_b, patient_a):
    client = session_client(make_user("both", "biller", patient_a.clinic, "biller", clinic_b))

    response = client.patch(f"/api/v1/patients/{patient_a.public_id}/", {"clinic": "birch"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "clinic"
    patient_a.refresh_from_db()
    assert patient_a.clinic.slug == "alder"


def test_patients_are_filtered_by_mrn(api_a, patient_a, clinic_a):
    factories.PatientFactory(clinic=clinic_a)

    assert ids(api_a.get("/api/v1/patients/", {"mrn": patient_a.mrn})) == {str(patient_a.public_id)}


def test_patients_cannot_be_deleted(api_a, patient_a):
    assert api_a.delete(f"/api/v1/patients/{patient_a.public_id}/").status_code == 405
    assert Patient.objects.filter(pk=patient_a.pk).exists()


# --- coverages ---------------------------------------------------------------------------------------------------

def coverage_body(patient, payer, **extra):
    return {"patient": str(patient.public_id), "payer": str(payer.public_id), "member_id": "XYZ123456",
            "effective_from": "2026-01-01", **extra}


def test_token_creates_a_coverage_for_its_patient(api_a, patient_a, payer):
    response = api_a.post("/api/v1/coverages/", coverage_body(patient_a, payer), format="json")

    assert response.status_code == 201, response.json()
    coverage = Coverage.objects.get(public_id=response.json()["id"])
    assert (coverage.clinic, coverage.patient, coverage.payer) == (patient_a.clinic, patient_a, payer)
    assert response.json()["patient"] == str(patient_a.public_id)


def test_coverage_for_another_clinics_patient_is_refused(api_a, patient_b, payer):
    response = api_a.post("/api/v1/coverages/", coverage_body(patient_b, payer), format="json")

    assert response.status_code == 400
    assert response.json()["error"] == {"code": "not_found", "field": "patient",
                                        "message": "No such patient in this clinic."}
    assert not Coverage.objects.exists()


def test_unknown_payer_and_foreign_patient_are_reported_together(api_a, patient_b, payer):
    body = {**coverage_body(patient_b, payer), "payer": str(uuid.uuid4())}

    response = api_a.post("/api/v1/coverages/", body, format="json")

    assert response.status_code == 400
    assert {d["field"] for d in response.json()["error"]["details"]} == {"patient", "payer"}


def test_coverage_model_rules_come_back_as_field_errors(api_a, patient_a, payer):
    body = coverage_body(patient_a, payer, relationship="01", effective_to="2025-12-31")

    response = api_a.post("/api/v1/coverages/", body, format="json")

    assert response.status_code == 400
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert {"effective_to", "subscriber_first_name", "subscriber_last_name"} <= fields
    assert not Coverage.objects.exists()


def test_coverages_are_filtered_by_patient(api_a, patient_a, clinic_a, payer):
    mine = factories.CoverageFactory(patient=patient_a, payer=payer)
    factories.CoverageFactory(patient=factories.PatientFactory(clinic=clinic_a), payer=payer)

    response = api_a.get("/api/v1/coverages/", {"patient": str(patient_a.public_id)})

    assert ids(response) == {str(mine.public_id)}


def test_coverage_of_clinic_b_is_404_for_clinic_a_token(api_a, patient_b, payer):
    coverage = factories.CoverageFactory(patient=patient_b, payer=payer)

    assert api_a.get(f"/api/v1/coverages/{coverage.public_id}/").status_code == 404
    assert api_a.get("/api/v1/coverages/").json()["results"] == []


def test_bad_filter_value_is_a_400_naming_the_filter(api_a):
    response = api_a.get("/api/v1/coverages/", {"patient": "nope"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "patient"


# --- providers and referrers -------------------------------------------------------------------------------------

def test_token_creates_and_updates_a_provider(api_a, clinic_a):
    body = {"first_name": "Olive", "last_name": "Oak", "credentials": "OTR/L", "npi": "1000000020"}

    created = api_a.post("/api/v1/providers/", body, format="json")
    assert created.status_code == 201, created.json()
    updated = api_a.patch(f"/api/v1/providers/{created.json()['id']}/", {"credentials": "OTD"}, format="json")

    assert updated.status_code == 200
    provider = Provider.objects.get(public_id=created.json()["id"])
    assert (provider.clinic, provider.credentials) == (clinic_a, "OTD")


def test_assistant_needs_a_supervising_therapist_of_the_same_clinic(api_a, clinic_b):
    foreign_ot = factories.ProviderFactory(clinic=clinic_b)
    body = {"kind": "OTA", "first_name": "Ann", "last_name": "Assist", "npi": "1000000004"}

    missing = api_a.post("/api/v1/providers/", body, format="json")
    foreign = api_a.post("/api/v1/providers/", {**body, "supervising_therapist": str(foreign_ot.public_id)},
                         format="json")

    assert missing.status_code == 400
    assert missing.json()["error"]["details"] == [{"field": "supervising_therapist",
                                                   "message": "An OTA needs a supervising OT."}]
    assert foreign.json()["error"] == {"code": "not_found", "field": "supervising_therapist",
                                       "message": "No such provider in this clinic."}
    assert not Provider.objects.filter(kind="OTA").exists()


def test_referring_providers_are_listed_and_created_per_clinic(api_a, clinic_a, clinic_b):
    factories.ReferringProviderFactory(clinic=clinic_b)

    created = api_a.post("/api/v1/referring-providers/",
                         {"first_name": "Rita", "last_name": "Ref", "npi": "1558598797"}, format="json")
    listed = api_a.get("/api/v1/referring-providers/")

    assert created.status_code == 201
    assert ids(listed) == {created.json()["id"]}
    assert ReferringProvider.objects.get(public_id=created.json()["id"]).clinic == clinic_a


# --- payers (global reference data) ------------------------------------------------------------------------------

def test_payers_are_readable_by_a_token_and_by_a_user_without_grant(api_a, user_no_grant, payer):
    for client in (api_a, session_client(user_no_grant)):
        listed = client.get("/api/v1/payers/")
        assert listed.status_code == 200
        assert [row["payer_id"] for row in listed.json()["results"]] == ["ACME1"]
        detail = client.get(f"/api/v1/payers/{payer.public_id}/")
        assert detail.json()["name"] == "Acme Health"


def test_payers_are_read_only(api_a, payer):
    assert api_a.post("/api/v1/payers/", {"name": "New"}, format="json").status_code == 405
    assert api_a.patch(f"/api/v1/payers/{payer.public_id}/", {"name": "X"}, format="json").status_code == 405


# --- PHI read logging --------------------------------------------------------------------------------------------

def test_patient_list_and_retrieve_write_access_log_rows(api_a, token_a, patient_a, patient_b):
    api_a.get("/api/v1/patients/")
    api_a.get(f"/api/v1/patients/{patient_a.public_id}/")

    rows = AccessLogEntry.objects.filter(object_type="patient").order_by("at")
    assert [(r.action, r.object_id, r.clinic_id, r.user_id) for r in rows] == [
        ("api", str(patient_a.public_id), patient_a.clinic_id, token_a[0].service_user_id)] * 2
    assert rows[1].path == f"/api/v1/patients/{patient_a.public_id}/"


def test_coverage_reads_write_access_log_rows(api_a, patient_a, payer):
    coverage = factories.CoverageFactory(patient=patient_a, payer=payer)

    api_a.get("/api/v1/coverages/")
    api_a.get(f"/api/v1/coverages/{coverage.public_id}/")

    assert AccessLogEntry.objects.filter(object_type="coverage", object_id=str(coverage.public_id),
                                         action="api").count() == 2


def test_refused_reads_write_no_access_log_rows(api_a, patient_b):
    api_a.get(f"/api/v1/patients/{patient_b.public_id}/")

    assert not AccessLogEntry.objects.exists()


# --- OpenAPI -----------------------------------------------------------------------------------------------------

def test_schema_lists_every_resource_for_a_signed_in_user(client_a):
    response = client_a.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ("/api/v1/patients/", "/api/v1/patients/{id}/", "/api/v1/coverages/", "/api/v1/providers/{id}/",
                 "/api/v1/referring-providers/", "/api/v1/payers/", "/api/v1/visits/", "/api/v1/visits/{id}/",
                 "/api/v1/plans-of-care/"):
        assert path in paths
    assert "delete" not in paths["/api/v1/patients/{id}/"]


def test_schema_is_not_public(db):
    assert APIClient().get("/api/schema/").status_code in (401, 403)


def test_schema_generates_without_warnings_and_validates(db, tmp_path):
    out = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=io.StringIO())

    assert "/api/v1/visits/" in out.read_text()
