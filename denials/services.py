"""Working denials and A/R: assign, follow up, appeal, record the outcome, transfer to the patient, write off,
resolve, and the underpayment items.

Each service is one transaction with keyword-only arguments and the acting user passed in. The acting user must
hold WORK_CLAIMS on the clinic (WRITE_OFF for a write-off); a refusal is an AppError and writes nothing. Money
moves only as new ledger rows (claims.LedgerEntry, `posted_by` = the acting user); who changed a denial, appeal or
claim is in the models' change history (pghistory), tagged with the service that did it. Nothing here runs on its
own: a write-off happens only when a person asks for one.
"""

from collections import OrderedDict
from decimal import Decimal

import pghistory
from django.db import models, transaction
from django.db.models import Sum
from django.utils import timezone

from claims.ledger import claim_balance
from claims.models import Claim, LedgerEntry, LedgerKind, LedgerParty
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, WRITE_OFF, user_has_clinic_perm

from .letters import appeal_letter_data, appeal_letter_pdf, letter_sha256
from .models import Appeal, AppealOutcome, Denial, FollowUpNote, Underpayment, WorkStatus

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# A denial still needing a person: open, or appealed and waiting for the payer.
OPEN_WORK = (WorkStatus.OPEN, WorkStatus.APPEALED)
RESOLVE_TO = (WorkStatus.CORRECTED, WorkStatus.TRANSFERRED, WorkStatus.RESOLVED)
# The moves a denial may make; the same table answers the worklist's action buttons.
DENIAL_MOVES: dict[str, set[str]] = {
    WorkStatus.OPEN: {WorkStatus.APPEALED, WorkStatus.CORRECTED, WorkStatus.TRANSFERRED, WorkStatus.WRITTEN_OFF,
                      WorkStatus.RESOLVED},
    WorkStatus.APPEALED: {WorkStatus.OPEN, WorkStatus.APPEALED, WorkStatus.CORRECTED, WorkStatus.TRANSFERRED,
                          WorkStatus.WRITTEN_OFF, WorkStatus.RESOLVED},
    WorkStatus.CORRECTED: {WorkStatus.OPEN},
    WorkStatus.TRANSFERRED: {WorkStatus.OPEN},
    WorkStatus.WRITTEN_OFF: set(),
    WorkStatus.RESOLVED: {WorkStatus.OPEN},
}


class WriteOffReason(models.TextChoices):
    """Why a balance is written off (LedgerEntry.reason_code of a WRITE_OFF row)."""

    TIMELY_FILING = "timely_filing", "Timely filing limit missed"
    SMALL_BALANCE = "small_balance", "Small balance"
    NON_COVERED_NO_ABN = "non_covered_no_abn", "Non-covered, no ABN or waiver on file"
    AUTH_NOT_OBTAINED = "auth_not_obtained", "Authorization not obtained"
    BUNDLED = "bundled", "Bundled (NCCI), not separately payable"
    BAD_DEBT = "bad_debt", "Bad debt (patient will not pay)"
    ADMINISTRATIVE = "administrative", "Administrative adjustment"
    OTHER = "other", "Other (say why in the note)"


class TransferReason(models.TextChoices):
    """Why the payer's balance becomes the patient's (LedgerEntry.reason_code of a TRANSFER pair)."""

    NON_COVERED_WITH_ABN = "non_covered_abn", "Non-covered, ABN or waiver on file"
    BENEFIT_EXHAUSTED = "benefit_limit", "Benefit limit reached"
    NO_COVERAGE = "no_coverage", "Patient not covered on the date of service"
    PAYER_SAYS_PATIENT = "payer_pr", "Payer assigned it to the patient"
    OTHER = "other", "Other"


# --- guards -------------------------------------------------------------------------------------------------------


def _require(user, clinic, perm: str = WORK_CLAIMS) -> None:
    if not user_has_clinic_perm(user, clinic, perm):
        what = "write off balances" if perm == WRITE_OFF else "work claims and denials"
        raise AppError(f"You may not {what} of {clinic.legal_name}.", code="forbidden")


