"""Working denials: assign, follow up, appeal (and its outcome), transfer to the patient, write off, resolve, and the
underpayment items. Money is checked to the cent in the ledger rows each service writes; every refusal writes
nothing.

The denied claim is real: built from a signed, coded visit (97530 × 2 = 120.00 and 97535 × 1 = 60.00), submitted,
and answered by an 835 denying both lines for CO-197 (no prior authorization) through denials.posting.era_import.
Other test modules of this package import the helpers below.
"""

import datetime
import hashlib
from decimal import Decimal

import pytest
from django.apps import apps
from guardian.shortcuts import assign_perm

from claims.ledger import claim_balance, claim_money
from claims.lifecycle import claim_transition
from claims.models import ClaimStatus, LedgerEntry, LedgerKind, LedgerParty
from claims.services import claim_correct
from denials import services
from denials.models import Appeal, AppealOutcome, Denial, FollowUpNote, Underpayment, WorkStatus
from denials.posting import era_import
from denials.services import TransferReason, WriteOffReason
from otbilling.errors import AppError
from otbilling.tenancy import VIEW_PHI, WORK_CLAIMS, Role
from tests import factories
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import clp, svc
from tests.denials.test_x835 import era

D = Decimal
pytestmark = pytest.mark.django_db

PAYMENT_DATE = datetime.date(2026, 1, 22)  # BPR16 of the synthetic 835
NOTE_TEXT = "Patient practised buttoning and zipper management; fine motor coordination improved to 4/5."
GOALS = "Independent upper-body dressing within 8 weeks."


# --- helpers shared by the denial tests ---------------------------------------------------------------------------


def submitted_claim(clinic, *, appeal_window_days=120, with_plan=True, payer_id="ACME1"):
    """A real claim (two lines, 180.00) submitted to a Medicare-like payer, its visit linked to a plan of care."""
    scene = build_claim_scene(clinic, make_medicare(payer_id=payer_id, appeal_window_days=appeal_window_days))
    extra = {"note_text": NOTE_TEXT}
    if with_plan:
        extra["plan_of_care"] = factories.PlanOfCareFactory(patient=scene.patient, goals=GOALS)
    claim = make_claim(scene, **extra)
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=claim, to_status=status, reason="test")
    return claim


def denial_835(claim, *, icn="ICN197") -> str:
    body = (clp(claim, "4", "180.00", "0.00", icn=icn)
            + svc(claim, 1, "97530", "120.00", "0.00", 2, ("CO", "197", "120.00"), remarks=("N640",))
            + svc(claim, 2, "97535", "60.00", "0.00", 1, ("CO", "197", "60.00")))
    return era(body, "0")


def denied_claim(clinic, **kwargs):
    """A submitted claim whose two lines the payer denied (CO-197): two open denials, 180.00 still owed by it."""
    claim = submitted_claim(clinic, **kwargs)
    era_import(file_name="denial.835", content=denial_835(claim))
    claim.refresh_from_db()
    return claim


def ledger_rows(claim, *kinds):
    rows = LedgerEntry.objects.filter(claim=claim, kind__in=kinds).order_by("pk")
    return [(row.kind, row.party, row.amount, row.claim_line.position if row.claim_line else None, row.source,
             row.reason_code, row.posted_by.username if row.posted_by else None) for row in rows]


def grant(user, clinic, *perms):
    """Bare object permissions, for a person no named role fits (e.g. works claims but may not write off)."""
    for perm in perms:
        assign_perm(f"clinics.{perm}", user, clinic)
    return user


@pytest.fixture
def claim(clinic_a, code_sets):
    return denied_claim(clinic_a)


@pytest.fixture
def denial(claim):
    return Denial.objects.select_related("claim__payer", "clinic").get(claim=claim, claim_line__position=1)


@pytest.fixture
def work_only_user(make_user, clinic_a):
    return grant(make_user("works_no_write_off"), clinic_a, VIEW_PHI, WORK_CLAIMS)


# --- the starting point -------------------------------------------------------------------------------------------


