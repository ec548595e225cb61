"""Authorization screens: record/edit/cancel, burn-down page, patient panel, renewal worklist and its CSV,
and another clinic's objects answering 404."""

import csv
import datetime
import io

import pytest
from django.template.loader import render_to_string
from django.urls import include, path, reverse
from django.utils import timezone

from clinics.current import SESSION_KEY
from eligibility.models import AuthStatus, PriorAuthorization
from otbilling.tenancy import Role
from tests import factories
from tests.eligibility.test_authorizations import make_auth, make_visit

# Until the lead wires eligibility.urls_auth into otbilling/urls.py these tests use this URLconf (harmless after).
urlpatterns = [path("", include("otbilling.urls")), path("", include("eligibility.urls_auth"))]
pytestmark = pytest.mark.urls(__name__)

TODAY = timezone.localdate()


@pytest.fixture
def world(visit_setup, clinic_b, payer):
    """Clinic A's patient with an auth that runs low, clinic B's patient with one that expires."""
    coverage_a = visit_setup["coverage"]
    auth_a = make_auth(coverage_a, number="A-LOW", start=TODAY - datetime.timedelta(days=20),
                       end=TODAY + datetime.timedelta(days=60), visits=3, codes=[("97530", 12)])
    make_visit(visit_setup, TODAY - datetime.timedelta(days=10), {"97530": 2})
    make_visit(visit_setup, TODAY - datetime.timedelta(days=3), {"97530": 2})
    patient_b = factories.PatientFactory(clinic=clinic_b, last_name="Birchwood")
    coverage_b = factories.CoverageFactory(patient=patient_b, payer=payer)
    auth_b = make_auth(coverage_b, number="B-EXP", start=TODAY - datetime.timedelta(days=20),
                       end=TODAY + datetime.timedelta(days=2))
    return {"auth_a": auth_a, "auth_b": auth_b, "coverage_a": coverage_a, "coverage_b": coverage_b,
            "patient_a": visit_setup["patient"], "patient_b": patient_b}


def form_data(**overrides):
    data = {
        "number": "PA-NEW-1", "status": AuthStatus.APPROVED, "start_date": f"{TODAY:%Y-%m-%d}",
        "end_date": f"{TODAY + datetime.timedelta(days=89):%Y-%m-%d}", "visits_authorized": "12",
        "units_authorized": "", "notes": "Phone approval, ref 55.",
        "codes-TOTAL_FORMS": "3", "codes-INITIAL_FORMS": "0", "codes-MIN_NUM_FORMS": "0", "codes-MAX_NUM_FORMS": "20",
        "codes-0-cpt": "97530", "codes-0-units": "24", "codes-1-cpt": "", "codes-1-units": "",
        "codes-2-cpt": "", "codes-2-units": "",
    }
    data.update(overrides)
    return data


# --- record, edit, cancel ------------------------------------------------------------------------------------


def test_recording_an_authorization_saves_it_with_its_codes(client_a, world):
    url = reverse("auth-create", kwargs={"public_id": world["coverage_a"].public_id})
    assert client_a.get(url).status_code == 200
    response = client_a.post(url, form_data())
    auth = PriorAuthorization.objects.get(number="PA-NEW-1")
    assert response.status_code == 302
    assert response["Location"] == reverse("auth-detail", kwargs={"public_id": auth.public_id})
    assert list(auth.codes.values_list("cpt", "units_authorized")) == [("97530", 24)]


def test_service_problems_show_beside_their_field_and_row_and_nothing_is_saved(client_a, world):
    url = reverse("auth-create", kwargs={"public_id": world["coverage_a"].public_id})
    response = client_a.post(url, form_data(number="A-LOW", **{"codes-0-cpt": "9753"}))
    assert response.status_code == 200
    form, formset = response.context["form"], response.context["formset"]
    assert form.errors["number"] == ["Authorization A-LOW is already recorded for this coverage."]
    assert formset.forms[0].errors["cpt"] == ["'9753' is not a 5-character CPT/HCPCS code."]
    assert not PriorAuthorization.objects.filter(notes__contains="ref 55").exists()


def test_a_code_row_without_units_is_refused_by_the_form(client_a, world):
    url = reverse("auth-create", kwargs={"public_id": world["coverage_a"].public_id})
    response = client_a.post(url, form_data(**{"codes-1-cpt": "97535"}))
    assert response.context["formset"].forms[1].errors["units"] == [
        "Enter the units authorized for 97535, or clear the row."]
    assert not PriorAuthorization.objects.filter(number="PA-NEW-1").exists()


