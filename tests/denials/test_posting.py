"""835 posting on real claims: money to the cent, statuses, denials, underpayments, duplicates, bad files.

The claim comes from the real pipeline (tests/claims/conftest.py make_claim: 97530 × 2 units = 120.00 and
97535 × 1 unit = 60.00, expected allowed 70.00 and 35.00, modifier GO), is submitted, and is answered by an 835
built around it with the synthetic envelope of tests/denials/test_x835.py (payee NPI 1234567893 = clinic A).
"""

import datetime
import io
import json
import threading
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from claims.ledger import claim_money
from claims.lifecycle import claim_transition
from claims.models import ClaimStatus, LedgerEntry
from denials.models import (
    ClaimRemittance,
    Denial,
    EraFile,
    EraPayment,
    EraStatus,
    ProviderAdjustment,
    Underpayment,
    UnmatchedRemittance,
)
from denials.posting import era_import
from otbilling.errors import AppError
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_x835 import era, interchange, transaction

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(clinic_a, code_sets):
    scene = build_claim_scene(clinic_a, make_medicare(payer_id="ACME1", appeal_window_days=120))
    built = make_claim(scene)
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=built, to_status=status, reason="test")
    return built


def clp(claim, status, charge, paid, patient="", icn="ICN1") -> str:
    return f"CLP*{claim.patient_control_number}*{status}*{charge}*{paid}*{patient}*MB*{icn}*11*1\n" \
           "NM1*QC*1*ZEBULON*ANNA****MI*1EG4TE5MK73\n"


def svc(claim, position, code, charge, paid, units, *cas, lcn=True, modifiers="GO", remarks=()) -> str:
    segments = [f"SVC*HC:{code}{':' + modifiers if modifiers else ''}*{charge}*{paid}**{units}", "DTM*472*20260914"]
    segments += [f"CAS*{group}*{carc}*{amount}" for group, carc, amount in cas]
    if lcn:
        segments.append(f"REF*6R*{claim.patient_control_number}L{position:02d}")
    segments += [f"LQ*HE*{remark}" for remark in remarks]
    return "\n".join(segments) + "\n"


def paid_with_contractual(claim, icn="ICN1") -> str:
    return (clp(claim, "1", "180.00", "105.00", icn=icn)
            + svc(claim, 1, "97530", "120.00", "70.00", 2, ("CO", "45", "50.00"))
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))


def post(text, name="era.835", **kwargs):
    return era_import(file_name=name, content=text, **kwargs)


def test_paid_with_contractual_adjustment_leaves_nothing_owed(claim):
    summary = post(era(paid_with_contractual(claim), "105.00"))
    assert (summary["claims_matched"], summary["lines_posted"]) == (1, 2)
    assert (summary["paid_total"], summary["adjustment_total"], summary["patient_responsibility_total"]) == (
        "105.00", "75.00", "0.00")
    money = claim_money(claim)
    assert (money["charged"], money["paid"], money["adjusted"], money["balance"]) == (
        D("180.00"), D("105.00"), D("75.00"), D("0.00"))
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID and claim.payer_claim_control_number == "ICN1"
    assert not Denial.objects.exists() and not Underpayment.objects.exists()
    assert claim.events.last().reason.startswith("835 CLP02 1")