def test_the_835_opened_two_denials_and_left_the_whole_charge_owed_by_the_payer(claim):
    assert sorted(Denial.objects.filter(claim=claim).values_list("claim_line__position", "carc", "amount")) == [
        (1, "197", D("120.00")), (2, "197", D("60.00"))]
    money = claim_money(claim)
    assert (money["payer_balance"], money["patient_balance"], money["written_off"]) == (D("180.00"), D("0"), D("0"))


# --- transfer to the patient --------------------------------------------------------------------------------------


def test_transfer_moves_the_whole_payer_balance_to_the_patient_line_by_line(claim, user_a):
    moved = services.balance_transfer_to_patient(claim=claim, acting_user=user_a,
                                                 reason=TransferReason.NON_COVERED_WITH_ABN)
    assert moved == D("180.00")
    reason = TransferReason.NON_COVERED_WITH_ABN.value
    assert ledger_rows(claim, LedgerKind.TRANSFER) == [
        ("transfer", "payer", D("-120.00"), 1, "transfer", reason, "biller_a"),
        ("transfer", "patient", D("120.00"), 1, "transfer", reason, "biller_a"),
        ("transfer", "payer", D("-60.00"), 2, "transfer", reason, "biller_a"),
        ("transfer", "patient", D("60.00"), 2, "transfer", reason, "biller_a"),
    ]
    assert (claim_balance(claim, "payer"), claim_balance(claim, "patient")) == (D("0.00"), D("180.00"))
    assert set(Denial.objects.filter(claim=claim).values_list("status", flat=True)) == {WorkStatus.TRANSFERRED}


def test_transfer_of_part_of_the_balance_fills_the_first_line_first_and_leaves_the_denials_open(claim, user_a):
    services.balance_transfer_to_patient(claim=claim, amount="130.00", acting_user=user_a,
                                         reason=TransferReason.BENEFIT_EXHAUSTED)
    assert [(party, amount, line) for _k, party, amount, line, *_ in ledger_rows(claim, LedgerKind.TRANSFER)] == [
        ("payer", D("-120.00"), 1), ("patient", D("120.00"), 1), ("payer", D("-10.00"), 2), ("patient", D("10.00"), 2)]
    assert (claim_balance(claim, "payer"), claim_balance(claim, "patient")) == (D("50.00"), D("130.00"))
    assert set(Denial.objects.filter(claim=claim).values_list("status", flat=True)) == {WorkStatus.OPEN}


@pytest.mark.parametrize(("amount", "reason", "code"), [
    ("180.01", TransferReason.OTHER, "over_balance"),
    ("0", TransferReason.OTHER, "invalid"),
    ("12.345", TransferReason.OTHER, "invalid"),
    ("10.00", "because", "invalid"),
])
def test_a_refused_transfer_writes_nothing(claim, user_a, amount, reason, code):
    with pytest.raises(AppError) as caught:
        services.balance_transfer_to_patient(claim=claim, amount=amount, acting_user=user_a, reason=reason)
    assert caught.value.code == code
    assert not LedgerEntry.objects.filter(claim=claim).exclude(kind=LedgerKind.CHARGE).exists()


def test_transfer_is_refused_to_a_biller_of_another_clinic(claim, user_b):
    with pytest.raises(AppError) as caught:
        services.balance_transfer_to_patient(claim=claim, acting_user=user_b, reason=TransferReason.OTHER)
    assert caught.value.code == "forbidden"
    assert not LedgerEntry.objects.filter(kind=LedgerKind.TRANSFER).exists()


# --- write-off ----------------------------------------------------------------------------------------------------


def test_write_off_of_the_whole_balance_writes_reasoned_rows_and_closes_the_denials(claim, user_a):
    services.balance_write_off(claim=claim, amount="180.00", reason_code=WriteOffReason.AUTH_NOT_OBTAINED,
                               note="No retro authorization possible.", acting_user=user_a)
    assert ledger_rows(claim, LedgerKind.WRITE_OFF) == [
        ("write_off", "payer", D("-120.00"), 1, "writeoff", "auth_not_obtained", "biller_a"),
        ("write_off", "payer", D("-60.00"), 2, "writeoff", "auth_not_obtained", "biller_a"),
    ]
    assert LedgerEntry.objects.filter(kind=LedgerKind.WRITE_OFF).first().note == "No retro authorization possible."
    money = claim_money(claim)
    assert (money["balance"], money["written_off"]) == (D("0.00"), D("180.00"))
    assert set(Denial.objects.filter(claim=claim).values_list("status", flat=True)) == {WorkStatus.WRITTEN_OFF}