def test_editing_shows_the_codes_and_replaces_them(client_a, world):
    auth = world["auth_a"]
    url = reverse("auth-edit", kwargs={"public_id": auth.public_id})
    response = client_a.get(url)
    assert response.context["formset"].forms[0].initial == {"cpt": "97530", "units": 12}
    client_a.post(url, form_data(number="A-LOW", visits_authorized="6", **{"codes-0-cpt": "97535",
                                                                             "codes-0-units": "8"}))
    auth.refresh_from_db()
    assert auth.visits_authorized == 6
    assert list(auth.codes.values_list("cpt", "units_authorized")) == [("97535", 8)]


def test_cancelling_needs_a_reason(client_a, world):
    auth = world["auth_a"]
    url = reverse("auth-cancel", kwargs={"public_id": auth.public_id})
    client_a.post(url, {"reason": ""})
    auth.refresh_from_db()
    assert auth.status == AuthStatus.APPROVED
    client_a.post(url, {"reason": "Payer withdrew it"})
    auth.refresh_from_db()
    assert auth.status == AuthStatus.CANCELLED and "Payer withdrew it" in auth.notes


def test_a_reader_without_edit_rights_cannot_record(client, world, make_user, clinic_a):
    from guardian.shortcuts import assign_perm

    reader = make_user("reader_a")
    assign_perm("clinics.view_phi", reader, clinic_a)  # read-only: no role bundles view_phi alone
    client.force_login(reader)
    url = reverse("auth-create", kwargs={"public_id": world["coverage_a"].public_id})
    assert client.get(url).status_code == 403
    assert client.get(reverse("auth-detail", kwargs={"public_id": world["auth_a"].public_id})).status_code == 200


# --- burn-down page and patient panel ------------------------------------------------------------------------


def test_the_detail_page_shows_the_burn_down_and_the_sessions(client_a, world):
    response = client_a.get(reverse("auth-detail", kwargs={"public_id": world["auth_a"].public_id}))
    html = response.content.decode()
    assert response.status_code == 200
    assert [b.text for b in response.context["bars"]] == ["2 of 3 visits used · 1 left",
                                                          "4 of 12 units used · 8 left"]
    assert '<progress max="3" value="2"' in html
    assert "Visits low" in html and "1 visit left of 3." in html
    assert len(response.context["visit_rows"]) == 2


