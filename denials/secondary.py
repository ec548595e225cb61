"""Secondary claims: once the primary payer has adjudicated a claim and something is still owed, bill the patient's
next coverage with the primary's answer (coordination of benefits, written by claims.x837 as 2320/2330/2430).

The primary's answer is rebuilt from our ledger (payments and adjustments per line and per claim, reversals netted)
plus the open denials: a denial is never written off on import, so its amount has no ledger row and is the part of
the charge that the payments and adjustments leave unexplained. Every line then balances the way the IG wants it
(charge − adjustments = paid), or the claim is refused with the line named.
"""

import datetime
from collections import defaultdict
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum

from claims.ledger import claim_money
from claims.lifecycle import claim_created_event
from claims.models import Claim, ClaimFrequency, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty
from claims.services import new_line_control_number, new_patient_control_number
from claims.x837 import SBR_PAYER_RESPONSIBILITY
from clinics.models import Coverage, CoveragePriority
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, user_has_clinic_perm

from .models import ClaimRemittance, Denial

ZERO = Decimal("0.00")
ADJUDICATED = (ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID, ClaimStatus.DENIED)
NEXT_PRIORITY = {CoveragePriority.PRIMARY: CoveragePriority.SECONDARY,
                 CoveragePriority.SECONDARY: CoveragePriority.TERTIARY}
REVERSAL_STATUS = "22"
FORWARDED_STATUSES = ("19", "20", "21")  # CLP02: processed and forwarded to the additional payer(s)
PATIENT_GROUP = "PR"


def secondary_claim_create(*, claim: Claim, acting_user) -> Claim:
    """A claim to the patient's next coverage carrying the primary payer's adjudication; status ready.

    Refused (AppError) when the primary is not adjudicated, when the primary payer crossed it over, when a live
    secondary claim exists, when no next coverage is active on the dates of service, when nothing remains owed, or
    when the posted money does not explain a line's charge.
    """
    if acting_user is not None and not user_has_clinic_perm(acting_user, claim.clinic, WORK_CLAIMS):
        raise AppError(f"You may not bill claims for {claim.clinic}.", code="forbidden")
    with transaction.atomic():
        # The lock makes a second request for the same primary wait, then find the secondary already built.
        primary = Claim.objects.select_for_update().get(pk=claim.pk)
        remittance = _adjudicated_remittance(primary)
        _refuse_crossover(primary)
        _refuse_existing_secondary(primary)
        coverage = next_coverage(primary)
        _refuse_nothing_owed(primary)
        adjudication = other_payer_adjudication(primary, remittance)
        secondary = _create_claim(primary, coverage, adjudication, acting_user)
        claim_created_event(claim=secondary, acting_user=acting_user,
                            reason=f"secondary of {primary.patient_control_number}")
    return secondary


def maybe_bill_secondary(*, claim: Claim, acting_user=None) -> Claim | None:
    """The quiet version for posting: the secondary claim, or None when any refusal applies."""
    try:
        # secondary_claim_create runs in its own atomic block (a savepoint inside posting's transaction), so a
        # refusal leaves the caller's transaction usable.
        return secondary_claim_create(claim=claim, acting_user=acting_user)
    except AppError:
        return None


# --- refusals ---------------------------------------------------------------------------------------------------


def _adjudicated_remittance(primary: Claim) -> ClaimRemittance:
    """The primary payer's latest answer (a reversal is undone by the repost that follows it)."""
    remittance = (ClaimRemittance.objects.filter(claim=primary).exclude(status_code=REVERSAL_STATUS)
                  .select_related("payment").order_by("-payment__posted_at", "-pk").first())
    if primary.status not in ADJUDICATED or remittance is None:
        raise AppError(f"Claim {primary.patient_control_number} is {primary.get_status_display().lower()}: a secondary "
                       "claim needs the primary payer's adjudication (a posted 835) first.",
                       code="not_adjudicated", field="status")
    return remittance