def test_the_change_history_names_the_service_and_the_person(claim, denial, user_a):
    services.balance_write_off(claim=claim, amount="180.00", reason_code=WriteOffReason.AUTH_NOT_OBTAINED, note="",
                               acting_user=user_a)
    event = apps.get_model("denials", "DenialEvent").objects.filter(pgh_obj=denial).order_by("pgh_id").last()
    assert (event.status, event.pgh_label) == (WorkStatus.WRITTEN_OFF, "update")
    assert event.pgh_context.metadata == {**event.pgh_context.metadata, "service": "balance_write_off",
                                          "acting_user_id": user_a.pk}


def test_write_off_of_part_leaves_the_rest_owed_and_the_denials_open(claim, user_a):
    services.balance_write_off(claim=claim, amount="0.50", reason_code=WriteOffReason.SMALL_BALANCE, note="",
                               acting_user=user_a)
    assert claim_balance(claim) == D("179.50")
    assert ledger_rows(claim, LedgerKind.WRITE_OFF) == [
        ("write_off", "payer", D("-0.50"), 1, "writeoff", "small_balance", "biller_a")]
    assert set(Denial.objects.filter(claim=claim).values_list("status", flat=True)) == {WorkStatus.OPEN}


def test_write_off_is_refused_without_the_write_off_permission_and_writes_nothing(claim, work_only_user):
    with pytest.raises(AppError) as caught:
        services.balance_write_off(claim=claim, amount="10.00", reason_code=WriteOffReason.ADMINISTRATIVE, note="",
                                   acting_user=work_only_user)
    assert caught.value.code == "forbidden" and "write off" in caught.value.message
    assert not LedgerEntry.objects.filter(kind=LedgerKind.WRITE_OFF).exists()
    assert claim_balance(claim) == D("180.00")


@pytest.mark.parametrize(("kwargs", "code", "field"), [
    ({"amount": "180.01"}, "over_balance", "amount"),
    ({"amount": "5.00", "party": LedgerParty.PATIENT}, "over_balance", "amount"),
    ({"amount": "-5.00"}, "invalid", "amount"),
    ({"reason_code": "because"}, "invalid", "reason_code"),
    ({"reason_code": WriteOffReason.OTHER, "note": "  "}, "required", "note"),
    ({"party": "insurer"}, "invalid", "party"),
])
def test_a_refused_write_off_names_the_field_and_writes_nothing(claim, user_a, kwargs, code, field):
    values = {"amount": "10.00", "reason_code": WriteOffReason.ADMINISTRATIVE, "note": "", **kwargs}
    with pytest.raises(AppError) as caught:
        services.balance_write_off(claim=claim, acting_user=user_a, **values)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert not LedgerEntry.objects.filter(kind=LedgerKind.WRITE_OFF).exists()


def test_the_patient_balance_can_be_written_off_after_a_transfer(claim, user_a):
    services.balance_transfer_to_patient(claim=claim, amount="20.00", acting_user=user_a,
                                         reason=TransferReason.PAYER_SAYS_PATIENT)
    services.balance_write_off(claim=claim, amount="20.00", reason_code=WriteOffReason.BAD_DEBT, note="Collections "
                               "returned it.", acting_user=user_a, party=LedgerParty.PATIENT)
    assert (claim_balance(claim, "payer"), claim_balance(claim, "patient")) == (D("160.00"), D("0.00"))
    assert ledger_rows(claim, LedgerKind.WRITE_OFF) == [
        ("write_off", "patient", D("-20.00"), 1, "writeoff", "bad_debt", "biller_a")]


# --- appeal -------------------------------------------------------------------------------------------------------