def test_partial_payment_moves_coinsurance_to_the_patient(claim):
    body = (clp(claim, "1", "180.00", "85.00", patient="20.00")
            + svc(claim, 1, "97530", "120.00", "50.00", 2, ("CO", "45", "50.00"), ("PR", "2", "20.00"))
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
    summary = post(era(body, "85.00"))
    assert summary["patient_responsibility_total"] == "20.00"
    money = claim_money(claim)
    assert (money["payer_balance"], money["patient_balance"], money["patient_responsibility"]) == (
        D("0.00"), D("20.00"), D("20.00"))
    assert not Underpayment.objects.exists()  # allowed 70.00 = 50.00 paid + 20.00 coinsurance


def test_denied_for_missing_authorization_opens_a_denial_per_line_and_writes_nothing_off(claim):
    body = (clp(claim, "4", "180.00", "0.00")
            + svc(claim, 1, "97530", "120.00", "0.00", 2, ("CO", "197", "120.00"), remarks=("N640",))
            + svc(claim, 2, "97535", "60.00", "0.00", 1, ("CO", "197", "60.00")))
    summary = post(era(body, "0"))
    assert summary["denials_opened"] == 2
    denial = Denial.objects.get(claim_line__position=1)
    assert (denial.group_code, denial.carc, denial.rarcs, denial.amount) == ("CO", "197", ["N640"], D("120.00"))
    assert denial.category == "authorization" and "auth" in denial.recommended_action.lower()
    assert denial.appeal_deadline == datetime.date(2026, 1, 22) + datetime.timedelta(days=120)
    assert claim_money(claim)["payer_balance"] == D("180.00")  # still owed: nothing auto-written-off
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DENIED


def test_sequestration_and_contractual_are_not_denials_or_underpayments(claim):
    body = (clp(claim, "1", "180.00", "102.90")
            + svc(claim, 1, "97530", "120.00", "68.60", 2, ("CO", "45", "50.00"), ("CO", "253", "1.40"))
            + svc(claim, 2, "97535", "60.00", "34.30", 1, ("CO", "45", "25.00"), ("CO", "253", "0.70")))
    post(era(body, "102.90"))
    assert claim_money(claim)["balance"] == D("0.00")
    assert not Denial.objects.exists() and not Underpayment.objects.exists()


def test_line_paid_below_expected_opens_an_underpayment(claim):
    body = (clp(claim, "1", "180.00", "95.00")
            + svc(claim, 1, "97530", "120.00", "60.00", 2, ("CO", "45", "60.00"))
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
    summary = post(era(body, "95.00"))
    assert summary["underpayments_opened"] == 1
    item = Underpayment.objects.get()
    assert (item.claim_line.position, item.expected, item.allowed, item.paid, item.shortfall) == (
        1, D("70.00"), D("60.00"), D("60.00"), D("10.00"))


def test_reversal_and_repost_do_not_double_count(claim):
    post(era(paid_with_contractual(claim), "105.00"), name="first.835")
    reversal = (clp(claim, "22", "-180.00", "-105.00", icn="ICN1")
                + svc(claim, 1, "97530", "-120.00", "-70.00", -2, ("CO", "45", "-50.00"))
                + svc(claim, 2, "97535", "-60.00", "-35.00", -1, ("CO", "45", "-25.00")))
    repost = (clp(claim, "1", "180.00", "115.00", icn="ICN2")
              + svc(claim, 1, "97530", "120.00", "80.00", 2, ("CO", "45", "40.00"))
              + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
    summary = post(interchange([transaction(reversal + repost, "10.00", trace="EFT999")]), name="second.835")
    assert summary["paid_total"] == "10.00"
    money = claim_money(claim)
    assert (money["paid"], money["adjusted"], money["balance"]) == (D("115.00"), D("65.00"), D("0.00"))
    claim.refresh_from_db()
    assert claim.payer_claim_control_number == "ICN2" and claim.status == ClaimStatus.PAID


def test_plb_interest_and_recoupment_are_recorded_with_the_payment(claim):
    plb = "PLB*1234567893*20261231*L6:INT1*-2.50*WO:ICN0*10.00\n"
    summary = post(era(paid_with_contractual(claim), "97.50", plb=plb))
    payment = EraPayment.objects.get()
    assert (payment.amount, payment.provider_adjustment_total) == (D("97.50"), D("7.50"))
    assert sorted(ProviderAdjustment.objects.values_list("reason", "amount")) == [
        ("L6", D("-2.50")), ("WO", D("10.00"))]
    assert summary["provider_adjustment_total"] == "7.50"


def test_line_matches_after_the_payer_dropped_the_modifier_and_the_control_number(claim):
    body = (clp(claim, "1", "180.00", "105.00")
            + svc(claim, 1, "97530", "120.00", "70.00", 2, ("CO", "45", "50.00"), lcn=False, modifiers="")
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00"), lcn=False, modifiers=""))
    summary = post(era(body, "105.00"))
    assert (summary["lines_posted"], summary["unmatched_claims"]) == (2, 0)
    positions = set(LedgerEntry.objects.filter(kind="payment").values_list("claim_line__position", flat=True))
    assert positions == {1, 2}


def test_unknown_claim_goes_to_the_unmatched_worklist_and_posts_nothing(claim):
    body = paid_with_contractual(claim).replace(claim.patient_control_number, "CNOTOURS0001", 1)
    summary = post(era(body, "105.00"))
    assert (summary["unmatched_claims"], summary["claims_matched"]) == (1, 0)
    item = UnmatchedRemittance.objects.get()
    assert item.patient_control_number == "CNOTOURS0001" and item.data["paid"] == "105.00"
    assert not LedgerEntry.objects.exclude(kind="charge").exists()


def test_the_same_file_twice_posts_once(claim):
    text = era(paid_with_contractual(claim), "105.00")
    post(text)
    again = post(text, name="again.835")
    assert again["duplicate"] is True and "Already imported" in again["message"]
    assert LedgerEntry.objects.filter(kind="payment").count() == 2
    assert EraFile.objects.count() == 1


def test_the_same_trace_number_in_another_file_posts_once(claim):
    post(era(paid_with_contractual(claim), "105.00"))
    other_bytes = era(paid_with_contractual(claim), "105.00", end="~")  # same payment, different file bytes
    again = post(other_bytes, name="resent.835")
    assert again["duplicate"] is True
    assert EraPayment.objects.count() == 1 and LedgerEntry.objects.filter(kind="payment").count() == 2


def test_an_unbalanced_file_posts_nothing_and_is_quarantined(claim):
    text = era(paid_with_contractual(claim), "105.01")
    with pytest.raises(AppError) as caught:
        post(text, name="bad.835")
    assert "105.01" in caught.value.message and "nothing was posted" in caught.value.message
    assert not EraPayment.objects.exists() and not LedgerEntry.objects.exclude(kind="charge").exists()
    quarantined = EraFile.objects.get()
    assert quarantined.status == EraStatus.QUARANTINED and quarantined.errors


def test_a_malformed_file_names_the_segment_and_position(claim):
    text = era(paid_with_contractual(claim), "105.00").replace("*105.00*", "*1O5.00*", 1)
    with pytest.raises(AppError) as caught:
        post(text, name="typo.835")
    assert "typo.835" in caught.value.message and "segment" in caught.value.message
    assert not EraPayment.objects.exists()


def test_a_dry_run_shows_the_posting_and_posts_nothing(claim):
    summary = post(era(paid_with_contractual(claim), "105.00"), dry_run=True)
    assert (summary["dry_run"], summary["paid_total"], summary["lines_posted"]) == (True, "105.00", 2)
    assert not EraFile.objects.exists() and not EraPayment.objects.exists()
    assert not ClaimRemittance.objects.exists()
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED


def test_import_era_command_prints_the_summary_and_fails_on_a_bad_file(claim, tmp_path):
    good = tmp_path / "good.835"
    good.write_text(era(paid_with_contractual(claim), "105.00"))
    out = io.StringIO()
    call_command("import_era", str(good), stdout=out)
    printed = json.loads(out.getvalue())
    assert printed == {**printed, "duplicate": False, "claims_matched": 1, "lines_posted": 2, "paid_total": "105.00",
                       "adjustment_total": "75.00", "patient_responsibility_total": "0.00", "denials_opened": 0,
                       "underpayments_opened": 0, "unmatched_claims": 0}
    bad = tmp_path / "bad.835"
    bad.write_text("ISA*garbage~")
    with pytest.raises(CommandError):
        call_command("import_era", str(bad), stdout=io.StringIO())


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_imports_post_once(clinic_a, code_sets):
    scene = build_claim_scene(clinic_a, make_medicare(payer_id="ACME1"))
    built = make_claim(scene)
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=built, to_status=status, reason="test")
    text = era(paid_with_contractual(built), "105.00")
    barrier, results = threading.Barrier(2), []

    def worker(name):
        try:
            barrier.wait()
            results.append(post(text, name=name))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(f"w{n}.835",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r["duplicate"] for r in results) == [False, True]
    assert EraPayment.objects.count() == 1
    assert LedgerEntry.objects.filter(kind="payment").count() == 2


def test_a_claim_paid_nothing_because_of_the_deductible_is_paid_not_denied(claim):
    body = (clp(claim, "1", "180.00", "0.00", patient="105.00")
            + svc(claim, 1, "97530", "120.00", "0.00", 2, ("CO", "45", "50.00"), ("PR", "1", "70.00"))
            + svc(claim, 2, "97535", "60.00", "0.00", 1, ("CO", "45", "25.00"), ("PR", "1", "35.00")))
    summary = post(era(body, "0"))
    assert summary["denials_opened"] == 0
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID
    assert claim_money(claim)["patient_balance"] == D("105.00")


def test_mppr_reduction_is_contractual_not_a_denial_or_underpayment(claim):
    body = (clp(claim, "1", "180.00", "105.00")
            + svc(claim, 1, "97530", "120.00", "70.00", 2, ("CO", "45", "50.00"))
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "15.00"), ("CO", "59", "10.00")))
    summary = post(era(body, "105.00"))
    assert (summary["denials_opened"], summary["underpayments_opened"]) == (0, 0)
    mppr = LedgerEntry.objects.get(carc="59")
    assert (mppr.kind, mppr.group_code, mppr.amount, mppr.claim_line.position) == ("adjustment", "CO", D("-10.00"), 2)
    assert claim_money(claim)["balance"] == D("0.00")