def _audit(service: str, acting_user):
    """History context: every change-history row written inside names the service and the person."""
    return pghistory.context(service=service, acting_user_id=getattr(acting_user, "pk", None))


def _money(value, *, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise AppError("Enter an amount in dollars, e.g. 25.00.", code="invalid", field=field) from exc
    if amount != amount.quantize(CENT):
        raise AppError("An amount has at most two decimals (cents).", code="invalid", field=field)
    if amount <= ZERO:
        raise AppError("The amount must be more than $0.00.", code="invalid", field=field)
    return amount.quantize(CENT)


def _locked_claim(claim: Claim) -> Claim:
    # Serializes money moves on one claim: two billers writing off the same balance cannot both pass the check.
    return Claim.objects.select_for_update().get(pk=claim.pk)


def _move_denial(denial: Denial, to_status: str) -> None:
    if to_status not in DENIAL_MOVES.get(denial.status, set()):
        raise AppError(f"This denial is {denial.get_status_display().lower()}; it cannot become "
                       f"{WorkStatus(to_status).label.lower()}.", code="denial_transition_refused", field="status")
    denial.status = to_status
    denial.save(update_fields=["status"])


def _close_open_denials(claim: Claim, to_status: str) -> int:
    count = 0
    for denial in Denial.objects.select_for_update().filter(claim=claim, status__in=OPEN_WORK):
        _move_denial(denial, to_status)
        count += 1
    return count


# --- assignment and follow-up -------------------------------------------------------------------------------------


def denial_assign(*, denials, assignee, acting_user) -> int:
    """Give denials to a biller (or to nobody with assignee=None). The assignee must work claims of each clinic."""
    denials = list(denials)
    clinics = {denial.clinic_id: denial.clinic for denial in denials}
    for clinic in clinics.values():
        _require(acting_user, clinic)
        if assignee is not None and not user_has_clinic_perm(assignee, clinic, WORK_CLAIMS):
            raise AppError(f"{assignee.get_username()} does not work claims of {clinic.legal_name}.",
                           code="invalid", field="assignee")
    with transaction.atomic(), _audit("denial_assign", acting_user):
        return Denial.objects.filter(pk__in=[d.pk for d in denials]).update(assignee=assignee)


def claims_assign(*, claims, assignee, acting_user) -> int:
    """Bulk assign of A/R claims, with the same checks as denials (claims.services.claim_assign writes)."""
    from claims.services import claim_assign

    claims = list(claims)
    for clinic in {claim.clinic_id: claim.clinic for claim in claims}.values():
        _require(acting_user, clinic)
        if assignee is not None and not user_has_clinic_perm(assignee, clinic, WORK_CLAIMS):
            raise AppError(f"{assignee.get_username()} does not work claims of {clinic.legal_name}.",
                           code="invalid", field="assignee")
    with _audit("claims_assign", acting_user):
        return claim_assign(claims=claims, assignee=assignee, acting_user=acting_user)


def claim_follow_up_set(*, claim: Claim, next_follow_up, text: str, acting_user, denial: Denial | None = None,
                        today=None) -> FollowUpNote:
    """A note on the claim (and the denial it concerns) and the date a biller looks again (None clears it)."""
    _require(acting_user, claim.clinic)
    text = (text or "").strip()
    today = today or timezone.localdate()
    if not text and next_follow_up is None:
        raise AppError("Write a note or choose the next follow-up date.", code="required", field="text")
    if next_follow_up is not None and next_follow_up < today:
        raise AppError(f"The follow-up date {next_follow_up:%Y-%m-%d} is in the past.", code="invalid",
                       field="next_follow_up")
    if denial is not None and denial.claim_id != claim.pk:
        raise AppError("That denial is not on this claim.", code="invalid", field="denial")
    with transaction.atomic(), _audit("claim_follow_up_set", acting_user):
        note = FollowUpNote.objects.create(
            clinic_id=claim.clinic_id, claim=claim, denial=denial,
            text=text or f"Follow up on {next_follow_up:%Y-%m-%d}.", next_follow_up=next_follow_up,
            author=acting_user)
        Claim.objects.filter(pk=claim.pk).update(next_follow_up=next_follow_up, updated_at=timezone.now())
        claim.next_follow_up = next_follow_up
        if denial is not None:
            Denial.objects.filter(pk=denial.pk).update(next_follow_up=next_follow_up)
            denial.next_follow_up = next_follow_up
    return note


# --- appeals ------------------------------------------------------------------------------------------------------


def denial_appeal(*, denial: Denial, argument: str, acting_user, today=None) -> Appeal:
    """Write the appeal letter (PDF with the signed notes and the plan of care attached) and mark the denial
    appealed. Refused past the appeal deadline, with an empty argument, or when the denial is closed."""
    _require(acting_user, denial.clinic)
    today = today or timezone.localdate()
    argument = (argument or "").strip()
    if not argument:
        raise AppError("Write the argument of the appeal: why the payer should pay.", code="required",
                       field="argument")
    if denial.appeal_deadline is not None and today > denial.appeal_deadline:
        days = (today - denial.appeal_deadline).days
        ago = f"{days} day{'s' if days != 1 else ''} ago"
        raise AppError(f"The appeal deadline was {denial.appeal_deadline:%Y-%m-%d} ({ago}): {denial.claim.payer.name}"
                       f" no longer takes an appeal of this denial. Correct, "
                       "transfer or write off the balance instead.", code="appeal_deadline_passed", field="argument")
    if denial.status not in OPEN_WORK:
        raise AppError(f"This denial is {denial.get_status_display().lower()}: there is nothing left to appeal.",
                       code="denial_closed", field="argument")
    # The PDF is rendered before the transaction: WeasyPrint takes a moment and needs no lock.
    pdf = appeal_letter_pdf(appeal_letter_data(denial=denial, argument=argument, author=acting_user, today=today))
    with transaction.atomic(), _audit("denial_appeal", acting_user):
        locked = Denial.objects.select_for_update().get(pk=denial.pk)
        appeal = Appeal.objects.create(
            clinic_id=locked.clinic_id, denial=locked, claim_id=locked.claim_id, argument=argument, letter_pdf=pdf,
            letter_sha256=letter_sha256(pdf), deadline=locked.appeal_deadline, created_by=acting_user)
        _move_denial(locked, WorkStatus.APPEALED)
    denial.status = locked.status
    return appeal


# Where the denial goes when the payer answers: a won appeal is done (the payer's 835 brings the money); a lost or
# partly won one goes back to the worklist for the rest of the balance.
OUTCOME_MOVES = {AppealOutcome.WON: WorkStatus.RESOLVED, AppealOutcome.PARTIAL: WorkStatus.OPEN,
                 AppealOutcome.LOST: WorkStatus.OPEN}


def appeal_outcome_record(*, appeal: Appeal, outcome: str, note: str, acting_user) -> Appeal:
    """The payer's answer to an appeal (won, partly won, lost), once; the denial follows (OUTCOME_MOVES)."""
    _require(acting_user, appeal.clinic)
    if outcome not in OUTCOME_MOVES:
        raise AppError("Choose the payer's answer: won, partly won or lost.", code="invalid", field="outcome")
    note = (note or "").strip()
    with transaction.atomic(), _audit("appeal_outcome_record", acting_user):
        locked = Appeal.objects.select_for_update().get(pk=appeal.pk)
        if locked.outcome != AppealOutcome.PENDING:
            raise AppError(f"The outcome of this appeal is already recorded ({locked.get_outcome_display()}).",
                           code="outcome_recorded", field="outcome")
        locked.outcome, locked.outcome_note, locked.outcome_at = outcome, note[:300], timezone.now()
        locked.save(update_fields=["outcome", "outcome_note", "outcome_at"])
        denial = Denial.objects.select_for_update().get(pk=locked.denial_id)
        if denial.status == WorkStatus.APPEALED:
            _move_denial(denial, OUTCOME_MOVES[outcome])
    appeal.outcome, appeal.outcome_note, appeal.outcome_at = locked.outcome, locked.outcome_note, locked.outcome_at
    return appeal


# --- money --------------------------------------------------------------------------------------------------------


def _party_buckets(claim: Claim, party: str) -> "OrderedDict[int | None, Decimal]":
    """Open balance of `party` per claim line (None: rows not on a line), lines in claim order, None last."""
    rows = (LedgerEntry.objects.filter(claim=claim, party=party).values("claim_line_id", "claim_line__position")
            .annotate(total=Sum("amount")).order_by("claim_line__position"))
    ordered = sorted(rows, key=lambda row: (row["claim_line__position"] is None, row["claim_line__position"] or 0))
    return OrderedDict((row["claim_line_id"], row["total"]) for row in ordered)


def _allocate(buckets, amount: Decimal) -> list[tuple[int | None, Decimal]]:
    """Split `amount` over the lines that still owe, in line order, so line balances stay true."""
    parts, left = [], amount
    for line_id, owed in buckets.items():
        if left <= ZERO:
            break
        if owed > ZERO:
            take = min(owed, left)
            parts.append((line_id, take))
            left -= take
    if left > ZERO:  # the claim owes it overall but no line does (claim-level rows only): post it on the claim
        parts.append((None, left))
    return parts


def _entry(claim, line_id, *, kind, party, amount, source, reason_code, note, acting_user) -> LedgerEntry:
    return LedgerEntry.objects.create(
        clinic_id=claim.clinic_id, claim=claim, claim_line_id=line_id, kind=kind, party=party, amount=amount,
        source=source, reason_code=reason_code[:20], note=note[:300], posted_by=acting_user)


def balance_transfer_to_patient(*, claim: Claim, amount=None, acting_user, reason: str, note: str = "") -> Decimal:
    """Move the payer's open balance (or `amount` of it) to the patient: a TRANSFER pair per line, −X payer and
    +X patient, with `reason` (a TransferReason) as the rows' reason code. When the payer then owes nothing, the
    claim's open denials become `transferred`."""
    _require(acting_user, claim.clinic)
    if reason not in TransferReason.values:
        raise AppError("Choose why the patient owes this balance.", code="invalid", field="reason")
    note = (note or "").strip()
    with transaction.atomic(), _audit("balance_transfer_to_patient", acting_user):
        claim = _locked_claim(claim)
        owed = claim_balance(claim, LedgerParty.PAYER)
        if owed <= ZERO:
            raise AppError(f"The payer owes nothing on claim {claim.patient_control_number}: there is no balance "
                           "to transfer.", code="nothing_owed", field="amount")
        amount = owed if amount in (None, "") else _money(amount, field="amount")
        if amount > owed:
            raise AppError(f"${amount} is more than the payer's open balance of ${owed}.", code="over_balance",
                           field="amount")
        for line_id, part in _allocate(_party_buckets(claim, LedgerParty.PAYER), amount):
            common = {"kind": LedgerKind.TRANSFER, "source": "transfer", "reason_code": reason, "note": note,
                      "acting_user": acting_user}
            _entry(claim, line_id, party=LedgerParty.PAYER, amount=-part, **common)
            _entry(claim, line_id, party=LedgerParty.PATIENT, amount=part, **common)
        if claim_balance(claim, LedgerParty.PAYER) == ZERO:
            _close_open_denials(claim, WorkStatus.TRANSFERRED)
    return amount


def balance_write_off(*, claim: Claim, amount, reason_code: str, note: str, acting_user,
                      party: str = LedgerParty.PAYER) -> Decimal:
    """Write off `amount` of what `party` owes, with a reason; only for users holding WRITE_OFF on the clinic.
    When the claim then owes nothing at all, its open denials become `written_off`. Never called automatically."""
    _require(acting_user, claim.clinic, WRITE_OFF)
    if reason_code not in WriteOffReason.values:
        raise AppError("Choose why the balance is written off.", code="invalid", field="reason_code")
    note = (note or "").strip()
    if reason_code == WriteOffReason.OTHER and not note:
        raise AppError("Say why in the note when the reason is “other”.", code="required", field="note")
    if party not in LedgerParty.values:
        raise AppError("Write off the payer's or the patient's balance.", code="invalid", field="party")
    amount = _money(amount, field="amount")
    with transaction.atomic(), _audit("balance_write_off", acting_user):
        claim = _locked_claim(claim)
        owed = claim_balance(claim, party)
        if amount > owed:
            whose = LedgerParty(party).label.lower()
            raise AppError(f"${amount} is more than the {whose}'s open balance of ${max(owed, ZERO)} on claim "
                           f"{claim.patient_control_number}.", code="over_balance", field="amount")
        for line_id, part in _allocate(_party_buckets(claim, party), amount):
            _entry(claim, line_id, kind=LedgerKind.WRITE_OFF, party=party, amount=-part, source="writeoff",
                   reason_code=reason_code, note=note, acting_user=acting_user)
        if claim_balance(claim) == ZERO:
            _close_open_denials(claim, WorkStatus.WRITTEN_OFF)
    return amount


def denial_resolve(*, denial: Denial, status: str, acting_user, note: str) -> Denial:
    """Close a denial by hand: a corrected claim went out (claims.services.claim_correct first), the balance went
    to the next payer or the patient, or it is otherwise resolved. The note says how, on the claim's history."""
    _require(acting_user, denial.clinic)
    if status not in RESOLVE_TO:
        raise AppError("Choose how the denial was resolved: corrected, transferred or resolved.", code="invalid",
                       field="status")
    note = (note or "").strip()
    if not note:
        raise AppError("Say how the denial was resolved.", code="required", field="note")
    if status == WorkStatus.CORRECTED and not Claim.objects.filter(replaces_id=denial.claim_id).exists():
        raise AppError(f"Claim {denial.claim.patient_control_number} has no replacement or void yet: create the "
                       "corrected claim on the claim page first.", code="no_correction", field="status")
    with transaction.atomic(), _audit("denial_resolve", acting_user):
        locked = Denial.objects.select_for_update().get(pk=denial.pk)
        _move_denial(locked, status)
        FollowUpNote.objects.create(clinic_id=locked.clinic_id, claim_id=locked.claim_id, denial=locked,
                                    text=f"{WorkStatus(status).label}: {note}", author=acting_user)
    denial.status = locked.status
    return denial


# --- underpayments ------------------------------------------------------------------------------------------------


def underpayment_assign(*, underpayments, assignee, acting_user) -> int:
    underpayments = list(underpayments)
    for clinic in {item.clinic_id: item.clinic for item in underpayments}.values():
        _require(acting_user, clinic)
        if assignee is not None and not user_has_clinic_perm(assignee, clinic, WORK_CLAIMS):
            raise AppError(f"{assignee.get_username()} does not work claims of {clinic.legal_name}.",
                           code="invalid", field="assignee")
    with transaction.atomic(), _audit("underpayment_assign", acting_user):
        return Underpayment.objects.filter(pk__in=[u.pk for u in underpayments]).update(assignee=assignee)


UNDERPAYMENT_RESOLVE_TO = (WorkStatus.APPEALED, WorkStatus.CORRECTED, WorkStatus.RESOLVED)


def underpayment_resolve(*, underpayment: Underpayment, status: str, acting_user, note: str) -> Underpayment:
    """Close an underpayment item (appealed to the payer, corrected, or resolved: e.g. the fee schedule was
    wrong); the note goes on the claim's follow-up history."""
    _require(acting_user, underpayment.clinic)
    if status not in UNDERPAYMENT_RESOLVE_TO:
        raise AppError("Choose appealed, corrected or resolved.", code="invalid", field="status")
    note = (note or "").strip()
    if not note:
        raise AppError("Say how the underpayment was resolved.", code="required", field="note")
    with transaction.atomic(), _audit("underpayment_resolve", acting_user):
        locked = Underpayment.objects.select_for_update().get(pk=underpayment.pk)
        if locked.status not in OPEN_WORK:
            raise AppError(f"This underpayment is already {locked.get_status_display().lower()}.",
                           code="closed", field="status")
        locked.status = status
        locked.save(update_fields=["status"])
        FollowUpNote.objects.create(
            clinic_id=locked.clinic_id, claim_id=locked.claim_id, author=acting_user,
            text=f"Underpayment of line {locked.claim_line.position} ({locked.claim_line.cpt}, short "
                 f"${locked.shortfall}): {WorkStatus(status).label.lower()}. {note}")
    underpayment.status = locked.status
    return underpayment