def test_appeal_stores_the_letter_with_its_hash_and_deadline_and_marks_the_denial_appealed(denial, user_a):
    deadline = PAYMENT_DATE + datetime.timedelta(days=120)
    assert denial.appeal_deadline == deadline
    appeal = services.denial_appeal(denial=denial, argument="A retro authorization was granted on 2026-02-01.",
                                    acting_user=user_a, today=deadline)  # the last day still counts
    stored = Appeal.objects.get(pk=appeal.pk)
    pdf = bytes(stored.letter_pdf)
    assert pdf.startswith(b"%PDF")
    assert stored.letter_sha256 == hashlib.sha256(pdf).hexdigest()
    assert (stored.deadline, stored.outcome, stored.created_by, stored.claim_id) == (
        deadline, AppealOutcome.PENDING, user_a, denial.claim_id)
    denial.refresh_from_db()
    assert denial.status == WorkStatus.APPEALED


def test_appeal_after_the_deadline_is_refused_with_the_date_and_writes_nothing(denial, user_a):
    late = denial.appeal_deadline + datetime.timedelta(days=1)
    with pytest.raises(AppError) as caught:
        services.denial_appeal(denial=denial, argument="Please pay.", acting_user=user_a, today=late)
    error = caught.value
    assert error.code == "appeal_deadline_passed" and error.field == "argument"
    assert f"{denial.appeal_deadline:%Y-%m-%d}" in error.message and "1 day ago" in error.message
    assert not Appeal.objects.exists()
    denial.refresh_from_db()
    assert denial.status == WorkStatus.OPEN


def test_appeal_with_an_empty_argument_is_refused(denial, user_a):
    with pytest.raises(AppError) as caught:
        services.denial_appeal(denial=denial, argument="   \n", acting_user=user_a, today=PAYMENT_DATE)
    assert (caught.value.code, caught.value.field) == ("required", "argument")
    assert not Appeal.objects.exists()


def test_a_written_off_denial_cannot_be_appealed(claim, denial, user_a):
    services.balance_write_off(claim=claim, amount="180.00", reason_code=WriteOffReason.AUTH_NOT_OBTAINED, note="",
                               acting_user=user_a)
    denial.refresh_from_db()
    with pytest.raises(AppError) as caught:
        services.denial_appeal(denial=denial, argument="Pay.", acting_user=user_a, today=PAYMENT_DATE)
    assert caught.value.code == "denial_closed"


@pytest.mark.parametrize(("outcome", "denial_status"), [
    (AppealOutcome.WON, WorkStatus.RESOLVED), (AppealOutcome.PARTIAL, WorkStatus.OPEN),
    (AppealOutcome.LOST, WorkStatus.OPEN)])
def test_the_appeal_outcome_is_recorded_once_and_moves_the_denial(denial, user_a, outcome, denial_status):
    appeal = services.denial_appeal(denial=denial, argument="Authorized.", acting_user=user_a, today=PAYMENT_DATE)
    services.appeal_outcome_record(appeal=appeal, outcome=outcome, note="Payer letter of 2026-03-01",
                                   acting_user=user_a)
    appeal.refresh_from_db()
    denial.refresh_from_db()
    assert (appeal.outcome, appeal.outcome_note, denial.status) == (outcome, "Payer letter of 2026-03-01",
                                                                   denial_status)
    assert appeal.outcome_at is not None
    with pytest.raises(AppError) as caught:
        services.appeal_outcome_record(appeal=appeal, outcome=AppealOutcome.WON, note="", acting_user=user_a)
    assert caught.value.code == "outcome_recorded"


def test_an_unknown_outcome_is_refused(denial, user_a):
    appeal = services.denial_appeal(denial=denial, argument="Authorized.", acting_user=user_a, today=PAYMENT_DATE)
    with pytest.raises(AppError) as caught:
        services.appeal_outcome_record(appeal=appeal, outcome=AppealOutcome.PENDING, note="", acting_user=user_a)
    assert caught.value.field == "outcome"
    assert Appeal.objects.get().outcome == AppealOutcome.PENDING


# --- assignment, follow-up, resolution ----------------------------------------------------------------------------


def test_denials_are_assigned_only_to_people_who_work_the_clinic(claim, user_a, user_b, make_user, clinic_a):
    denials = list(Denial.objects.filter(claim=claim))
    with pytest.raises(AppError) as caught:
        services.denial_assign(denials=denials, assignee=user_b, acting_user=user_a)
    assert caught.value.field == "assignee"
    assert not Denial.objects.filter(assignee__isnull=False).exists()
    colleague = make_user("colleague_a", Role.BILLER, clinic_a)
    assert services.denial_assign(denials=denials, assignee=colleague, acting_user=user_a) == 2
    assert set(Denial.objects.values_list("assignee__username", flat=True)) == {"colleague_a"}


