"""Posting by hand: an unmatched 835 claim or line matched by a biller, a paper EOB, a patient payment.

The claim is the real one of tests/claims/conftest.py (97530 × 2 = 120.00 and 97535 × 1 = 60.00, modifier GO),
submitted; 835s are built with tests/denials/test_posting.py's helpers (payee clinic A, trace EFT123).
"""

import datetime
from decimal import Decimal

import pytest

from claims.ledger import claim_money, line_balances
from claims.lifecycle import claim_transition
from claims.models import Claim, ClaimStatus, LedgerEntry
from denials.manual import manual_posting_record, patient_payment_record, unmatched_match
from denials.models import ClaimRemittance, Denial, EraPayment, UnmatchedRemittance
from otbilling.errors import AppError
from tests import factories
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import clp, paid_with_contractual, post, svc
from tests.denials.test_x835 import era

D = Decimal
PAID_ON = datetime.date(2026, 1, 22)
pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(clinic_a, code_sets):
    built = make_claim(build_claim_scene(clinic_a, make_medicare(payer_id="ACME1", appeal_window_days=90)))
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=built, to_status=status, reason="test")
    return built


def rows(claim, *, exclude_charges=True):
    """(line position or None, kind, party, amount, group, CARC, source) of every ledger row, sorted."""
    entries = LedgerEntry.objects.filter(claim=claim)
    if exclude_charges:
        entries = entries.exclude(kind="charge")
    return sorted((e.claim_line.position if e.claim_line else 0, e.kind, e.party, e.amount, e.group_code, e.carc,
                   e.source) for e in entries.select_related("claim_line"))


def unknown_claim_era(claim) -> str:
    body = paid_with_contractual(claim).replace(claim.patient_control_number, "CNOTOURS0001", 1)
    return era(body, "105.00")


def other_clinic_claim(clinic_b, payer) -> Claim:
    patient = factories.PatientFactory(clinic=clinic_b)
    coverage = factories.CoverageFactory(patient=patient, payer=payer)
    provider = factories.ProviderFactory(clinic=clinic_b)
    return Claim.objects.create(
        clinic=clinic_b, patient=patient, coverage=coverage, payer=payer, rendering_provider=provider,
        patient_control_number="CBIRCH000001", status=ClaimStatus.SUBMITTED, place_of_service="11",
        service_date_from=PAID_ON, service_date_to=PAID_ON, diagnoses=["M62.81"], total_charge=D("180.00"),
        submitted_at=datetime.datetime(2026, 1, 10, tzinfo=datetime.UTC))


# --- unmatched match ------------------------------------------------------------------------------------------------


def test_a_matched_unknown_claim_posts_the_rows_the_import_would_have_posted(claim, user_a):
    post(unknown_claim_era(claim))
    item = UnmatchedRemittance.objects.get()
    summary = unmatched_match(item=item, claim=claim, acting_user=user_a)
    assert (summary["claims_matched"], summary["lines_posted"], summary["paid_total"]) == (1, 2, "105.00")
    payment = EraPayment.objects.get()
    assert rows(claim) == [
        (1, "adjustment", "payer", D("-50.00"), "CO", "45", "835"), (1, "payment", "payer", D("-70.00"), "", "", "835"),
        (2, "adjustment", "payer", D("-25.00"), "CO", "45", "835"), (2, "payment", "payer", D("-35.00"), "", "", "835"),
    ]
    assert set(LedgerEntry.objects.exclude(kind="charge").values_list("source_ref", flat=True)) == {
        str(payment.public_id)}
    assert claim_money(claim)["balance"] == D("0.00")
    remittance = ClaimRemittance.objects.get()
    assert (remittance.claim, remittance.paid, remittance.payer_claim_control_number) == (claim, D("105.00"), "ICN1")
    item.refresh_from_db()
    assert item.resolved_by == user_a and item.resolved_at is not None
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID and claim.payer_claim_control_number == "ICN1"


def test_an_item_matched_once_cannot_be_posted_again(claim, user_a):
    post(unknown_claim_era(claim))
    item = UnmatchedRemittance.objects.get()
    unmatched_match(item=item, claim=claim, acting_user=user_a)
    with pytest.raises(AppError) as caught:
        unmatched_match(item=UnmatchedRemittance.objects.get(pk=item.pk), claim=claim, acting_user=user_a)
    assert caught.value.code == "already_resolved" and "biller_a" in caught.value.message
    assert LedgerEntry.objects.filter(kind="payment").count() == 2


