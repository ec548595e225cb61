"""Secondary claims: the primary's 835 answer carried to the next payer, and the 837P COB loops that say it.

The primary comes from the real pipeline (tests/claims/conftest.py make_claim: 97530 × 2 units = 120.00 and
97535 × 1 unit = 60.00, modifier GO) billed to "Medicare Part B" (payer id ACME1, the id the synthetic 835 of
tests/denials/test_x835.py names), submitted and answered by an 835 posted through denials.posting.era_import. The
patient also holds a secondary coverage with Birch Mutual (BIRCH1).
"""

import datetime
from decimal import Decimal

import pytest

from claims.checks import check_written_837p
from claims.lifecycle import claim_transition
from claims.models import Claim, ClaimEvent, ClaimLine, ClaimStatus
from claims.x837 import render_837p
from clinics.models import ClaimFilingIndicator, CoveragePriority
from denials.posting import era_import
from denials.secondary import maybe_bill_secondary, secondary_claim_create
from otbilling.errors import AppError
from otbilling.models import X12ControlCounter
from tests import factories
from tests.claims.conftest import build_claim_scene, load_claim, make_claim, make_medicare, pin_control_numbers
from tests.claims.test_x837 import NOW, assert_golden
from tests.denials.test_posting import clp, svc
from tests.denials.test_x835 import era, interchange, transaction

D = Decimal
pytestmark = pytest.mark.django_db
PAID_ON = "2026-01-22"  # the synthetic 835's BPR16 payment date


@pytest.fixture(autouse=True)
def fresh_control_numbers(db):
    """Every test starts each sender's counter at zero, so the golden file carries ISA13 000000001."""
    X12ControlCounter.objects.all().delete()


@pytest.fixture
def scene(clinic_a, code_sets):
    return build_claim_scene(clinic_a, make_medicare(payer_id="ACME1"))


@pytest.fixture
def next_payer(scene):
    payer = factories.PayerFactory(name="Birch Mutual", payer_id="BIRCH1",
                                   claim_filing_indicator=ClaimFilingIndicator.COMMERCIAL)
    factories.CoverageFactory(patient=scene.patient, payer=payer, priority=CoveragePriority.SECONDARY,
                              member_id="SEC998877", group_number="GRP-77", effective_from=datetime.date(2026, 1, 1))
    scene.provider.credentialed_payers.add(payer)
    return payer


def submitted_claim(scene) -> Claim:
    claim = make_claim(scene)
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=claim, to_status=status, reason="test")
    return claim