def test_follow_up_writes_a_note_and_sets_the_next_date_on_claim_and_denial(claim, denial, user_a):
    day = datetime.date(2026, 12, 7)
    note = services.claim_follow_up_set(claim=claim, next_follow_up=day, text="Called the payer, ref 5521.",
                                        acting_user=user_a, denial=denial, today=datetime.date(2026, 12, 1))
    claim.refresh_from_db()
    denial.refresh_from_db()
    assert (claim.next_follow_up, denial.next_follow_up) == (day, day)
    assert (note.text, note.author, note.denial, note.next_follow_up) == ("Called the payer, ref 5521.", user_a,
                                                                          denial, day)


def test_follow_up_in_the_past_or_empty_is_refused(claim, user_a):
    with pytest.raises(AppError) as caught:
        services.claim_follow_up_set(claim=claim, next_follow_up=datetime.date(2026, 1, 1), text="x",
                                     acting_user=user_a, today=datetime.date(2026, 12, 1))
    assert caught.value.field == "next_follow_up"
    with pytest.raises(AppError):
        services.claim_follow_up_set(claim=claim, next_follow_up=None, text=" ", acting_user=user_a)
    assert not FollowUpNote.objects.exists()
    claim.refresh_from_db()
    assert claim.next_follow_up is None


def test_a_denial_is_marked_corrected_only_after_a_corrected_claim_exists(claim, denial, user_a):
    with pytest.raises(AppError) as caught:
        services.denial_resolve(denial=denial, status=WorkStatus.CORRECTED, acting_user=user_a, note="Sent 7")
    assert caught.value.code == "no_correction"
    claim_correct(claim=claim, frequency="7", acting_user=user_a, reason="Authorization number added")
    services.denial_resolve(denial=denial, status=WorkStatus.CORRECTED, acting_user=user_a, note="Sent 7")
    denial.refresh_from_db()
    assert denial.status == WorkStatus.CORRECTED
    assert FollowUpNote.objects.get(denial=denial).text == "Corrected claim sent: Sent 7"


def test_resolve_refuses_write_off_as_a_status_and_an_empty_note(denial, user_a):
    for status, note in ((WorkStatus.WRITTEN_OFF, "x"), (WorkStatus.RESOLVED, "")):
        with pytest.raises(AppError):
            services.denial_resolve(denial=denial, status=status, acting_user=user_a, note=note)
    denial.refresh_from_db()
    assert denial.status == WorkStatus.OPEN and not FollowUpNote.objects.exists()


# --- underpayments ------------------------------------------------------------------------------------------------


@pytest.fixture
def underpayment(clinic_a, code_sets):
    claim = submitted_claim(clinic_a)
    body = (clp(claim, "1", "180.00", "95.00")
            + svc(claim, 1, "97530", "120.00", "60.00", 2, ("CO", "45", "60.00"))
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))
    era_import(file_name="under.835", content=era(body, "95.00"))
    return Underpayment.objects.select_related("clinic", "claim_line").get()


def test_an_underpayment_is_resolved_with_a_note_once(underpayment, user_a):
    services.underpayment_resolve(underpayment=underpayment, status=WorkStatus.RESOLVED, acting_user=user_a,
                                  note="Payer reprocessed at the contracted 70.00.")
    underpayment.refresh_from_db()
    assert underpayment.status == WorkStatus.RESOLVED
    assert "short $10.00" in FollowUpNote.objects.get(claim=underpayment.claim).text
    with pytest.raises(AppError):
        services.underpayment_resolve(underpayment=underpayment, status=WorkStatus.APPEALED, acting_user=user_a,
                                      note="again")


def test_an_underpayment_is_not_worked_from_another_clinic(underpayment, user_b):
    with pytest.raises(AppError) as caught:
        services.underpayment_assign(underpayments=[underpayment], assignee=None, acting_user=user_b)
    assert caught.value.code == "forbidden"