def test_another_clinics_claim_is_refused_and_nothing_posts(claim, clinic_b, user_a):
    post(unknown_claim_era(claim))
    item = UnmatchedRemittance.objects.get()
    outsider = other_clinic_claim(clinic_b, claim.payer)
    with pytest.raises(AppError) as caught:
        unmatched_match(item=item, claim=outsider, acting_user=user_a)
    assert caught.value.code == "not_found" and caught.value.field == "claim"
    assert not LedgerEntry.objects.exclude(kind="charge").exists()
    assert not ClaimRemittance.objects.exists()
    item.refresh_from_db()
    assert item.resolved_at is None


def test_a_claim_already_answered_by_the_payment_is_refused(claim, user_a):
    body = paid_with_contractual(claim) + paid_with_contractual(claim).replace(
        claim.patient_control_number, "CNOTOURS0001", 1)
    post(era(body, "210.00"))
    item = UnmatchedRemittance.objects.get()
    with pytest.raises(AppError) as caught:
        unmatched_match(item=item, claim=claim, acting_user=user_a)
    assert "already answered" in caught.value.message
    assert LedgerEntry.objects.filter(kind="payment").count() == 2


def test_an_unmatched_line_is_posted_to_the_line_the_biller_picks(claim, user_a):
    body = (clp(claim, "1", "180.00", "105.00")
            + svc(claim, 1, "97530", "120.00", "70.00", 2, ("CO", "45", "50.00"))
            + svc(claim, 2, "97999", "60.00", "35.00", 1, ("CO", "45", "25.00"), lcn=False))
    summary = post(era(body, "105.00"))
    assert summary["unmatched_lines"] == 1
    item = UnmatchedRemittance.objects.get()
    assert item.claim == claim
    with pytest.raises(AppError) as caught:
        unmatched_match(item=item, claim=claim, acting_user=user_a, line_position=1)  # line 1 is already paid
    assert caught.value.field == "line"
    unmatched_match(item=item, claim=claim, acting_user=user_a, line_position=2)
    assert [r for r in rows(claim) if r[0] == 2] == [
        (2, "adjustment", "payer", D("-25.00"), "CO", "45", "835"), (2, "payment", "payer", D("-35.00"), "", "", "835")]
    assert claim_money(claim)["balance"] == D("0.00")


# --- paper EOB ------------------------------------------------------------------------------------------------------


def eob(claim, user, lines, reference="CHK1001", **kwargs):
    values = {"claim": claim, "lines": lines, "acting_user": user, "source": "eob", "reference": reference,
              "payment_date": PAID_ON, **kwargs}
    return manual_posting_record(**values)


def adj(group, carc, amount):
    return {"group": group, "carc": carc, "amount": amount}


def test_a_paper_eob_posts_payment_adjustments_and_patient_share_to_the_cent(claim, user_a):
    summary = eob(claim, user_a, [
        {"position": 1, "paid": "70.00", "adjustments": [adj("CO", "45", "50.00")]},
        {"position": 2, "paid": "25.00", "adjustments": [adj("CO", "45", "25.00"), adj("PR", "2", "10.00")]},
    ])
    assert (summary["lines_posted"], summary["paid_total"], summary["adjustment_total"],
            summary["patient_responsibility_total"]) == (2, "95.00", "75.00", "10.00")
    assert rows(claim) == [
        (1, "adjustment", "payer", D("-50.00"), "CO", "45", "manual"),
        (1, "payment", "payer", D("-70.00"), "", "", "manual"),
        (2, "adjustment", "payer", D("-25.00"), "CO", "45", "manual"),
        (2, "adjustment", "payer", D("-10.00"), "PR", "2", "manual"),
        (2, "payment", "payer", D("-25.00"), "", "", "manual"),
        (2, "transfer", "patient", D("10.00"), "PR", "2", "manual"),
    ]
    assert set(LedgerEntry.objects.filter(source="manual").values_list("source_ref", "note")) == {
        ("eob:CHK1001", "Paper EOB CHK1001 of 2026-01-22")}
    money = claim_money(claim)
    assert (money["payer_balance"], money["patient_balance"]) == (D("0.00"), D("10.00"))
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID


def test_a_line_answered_in_full_must_balance(claim, user_a):
    with pytest.raises(AppError) as caught:
        eob(claim, user_a, [{"position": 1, "paid": "70.00", "adjustments": [adj("CO", "45", "40.00")]}])
    (problem,) = caught.value.details
    assert problem["field"] == "line 1" and "charge 120.00 − paid 70.00 = 50.00" in problem["message"]
    assert not LedgerEntry.objects.exclude(kind="charge").exists()