def coinsurance_835(claim) -> str:
    body = (clp(claim, "1", "180.00", "85.00", patient="20.00")
            + svc(claim, 1, "97530", "120.00", "50.00", 2, ("CO", "45", "50.00"), ("PR", "2", "20.00"))
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
    return era(body, "85.00")


def primary_answered(scene, text_for) -> Claim:
    claim = submitted_claim(scene)
    # The secondary is billed by hand in these tests; posting's automatic billing has its own test.
    era_import(file_name="primary.835", content=text_for(claim), bill_secondary=False)
    return load_claim(claim.pk)


def segments(text: str) -> list[str]:
    return [line.rstrip("~") for line in text.splitlines()]


def written(claim) -> str:
    return render_837p([load_claim(claim.pk)], now=NOW).text


def test_a_primary_paid_with_coinsurance_gives_a_ready_secondary_carrying_its_answer_to_the_cent(
        scene, next_payer, user_a):
    primary = primary_answered(scene, coinsurance_835)
    secondary = secondary_claim_create(claim=primary, acting_user=user_a)
    secondary.refresh_from_db()
    assert (secondary.status, secondary.payer, secondary.coverage.priority, secondary.primary_claim_id) == (
        ClaimStatus.READY, next_payer, "secondary", primary.pk)
    assert (secondary.total_charge, secondary.frequency, secondary.created_by) == (D("180.00"), "1", user_a)
    assert secondary.other_payer_adjudication == {
        "payer": {"name": "Medicare Part B", "payer_id": "ACME1", "claim_filing_indicator": "MB",
                  "responsibility": "P"},
        "subscriber": {"last_name": "Zebulon", "first_name": "Anna", "member_id": "1EG4TE5MK73",
                       "relationship": "18", "group_number": ""},
        "payer_claim_control_number": "ICN1",
        "paid": "85.00",
        "patient_responsibility": "20.00",
        "adjudicated_on": PAID_ON,
        "claim_adjustments": [],
        "lines": {
            "1": {"paid": "50.00", "patient_responsibility": "20.00",
                  "adjustments": [{"group": "CO", "carc": "45", "amount": "50.00"},
                                  {"group": "PR", "carc": "2", "amount": "20.00"}]},
            "2": {"paid": "35.00", "patient_responsibility": "0.00",
                  "adjustments": [{"group": "CO", "carc": "45", "amount": "25.00"}]},
        },
    }
    lines = list(ClaimLine.objects.filter(claim=secondary).values_list(
        "position", "cpt", "modifiers", "units", "charge", "line_control_number"))
    pcn = secondary.patient_control_number
    assert lines == [(1, "97530", ["GO"], 2, D("120.00"), f"{pcn}L01"),
                     (2, "97535", ["GO"], 1, D("60.00"), f"{pcn}L02")]
    event = ClaimEvent.objects.get(claim=secondary)
    assert (event.to_status, event.reason, event.actor) == ("ready", f"secondary of {primary.patient_control_number}",
                                                            user_a)
    assert Claim.objects.get(pk=primary.pk).status == ClaimStatus.PAID  # the primary's history is left alone


def test_the_secondary_837p_says_s_for_its_payer_and_carries_the_primary_in_2320_2330_and_2430(scene, next_payer):
    primary = primary_answered(scene, coinsurance_835)
    secondary = pin_control_numbers(secondary_claim_create(claim=primary, acting_user=None), "CSECOND00001")
    text = written(secondary)
    assert_golden("secondary_cob", text)  # also proves pyx12 and our own checks find it clean
    found = segments(text)
    assert "SBR*S*18*GRP-77******CI" in found and "NM1*PR*2*BIRCH MUTUAL*****PI*BIRCH1" in found
    cob_start = found.index("SBR*P*18*******MB")
    assert found[cob_start:cob_start + 9] == [
        "SBR*P*18*******MB", "AMT*D*85.00", "OI***Y***Y", "NM1*IL*1*ZEBULON*ANNA****MI*1EG4TE5MK73",
        "N3*12 OAK ST", "N4*PORTLAND*OR*97201", "NM1*PR*2*MEDICARE PART B*****PI*ACME1", "REF*F8*ICN1", "LX*1"]
    first_line = found.index("REF*6R*CSECOND00001L01")
    assert found[first_line + 1:first_line + 7] == [
        "SVD*ACME1*50.00*HC:97530:GO**2", "CAS*CO*45*50.00", "CAS*PR*2*20.00", "DTP*573*D8*20260122",
        "AMT*EAF*20.00", "LX*2"]
    second_line = found.index("REF*6R*CSECOND00001L02")
    assert found[second_line + 1:second_line + 5] == [
        "SVD*ACME1*35.00*HC:97535:GO**1", "CAS*CO*45*25.00", "DTP*573*D8*20260122", "AMT*EAF*0.00"]
    assert check_written_837p(text) == []


def test_a_denied_primary_gives_a_secondary_with_nothing_paid_and_the_denial_reasons(scene, next_payer):
    def denied(claim):
        body = (clp(claim, "4", "180.00", "0.00")
                + svc(claim, 1, "97530", "120.00", "0.00", 2, ("CO", "197", "120.00"), remarks=("N640",))
                + svc(claim, 2, "97535", "60.00", "0.00", 1, ("CO", "197", "60.00")))
        return era(body, "0")

    primary = primary_answered(scene, denied)
    assert primary.status == ClaimStatus.DENIED
    secondary = secondary_claim_create(claim=primary, acting_user=None)
    answer = secondary.other_payer_adjudication
    assert (answer["paid"], answer["patient_responsibility"]) == ("0.00", "0.00")
    assert answer["lines"]["1"] == {"paid": "0.00", "patient_responsibility": "0.00",
                                    "adjustments": [{"group": "CO", "carc": "197", "amount": "120.00"}]}
    text = written(secondary)
    found = segments(text)
    assert "AMT*D*0.00" in found
    first_line = found.index("SVD*ACME1*0.00*HC:97530:GO**2")
    assert found[first_line:first_line + 3] == ["SVD*ACME1*0.00*HC:97530:GO**2", "CAS*CO*197*120.00",
                                                "DTP*573*D8*20260122"]
    assert "CAS*CO*197*60.00" in found
    assert check_written_837p(text) == []


def test_a_primary_answered_at_claim_level_only_puts_the_date_and_patient_liability_in_2320_and_2330b(
        scene, next_payer):
    def claim_level(claim):
        body = (f"CLP*{claim.patient_control_number}*1*180.00*85.00*20.00*MB*ICN9*11*1\n"
                "CAS*CO*45*75.00\nCAS*PR*2*20.00\nNM1*QC*1*ZEBULON*ANNA****MI*1EG4TE5MK73\n")
        return era(body, "85.00")

    secondary = secondary_claim_create(claim=primary_answered(scene, claim_level), acting_user=None)
    answer = secondary.other_payer_adjudication
    assert (answer["lines"], answer["claim_adjustments"]) == ({}, [
        {"group": "CO", "carc": "45", "amount": "75.00"}, {"group": "PR", "carc": "2", "amount": "20.00"}])
    found = segments(text := written(secondary))
    start = found.index("SBR*P*18*******MB")
    assert found[start:start + 6] == ["SBR*P*18*******MB", "CAS*CO*45*75.00", "CAS*PR*2*20.00", "AMT*D*85.00",
                                      "AMT*EAF*20.00", "OI***Y***Y"]
    assert found[found.index("NM1*PR*2*MEDICARE PART B*****PI*ACME1") + 1:][:2] == ["DTP*573*D8*20260122",
                                                                                   "REF*F8*ICN9"]
    assert not [s for s in found if s.startswith("SVD*")]
    assert check_written_837p(text) == []


def test_after_a_reversal_and_repost_the_secondary_carries_the_reposted_answer(scene, next_payer):
    primary = primary_answered(scene, coinsurance_835)
    reversal = (clp(primary, "22", "-180.00", "-85.00", patient="-20.00")
                + svc(primary, 1, "97530", "-120.00", "-50.00", -2, ("CO", "45", "-50.00"), ("PR", "2", "-20.00"))
                + svc(primary, 2, "97535", "-60.00", "-35.00", -1, ("CO", "45", "-25.00")))
    repost = (clp(primary, "1", "180.00", "95.00", patient="10.00", icn="ICN2")
              + svc(primary, 1, "97530", "120.00", "60.00", 2, ("CO", "45", "50.00"), ("PR", "2", "10.00"))
              + svc(primary, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
    era_import(file_name="repost.835", bill_secondary=False,
               content=interchange([transaction(reversal + repost, "10.00", trace="EFT999")]))
    answer = secondary_claim_create(claim=load_claim(primary.pk), acting_user=None).other_payer_adjudication
    assert (answer["paid"], answer["patient_responsibility"], answer["payer_claim_control_number"]) == (
        "95.00", "10.00", "ICN2")
    assert answer["lines"]["1"] == {"paid": "60.00", "patient_responsibility": "10.00",
                                    "adjustments": [{"group": "CO", "carc": "45", "amount": "50.00"},
                                                    {"group": "PR", "carc": "2", "amount": "10.00"}]}


def test_a_claim_the_primary_crossed_over_is_refused_because_the_secondary_already_has_it(scene, next_payer):
    def crossed(claim):
        # CLP02 19: processed as primary and forwarded; NM1*TT names the payer it went to.
        body = (clp(claim, "19", "180.00", "85.00", patient="20.00") + "NM1*TT*2*BIRCH MUTUAL*****PI*BIRCH1\n"
                + svc(claim, 1, "97530", "120.00", "50.00", 2, ("CO", "45", "50.00"), ("PR", "2", "20.00"))
                + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
        return era(body, "85.00")

    primary = primary_answered(scene, crossed)
    with pytest.raises(AppError) as refused:
        secondary_claim_create(claim=primary, acting_user=None)
    assert refused.value.code == "crossed_over"
    assert "crossed claim" in refused.value.message and "BIRCH MUTUAL" in refused.value.message
    assert "secondary payer already has it" in refused.value.message
    assert maybe_bill_secondary(claim=primary) is None
    assert not Claim.objects.filter(primary_claim=primary).exists()


def test_a_patient_without_secondary_coverage_is_refused(scene):
    primary = primary_answered(scene, coinsurance_835)
    with pytest.raises(AppError, match="has no secondary coverage active on 2026-09-14") as refused:
        secondary_claim_create(claim=primary, acting_user=None)
    assert refused.value.code == "no_next_coverage"
    assert Claim.objects.count() == 1


def test_a_secondary_coverage_that_ended_before_the_service_is_no_next_payer(scene, next_payer):
    next_payer.coverages.update(effective_to=datetime.date(2026, 6, 30))
    primary = primary_answered(scene, coinsurance_835)
    assert maybe_bill_secondary(claim=primary) is None


def test_billing_the_secondary_twice_is_refused_and_creates_one_claim(scene, next_payer):
    primary = primary_answered(scene, coinsurance_835)
    first = maybe_bill_secondary(claim=primary)
    assert first is not None
    with pytest.raises(AppError, match=f"already has a secondary claim {first.patient_control_number}") as refused:
        secondary_claim_create(claim=primary, acting_user=None)
    assert refused.value.code == "secondary_exists"
    assert maybe_bill_secondary(claim=primary) is None
    assert Claim.objects.filter(primary_claim=primary).count() == 1


def test_a_primary_not_yet_adjudicated_is_refused(scene, next_payer):
    primary = submitted_claim(scene)
    with pytest.raises(AppError, match="is submitted: a secondary claim needs the primary payer's adjudication") as e:
        secondary_claim_create(claim=primary, acting_user=None)
    assert e.value.code == "not_adjudicated"


def test_a_primary_paid_in_full_leaves_nothing_to_bill(scene, next_payer):
    def paid_in_full(claim):
        body = (clp(claim, "1", "180.00", "105.00")
                + svc(claim, 1, "97530", "120.00", "70.00", 2, ("CO", "45", "50.00"))
                + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
        return era(body, "105.00")

    primary = primary_answered(scene, paid_in_full)
    with pytest.raises(AppError, match="Nothing remains to bill") as refused:
        secondary_claim_create(claim=primary, acting_user=None)
    assert refused.value.code == "nothing_to_bill"


def test_a_user_of_another_clinic_cannot_bill_the_secondary(scene, next_payer, user_b, user_no_grant):
    primary = primary_answered(scene, coinsurance_835)
    for outsider in (user_b, user_no_grant):
        with pytest.raises(AppError) as refused:
            secondary_claim_create(claim=primary, acting_user=outsider)
        assert refused.value.code == "forbidden"
    assert not Claim.objects.filter(primary_claim=primary).exists()


def test_posting_the_primary_bills_the_secondary_by_itself(scene, next_payer):
    claim = submitted_claim(scene)
    summary = era_import(file_name="primary.835", content=coinsurance_835(claim))
    assert summary["secondary_claims_built"] == 1
    secondary = Claim.objects.get(primary_claim=claim)
    assert (secondary.payer.payer_id, secondary.status, secondary.other_payer_adjudication["paid"]) == (
        "BIRCH1", "ready", "85.00")


def test_the_balance_moves_to_the_secondary_claim_so_a_r_counts_it_once(scene, next_payer):
    from claims.ledger import claim_money

    claim = submitted_claim(scene)
    era_import(file_name="primary.835", content=coinsurance_835(claim))
    secondary = Claim.objects.get(primary_claim=claim)
    primary_money, secondary_money = claim_money(claim), claim_money(secondary)
    assert (primary_money["balance"], primary_money["patient_balance"]) == (Decimal("0.00"), Decimal("0.00"))
    assert (secondary_money["charged"], secondary_money["adjusted"], secondary_money["balance"]) == (
        Decimal("180.00"), Decimal("160.00"), Decimal("20.00"))
