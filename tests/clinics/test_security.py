"""Security behaviour of the browser shell: log-in, lockout, idle timeout, hashing, CSRF, PHI access logging."""

import time

import pytest
from axes.utils import reset as axes_reset
from django.test import Client
from django.urls import reverse

from clinics.middleware import LAST_SEEN_KEY
from clinics.models import AccessLogEntry, Patient
from otbilling.settings import base as base_settings
from otbilling.tenancy import Role
from tests import factories
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_axes():
    """Failed-attempt counters live in the database and the cache; start and end every test clean."""
    axes_reset()
    yield
    axes_reset()


def log_in(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_with_the_right_password_reaches_the_dashboard(client, user_a):
    response = log_in(client, "biller_a", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home")).context["user"] == user_a


def test_login_with_a_wrong_password_shows_the_form_again(client, user_a):
    response = log_in(client, "biller_a", "wrong-password-1")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_six_wrong_passwords_lock_the_account(client, user_a):
    for _attempt in range(6):
        response = log_in(client, "biller_a", "wrong-password-1")
    assert "Account locked" in response.content.decode()
    locked = log_in(client, "biller_a", PASSWORD)  # even the right password is refused now
    assert "Account locked" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_idle_session_is_logged_out_after_fifteen_minutes(client, user_a):
    client.force_login(user_a)
    assert client.get(reverse("patient-list")).status_code == 200
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 901
    session.save()
    response = client.get(reverse("patient-list"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_an_active_session_stays_logged_in(client, user_a):
    client.force_login(user_a)
    session = client.session
    session[LAST_SEEN_KEY] = int(time.time()) - 600
    session.save()
    assert client.get(reverse("patient-list")).status_code == 200


def test_argon2_is_the_first_password_hasher():
    assert base_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_a_post_without_csrf_token_is_rejected(user_a, clinic_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_a)
    response = client.post(reverse("patient-create"), {
        "first_name": "Cee", "last_name": "Surf", "mrn": "CSRF-1", "date_of_birth": "1970-01-01", "sex": "F",
        "address_line1": "1 Main", "city": "Salem", "state": "OR", "zip_code": "97301",
    })
    assert response.status_code == 403
    assert not Patient.objects.filter(mrn="CSRF-1").exists()


def test_the_clinic_switcher_needs_a_csrf_token(user_a, clinic_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_a)
    assert client.post(reverse("clinic-switch"), {"clinic": str(clinic_a.public_id)}).status_code == 403


def test_access_log_page_is_for_staff_only(client, user_a, user_no_grant, make_user, clinic_a):
    assert client.get(reverse("access-log")).status_code == 302  # anonymous: to the log-in page
    for user in (user_a, user_no_grant):
        client.force_login(user)
        assert client.get(reverse("access-log")).status_code == 403
    client.force_login(make_user("operator", Role.OPERATOR_ADMIN, clinic_a, staff=True))
    assert client.get(reverse("access-log")).status_code == 200


def test_viewing_a_patient_writes_an_access_log_entry_with_user_path_and_ip(client, user_a, clinic_a):
    patient = factories.PatientFactory(clinic=clinic_a)
    client.force_login(user_a)
    url = reverse("patient-detail", args=[patient.public_id])
    client.get(url, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="pytest-browser")
    entry = AccessLogEntry.objects.get()
    assert (entry.user, entry.username, entry.action) == (user_a, "biller_a", "view")
    assert (entry.path, entry.ip_address, entry.user_agent) == (url, "198.51.100.7", "pytest-browser")
    assert (entry.object_type, entry.object_id, entry.clinic) == ("patient", str(patient.public_id), clinic_a)


def test_the_access_log_entry_shows_on_the_operators_page(client, user_a, make_user, clinic_a):
    patient = factories.PatientFactory(clinic=clinic_a, last_name="Zebulonquist")
    client.force_login(user_a)
    client.get(reverse("patient-detail", args=[patient.public_id]))
    client.force_login(make_user("operator", Role.OPERATOR_ADMIN, clinic_a, staff=True))
    body = client.get(reverse("access-log")).content.decode()
    assert "biller_a" in body and reverse("patient-detail", args=[patient.public_id]) in body