def _refuse_crossover(primary: Claim) -> None:
    crossed = (ClaimRemittance.objects.filter(claim=primary).exclude(status_code=REVERSAL_STATUS)
               .filter(~Q(crossover_payer_name="") | Q(status_code__in=FORWARDED_STATUSES)).first())
    if crossed is not None:
        to = crossed.crossover_payer_name or "the additional payer"
        raise AppError(f"The primary payer crossed claim {primary.patient_control_number} over to {to} (835 CLP02 "
                       f"{crossed.status_code}): the secondary payer already has it; do not bill it again.",
                       code="crossed_over")


def _refuse_existing_secondary(primary: Claim) -> None:
    # A voided secondary and the void (frequency 8) that cancelled it leave the next payer free to bill again.
    existing = (primary.next_payer_claims.exclude(status=ClaimStatus.VOIDED)
                .exclude(frequency=ClaimFrequency.VOID).first())
    if existing is not None:
        raise AppError(f"Claim {primary.patient_control_number} already has a secondary claim "
                       f"{existing.patient_control_number} ({existing.get_status_display().lower()}); void it before "
                       "billing the next payer again.", code="secondary_exists")


def next_coverage(primary: Claim) -> Coverage:
    """The patient's coverage one priority after the claim's, active on every date of service."""
    priority = NEXT_PRIORITY.get(primary.coverage.priority)
    found = None
    if priority:
        found = (Coverage.objects.filter(patient_id=primary.patient_id, priority=priority)
                 .active_on(primary.service_date_from).active_on(primary.service_date_to)
                 .select_related("payer").first())
    if found is None:
        span = primary.service_date_from.isoformat()
        if primary.service_date_to != primary.service_date_from:
            span += f" to {primary.service_date_to.isoformat()}"
        raise AppError(f"{primary.patient} has no {priority or 'next'} coverage active on {span}: there is no next "
                       "payer to bill; add the coverage or bill the patient.", code="no_next_coverage")
    return found


def _refuse_nothing_owed(primary: Claim) -> None:
    balance = claim_money(primary)["balance"]
    if balance <= ZERO:
        raise AppError(f"Nothing remains to bill on claim {primary.patient_control_number}: the primary payer's "
                       f"payment and adjustments leave a balance of {balance}.", code="nothing_to_bill")


# --- the primary's answer ---------------------------------------------------------------------------------------


def other_payer_adjudication(primary: Claim, remittance: ClaimRemittance) -> dict:
    """The primary payer's answer in the shape Claim.other_payer_adjudication documents (amounts as strings)."""
    lines = list(primary.lines.all().order_by("position"))
    posted = _posted_money(primary)
    denials = _denial_reasons(primary)
    pcn = primary.patient_control_number
    answered = {ln.position: _answer(ln.charge, posted.get(ln.pk), denials.get(ln.pk), claim=pcn,
                                     where=f"line {ln.position} ({ln.cpt})")
                for ln in lines if ln.pk in posted or ln.pk in denials}
    if answered and len(answered) < len(lines):
        missing = ", ".join(str(ln.position) for ln in lines if ln.position not in answered)
        raise AppError(f"The primary payer's answer for claim {primary.patient_control_number} has no line {missing}: "
                       "match the remittance's unmatched lines first.", code="adjudication_incomplete")
    claim_level = _claim_answer(primary, posted.get(None), denials.get(None), line_level=bool(answered))
    paid = claim_level["paid"] + sum((a["paid"] for a in answered.values()), ZERO)
    patient = claim_level["patient_responsibility"] + sum((a["patient_responsibility"] for a in answered.values()),
                                                          ZERO)
    return {
        "payer": _payer(primary),
        "subscriber": _subscriber(primary.coverage),
        "payer_claim_control_number": remittance.payer_claim_control_number or primary.payer_claim_control_number,
        "paid": str(paid),
        "patient_responsibility": str(patient),
        "adjudicated_on": _adjudication_date(remittance).isoformat(),
        "claim_adjustments": _as_text(claim_level)["adjustments"],
        "lines": {str(position): _as_text(answer) for position, answer in answered.items()},
    }


