"""Browser views of the clinics app: scoping, the clinic switcher, record forms and the access-log page."""

import datetime

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from clinics.current import SESSION_KEY
from clinics.models import (
    AccessLogEntry,
    Clinic,
    Coverage,
    Patient,
    Provider,
    ProviderKind,
    ReferringProvider,
    RoleGrant,
)
from otbilling.tenancy import VIEW_PHI, Role, user_has_clinic_perm
from tests import factories
from visits.models import PlanOfCare, Visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient_a(clinic_a):
    return factories.PatientFactory(clinic=clinic_a, first_name="Ada", last_name="Zebulonquist", mrn="A-100")


@pytest.fixture
def patient_b(clinic_b):
    return factories.PatientFactory(clinic=clinic_b, first_name="Bea", last_name="Birchwood", mrn="B-200")


@pytest.fixture
def client_b(client, user_b):
    client.force_login(user_b)
    return client


@pytest.fixture
def two_clinic_biller(make_user, clinic_a, clinic_b):
    return make_user("biller_ab", Role.BILLER, clinic_a, Role.BILLER, clinic_b)


def patient_form_data(**overrides):
    data = {"first_name": "Nia", "last_name": "Newcomer", "mrn": "N-1", "date_of_birth": "1961-05-06", "sex": "F",
            "phone": "", "address_line1": "5 Oak St", "address_line2": "", "city": "Salem", "state": "or",
            "zip_code": "97301"}
    data.update(overrides)
    return data


# --- patients ---------------------------------------------------------------------------------------------------


def test_patient_list_shows_only_the_users_clinics_patients(client_a, patient_a, patient_b):
    response = client_a.get(reverse("patient-list"))
    assert response.status_code == 200
    assert "Zebulonquist" in response.content.decode()
    assert "Birchwood" not in response.content.decode()


def test_patient_list_search_matches_name_or_mrn(client_a, clinic_a, patient_a):
    factories.PatientFactory(clinic=clinic_a, first_name="Otto", last_name="Other", mrn="A-101")
    by_name = client_a.get(reverse("patient-list"), {"q": "zebul"}).content.decode()
    by_mrn = client_a.get(reverse("patient-list"), {"q": "a-101"}).content.decode()
    assert "Zebulonquist" in by_name and "Other" not in by_name
    assert "Other" in by_mrn and "Zebulonquist" not in by_mrn


def test_patient_list_is_written_to_the_access_log_without_an_object_id(client_a, user_a, patient_a):
    client_a.get(reverse("patient-list"))
    entry = AccessLogEntry.objects.get(action="list")
    assert (entry.user, entry.object_type, entry.object_id) == (user_a, "patient", "")


