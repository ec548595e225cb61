"""Replacement (7) and void (8) claims on the ledger, from the correction to the payer's 835 answer.

The original is a real claim (tests/claims/conftest.py make_claim) of one 97535 line charged 100.00 (this scene's
fee is 100.00 a unit), submitted and paid 80.00 with CO-45 20.00 by an 835 built with tests/denials/test_posting.py's
helpers (payer ACME1, payee clinic A, BPR16 2026-01-22). The correction moves the charge from the original to the
replacement when it is final; the payer's reversal (CLP02 22) takes the original to zero.
"""

import datetime
from decimal import Decimal

import pytest
from django.db.models import Sum

from claims.ledger import claim_balance
from claims.lifecycle import claim_transition
from claims.models import Claim, ClaimStatus, LedgerEntry, LedgerKind
from claims.services import claim_correct, claim_line_update, claim_mark_ready
from claims.x837 import render_837p
from clinics.models import ClaimFilingIndicator, CoveragePriority
from denials.models import ClaimRemittance
from denials.posting import era_import
from denials.secondary import _refuse_existing_secondary, secondary_claim_create
from otbilling.edi.validation import validate_with_pyx12
from otbilling.errors import AppError
from tests import factories
from tests.claims.conftest import DOS, add_fees, build_claim_scene, load_claim, make_claim, make_medicare
from tests.denials.test_posting import clp, svc
from tests.denials.test_x835 import era, interchange, transaction

D = Decimal
pytestmark = pytest.mark.django_db
PAID_ON = datetime.date(2026, 1, 22)  # the synthetic 835's BPR16: every payment row's accounting date
ONE_LINE = ({"cpt": "97535", "minutes": 15},)


@pytest.fixture
def scene(clinic_a, code_sets):
    add_fees(clinic_a, D("100.00"))  # before the scene's own fees, which leave an existing fee alone
    return build_claim_scene(clinic_a, make_medicare(payer_id="ACME1"))


def send(claim: Claim) -> Claim:
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=claim, to_status=status, reason="sent")
    return claim


def answer(claim, status, charge, paid, adjustment, icn="ICN1", quoting=None) -> str:
    """One CLP with its single 97535 line; `quoting` is the claim whose numbers the payer echoes (CLP01, REF*6R)."""
    quoted = quoting or claim
    return (clp(quoted, status, charge, paid, icn=icn)
            + svc(quoted, 1, "97535", charge, paid, -1 if charge.startswith("-") else 1, ("CO", "45", adjustment)))


def post(body: str, total: str, trace: str, name: str) -> dict:
    return era_import(file_name=name, content=interchange([transaction(body, total, trace=trace)]))


@pytest.fixture
def paid_claim(scene) -> Claim:
    claim = send(make_claim(scene, ONE_LINE))
    post(answer(claim, "1", "100.00", "80.00", "20.00"), "80.00", "EFT1", "first.835")
    claim.refresh_from_db()
    assert (claim.status, claim.total_charge, claim_balance(claim)) == (ClaimStatus.PAID, D("100.00"), D("0.00"))
    return claim


def correct(claim, frequency) -> Claim:
    return claim_correct(claim=claim, frequency=frequency, acting_user=None, reason="wrong units")


def rows(claim) -> list[tuple]:
    return sorted((e.kind, e.amount, e.source, e.reverses_id is not None)
                  for e in LedgerEntry.objects.filter(claim=claim))


def month_total(kind, first_day: datetime.date) -> Decimal:
    """What the month counts of one kind of row, by accounting date (as reports count it)."""
    entries = LedgerEntry.objects.filter(kind=kind, effective_date__year=first_day.year,
                                         effective_date__month=first_day.month)
    return entries.aggregate(total=Sum("amount"))["total"] or D("0.00")