def _posted_money(primary: Claim) -> dict:
    """{line id or None: {"paid": Decimal, "adjustments": {(group, carc): Decimal}}}, reversals netted."""
    rows = (LedgerEntry.objects.filter(claim=primary, party=LedgerParty.PAYER,
                                       kind__in=(LedgerKind.PAYMENT, LedgerKind.ADJUSTMENT))
            .values_list("claim_line_id", "kind", "group_code", "carc", "amount"))
    posted: dict = defaultdict(lambda: {"paid": ZERO, "adjustments": defaultdict(lambda: ZERO)})
    for line_id, kind, group, carc, amount in rows:
        if kind == LedgerKind.PAYMENT:
            posted[line_id]["paid"] -= amount
        else:
            posted[line_id]["adjustments"][(group, carc)] -= amount
    return posted


def _denial_reasons(primary: Claim) -> dict:
    """{line id or None: (group, carc)} of the latest denial, for the amount no ledger row explains."""
    reasons = {}
    for denial in Denial.objects.filter(claim=primary).order_by("created_at", "pk"):
        reasons[denial.claim_line_id] = (denial.group_code or "CO", denial.carc)
    return reasons


def _claim_answer(primary: Claim, posted: dict | None, denial: tuple | None, *, line_level: bool) -> dict:
    if line_level:  # the lines carry the charge; claim-level rows are adjustments on top (CLP CAS)
        posted = posted or {"paid": ZERO, "adjustments": {}}
        return _answer(None, posted, None, where="the claim", claim=primary.patient_control_number)
    return _answer(primary.total_charge, posted, denial, where="the claim", claim=primary.patient_control_number)


def _answer(charge: Decimal | None, posted: dict | None, denial: tuple | None, *, where: str, claim: str) -> dict:
    """Paid, adjustments (sorted, non-zero) and patient responsibility; the unexplained rest goes to the denial."""
    posted = posted or {"paid": ZERO, "adjustments": {}}
    adjustments = {key: amount for key, amount in posted["adjustments"].items() if amount}
    if charge is not None:
        rest = charge - posted["paid"] - sum(adjustments.values(), ZERO)
        if rest and denial is None:
            raise AppError(f"Claim {claim}: the primary payer's payment and adjustments on {where} leave {rest} "
                           "unexplained and no denial says why; post the primary's answer completely first.",
                           code="adjudication_incomplete")
        if rest:
            adjustments[denial] = adjustments.get(denial, ZERO) + rest
    ordered = [{"group": group, "carc": carc, "amount": amount}
               for (group, carc), amount in sorted(adjustments.items()) if amount]
    patient = sum((a["amount"] for a in ordered if a["group"] == PATIENT_GROUP), ZERO)
    return {"paid": posted["paid"], "adjustments": ordered, "patient_responsibility": patient}


def _as_text(answer: dict) -> dict:
    return {"paid": str(answer["paid"]), "patient_responsibility": str(answer["patient_responsibility"]),
            "adjustments": [{**a, "amount": str(a["amount"])} for a in answer["adjustments"]]}


def _payer(primary: Claim) -> dict:
    payer = primary.payer
    return {"name": payer.name, "payer_id": payer.payer_id, "claim_filing_indicator": payer.claim_filing_indicator,
            "responsibility": SBR_PAYER_RESPONSIBILITY.get(primary.coverage.priority, "P")}


def _subscriber(coverage: Coverage) -> dict:
    is_self = coverage.relationship == "18"
    patient = coverage.patient
    return {"last_name": patient.last_name if is_self else coverage.subscriber_last_name,
            "first_name": patient.first_name if is_self else coverage.subscriber_first_name,
            "member_id": coverage.member_id, "relationship": coverage.relationship,
            "group_number": coverage.group_number}