def test_patient_list_needs_login(client):
    response = client.get(reverse("patient-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_grant_sees_no_patients(client, user_no_grant, patient_a):
    client.force_login(user_no_grant)
    assert "Zebulonquist" not in client.get(reverse("patient-list")).content.decode()


def test_patient_detail_shows_demographics_and_coverage(client_a, patient_a, payer):
    factories.CoverageFactory(patient=patient_a, payer=payer, member_id="MEM-777")
    response = client_a.get(reverse("patient-detail", args=[patient_a.public_id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Zebulonquist" in body and "MEM-777" in body and "Acme Health" in body


def test_patient_detail_of_another_clinic_is_404(client_b, patient_a):
    assert client_b.get(reverse("patient-detail", args=[patient_a.public_id])).status_code == 404


def test_patient_detail_writes_a_view_entry_with_user_path_and_ip(client_a, user_a, patient_a):
    url = reverse("patient-detail", args=[patient_a.public_id])
    client_a.get(url, REMOTE_ADDR="203.0.113.9")
    entry = AccessLogEntry.objects.get(action="view")
    assert entry.user == user_a
    assert entry.object_id == str(patient_a.public_id)
    assert entry.path == url
    assert entry.ip_address == "203.0.113.9"
    assert entry.clinic == patient_a.clinic


def test_patient_create_goes_to_the_users_only_clinic(client_a, clinic_a):
    assert 'id="id_clinic"' not in client_a.get(reverse("patient-create")).content.decode()
    client_a.post(reverse("patient-create"), patient_form_data())
    assert Patient.objects.get(mrn="N-1").clinic == clinic_a


def test_patient_create_uses_the_switcher_clinic(client, two_clinic_biller, clinic_a):
    client_a = client
    client_a.force_login(two_clinic_biller)
    session = client_a.session
    session[SESSION_KEY] = str(clinic_a.public_id)
    session.save()
    response = client_a.post(reverse("patient-create"), patient_form_data())
    patient = Patient.objects.get(mrn="N-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("patient-detail", args=[patient.public_id])
    assert patient.clinic == clinic_a
    assert patient.state == "OR"


def test_patient_create_asks_which_clinic_when_the_switcher_is_on_all(client, two_clinic_biller, clinic_b):
    client.force_login(two_clinic_biller)
    form_page = client.get(reverse("patient-create")).content.decode()
    assert 'id="id_clinic"' in form_page
    missing = client.post(reverse("patient-create"), patient_form_data())
    assert missing.status_code == 200
    assert "This field is required." in missing.content.decode()
    assert not Patient.objects.filter(mrn="N-1").exists()
    client.post(reverse("patient-create"), patient_form_data(clinic=str(clinic_b.public_id)))
    assert Patient.objects.get(mrn="N-1").clinic == clinic_b


def test_patient_create_refuses_a_clinic_without_a_grant(client, make_user, clinic_a, clinic_b):
    clinic_c = factories.ClinicFactory(legal_name="Cedar OT", slug="cedar")
    client.force_login(make_user("biller_ac", Role.BILLER, clinic_a, Role.BILLER, clinic_c))
    response = client.post(reverse("patient-create"), patient_form_data(clinic=str(clinic_b.public_id)))
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Patient.objects.filter(mrn="N-1").exists()


def test_patient_create_shows_a_model_error_beside_the_field(client_a):
    response = client_a.post(reverse("patient-create"), patient_form_data(zip_code="1234"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'class="field-error"' in body
    assert not Patient.objects.filter(mrn="N-1").exists()


def test_patient_create_reports_a_duplicate_mrn(client_a, patient_a):
    response = client_a.post(reverse("patient-create"), patient_form_data(mrn="A-100"))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert Patient.objects.filter(mrn="A-100").count() == 1


def test_patient_edit_saves_changes(client_a, patient_a):
    data = patient_form_data(first_name="Adaline", last_name="Zebulonquist", mrn="A-100")
    response = client_a.post(reverse("patient-edit", args=[patient_a.public_id]), data)
    assert response.status_code == 302
    patient_a.refresh_from_db()
    assert patient_a.first_name == "Adaline"


def test_patient_edit_of_another_clinic_is_404(client_b, patient_a):
    url = reverse("patient-edit", args=[patient_a.public_id])
    assert client_b.get(url).status_code == 404
    assert client_b.post(url, patient_form_data()).status_code == 404


# --- coverages --------------------------------------------------------------------------------------------------


def coverage_form_data(payer, **overrides):
    data = {"payer": payer.pk, "priority": "primary", "member_id": "XYZ123", "group_number": "",
            "effective_from": "2026-01-01", "effective_to": "", "relationship": "18",
            "subscriber_first_name": "", "subscriber_last_name": "", "subscriber_date_of_birth": "",
            "subscriber_sex": ""}
    data.update(overrides)
    return data


def test_coverage_create_adds_coverage_to_the_patient(client_a, patient_a, payer):
    response = client_a.post(reverse("coverage-create", args=[patient_a.public_id]), coverage_form_data(payer))
    assert response.status_code == 302
    coverage = Coverage.objects.get(member_id="XYZ123")
    assert (coverage.patient, coverage.clinic) == (patient_a, patient_a.clinic)


def test_coverage_create_requires_subscriber_when_patient_is_not_subscriber(client_a, patient_a, payer):
    response = client_a.post(reverse("coverage-create", args=[patient_a.public_id]),
                             coverage_form_data(payer, relationship="01"))
    assert "Required when the patient is not the subscriber." in response.content.decode()
    assert not Coverage.objects.exists()


def test_coverage_create_for_another_clinics_patient_is_404(client_b, patient_a, payer):
    response = client_b.post(reverse("coverage-create", args=[patient_a.public_id]), coverage_form_data(payer))
    assert response.status_code == 404
    assert not Coverage.objects.exists()


def test_coverage_edit_of_another_clinic_is_404(client_b, patient_a, payer):
    coverage = factories.CoverageFactory(patient=patient_a, payer=payer)
    assert client_b.get(reverse("coverage-edit", args=[coverage.public_id])).status_code == 404


def test_coverage_edit_saves_the_end_date(client_a, patient_a, payer):
    coverage = factories.CoverageFactory(patient=patient_a, payer=payer, member_id="OLD1")
    data = coverage_form_data(payer, member_id="OLD1", effective_from="2020-01-01", effective_to="2026-06-30")
    assert client_a.post(reverse("coverage-edit", args=[coverage.public_id]), data).status_code == 302
    coverage.refresh_from_db()
    assert coverage.effective_to == datetime.date(2026, 6, 30)


# --- plans of care (entered from the patient page) ---------------------------------------------------------------


def test_plan_of_care_create_validates_diagnoses_and_saves(client_a, patient_a):
    url = reverse("plan-of-care-create", args=[patient_a.public_id])
    data = {"start_date": "2026-10-01", "certified_through": "2026-12-29", "certification_signed_date": "",
            "certifier_name": "Dr. Rita", "certifier_npi": "", "frequency": "2x/week", "duration": "12 weeks",
            "goals": "Dress independently.", "diagnoses": "M62.81, Z99"}
    bad = client_a.post(url, data)
    assert "Z99 is a category header" in bad.content.decode()
    assert not PlanOfCare.objects.exists()
    assert client_a.post(url, {**data, "diagnoses": "m6281, R26.89"}).status_code == 302
    assert PlanOfCare.objects.get().diagnoses == ["M62.81", "R26.89"]


def test_plan_of_care_create_for_another_clinics_patient_is_404(client_b, patient_a):
    assert client_b.get(reverse("plan-of-care-create", args=[patient_a.public_id])).status_code == 404


# --- providers --------------------------------------------------------------------------------------------------


def provider_form_data(**overrides):
    data = {"kind": "OT", "first_name": "Theo", "last_name": "Therapist", "credentials": "OTR/L",
            "npi": "1000000103", "taxonomy": "225X00000X", "supervising_therapist": "", "is_active": "on"}
    data.update(overrides)
    return data


def test_provider_list_shows_only_the_users_clinics(client_a, clinic_a, clinic_b):
    factories.ProviderFactory(clinic=clinic_a, last_name="Alderman")
    factories.ProviderFactory(clinic=clinic_b, last_name="Birchman")
    body = client_a.get(reverse("provider-list")).content.decode()
    assert "Alderman" in body and "Birchman" not in body


def test_ota_needs_a_supervising_ot_of_the_same_clinic(client_a, clinic_a, clinic_b):
    own_ot = factories.ProviderFactory(clinic=clinic_a)
    other_ot = factories.ProviderFactory(clinic=clinic_b)
    url = reverse("provider-create")
    data = provider_form_data(kind="OTA", taxonomy="224Z00000X", clinic=str(clinic_a.public_id))
    missing = client_a.post(url, data)
    assert "An OTA needs a supervising OT." in missing.content.decode()
    foreign = client_a.post(url, {**data, "supervising_therapist": str(other_ot.public_id)})
    assert "Select a valid choice" in foreign.content.decode()
    assert not Provider.objects.filter(kind=ProviderKind.ASSISTANT).exists()
    ok = client_a.post(url, {**data, "supervising_therapist": str(own_ot.public_id)})
    assert ok.status_code == 302
    assert Provider.objects.get(kind=ProviderKind.ASSISTANT).supervising_therapist == own_ot


def test_provider_edit_shows_the_current_supervisor(client_a, clinic_a):
    supervisor = factories.ProviderFactory(clinic=clinic_a)
    assistant = factories.ProviderFactory(clinic=clinic_a, kind=ProviderKind.ASSISTANT, taxonomy="224Z00000X",
                                          supervising_therapist=supervisor)
    response = client_a.get(reverse("provider-edit", args=[assistant.public_id]))
    assert f'<option value="{supervisor.public_id}" selected>' in response.content.decode()


def test_provider_edit_of_another_clinic_is_404(client_b, clinic_a):
    provider = factories.ProviderFactory(clinic=clinic_a)
    assert client_b.get(reverse("provider-edit", args=[provider.public_id])).status_code == 404


def test_referring_provider_create_and_list(client_a, clinic_a, clinic_b):
    factories.ReferringProviderFactory(clinic=clinic_b, last_name="Outsider")
    response = client_a.post(reverse("referring-provider-create"),
                             {"first_name": "Rae", "last_name": "Referson", "npi": "1000000111"})
    assert response.status_code == 302
    assert ReferringProvider.objects.get(last_name="Referson").clinic == clinic_a
    body = client_a.get(reverse("referring-provider-list")).content.decode()
    assert "Referson" in body and "Outsider" not in body


# --- clinic switcher --------------------------------------------------------------------------------------------


def test_clinic_switcher_narrows_the_lists(client, two_clinic_biller, clinic_a, patient_a, patient_b):
    client.force_login(two_clinic_biller)
    both = client.get(reverse("patient-list")).content.decode()
    assert "Zebulonquist" in both and "Birchwood" in both
    response = client.post(reverse("clinic-switch"), {"clinic": str(clinic_a.public_id), "next": "/patients/"})
    assert response.status_code == 302 and response["Location"] == "/patients/"
    only_a = client.get(reverse("patient-list")).content.decode()
    assert "Zebulonquist" in only_a and "Birchwood" not in only_a
    client.post(reverse("clinic-switch"), {"clinic": "all"})
    assert client.session.get(SESSION_KEY) is None


def test_clinic_switcher_refuses_a_clinic_without_a_grant(client_a, clinic_a, clinic_b):
    client_a.post(reverse("clinic-switch"), {"clinic": str(clinic_a.public_id)})
    response = client_a.post(reverse("clinic-switch"), {"clinic": str(clinic_b.public_id)})
    assert response.status_code == 404
    assert client_a.session[SESSION_KEY] == str(clinic_a.public_id)


def test_clinic_switcher_ignores_an_offsite_next(client_a, clinic_a):
    response = client_a.post(reverse("clinic-switch"),
                             {"clinic": str(clinic_a.public_id), "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_clinic_switcher_answers_htmx_with_a_client_redirect(client_a, clinic_a):
    response = client_a.post(reverse("clinic-switch"), {"clinic": str(clinic_a.public_id), "next": "/visits/"},
                             HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/visits/"


def test_clinic_switcher_rejects_get(client_a):
    assert client_a.get(reverse("clinic-switch")).status_code == 405


# --- navigation and dashboard -----------------------------------------------------------------------------------


def test_dashboard_counts_only_visible_records(client_a, clinic_a, clinic_b, patient_a, patient_b):
    factories.VisitFactory(patient=patient_b)
    response = client_a.get(reverse("home"))
    assert response.status_code == 200
    assert response.context["patient_count"] == 1
    assert response.context["draft_count"] == 0


def test_navigation_hides_operator_links_from_clinic_users(client_a):
    body = client_a.get(reverse("home")).content.decode()
    assert reverse("patient-list") in body and reverse("visit-list") in body
    assert reverse("access-log") not in body


def test_navigation_shows_operator_links_to_staff(client, make_user, clinic_a):
    operator = make_user("operator", Role.OPERATOR_ADMIN, clinic_a, staff=True)
    client.force_login(operator)
    body = client.get(reverse("home")).content.decode()
    assert reverse("access-log") in body and reverse("admin:index") in body


# --- access log page --------------------------------------------------------------------------------------------


def test_access_log_is_forbidden_to_clinic_users(client_a):
    assert client_a.get(reverse("access-log")).status_code == 403


def test_access_log_filters_by_user_and_action(client, make_user, clinic_a, user_a, patient_a):
    client.force_login(user_a)
    client.get(reverse("patient-detail", args=[patient_a.public_id]))
    client.get(reverse("patient-list"))
    operator = make_user("operator", Role.OPERATOR_ADMIN, clinic_a, staff=True)
    client.force_login(operator)
    response = client.get(reverse("access-log"), {"user": "biller_a", "action": "view"})
    assert response.status_code == 200
    entries = list(response.context["page"].object_list)
    assert [(e.username, e.action) for e in entries] == [("biller_a", "view")]
    today = timezone.now().date().isoformat()
    in_range = client.get(reverse("access-log"), {"date_from": today, "date_to": today})
    assert in_range.context["page"].paginator.count == 2
    of_clinic = client.get(reverse("access-log"), {"clinic": clinic_a.slug})
    assert [e.action for e in of_clinic.context["page"].object_list] == ["view"]  # the list was across clinics
    empty = client.get(reverse("access-log"), {"date_to": "2000-01-01"})
    assert empty.context["page"].paginator.count == 0


# --- Django admin (operators) -----------------------------------------------------------------------------------


@pytest.fixture
def operator_client(client):
    client.force_login(factories.UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def test_admin_registers_no_phi_models():
    registered = set(admin.site._registry)
    assert not registered & {Patient, Coverage, Visit, PlanOfCare}


def test_admin_creates_a_clinic_through_the_service(operator_client):
    response = operator_client.post("/admin/clinics/clinic/add/", {
        "legal_name": "Cedar Hand OT", "slug": "cedar", "billing_npi": "1234567893", "ein": "12-3456789",
        "taxonomy": "225X00000X", "address_line1": "1 Cedar Way", "address_line2": "", "city": "Eugene",
        "state": "OR", "zip_code": "974011234", "timezone": "America/Los_Angeles", "contact_name": "",
        "contact_phone": "", "contact_email": "", "is_active": "on",
    })
    assert response.status_code == 302
    clinic = Clinic.objects.get(slug="cedar")
    assert clinic.ein == "123456789"
    assert RoleGrant.objects.filter(clinic=clinic, user__username="root", role=Role.OPERATOR_ADMIN).exists()


def test_admin_grant_and_revoke_keep_object_permissions_in_sync(operator_client, clinic_a, user_no_grant):
    response = operator_client.post("/admin/clinics/rolegrant/add/",
                                    {"clinic": clinic_a.pk, "user": user_no_grant.pk, "role": Role.CLINIC_STAFF})
    assert response.status_code == 302
    grant = RoleGrant.objects.get(user=user_no_grant)
    assert grant.granted_by.username == "root"
    assert user_has_clinic_perm(user_no_grant, clinic_a, VIEW_PHI)
    response = operator_client.post(f"/admin/clinics/rolegrant/{grant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not RoleGrant.objects.filter(user=user_no_grant).exists()
    assert not user_has_clinic_perm(user_no_grant, clinic_a, VIEW_PHI)


def test_admin_access_log_is_read_only(operator_client):
    entry = AccessLogEntry.objects.create(username="someone", action="view", object_type="patient", path="/x/")
    assert operator_client.get("/admin/clinics/accesslogentry/").status_code == 200
    assert operator_client.get("/admin/clinics/accesslogentry/add/").status_code == 403
    operator_client.post(f"/admin/clinics/accesslogentry/{entry.pk}/delete/", {"post": "yes"})
    assert AccessLogEntry.objects.filter(pk=entry.pk).exists()