def test_the_patient_panel_loads_through_htmx_with_bars(client_a, world):
    url = reverse("patient-auths", kwargs={"public_id": world["patient_a"].public_id})
    response = client_a.get(url, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="patient-auths"' in html and "A-LOW" in html and "<progress" in html
    assert "hx-get" not in html  # the loaded panel does not load itself again
    assert "<html" not in html
    assert "<html" in client_a.get(url).content.decode()  # without JavaScript: a page of its own


def test_the_panel_included_in_the_patient_page_asks_for_its_content(world):
    html = render_to_string("eligibility/_patient_auths.html", {"patient": world["patient_a"]})
    url = reverse("patient-auths", kwargs={"public_id": world["patient_a"].public_id})
    assert f'hx-get="{url}"' in html and 'hx-trigger="load"' in html


def test_the_coverage_list_shows_every_status(client_a, world):
    make_auth(world["coverage_a"], number="A-DENIED", status=AuthStatus.DENIED)
    response = client_a.get(reverse("auth-list", kwargs={"public_id": world["coverage_a"].public_id}))
    numbers = [row["authorization"].number for row in response.context["rows"]]
    assert sorted(numbers) == ["A-DENIED", "A-LOW"]


# --- cross-clinic: another clinic's objects are 404 ----------------------------------------------------------


@pytest.mark.parametrize("name, key", [
    ("auth-detail", "auth_b"), ("auth-edit", "auth_b"), ("auth-cancel", "auth_b"),
    ("auth-create", "coverage_b"), ("auth-list", "coverage_b"), ("patient-auths", "patient_b"),
])
def test_another_clinics_objects_answer_404(client_a, world, name, key):
    url = reverse(name, kwargs={"public_id": world[key].public_id})
    assert client_a.get(url).status_code in (404, 405)
    assert client_a.post(url, form_data(number="HACK")).status_code == 404
    assert not PriorAuthorization.objects.filter(number="HACK").exists()
    assert PriorAuthorization.objects.get(pk=world["auth_b"].pk).status == AuthStatus.APPROVED


@pytest.mark.parametrize("name, key", [("auth-detail", "auth_a"), ("auth-create", "coverage_a"),
                                       ("patient-auths", "patient_a")])
def test_a_user_without_any_grant_gets_404(client, user_no_grant, world, name, key):
    client.force_login(user_no_grant)
    assert client.get(reverse(name, kwargs={"public_id": world[key].public_id})).status_code == 404


def test_an_auth_id_in_a_coverage_route_is_404(client_a, world):
    assert client_a.get(reverse("auth-create", kwargs={"public_id": world["auth_a"].public_id})).status_code == 404


# --- the renewal worklist and its CSV ------------------------------------------------------------------------


def worklist_numbers(response):
    return [alert.authorization.number for alert in response.context["page"].object_list]


def test_the_worklist_shows_only_the_users_clinics(client_a, world):
    response = client_a.get(reverse("auth-worklist"))
    assert response.status_code == 200
    assert worklist_numbers(response) == ["A-LOW"]
    assert "Birchwood" not in response.content.decode()


@pytest.fixture
def two_clinic_biller(make_user, clinic_a, clinic_b, client):
    user = make_user("biller_ab", Role.BILLER, clinic_a, Role.BILLER, clinic_b)
    client.force_login(user)
    return client


def test_the_worklist_filters_by_clinic_payer_and_reason(two_clinic_biller, world, clinic_b):
    url = reverse("auth-worklist")
    assert worklist_numbers(two_clinic_biller.get(url)) == ["B-EXP", "A-LOW"]  # soonest expiry first
    assert worklist_numbers(two_clinic_biller.get(url, {"clinic": clinic_b.public_id})) == ["B-EXP"]
    assert worklist_numbers(two_clinic_biller.get(url, {"reason": "visits_low"})) == ["A-LOW"]
    assert worklist_numbers(two_clinic_biller.get(url, {"reason": "expiring"})) == ["B-EXP"]
    assert worklist_numbers(two_clinic_biller.get(url, {"reason": "exhausted"})) == []
    other_payer = factories.PayerFactory(name="Other Payer")
    assert worklist_numbers(two_clinic_biller.get(url, {"payer": other_payer.public_id})) == []
    assert worklist_numbers(two_clinic_biller.get(url, {"sort": "-expiry"})) == ["A-LOW", "B-EXP"]


def test_the_worklist_follows_the_clinic_switcher(two_clinic_biller, world, clinic_b):
    session = two_clinic_biller.session
    session[SESSION_KEY] = str(clinic_b.public_id)
    session.save()
    assert worklist_numbers(two_clinic_biller.get(reverse("auth-worklist"))) == ["B-EXP"]


def test_htmx_gets_only_the_table(two_clinic_biller, world):
    response = two_clinic_biller.get(reverse("auth-worklist"), {"reason": "expiring"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and 'id="auth-worklist-table"' in html
    assert 'href="/eligibility/auths/worklist/csv/?reason=expiring"' in html


def test_a_clinic_filter_outside_the_users_clinics_is_refused(client_a, world, clinic_b):
    response = client_a.get(reverse("auth-worklist"), {"clinic": clinic_b.public_id})
    assert response.context["form"].errors["clinic"]
    assert "B-EXP" not in response.content.decode()


def read_csv(response):
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_csv_holds_exactly_what_is_on_screen(two_clinic_biller, world):
    response = two_clinic_biller.get(reverse("auth-worklist-csv"), {"reason": "visits_low"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = read_csv(response)
    assert rows[0][:6] == ["Clinic", "Patient", "MRN", "Payer", "Member ID", "Authorization"]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Authorization"] == "A-LOW"
    assert (row["Visits authorized"], row["Visits used"], row["Visits left"]) == ("3", "2", "1")
    assert row["Per code (used/authorized)"] == "97530 4/12"
    assert row["Reasons"] == "Visits low, Units low"  # 8 of its 12 code units left: fewer than 10
    assert row["Days to expiry"] == "60"
    all_rows = read_csv(two_clinic_biller.get(reverse("auth-worklist-csv")))
    assert [r[5] for r in all_rows[1:]] == ["B-EXP", "A-LOW"]


def test_the_csv_never_holds_another_clinics_rows(client_a, world):
    rows = read_csv(client_a.get(reverse("auth-worklist-csv")))
    assert [r[5] for r in rows[1:]] == ["A-LOW"]
    assert "Birchwood" not in str(rows)


def test_spreadsheet_formulas_are_defused_in_the_csv(client_a, world):
    PriorAuthorization.objects.filter(pk=world["auth_a"].pk).update(number="=HYPERLINK(1)")
    rows = read_csv(client_a.get(reverse("auth-worklist-csv")))
    assert rows[1][5] == "'=HYPERLINK(1)"


def test_anonymous_visitors_are_sent_to_log_in(client, world):
    for name in ("auth-worklist", "auth-worklist-csv"):
        assert client.get(reverse(name)).status_code == 302