def test_a_replacement_moves_the_charge_when_ready_and_the_payers_reversal_settles_both_claims(paid_claim):
    replacement = correct(paid_claim, "7")
    claim_line_update(line=replacement.lines.get(), acting_user=None, charge=D("120.00"))
    claim_mark_ready(claim=replacement, acting_user=None)

    charge = LedgerEntry.objects.get(claim=paid_claim, kind=LedgerKind.CHARGE, reverses__isnull=True)
    reversal = LedgerEntry.objects.get(claim=paid_claim, reverses=charge)
    assert (reversal.kind, reversal.amount, reversal.effective_date, reversal.claim_line_id) == (
        LedgerKind.CHARGE, D("-100.00"), DOS, charge.claim_line_id)
    new_charge = LedgerEntry.objects.get(claim=replacement)
    assert (new_charge.kind, new_charge.amount, new_charge.source, new_charge.effective_date) == (
        LedgerKind.CHARGE, D("120.00"), "correction", DOS)
    # Interim: the original holds the payer's 80.00 and the contract's 20.00 as a credit, the replacement its
    # 120.00; together 20.00, the part of the new charge no adjudication has answered yet.
    assert (claim_balance(paid_claim), claim_balance(replacement)) == (D("-100.00"), D("120.00"))
    assert month_total(LedgerKind.CHARGE, DOS) == D("120.00")  # 100 − 100 + 120: the month bills the replacement

    send(replacement)
    body = (answer(paid_claim, "22", "-100.00", "-80.00", "-20.00", quoting=replacement)
            + answer(replacement, "1", "120.00", "96.00", "24.00", icn="ICN2"))
    summary = post(body, "16.00", "EFT2", "second.835")

    assert (summary["claims_matched"], summary["lines_posted"], summary["unmatched_lines"]) == (2, 2, 0)
    assert (claim_balance(paid_claim), claim_balance(replacement)) == (D("0.00"), D("0.00"))
    assert month_total(LedgerKind.PAYMENT, PAID_ON) == D("-96.00")  # cash posted: 80 − 80 + 96
    assert rows(replacement) == [("adjustment", D("-24.00"), "835", False),
                                 ("charge", D("120.00"), "correction", False), ("payment", D("-96.00"), "835", False)]
    assert ClaimRemittance.objects.get(status_code="22").claim == paid_claim
    paid_claim.refresh_from_db()
    replacement.refresh_from_db()
    assert (paid_claim.status, paid_claim.payer_claim_control_number) == (ClaimStatus.REPLACED, "ICN1")
    assert (replacement.status, replacement.payer_claim_control_number) == (ClaimStatus.PAID, "ICN2")


def test_a_reversal_quoting_an_already_adjudicated_replacement_reverses_the_replacements_own_answer(paid_claim):
    replacement = correct(paid_claim, "7")
    claim_mark_ready(claim=replacement, acting_user=None)
    send(replacement)
    post(answer(paid_claim, "22", "-100.00", "-80.00", "-20.00", quoting=replacement)
         + answer(replacement, "1", "100.00", "80.00", "20.00", icn="ICN2"), "0", "EFT2", "second.835")
    post(answer(replacement, "22", "-100.00", "-80.00", "-20.00", icn="ICN2"), "-80.00", "EFT3", "third.835")
    assert (claim_balance(paid_claim), claim_balance(replacement)) == (D("0.00"), D("100.00"))


def test_a_void_carries_no_money_and_the_payers_reversal_brings_the_original_to_zero(paid_claim):
    void = correct(paid_claim, "8")
    assert void.status == ClaimStatus.READY
    assert claim_balance(paid_claim) == D("-100.00")  # its charge reversed at once: what was paid is a credit

    summary = post(answer(paid_claim, "22", "-100.00", "-80.00", "-20.00", quoting=void), "-80.00", "EFT2",
                   "void.835")

    assert (summary["claims_matched"], summary["lines_posted"]) == (1, 1)
    assert claim_balance(paid_claim) == D("0.00")
    assert not LedgerEntry.objects.filter(claim=void).exists()
    assert LedgerEntry.objects.filter(kind=LedgerKind.PAYMENT).aggregate(t=Sum("amount"))["t"] == D("0.00")
    paid_claim.refresh_from_db()
    assert paid_claim.status == ClaimStatus.VOIDED


