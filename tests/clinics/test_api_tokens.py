"""API token management: the settings page for clinic managers and the create_api_token command."""

import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from clinics.models import ApiToken
from clinics.services import api_token_create
from otbilling.tenancy import Role


def api_status(raw_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw_key}")
    return client.get("/api/v1/payers/").status_code


@pytest.fixture
def manager_a(make_user, clinic_a):
    return make_user("ops_a", Role.OPERATOR_ADMIN, clinic_a)


@pytest.fixture
def manager_client(client, manager_a):
    client.force_login(manager_a)
    return client


@pytest.fixture
def token_a(clinic_a):
    return api_token_create(clinic=clinic_a, name="Alder EHR", acting_user=None)[0]


@pytest.fixture
def token_b(clinic_b):
    return api_token_create(clinic=clinic_b, name="Birch EHR", acting_user=None)[0]


def test_page_lists_only_tokens_of_managed_clinics(manager_client, token_a, token_b):
    response = manager_client.get(reverse("api-tokens"))

    assert response.status_code == 200
    assert list(response.context["tokens"]) == [token_a]
    assert b"Alder EHR" in response.content
    assert b"Birch EHR" not in response.content


def test_creating_a_token_shows_the_key_once_and_the_key_works(manager_client, manager_a, clinic_a):
    response = manager_client.post(reverse("api-tokens"), {"clinic": "alder", "name": "WebPT export"})

    assert response.status_code == 200
    raw_key = response.context["new_key"]
    assert raw_key.startswith("otb_") and raw_key.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="WebPT export")
    assert (token.clinic, token.created_by) == (clinic_a, manager_a)
    assert token.key_sha256 == hashlib.sha256(raw_key.encode()).hexdigest()
    assert api_status(raw_key) == 200
    assert raw_key.encode() not in manager_client.get(reverse("api-tokens")).content


def test_a_token_cannot_be_created_for_an_unmanaged_clinic(manager_client, clinic_b):
    response = manager_client.post(reverse("api-tokens"), {"clinic": "birch", "name": "Sneaky"})

    assert response.status_code == 200
    assert "clinic" in response.context["form"].errors
    assert response.context["new_key"] is None
    assert not ApiToken.objects.exists()


def test_a_blank_name_is_refused(manager_client, clinic_a):
    response = manager_client.post(reverse("api-tokens"), {"clinic": "alder", "name": "  "})

    assert response.context["form"].errors["name"]
    assert not ApiToken.objects.exists()


def test_revoking_a_token_stops_it_at_once(manager_client, clinic_a):
    token, raw_key = api_token_create(clinic=clinic_a, name="Old EHR", acting_user=None)

    response = manager_client.post(reverse("api-token-revoke", args=[token.public_id]))

    assert response.status_code == 302
    assert response["Location"] == reverse("api-tokens")
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert not token.service_user.is_active
    assert api_status(raw_key) == 401


def test_revoking_another_clinics_token_is_404_and_leaves_it_working(manager_client, clinic_b):
    token, raw_key = api_token_create(clinic=clinic_b, name="Birch EHR", acting_user=None)

    response = manager_client.post(reverse("api-token-revoke", args=[token.public_id]))

    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert api_status(raw_key) == 200


def test_revoke_needs_a_post(manager_client, token_a):
    assert manager_client.get(reverse("api-token-revoke", args=[token_a.public_id])).status_code == 405


def test_users_who_do_not_manage_a_clinic_cannot_use_the_page(client, user_a, token_a):
    client.force_login(user_a)

    assert client.get(reverse("api-tokens")).status_code == 403
    assert client.post(reverse("api-tokens"), {"clinic": "alder", "name": "X"}).status_code == 403
    assert client.post(reverse("api-token-revoke", args=[token_a.public_id])).status_code == 404
    token_a.refresh_from_db()
    assert token_a.revoked_at is None
    assert ApiToken.objects.count() == 1


def test_user_without_grant_gets_403_and_404(client, user_no_grant, token_a):
    client.force_login(user_no_grant)

    assert client.get(reverse("api-tokens")).status_code == 403
    assert client.post(reverse("api-token-revoke", args=[token_a.public_id])).status_code == 404


def test_anonymous_visitors_are_sent_to_log_in(client, token_a):
    response = client.get(reverse("api-tokens"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_command_creates_a_token_and_prints_only_the_key(clinic_a):
    out, err = io.StringIO(), io.StringIO()

    call_command("create_api_token", "--clinic", "alder", "--name", "Nightly import", stdout=out, stderr=err)

    raw_key = out.getvalue().strip()
    token = ApiToken.objects.get(name="Nightly import")
    assert token.clinic == clinic_a and token.created_by is None
    assert token.key_sha256 == hashlib.sha256(raw_key.encode()).hexdigest()
    assert "Nightly import" in err.getvalue()
    assert api_status(raw_key) == 200


def test_command_refuses_an_unknown_clinic(db):
    with pytest.raises(CommandError, match="No clinic with slug 'nowhere'"):
        call_command("create_api_token", "--clinic", "nowhere", "--name", "X", stdout=io.StringIO())
    assert not ApiToken.objects.exists()
