"""A/R and denial reads: open balances summed from hand-made ledgers, age buckets at their day boundaries, the
latest open denial's category, one query for the whole list, and the three personas' scopes."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from claims.models import Claim, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty
from claims.services import new_patient_control_number
from denials.models import Denial, WorkStatus
from denials.selectors import ar_aging, ar_claims, denials_visible
from otbilling.tenancy import VIEW_PHI, WORK_CLAIMS
from tests import factories

D = Decimal
pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 6, 30)


class Ledgers:
    """Claims of one clinic with ledgers written by hand: a charge, and whatever else a test posts."""

    def __init__(self, clinic, payer):
        self.clinic, self.payer = clinic, payer
        self.provider = factories.ProviderFactory(clinic=clinic)

    def claim(self, *, age: int, charge: str, today=TODAY, last_name="Example", **extra) -> Claim:
        patient = factories.PatientFactory(clinic=self.clinic, last_name=last_name)
        coverage = factories.CoverageFactory(patient=patient, payer=self.payer)
        dos = today - datetime.timedelta(days=age)
        claim = Claim.objects.create(
            clinic=self.clinic, patient=patient, coverage=coverage, payer=self.payer, rendering_provider=self.provider,
            patient_control_number=new_patient_control_number(), status=ClaimStatus.SUBMITTED, place_of_service="11",
            service_date_from=dos, service_date_to=dos, diagnoses=["M62.81"], total_charge=D(charge),
            submitted_at=timezone.now(), **extra)
        self.post(claim, LedgerKind.CHARGE, LedgerParty.PAYER, charge)
        return claim

    def post(self, claim, kind, party, amount, **extra):
        return LedgerEntry.objects.create(clinic=self.clinic, claim=claim, kind=kind, party=party, amount=D(amount),
                                          source="manual", **extra)


@pytest.fixture
def ledgers_a(clinic_a, payer):
    return Ledgers(clinic_a, payer)


@pytest.fixture
def ledgers_b(clinic_b, payer):
    return Ledgers(clinic_b, payer)


# Age in days -> charge: each bucket's expected total is a distinct sum, so a claim in the wrong bucket shows.
BOUNDARY_CLAIMS = {0: "10.00", 30: "20.00", 31: "40.00", 60: "80.00", 61: "1.00", 90: "2.00", 91: "4.00",
                   120: "8.00", 121: "0.10", 400: "0.20"}


def test_age_buckets_split_at_30_31_60_61_90_91_120_121(ledgers_a, user_a):
    claims = {age: ledgers_a.claim(age=age, charge=charge) for age, charge in BOUNDARY_CLAIMS.items()}
    rows = {claim.pk: claim for claim in ar_claims(user_a, VIEW_PHI, today=TODAY)}
    bucket_of = {age: rows[claim.pk].age_bucket for age, claim in claims.items()}
    assert bucket_of == {0: "0-30", 30: "0-30", 31: "31-60", 60: "31-60", 61: "61-90", 90: "61-90", 91: "91-120",
                         120: "91-120", 121: "120+", 400: "120+"}
    assert {age: rows[claim.pk].age_days for age, claim in claims.items()} == {age: age for age in claims}
    assert ar_aging(user_a, VIEW_PHI, today=TODAY) == {
        "0-30": D("30.00"), "31-60": D("120.00"), "61-90": D("3.00"), "91-120": D("12.00"), "120+": D("0.30")}


def test_a_claim_moves_to_the_next_bucket_the_day_after_the_boundary(ledgers_a, user_a):
    claim = ledgers_a.claim(age=30, charge="50.00")
    next_day = TODAY + datetime.timedelta(days=1)
    assert ar_claims(user_a, VIEW_PHI, today=TODAY).get(pk=claim.pk).age_bucket == "0-30"
    assert ar_claims(user_a, VIEW_PHI, today=next_day).get(pk=claim.pk).age_bucket == "31-60"
    assert ar_aging(user_a, VIEW_PHI, today=next_day)["31-60"] == D("50.00")


def test_balances_are_summed_per_party_and_settled_claims_drop_out(ledgers_a, user_a):
    settled = ledgers_a.claim(age=10, charge="100.00")
    ledgers_a.post(settled, LedgerKind.PAYMENT, LedgerParty.PAYER, "-70.00")
    ledgers_a.post(settled, LedgerKind.ADJUSTMENT, LedgerParty.PAYER, "-30.00", group_code="CO", carc="45")
    with_patient = ledgers_a.claim(age=10, charge="100.00")
    ledgers_a.post(with_patient, LedgerKind.PAYMENT, LedgerParty.PAYER, "-60.00")
    ledgers_a.post(with_patient, LedgerKind.ADJUSTMENT, LedgerParty.PAYER, "-15.00", group_code="PR", carc="2")
    ledgers_a.post(with_patient, LedgerKind.TRANSFER, LedgerParty.PATIENT, "15.00", group_code="PR", carc="2")
    rows = list(ar_claims(user_a, VIEW_PHI, today=TODAY))
    assert [claim.pk for claim in rows] == [with_patient.pk]
    row = rows[0]
    assert (row.balance, row.payer_balance, row.patient_balance) == (D("40.00"), D("25.00"), D("15.00"))


def test_an_overpaid_claim_owes_a_negative_balance_and_stays_on_the_list(ledgers_a, user_a):
    overpaid = ledgers_a.claim(age=5, charge="50.00")
    ledgers_a.post(overpaid, LedgerKind.PAYMENT, LedgerParty.PAYER, "-55.00")
    assert ar_claims(user_a, VIEW_PHI, today=TODAY).get().balance == D("-5.00")


def test_the_latest_open_denial_gives_the_carc_category(ledgers_a, user_a):
    claim = ledgers_a.claim(age=45, charge="90.00")
    common = {"clinic": ledgers_a.clinic, "claim": claim, "reason": "r", "recommended_action": "a",
              "amount": D("90.00")}
    Denial.objects.create(category="coding", carc="4", **common)
    Denial.objects.create(category="authorization", carc="197", **common)
    Denial.objects.create(category="eligibility", carc="27", status=WorkStatus.WRITTEN_OFF, **common)
    row = ar_claims(user_a, VIEW_PHI, today=TODAY).get()
    assert (row.denial_category, row.denial_carc) == ("authorization", "197")


def test_the_whole_list_is_one_query(ledgers_a, user_a, django_assert_num_queries):
    for age in (5, 45, 95):
        ledgers_a.claim(age=age, charge="10.00")
    queryset = ar_claims(user_a, VIEW_PHI, today=TODAY)
    with django_assert_num_queries(1):
        rows = list(queryset)
        assert [row.payer.name for row in rows] and [row.patient.last_name for row in rows]


def test_each_persona_sees_only_its_clinic(ledgers_a, ledgers_b, user_a, user_b, user_no_grant):
    claim_a = ledgers_a.claim(age=10, charge="10.00")
    claim_b = ledgers_b.claim(age=10, charge="20.00")
    assert [c.pk for c in ar_claims(user_a, VIEW_PHI, today=TODAY)] == [claim_a.pk]
    assert [c.pk for c in ar_claims(user_b, VIEW_PHI, today=TODAY)] == [claim_b.pk]
    assert not ar_claims(user_no_grant, VIEW_PHI, today=TODAY).exists()
    assert sum(ar_aging(user_no_grant, VIEW_PHI, today=TODAY).values()) == D("0.00")
    assert ar_aging(user_b, VIEW_PHI, today=TODAY)["0-30"] == D("20.00")
    assert not ar_claims(user_a, VIEW_PHI, ledgers_b.clinic, today=TODAY).exists()


def test_denials_visible_follows_the_permission(ledgers_a, user_a, user_b, make_user, clinic_a):
    claim = ledgers_a.claim(age=10, charge="10.00")
    denial = Denial.objects.create(clinic=clinic_a, claim=claim, category="coding", reason="r",
                                   recommended_action="a", amount=D("10.00"))
    owner = make_user("owner_a", "clinic_owner", clinic_a)
    assert list(denials_visible(user_a, WORK_CLAIMS)) == [denial]
    assert list(denials_visible(owner, VIEW_PHI)) == [denial]
    assert not denials_visible(owner, WORK_CLAIMS).exists()
    assert not denials_visible(user_b, VIEW_PHI).exists()