def test_a_partial_answer_need_not_balance_but_may_not_exceed_the_open_balance(claim, user_a):
    eob(claim, user_a, [{"position": 1, "paid": "30.00", "partial": True}])
    assert line_balances(claim)[claim.lines.get(position=1).pk] == D("90.00")
    with pytest.raises(AppError) as caught:
        eob(claim, user_a, [{"position": 1, "paid": "90.01", "partial": True}], reference="CHK1002")
    assert "more than the 90.00 the payer still owes" in caught.value.message


def test_an_eob_after_the_835_posted_the_line_is_refused_as_over_posting(claim, user_a):
    post(era(paid_with_contractual(claim), "105.00"))
    with pytest.raises(AppError) as caught:
        eob(claim, user_a, [{"position": 1, "paid": "70.00", "adjustments": [adj("CO", "45", "50.00")]}])
    assert "more than the 0.00 the payer still owes" in caught.value.message
    assert not LedgerEntry.objects.filter(source="manual").exists()


def test_every_bad_line_is_reported_and_nothing_posts(claim, user_a):
    with pytest.raises(AppError) as caught:
        eob(claim, user_a, [
            {"position": 1, "paid": "70.00", "adjustments": [adj("CO", "45", "50.00")]},
            {"position": 2, "paid": "10.00", "adjustments": [adj("XX", "45", "50.00")]},
            {"position": 7, "paid": "1.00"},
        ])
    assert [problem["field"] for problem in caught.value.details] == ["line 2", "line 7"]
    assert not LedgerEntry.objects.exclude(kind="charge").exists()


def test_a_refused_line_on_paper_opens_a_denial_and_writes_nothing_off(claim, user_a):
    summary = eob(claim, user_a, [
        {"position": 1, "paid": "0", "adjustments": [adj("CO", "197", "120.00")], "remarks": ["N640"]}])
    assert summary["denials_opened"] == 1
    denial = Denial.objects.get()
    assert (denial.claim_line.position, denial.carc, denial.rarcs, denial.amount, denial.payment) == (
        1, "197", ["N640"], D("120.00"), None)
    assert denial.appeal_deadline == PAID_ON + datetime.timedelta(days=90)
    assert not LedgerEntry.objects.exclude(kind="charge").exists()  # the denied 120.00 stays owed
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DENIED


def test_the_same_eob_reference_posts_once(claim, user_a):
    eob(claim, user_a, [{"position": 1, "paid": "30.00", "partial": True}])
    with pytest.raises(AppError) as caught:
        eob(claim, user_a, [{"position": 2, "paid": "10.00", "partial": True}])
    assert caught.value.code == "duplicate"


def test_a_claim_not_yet_sent_takes_no_eob(clinic_a, code_sets, user_a):
    ready = make_claim(build_claim_scene(clinic_a, make_medicare(payer_id="ACME1")))
    with pytest.raises(AppError) as caught:
        eob(ready, user_a, [{"position": 1, "paid": "30.00", "partial": True}])
    assert caught.value.field == "claim"


# --- patient payment ------------------------------------------------------------------------------------------------


def test_a_patient_payment_pays_down_the_patients_lines(claim, user_a):
    body = (clp(claim, "1", "180.00", "75.00", patient="30.00")
            + svc(claim, 1, "97530", "120.00", "50.00", 2, ("CO", "45", "50.00"), ("PR", "2", "20.00"))
            + svc(claim, 2, "97535", "60.00", "25.00", 1, ("CO", "45", "25.00"), ("PR", "3", "10.00")))
    post(era(body, "75.00"))
    result = patient_payment_record(claim=claim, amount="25.00", acting_user=user_a, method="card", reference="R-9")
    assert result == {"amount": "25.00", "rows": 2, "patient_balance": "5.00"}
    assert sorted(LedgerEntry.objects.filter(kind="patient_pay").values_list(
        "claim_line__position", "party", "amount", "source")) == [
        (1, "patient", D("-20.00"), "manual"), (2, "patient", D("-5.00"), "manual")]
    assert claim_money(claim)["patient_balance"] == D("5.00")


def test_a_patient_payment_above_the_patient_balance_is_refused(claim, user_a):
    with pytest.raises(AppError) as caught:
        patient_payment_record(claim=claim, amount="0.01", acting_user=user_a, method="cash")
    assert caught.value.field == "amount" and "owes 0.00" in caught.value.message
    assert not LedgerEntry.objects.filter(kind="patient_pay").exists()
