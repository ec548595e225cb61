"""Which authorizations need attention (payer thresholds at their boundaries) and the daily digest e-mail."""

import datetime

import pytest
from celery import current_app
from django.core import mail

from clinics.services import api_token_create
from eligibility.alerts import AlertReason, auth_alert_digests_send, auth_alerts
from eligibility.models import AuthStatus, PriorAuthorization
from otbilling.tenancy import Role
from tests import factories
from tests.eligibility.test_authorizations import make_auth, make_visit

pytestmark = pytest.mark.urls("tests.eligibility.test_auth_views")

TODAY = datetime.date(2026, 10, 20)
START = datetime.date(2026, 10, 1)
FAR = datetime.date(2026, 12, 31)  # far enough not to be "expiring"


def alerts_of(clinic, today=TODAY):
    return {a.authorization.number: a for a in auth_alerts(PriorAuthorization.objects.filter(clinic=clinic),
                                                           today=today)}


def visits(setup, count, units=None):
    for n in range(count):
        make_visit(setup, START + datetime.timedelta(days=n), units)


# --- reasons at the payer's thresholds --------------------------------------------------------------------------


def test_two_visits_left_is_low_and_three_is_not(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="TWO", visits=5, end=FAR)
    visits(visit_setup, 3)
    assert alerts_of(clinic_a)["TWO"].reasons == [AlertReason.VISITS_LOW]
    assert alerts_of(clinic_a)["TWO"].messages == ["2 visits left of 5."]
    PriorAuthorization.objects.filter(number="TWO").update(visits_authorized=6)
    assert "TWO" not in alerts_of(clinic_a)


def test_nine_units_left_is_low_and_ten_is_not(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="U", units=20, end=FAR)
    visits(visit_setup, 1, {"97530": 10})
    assert "U" not in alerts_of(clinic_a)
    make_visit(visit_setup, datetime.date(2026, 10, 9), {"97535": 1})
    alert = alerts_of(clinic_a)["U"]
    assert (alert.reasons, alert.messages) == ([AlertReason.UNITS_LOW], ["9 units left of 20."])


def test_a_code_only_authorization_is_watched_on_the_sum_of_its_codes(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="C", codes=[("97530", 12), ("97535", 8)], end=FAR)
    visits(visit_setup, 1, {"97530": 11})
    assert alerts_of(clinic_a)["C"].messages == ["9 units left of 20."]


def another_coverage(setup, payer):
    return factories.CoverageFactory(patient=setup["patient"], payer=payer, priority="secondary")


def test_expiry_within_seven_days_is_flagged_and_eight_is_not(visit_setup, clinic_a, payer):
    make_auth(visit_setup["coverage"], number="SEVEN", end=TODAY + datetime.timedelta(days=7))
    make_auth(another_coverage(visit_setup, payer), number="EIGHT", end=TODAY + datetime.timedelta(days=8))
    found = alerts_of(clinic_a)
    assert found["SEVEN"].reasons == [AlertReason.EXPIRING]
    assert found["SEVEN"].messages == ["Expires on 2026-10-27, in 7 days."]
    assert "EIGHT" not in found


def test_the_expiry_day_itself_is_flagged(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="LAST", end=TODAY)
    assert alerts_of(clinic_a)["LAST"].messages == ["Expires today (2026-10-20)."]
    assert alerts_of(clinic_a)["LAST"].days_to_expiry == 0


def test_thresholds_are_the_payers(visit_setup, clinic_a, payer):
    payer.auth_alert_visits_left, payer.auth_alert_days_before_expiry = 5, 30
    payer.save()
    make_auth(visit_setup["coverage"], number="P", visits=10, end=TODAY + datetime.timedelta(days=30))
    visits(visit_setup, 5)
    assert alerts_of(clinic_a)["P"].reasons == [AlertReason.VISITS_LOW, AlertReason.EXPIRING]


def test_used_up_visits_or_code_units_are_exhausted(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="V", visits=2, end=FAR)
    make_auth(visit_setup["coverage"], number="CODE", units=40, codes=[("97535", 2)], end=FAR)
    visits(visit_setup, 2, {"97535": 1})
    found = alerts_of(clinic_a)
    assert found["V"].reasons == [AlertReason.EXHAUSTED]
    assert found["V"].messages == ["All 2 authorized visits are used."]
    assert found["CODE"].reasons == [AlertReason.EXHAUSTED]
    assert found["CODE"].messages == ["97535: all 2 authorized units are used."]


def test_expired_with_sessions_after_it_is_flagged(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="OLD", start=datetime.date(2026, 9, 1),
              end=datetime.date(2026, 10, 10))
    make_visit(visit_setup, datetime.date(2026, 10, 12))
    alert = alerts_of(clinic_a)["OLD"]
    assert alert.reasons == [AlertReason.EXPIRED]
    assert alert.messages == ["Expired on 2026-10-10; 1 session after it (first 2026-10-12) has no authorization."]


def test_expired_without_later_sessions_or_with_a_renewal_covering_them_is_quiet(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="OLD", start=datetime.date(2026, 9, 1),
              end=datetime.date(2026, 10, 10))
    assert "OLD" not in alerts_of(clinic_a)
    make_visit(visit_setup, datetime.date(2026, 10, 12))
    make_auth(visit_setup["coverage"], number="NEW", start=datetime.date(2026, 10, 11), end=FAR, visits=20)
    assert set(alerts_of(clinic_a)) == set()


