"""`POST /api/v1/coding/units/`: the calculator over JSON, with the API's one error shape."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from clinics.services import api_token_create

pytestmark = pytest.mark.django_db
URL = "/api/v1/coding/units/"


@pytest.fixture
def api(user_a, code_sets):
    client = APIClient()
    client.force_authenticate(user_a)
    return client


def test_the_route_is_named_and_registered_on_the_router():
    assert reverse("api:coding-units-list") == URL


def test_cms_example_gives_units_totals_and_the_explanation(api):
    response = api.post(URL, {"rule": "cms", "lines": [{"code": "97110", "minutes": 33},
                                                       {"code": "97140", "minutes": 7}]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["units"] == {"97110": 2, "97140": 1}
    assert body["total_timed_minutes"] == 40
    assert body["total_timed_units"] == 3
    assert body["explanation"] == ["Total timed minutes 40 → 3 unit(s) by the 8-minute rule.",
                                   "97140: leftover 7 min earns one more unit."]


def test_ama_lists_codes_without_units_as_zero(api):
    response = api.post(URL, {"rule": "ama", "lines": [{"code": "97110", "minutes": 33},
                                                       {"code": "97140", "minutes": 7}]}, format="json")
    assert response.status_code == 200
    assert response.json()["units"] == {"97110": 2, "97140": 0}
    assert response.json()["total_timed_units"] == 2


def test_untimed_codes_need_no_minutes_and_do_not_count_toward_the_total(api):
    response = api.post(URL, {"rule": "cms", "lines": [{"code": "97166"}, {"code": "97530", "minutes": 25},
                                                       {"code": "97535", "minutes": 10}]}, format="json")
    body = response.json()
    assert response.status_code == 200
    assert body["units"]["97166"] == 1
    assert body["total_timed_minutes"] == 35
    assert body["total_timed_units"] == 2


def test_an_unknown_code_is_a_400_naming_the_line(api):
    response = api.post(URL, {"rule": "cms", "lines": [{"code": "97110", "minutes": 33},
                                                       {"code": "97999", "minutes": 10}]}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["field"] == "lines[2].code"
    assert error["details"] == [{"field": "lines[2].code", "message": "97999 is not in the loaded code set."}]


def test_negative_minutes_are_a_400_naming_the_line(api):
    response = api.post(URL, {"rule": "cms", "lines": [{"code": "97110", "minutes": 33},
                                                       {"code": "97140", "minutes": -7}]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "lines[2].minutes"
    assert response.json()["error"]["details"][0]["message"] == "Minutes cannot be negative."


def test_fractional_minutes_are_a_400(api):
    response = api.post(URL, {"rule": "cms", "lines": [{"code": "97110", "minutes": 12.5}]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": "lines[1].minutes",
                                                    "message": "Minutes must be a whole number."}]


def test_a_timed_code_without_minutes_is_a_400(api):
    response = api.post(URL, {"rule": "cms", "lines": [{"code": "97110"}]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [{"field": "lines[1].minutes",
                                                    "message": "Enter the minutes of timed code 97110."}]


def test_a_bad_rule_is_a_400_on_the_rule_field(api):
    response = api.post(URL, {"rule": "medicare", "lines": [{"code": "97110", "minutes": 33}]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "rule"
    assert "Unknown unit rule 'medicare'" in response.json()["error"]["message"]


def test_no_lines_is_a_400(api):
    response = api.post(URL, {"rule": "cms", "lines": []}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "lines"


def test_malformed_json_is_a_400_not_a_500(api):
    response = api.post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_an_api_token_may_use_the_calculator(clinic_a, user_a, code_sets):
    _token, raw = api_token_create(clinic=clinic_a, name="EHR", acting_user=user_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    response = client.post(URL, {"rule": "cms", "lines": [{"code": "97530", "minutes": 23}]}, format="json")
    assert response.status_code == 200
    assert response.json()["units"] == {"97530": 2}


def test_anonymous_callers_and_users_without_a_grant_are_refused(user_no_grant, code_sets):
    body = {"rule": "cms", "lines": [{"code": "97110", "minutes": 33}]}
    assert APIClient().post(URL, body, format="json").status_code in (401, 403)
    client = APIClient()
    client.force_authenticate(user_no_grant)
    assert client.post(URL, body, format="json").status_code == 403


def test_get_is_not_allowed(api):
    assert api.get(URL).status_code == 405