def test_a_draft_replacements_edits_touch_the_ledger_only_when_it_is_marked_ready(paid_claim):
    before = rows(paid_claim)
    replacement = correct(paid_claim, "7")
    claim_line_update(line=replacement.lines.get(), acting_user=None, charge=D("120.00"), units=2)
    assert rows(paid_claim) == before and not LedgerEntry.objects.filter(claim=replacement).exists()

    claim_mark_ready(claim=replacement, acting_user=None)
    claim_transition(claim=replacement, to_status=ClaimStatus.DRAFT, reason="one more fix")
    claim_line_update(line=replacement.lines.get(), acting_user=None, charge=D("110.00"))
    claim_mark_ready(claim=replacement, acting_user=None)

    # Sent back and edited: the 120.00 is reversed and 110.00 charged; the original is reversed only once.
    assert rows(replacement) == [("charge", D("-120.00"), "correction", True),
                                 ("charge", D("110.00"), "correction", False),
                                 ("charge", D("120.00"), "correction", False)]
    assert (claim_balance(paid_claim), claim_balance(replacement)) == (D("-100.00"), D("110.00"))


# --- a corrected secondary claim --------------------------------------------------------------------------------


@pytest.fixture
def paid_secondary(clinic_a, code_sets) -> Claim:
    """97530 × 2 = 120.00 and 97535 = 60.00 (the usual fees): Medicare paid 85.00 (PR-2 20.00 to the patient), the
    secondary was billed and paid the 20.00."""
    scene = build_claim_scene(clinic_a, make_medicare(payer_id="ACME1"))
    payer = factories.PayerFactory(name="Birch Mutual", payer_id="BIRCH1",
                                   claim_filing_indicator=ClaimFilingIndicator.COMMERCIAL)
    factories.CoverageFactory(patient=scene.patient, payer=payer, priority=CoveragePriority.SECONDARY,
                              member_id="SEC998877", group_number="GRP-77", effective_from=datetime.date(2026, 1, 1))
    scene.provider.credentialed_payers.add(payer)
    primary = send(make_claim(scene))
    body = (clp(primary, "1", "180.00", "85.00", patient="20.00")
            + svc(primary, 1, "97530", "120.00", "50.00", 2, ("CO", "45", "50.00"), ("PR", "2", "20.00"))
            + svc(primary, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
    era_import(file_name="primary.835", content=era(body, "85.00"), bill_secondary=False)
    secondary = send(secondary_claim_create(claim=load_claim(primary.pk), acting_user=None))
    body = (clp(secondary, "1", "180.00", "20.00", icn="SEC1")
            + svc(secondary, 1, "97530", "120.00", "20.00", 2, ("OA", "23", "100.00"))
            + svc(secondary, 2, "97535", "60.00", "0.00", 1, ("OA", "23", "60.00")))
    post(body, "20.00", "SEC-EFT1", "secondary.835")
    secondary.refresh_from_db()
    assert (secondary.status, claim_balance(secondary)) == (ClaimStatus.PAID, D("0.00"))
    return secondary


def test_a_corrected_secondary_claim_stays_secondary_and_its_837p_carries_the_primarys_answer(paid_secondary):
    replacement = correct(paid_secondary, "7")
    assert (replacement.primary_claim_id, replacement.other_payer_adjudication) == (
        paid_secondary.primary_claim_id, paid_secondary.other_payer_adjudication)
    claim_mark_ready(claim=replacement, acting_user=None)
    # The prior payer's part (OA-23) moves with the charge, so the replacement owes what the secondary owed.
    assert (claim_balance(paid_secondary), claim_balance(replacement)) == (D("-20.00"), D("20.00"))

    text = render_837p([load_claim(replacement.pk)]).text
    segments = [segment.strip() for segment in text.split("~")]
    assert "REF*F8*SEC1" in segments and "SBR*P*18*******MB" in segments and "AMT*D*85.00" in segments
    assert f"CLM*{replacement.patient_control_number}*180.00***11:B:7*Y*A*Y*Y" in segments
    result = validate_with_pyx12(text)
    assert result.ok, result.issues


def test_a_voided_secondary_claim_no_longer_blocks_billing_the_next_payer_again(paid_secondary):
    primary = load_claim(paid_secondary.primary_claim_id)
    with pytest.raises(AppError, match="already has a secondary claim"):
        _refuse_existing_secondary(primary)
    void = correct(paid_secondary, "8")
    assert void.primary_claim_id == primary.pk
    _refuse_existing_secondary(primary)  # neither the voided claim nor the void itself counts