def test_a_renewal_silences_the_old_authorizations_low_and_expiring(visit_setup, clinic_a):
    make_auth(visit_setup["coverage"], number="OLD", visits=3, end=TODAY + datetime.timedelta(days=2))
    visits(visit_setup, 3)
    assert set(alerts_of(clinic_a)["OLD"].reasons) == {AlertReason.EXHAUSTED, AlertReason.EXPIRING}
    make_auth(visit_setup["coverage"], number="RENEWED", start=TODAY, end=FAR, visits=12)
    assert "OLD" not in alerts_of(clinic_a)


def test_requested_denied_and_cancelled_authorizations_raise_nothing(visit_setup, clinic_a):
    for status in (AuthStatus.REQUESTED, AuthStatus.DENIED, AuthStatus.CANCELLED):
        make_auth(visit_setup["coverage"], number=status, status=status, visits=1, end=TODAY)
    visits(visit_setup, 2)
    assert alerts_of(clinic_a) == {}


def test_alerts_are_sorted_by_days_to_expiry(visit_setup, clinic_a, payer):
    make_auth(visit_setup["coverage"], number="LATER", end=TODAY + datetime.timedelta(days=6))
    make_auth(another_coverage(visit_setup, payer), number="SOONER", end=TODAY + datetime.timedelta(days=1))
    numbers = [a.authorization.number for a in auth_alerts(PriorAuthorization.objects.all(), today=TODAY)]
    assert numbers == ["SOONER", "LATER"]


# --- the digest e-mail -----------------------------------------------------------------------------------------


@pytest.fixture
def people(make_user, clinic_a, clinic_b):
    owner = make_user("owner_a", Role.CLINIC_OWNER, clinic_a)
    staff = make_user("staff_a", Role.CLINIC_STAFF, clinic_a)
    make_user("biller_only", Role.BILLER, clinic_a)  # billers work the worklist, they get no digest
    gone = make_user("gone_a", Role.CLINIC_STAFF, clinic_a)
    gone.is_active = False
    gone.save()
    api_token_create(clinic=clinic_a, name="EHR feed", acting_user=owner)  # its service user is clinic staff
    make_user("owner_b", Role.CLINIC_OWNER, clinic_b)
    return {"owner": owner, "staff": staff}


def test_the_digest_goes_once_to_each_clinic_with_something_to_say(visit_setup, people, clinic_a, clinic_b, payer):
    patient = visit_setup["patient"]
    patient.first_name, patient.last_name, patient.mrn = "Ada", "Lovelace", "MRN-77"
    patient.save()
    make_auth(visit_setup["coverage"], number="PA-9", visits=5, end=TODAY + datetime.timedelta(days=3))
    visits(visit_setup, 4)
    counts = auth_alert_digests_send(today=TODAY)
    assert counts == {"clinics": 2, "mails": 1, "alerts": 1, "no_recipient": 0}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["owner_a@example.test", "staff_a@example.test"]
    assert message.subject == "Alder Pediatric OT: 1 prior authorization needs attention (2026-10-20)"
    assert message.body.splitlines() == [
        "Prior authorizations of Alder Pediatric OT that need attention on 2026-10-20:",
        "",
        "- A. L. (MRN MRN-77) · Acme Health auth PA-9 (2026-10-01 to 2026-10-23)",
        "    1 visit left of 5.",
        "    Expires on 2026-10-23, in 3 days.",
        "",
        "Renewal worklist: /eligibility/auths/worklist/",
        "You receive this because you are an owner or staff member of the clinic in OT Billing.",
    ]
    assert "Lovelace" not in message.body  # initials and MRN only


def test_no_mail_when_nothing_needs_attention(visit_setup, people):
    make_auth(visit_setup["coverage"], number="FINE", visits=20, end=FAR)
    assert auth_alert_digests_send(today=TODAY)["mails"] == 0
    assert mail.outbox == []


def test_a_clinic_without_people_to_mail_falls_back_to_its_contact_address(visit_setup, clinic_a):
    clinic_a.contact_email = "front@alder.example"
    clinic_a.save()
    make_auth(visit_setup["coverage"], number="X", end=TODAY)
    auth_alert_digests_send(today=TODAY)
    assert [m.to for m in mail.outbox] == [["front@alder.example"]]


def test_each_clinic_gets_only_its_own_authorizations(visit_setup, people, clinic_b, payer):
    make_auth(visit_setup["coverage"], number="A-ONLY", end=TODAY)
    patient_b = factories.PatientFactory(clinic=clinic_b)
    make_auth(factories.CoverageFactory(patient=patient_b, payer=payer), number="B-ONLY", end=TODAY)
    auth_alert_digests_send(today=TODAY)
    by_recipient = {tuple(m.to): m.body for m in mail.outbox}
    assert "A-ONLY" in by_recipient[("owner_a@example.test", "staff_a@example.test")]
    assert "B-ONLY" not in by_recipient[("owner_a@example.test", "staff_a@example.test")]
    assert "B-ONLY" in by_recipient[("owner_b@example.test",)]
    assert "A-ONLY" not in by_recipient[("owner_b@example.test",)]


def test_the_beat_task_is_registered_by_name_and_sends_the_digest(visit_setup, people):
    import eligibility.tasks_alerts  # noqa: F401  (the worker imports it; see the README section)

    make_auth(visit_setup["coverage"], number="T", end=TODAY)
    result = current_app.tasks["eligibility.auth_alerts"].apply(kwargs={"today": "2026-10-20"}).get()
    assert result["mails"] == 1
    assert "auth T " in mail.outbox[0].body
