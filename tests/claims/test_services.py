"""claims.services (claims_build, claim_correct) and claims.lifecycle (claim_transition and the DB constraints)."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Count

from claims.lifecycle import claim_transition
from claims.models import Claim, ClaimEvent, ClaimLine, ClaimStatus
from claims.services import claim_correct, claims_build
from coding.services import visit_code
from eligibility.models import AuthorizedCode, PriorAuthorization
from otbilling.errors import AppError
from tests import factories
from tests.claims.conftest import DOS, add_visit, code_billable, load_claim, make_claim

S = ClaimStatus


def advance(claim, *statuses):
    for status in statuses:
        claim_transition(claim=claim, to_status=status, reason="test")
    return claim


def adjudicated(scene, status=S.PAID, icn="ICN-0001"):
    claim = advance(make_claim(scene), S.BATCHED, S.SUBMITTED, status)
    Claim.objects.filter(pk=claim.pk).update(payer_claim_control_number=icn)
    return load_claim(claim.pk)


# --- claims_build -----------------------------------------------------------------------------------------------


def test_visits_of_one_patient_coverage_provider_and_day_make_one_claim(claim_scene):
    morning = add_visit(claim_scene, [{"cpt": "97530", "minutes": 30}])
    afternoon = add_visit(claim_scene, [{"cpt": "97535", "minutes": 15}])
    next_day = add_visit(claim_scene, [{"cpt": "97530", "minutes": 30}],
                         date_of_service=DOS - datetime.timedelta(days=1))
    colleague = factories.ProviderFactory(clinic=claim_scene.clinic, first_name="Cal", last_name="Colleague",
                                          npi="1000000004")
    colleague.credentialed_payers.add(claim_scene.payer)
    other_provider = add_visit(claim_scene, [{"cpt": "97110", "minutes": 15}], rendering_provider=colleague)
    for visit in (morning, afternoon, next_day, other_provider):
        code_billable(visit)
    result = claims_build(clinic=claim_scene.clinic)
    assert result.as_dict() == {"claims_built": 3, "visits_held": 0}
    shared = ClaimLine.objects.get(visit=morning).claim
    assert sorted(shared.lines.values_list("visit_id", "cpt", "charge")) == sorted(
        [(morning.pk, "97530", Decimal("120.00")), (afternoon.pk, "97535", Decimal("60.00"))])
    assert (shared.total_charge, shared.status, shared.service_date_from) == (Decimal("180.00"), S.READY, DOS)
    assert ClaimLine.objects.get(visit=next_day).claim_id != shared.pk
    assert ClaimLine.objects.get(visit=other_provider).claim.rendering_provider == colleague


def test_held_and_unscrubbed_visits_are_counted_not_billed(claim_scene):
    held = add_visit(claim_scene, [{"cpt": "97530", "minutes": 30}], diagnoses=["Z99.999"])
    visit_code(visit=held, today=DOS)
    add_visit(claim_scene, [{"cpt": "97535", "minutes": 15}], date_of_service=DOS - datetime.timedelta(days=1))
    result = claims_build(clinic=claim_scene.clinic)
    assert result.as_dict() == {"claims_built": 0, "visits_held": 2}
    assert not Claim.objects.exists()


def test_a_visit_is_never_billed_twice(claim_scene):
    claim = make_claim(claim_scene)
    again = claims_build(clinic=claim_scene.clinic)
    assert again.as_dict() == {"claims_built": 0, "visits_held": 0}
    assert Claim.objects.get() == claim
    assert list(ClaimLine.objects.values("service_line").annotate(n=Count("pk")).values_list("n", flat=True)) \
        == [1, 1]


def test_line_control_numbers_are_unique_and_name_the_claim_and_position(claim_scene):
    claims = [make_claim(claim_scene, date_of_service=DOS - datetime.timedelta(days=n)) for n in range(3)]
    numbers = list(ClaimLine.objects.values_list("line_control_number", flat=True))
    assert len(numbers) == len(set(numbers)) == 6
    for claim in claims:
        assert [line.line_control_number for line in claim.lines.order_by("position")] == [
            f"{claim.patient_control_number}L01", f"{claim.patient_control_number}L02"]
        assert re.fullmatch(r"C[A-HJ-NP-Z2-9]{11}", claim.patient_control_number)


def test_the_authorization_numbers_are_carried_to_the_claim_and_its_line(claim_scene):
    coverage, clinic = claim_scene.coverage, claim_scene.clinic
    PriorAuthorization.objects.create(clinic=clinic, coverage=coverage, number="AUTH-VISITS-1",
                                      start_date=datetime.date(2026, 9, 1), end_date=datetime.date(2026, 12, 31))
    per_code = PriorAuthorization.objects.create(clinic=clinic, coverage=coverage, number="AUTH-97530",
                                                 start_date=datetime.date(2026, 8, 1),
                                                 end_date=datetime.date(2026, 12, 31))
    AuthorizedCode.objects.create(clinic=clinic, authorization=per_code, cpt="97530", units_authorized=24)
    claim = make_claim(claim_scene)
    assert claim.prior_auth_number == "AUTH-VISITS-1"
    assert list(claim.lines.order_by("position").values_list("cpt", "auth_number")) == [
        ("97530", "AUTH-97530"), ("97535", "")]


# --- claim_correct ----------------------------------------------------------------------------------------------


def test_a_rejected_claim_cannot_be_replaced(claim_scene):
    claim = adjudicated(claim_scene, status=S.REJECTED)
    with pytest.raises(AppError, match="a rejected claim is fixed and resent as a new original") as refused:
        claim_correct(claim=claim, frequency="7", acting_user=None, reason="fix")
    assert refused.value.code == "not_adjudicated"
    assert Claim.objects.count() == 1


def test_a_correction_needs_the_payer_claim_number(claim_scene):
    claim = adjudicated(claim_scene, icn="")
    with pytest.raises(AppError, match=r"no payer claim control number \(835 CLP07\)") as refused:
        claim_correct(claim=claim, frequency="8", acting_user=None, reason="wrong patient")
    assert refused.value.code == "missing_payer_claim_number"
    assert Claim.objects.get(pk=claim.pk).status == S.PAID


def test_a_payer_without_replacements_refuses_frequency_7_but_takes_a_void(claim_scene):
    type(claim_scene.payer).objects.filter(pk=claim_scene.payer.pk).update(accepts_replacement_claims=False)
    claim = adjudicated(claim_scene)
    with pytest.raises(AppError, match="accepts no replacement claims") as refused:
        claim_correct(claim=claim, frequency="7", acting_user=None, reason="units")
    assert refused.value.code == "replacement_not_accepted"
    void = claim_correct(claim=load_claim(claim.pk), frequency="8", acting_user=None, reason="wrong patient")
    assert (void.frequency, void.status) == ("8", S.READY)


def test_a_replacement_is_a_draft_copy_with_frequency_7_and_the_original_is_replaced(claim_scene, user_a):
    original = adjudicated(claim_scene, icn="ICN-777")
    correction = claim_correct(claim=original, frequency="7", acting_user=user_a, reason="units corrected")
    assert (correction.status, correction.frequency, correction.replaces_id) == (S.DRAFT, "7", original.pk)
    assert (correction.payer_claim_control_number, correction.total_charge) == ("ICN-777", Decimal("180.00"))
    assert correction.patient_control_number != original.patient_control_number
    assert list(correction.lines.order_by("position").values_list("cpt", "units", "charge", "line_control_number")) \
        == [("97530", 2, Decimal("120.00"), f"{correction.patient_control_number}L01"),
            ("97535", 1, Decimal("60.00"), f"{correction.patient_control_number}L02")]
    assert Claim.objects.get(pk=original.pk).status == S.REPLACED
    last = ClaimEvent.objects.filter(claim=original).last()
    assert (last.from_status, last.to_status, last.actor) == (S.PAID, S.REPLACED, user_a)
    assert last.reason == f"replacement {correction.patient_control_number}: units corrected"


def test_a_void_is_ready_at_once_with_frequency_8_and_the_original_is_voided(claim_scene):
    original = adjudicated(claim_scene, status=S.DENIED, icn="ICN-888")
    void = claim_correct(claim=original, frequency="8", acting_user=None, reason="billed the wrong patient")
    assert (void.status, void.frequency, void.payer_claim_control_number) == (S.READY, "8", "ICN-888")
    assert Claim.objects.get(pk=original.pk).status == S.VOIDED


# --- lifecycle --------------------------------------------------------------------------------------------------


def test_an_allowed_move_changes_the_status_and_writes_one_event(claim_scene, user_a):
    claim = make_claim(claim_scene)
    event = claim_transition(claim=claim, to_status=S.BATCHED, acting_user=user_a, reason="in a batch")
    assert Claim.objects.get(pk=claim.pk).status == S.BATCHED
    assert (event.from_status, event.to_status, event.actor, event.actor_name, event.reason) == (
        S.READY, S.BATCHED, user_a, "biller_a", "in a batch")
    submitted = claim_transition(claim=claim, to_status=S.SUBMITTED)
    assert claim.submitted_at is not None and submitted.actor_name == "system"


def test_a_refused_move_raises_and_writes_no_event(claim_scene):
    claim = make_claim(claim_scene)
    events = ClaimEvent.objects.filter(claim=claim).count()
    with pytest.raises(AppError) as refused:
        claim_transition(claim=claim, to_status=S.PAID)
    assert refused.value.code == "claim_transition_refused"
    assert refused.value.message == f"Claim {claim.patient_control_number} cannot move from status 'ready' to 'paid'."
    assert Claim.objects.get(pk=claim.pk).status == S.READY
    assert ClaimEvent.objects.filter(claim=claim).count() == events


def test_replaced_and_voided_claims_never_move_again(claim_scene):
    original = adjudicated(claim_scene)
    claim_correct(claim=original, frequency="8", acting_user=None, reason="void")
    with pytest.raises(AppError):
        claim_transition(claim=load_claim(original.pk), to_status=S.PAID)


def test_the_database_forbids_a_replacement_without_the_payer_claim_number(claim_scene):
    claim = make_claim(claim_scene)
    with pytest.raises(IntegrityError, match="correction_names_the_original"), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(frequency="7")


def test_the_database_forbids_a_submitted_claim_without_a_submission_time(claim_scene):
    claim = make_claim(claim_scene)
    with pytest.raises(IntegrityError, match="sent_claim_has_submission_time"), transaction.atomic():
        Claim.objects.filter(pk=claim.pk).update(status=S.SUBMITTED)