def _adjudication_date(remittance: ClaimRemittance) -> datetime.date:
    return remittance.payment.effective_date


# --- the new claim ----------------------------------------------------------------------------------------------


def _create_claim(primary: Claim, coverage: Coverage, adjudication: dict, acting_user) -> Claim:
    user = acting_user if getattr(acting_user, "is_authenticated", False) else None
    # Prior authorization numbers belong to the primary payer, so they are not carried to the next payer's claim.
    secondary = Claim.objects.create(
        clinic_id=primary.clinic_id, patient_id=primary.patient_id, coverage=coverage, payer_id=coverage.payer_id,
        rendering_provider_id=primary.rendering_provider_id, referring_provider_id=primary.referring_provider_id,
        patient_control_number=new_patient_control_number(), place_of_service=primary.place_of_service,
        service_date_from=primary.service_date_from, service_date_to=primary.service_date_to,
        diagnoses=list(primary.diagnoses), total_charge=primary.total_charge, signed_at=primary.signed_at,
        status=ClaimStatus.READY, primary_claim=primary, other_payer_adjudication=adjudication, created_by=user)
    owed = _open_balances_by_line(primary)
    for line in primary.lines.all().order_by("position"):
        new_line = ClaimLine.objects.create(
            clinic_id=secondary.clinic_id, claim=secondary, position=line.position, service_line=line.service_line,
            visit=line.visit, date_of_service=line.date_of_service, cpt=line.cpt, modifiers=list(line.modifiers),
            units=line.units, charge=line.charge, diagnosis_pointers=list(line.diagnosis_pointers),
            line_control_number=new_line_control_number(secondary, line.position))
        # expected_allowed stays 0: the primary's fee schedule says nothing of what the next payer owes, and a copied
        # value would open a false underpayment when the secondary pays only the remaining balance.
        _move_balance(primary, line, secondary, new_line, owed.get(line.pk, {}), user,
                      on=datetime.date.fromisoformat(adjudication["adjudicated_on"]))
    return secondary


def _open_balances_by_line(primary: Claim) -> dict[int, dict[str, Decimal]]:
    rows = (LedgerEntry.objects.filter(claim=primary, claim_line__isnull=False)
            .values("claim_line_id", "party").annotate(total=Sum("amount")))
    owed: dict[int, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        if row["total"]:
            owed[row["claim_line_id"]][row["party"]] = row["total"]
    return owed


def _move_balance(primary, line, secondary, new_line, owed: dict[str, Decimal], user, *, on: datetime.date) -> None:
    """What the primary's line still owes moves to the secondary claim, so A/R counts it once, on the payer now
    asked. The secondary line carries its full charge (its 835 adjusts against it) less the prior payer's part
    (OA-23, which posting then does not post again)."""
    moved = sum(owed.values(), Decimal("0.00"))
    for party, amount in owed.items():
        LedgerEntry.objects.create(clinic_id=primary.clinic_id, claim=primary, claim_line=line,
                                   kind=LedgerKind.TRANSFER, party=party, amount=-amount, source="secondary",
                                   source_ref=secondary.patient_control_number, reason_code="billed_secondary",
                                   posted_by=user, effective_date=on)
    LedgerEntry.objects.create(clinic_id=secondary.clinic_id, claim=secondary, claim_line=new_line,
                               kind=LedgerKind.CHARGE, party=LedgerParty.PAYER, amount=new_line.charge,
                               source="secondary", source_ref=primary.patient_control_number, posted_by=user,
                               effective_date=on)
    prior_payer_part = new_line.charge - moved
    if prior_payer_part:
        LedgerEntry.objects.create(clinic_id=secondary.clinic_id, claim=secondary, claim_line=new_line,
                                   kind=LedgerKind.ADJUSTMENT, party=LedgerParty.PAYER, amount=-prior_payer_part,
                                   group_code="OA", carc="23", source="secondary",
                                   source_ref=primary.patient_control_number, posted_by=user, effective_date=on)
