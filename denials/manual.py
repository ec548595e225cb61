"""Posting by hand: an unmatched 835 claim or line tied to our claim by a biller, a paper EOB, a patient payment.

All three write the ledger rows the 835 import writes (denials.posting):
- `unmatched_match` replays the stored file through posting's own code (`_post_claim`, `_Poster`,
  `_open_line_work`, `_update_claim`), so a remittance matched by hand posts exactly as one matched on import
  (RARCs included, which the stored item data leaves out);
- `manual_posting_record` (paper EOB) goes through a `_Poster` whose rows say "manual" and name the EOB, with the
  checks an 835 gets from the validator: each line answered in full balances (charge − paid = Σ adjustments) and
  nothing posts beyond the line's open balance; a line paid short opens an underpayment by the import's rule;
- `patient_payment_record` is a PATIENT_PAYMENT row per line on the patient's side, refused above what the
  patient owes.
Nothing here writes anything off: a refused line opens a Denial, as on import.
"""

import datetime
import re
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from claims.lifecycle import can_move, claim_transition
from claims.models import Claim, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty
from otbilling.errors import AppError

from .carc import carc_info, is_denial, rarc_text
from .models import ClaimRemittance, Denial, UnmatchedRemittance
from .posting import (
    PostingSummary,
    _claim_data,
    _line_data,
    _open_line_work,
    _open_underpayment,
    _post_claim,
    _Poster,
    _update_claim,
    _user,
)
from .x835 import Adjustment, Remittance, RemittanceClaim, RemittanceLine, parse_835

ZERO = Decimal("0.00")
CENTS = Decimal("0.01")
PATIENT_GROUP = "PR"
MANUAL = "manual"
GROUPS = ("CO", "PR", "OA", "PI")
CARC = re.compile(r"^[A-Z0-9]{1,5}$")
RARC = re.compile(r"^[A-Z0-9]{2,7}$")
MANUAL_SOURCES = {"eob": "Paper EOB", "portal": "Payer portal remittance", "phone": "Payer phone call"}
PATIENT_METHODS = {"cash": "Cash", "check": "Check", "card": "Card", "other": "Other"}
# A paper answer comes for a claim that left the building and has not been replaced or voided.
POSTABLE = (ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED, ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID,
            ClaimStatus.DENIED)


# --- unmatched remittance → our claim -----------------------------------------------------------------------------


def unmatched_match(*, item: UnmatchedRemittance, claim: Claim, acting_user, line_position: int | None = None) -> dict:
    """Post an unmatched 835 claim (or line) to `claim` of the same clinic, and mark the item resolved.

    A claim-level item is posted as the import would have posted it had CLP01 named `claim`: remittance row,
    ledger rows per matched line, denials, underpayments, status; lines that still match none of the claim's lines
    become line items of the worklist. A line item (its claim matched, the line did not) goes to the line of its
    claim at `line_position`. Returns the posting summary.
    """
    with transaction.atomic():
        locked = (UnmatchedRemittance.objects.select_for_update(of=("self",))
                  .select_related("payment__era_file", "payment__payer", "claim", "resolved_by").get(pk=item.pk))
        if locked.resolved_at is not None:
            who = locked.resolved_by.get_username() if locked.resolved_by else "someone"
            raise AppError(f"Already matched by {who} on {locked.resolved_at:%Y-%m-%d %H:%M} UTC; nothing was posted.",
                           code="already_resolved")
        if claim.clinic_id != locked.clinic_id:
            raise AppError("No such claim in this clinic.", code="not_found", field="claim")
        remittance, remit_claim, remit_line = _stored_remittance(locked)
        summary = PostingSummary(file=locked.payment.era_file.file_name)
        if locked.claim_id is None:
            _refuse_second_answer(locked.payment, remit_claim, claim)
            answered = replace(remit_claim, patient_control_number=claim.patient_control_number)
            _post_claim(locked.payment, remittance, answered, locked.payment.clinic, locked.payment.payer, summary,
                        acting_user)
        else:
            _post_line(locked, remit_claim, remit_line, claim, line_position, summary, acting_user)
        locked.resolved_by, locked.resolved_at = _user(acting_user), timezone.now()
        locked.save(update_fields=["resolved_by", "resolved_at"])
    item.resolved_by, item.resolved_at = locked.resolved_by, locked.resolved_at
    return summary.as_dict()


def _refuse_second_answer(payment, remit_claim: RemittanceClaim, claim: Claim) -> None:
    # One payment answering one claim twice is a reversal and its repost, never two plain payments.
    answered = ClaimRemittance.objects.filter(payment=payment, claim=claim).exclude(status_code="22")
    if not remit_claim.is_reversal and answered.exists():
        raise AppError(f"Claim {claim.patient_control_number} is already answered by this payment "
                       f"({payment.trace_number}); choose another claim.", code="invalid", field="claim")


def _post_line(item, remit_claim: RemittanceClaim, remit_line: RemittanceLine, claim: Claim, position, summary,
               acting_user) -> None:
    if claim.pk != item.claim_id:
        # The payer put this line under that claim's CLP and its money is counted in that claim's remittance row.
        raise AppError(f"This line came with claim {item.claim.patient_control_number}; post it to one of that "
                       "claim's lines.", code="invalid", field="claim")
    claim = Claim.objects.select_related("payer").get(pk=claim.pk)
    line = ClaimLine.objects.filter(claim=claim, position=position).first() if position else None
    if line is None:
        raise AppError(f"Choose the line of claim {claim.patient_control_number} this payment answers.",
                       code="invalid", field="line")
    payment = item.payment
    already = LedgerEntry.objects.filter(claim_line=line, kind=LedgerKind.PAYMENT, source="835",
                                         source_ref=str(payment.public_id)).exists()
    if already and not remit_claim.is_reversal:
        raise AppError(f"Line {line.position} ({line.cpt}) already has a payment from this remittance; choose "
                       "another line.", code="invalid", field="line")
    _Poster(claim=claim, source_ref=str(payment.public_id), acting_user=acting_user, summary=summary,
            effective_date=payment.effective_date).line(line, remit_line)
    _open_line_work(claim, line, remit_line, payment, payment.payer, summary, remit_claim)
    denied_any = Denial.objects.filter(claim=claim, payment=payment).exists()
    _update_claim(claim, remit_claim, denied_any, acting_user)


def _stored_remittance(item) -> tuple[Remittance, RemittanceClaim, RemittanceLine | None]:
    """The remittance, claim (and line) of the stored 835 that this item was made from."""
    payment = item.payment
    try:
        remittances = parse_835(payment.era_file.content, file_name=payment.era_file.file_name)
    except AppError as exc:
        raise AppError(f"The stored 835 {payment.era_file.file_name} can no longer be read ({exc.message}); match "
                       "by hand with a manual posting instead.", code="era_unreadable") from exc
    remittance = next((r for r in remittances if r.trace_number == payment.trace_number
                       and (r.payee_npi or r.payee_tin) == payment.payee_identifier), None)
    if remittance is None:
        raise AppError(f"Payment {payment.trace_number} is not in the stored file.", code="era_unreadable")
    if item.claim_id is None:
        found = [(c, None) for c in remittance.claims
                 if c.patient_control_number[:40] == item.patient_control_number and _claim_data(c) == item.data]
    else:
        found = [(c, line) for c in remittance.claims for line in c.lines
                 if c.patient_control_number == item.patient_control_number and _line_data(line) == item.data]
        # A line item made by an earlier manual match carries our claim's number, not the file's CLP01.
        found = found or [(c, line) for c in remittance.claims for line in c.lines if _line_data(line) == item.data]
    twins = [pk for pk, data in UnmatchedRemittance.objects.filter(
        payment=payment, claim__isnull=item.claim_id is None, patient_control_number=item.patient_control_number,
    ).order_by("pk").values_list("pk", "data") if data == item.data]
    # Identical items (e.g. the same unknown claim reversed and reposted) pair with identical CLPs in file order.
    index = twins.index(item.pk) if item.pk in twins else 0
    if index >= len(found):
        raise AppError("The stored 835 no longer holds this item's data.", code="era_unreadable")
    remit_claim, remit_line = found[index]
    return remittance, remit_claim, remit_line


# --- paper EOB ----------------------------------------------------------------------------------------------------


class _ManualPoster(_Poster):
    """Posting's ledger rows (payment, adjustments, PR moved to the patient, denials left owed), marked as a manual
    posting that names its EOB."""

    def __init__(self, *, claim, source_ref, note, acting_user, summary, effective_date):
        super().__init__(claim=claim, source_ref=source_ref, acting_user=acting_user, summary=summary,
                         effective_date=effective_date)
        self.note = note

    def _entry(self, line, kind, party, amount, group="", carc="", rarcs=()):
        if amount == ZERO:
            return
        LedgerEntry.objects.create(clinic_id=self.claim.clinic_id, claim=self.claim, claim_line=line, kind=kind,
                                   party=party, amount=amount, group_code=group, carc=carc[:5],
                                   rarcs=[r[:7] for r in rarcs], source=MANUAL, source_ref=self.source_ref,
                                   note=self.note[:300], posted_by=self.user, effective_date=self.effective_date)


def manual_posting_record(*, claim: Claim, lines: list[dict], acting_user, source: str, reference: str,
                          payment_date) -> dict:
    """Post a paper EOB (or a payer portal or phone answer) against a claim's lines.

    `lines`: [{"position": 1, "paid": "70.00", "adjustments": [{"group": "CO", "carc": "45", "amount": "50.00"}],
    "remarks": ["N640"], "partial": False}]; a line with nothing paid and no adjustment is not answered. A line
    answered in full must balance (charge − paid = Σ adjustments); `partial` lifts that for an EOB that answers
    only part of a line. Paid + adjustments may never exceed the line's open payer balance, so an EOB cannot post
    what an 835 already posted. Every problem is reported at once; nothing posts unless all lines are right. A
    refused line opens a denial and a line paid short an underpayment (no 835 payment; the rows name the EOB).
    """
    problems, source_ref, note = _eob_header(source, reference, payment_date)
    if problems:
        raise AppError.from_problems(problems, code="posting_invalid")
    with transaction.atomic():
        locked = Claim.objects.select_for_update().select_related("payer").get(pk=claim.pk)
        if locked.status not in POSTABLE:
            raise AppError(f"Claim {locked.patient_control_number} is {locked.get_status_display().lower()}: only a "
                           "submitted or adjudicated claim takes a payer's answer.", code="invalid", field="claim")
        if LedgerEntry.objects.filter(claim=locked, source=MANUAL, source_ref=source_ref).exists():
            raise AppError(f"{MANUAL_SOURCES[source]} {reference.strip()} is already posted to claim "
                           f"{locked.patient_control_number}; nothing was posted twice.", code="duplicate",
                           field="reference")
        answers, problems = _eob_lines(locked, lines)
        if problems:
            raise AppError.from_problems(problems, code="posting_invalid")
        if not answers:
            raise AppError("Enter the paid amount or an adjustment for at least one line.", code="posting_invalid",
                           field="lines")
        summary = PostingSummary(file=note)
        poster = _ManualPoster(claim=locked, source_ref=source_ref, note=note, acting_user=acting_user,
                               summary=summary, effective_date=payment_date)
        for line, answer in answers:
            poster.line(line, answer)
            if not _open_manual_denial(locked, line, answer, payment_date, summary):
                # The rule of the 835 import; no 835 payment stands behind it, the EOB's ledger rows name it.
                _open_underpayment(locked, line, answer, None, summary)
        _eob_status(locked, answers, summary, acting_user, note)
    return summary.as_dict()


def _eob_header(source, reference, payment_date) -> tuple[list, str, str]:
    problems = []
    reference = (reference or "").strip()
    if source not in MANUAL_SOURCES:
        problems.append(("source", f"choose one of {', '.join(MANUAL_SOURCES.values())}"))
    if not reference:
        problems.append(("reference", "enter the EOB's check, EFT or claim reference"))
    elif len(reference) > 50:
        problems.append(("reference", "at most 50 characters"))
    if not isinstance(payment_date, datetime.date):
        problems.append(("payment_date", "enter the payment date"))
    elif payment_date > timezone.localdate():
        problems.append(("payment_date", "the payment date is in the future"))
    label = MANUAL_SOURCES.get(source, "Manual posting")
    day = f" of {payment_date:%Y-%m-%d}" if isinstance(payment_date, datetime.date) else ""
    return problems, f"{source}:{reference}"[:80], f"{label} {reference}{day}"


def _money(value, what: str) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", "") or "0")
    except InvalidOperation as exc:
        raise ValueError(f"{what} {value!r} is not an amount") from exc
    if not amount.is_finite() or amount != amount.quantize(CENTS):
        raise ValueError(f"{what} {value} is not money to the cent")
    return amount.quantize(CENTS)


def _payer_open(claim) -> dict[int, Decimal]:
    rows = (LedgerEntry.objects.filter(claim=claim, party=LedgerParty.PAYER, claim_line__isnull=False)
            .values("claim_line_id").annotate(total=Sum("amount")))
    return {row["claim_line_id"]: row["total"] for row in rows}


def _eob_lines(claim, specs) -> tuple[list[tuple[ClaimLine, RemittanceLine]], list[tuple[str, str]]]:
    by_position = {line.position: line for line in claim.lines.all()}
    open_balance = _payer_open(claim)
    answers, problems, seen = [], [], set()
    for spec in specs:
        field = f"line {spec.get('position')}"
        try:
            position = int(spec.get("position"))
        except (TypeError, ValueError):
            problems.append((field, "no such line"))
            continue
        line = by_position.get(position)
        if line is None or position in seen:
            problems.append((field, "no such line" if line is None else "answered twice"))
            continue
        seen.add(position)
        try:
            answer = _eob_answer(line, spec)
        except ValueError as exc:
            problems.append((field, str(exc)))
            continue
        if answer is None:
            continue
        owed = open_balance.get(line.pk, ZERO)
        posting = answer.paid + answer.adjustment_total
        if posting > owed:
            problems.append((field, f"paid {answer.paid} + adjustments {answer.adjustment_total} = {posting} is more "
                                    f"than the {owed} the payer still owes on this line (already posted?)"))
            continue
        answers.append((line, answer))
    return answers, problems


def _eob_answer(line: ClaimLine, spec: dict) -> RemittanceLine | None:
    """The answer to one line as the RemittanceLine an 835 would have carried; None when the line is unanswered."""
    paid = _money(spec.get("paid") or "0", "paid")
    if paid < ZERO:
        raise ValueError("paid cannot be negative (a refund is posted as a reversal, not here)")
    adjustments = tuple(_eob_adjustment(adj) for adj in spec.get("adjustments") or () if _filled(adj))
    remarks = tuple(code.strip().upper() for code in spec.get("remarks") or () if code and code.strip())
    bad = [code for code in remarks if not RARC.match(code)]
    if bad:
        raise ValueError(f"remark code {bad[0]!r} is not a RARC like N640")
    if paid == ZERO and not adjustments:
        return None
    total = sum((adj.amount for adj in adjustments), ZERO)
    if not spec.get("partial") and line.charge - paid != total:
        raise ValueError(f"charge {line.charge} − paid {paid} = {line.charge - paid} but the adjustments add up to "
                         f"{total}; an EOB line answered in full balances")
    return RemittanceLine(qualifier="HC", code=line.cpt, modifiers=tuple(line.modifiers), charge=line.charge,
                          paid=paid, units_paid=Decimal(line.units), service_date=line.date_of_service,
                          line_control_number=line.line_control_number, adjustments=adjustments, remarks=remarks)


def _filled(adj: dict) -> bool:
    return any(str(adj.get(key) or "").strip() for key in ("group", "carc", "amount"))


def _eob_adjustment(adj: dict) -> Adjustment:
    group = str(adj.get("group") or "").strip().upper()
    carc = str(adj.get("carc") or "").strip().upper()
    if group not in GROUPS:
        raise ValueError(f"adjustment group {group or '(empty)'} is not one of {', '.join(GROUPS)}")
    if not CARC.match(carc):
        raise ValueError(f"adjustment reason {carc or '(empty)'} is not a CARC like 45")
    amount = _money(adj.get("amount") or "", f"{group}-{carc} amount")
    if amount <= ZERO:
        raise ValueError(f"{group}-{carc} amount must be more than zero")
    return Adjustment(group, carc, amount)


def _open_manual_denial(claim, line, answer: RemittanceLine, payment_date, summary) -> bool:
    """A refused line opens a denial as on import (True); with no 835 payment behind it, the EOB date starts the
    appeal window."""
    refused = [adj for adj in answer.adjustments if adj.group != PATIENT_GROUP and is_denial(adj.group, adj.reason)]
    if not refused:
        return False
    info = carc_info(refused[0].reason)
    remarks = "; ".join(f"{code}: {rarc_text(code)}" for code in answer.remarks)
    Denial.objects.create(
        clinic_id=claim.clinic_id, claim=claim, claim_line=line, payment=None, group_code=refused[0].group,
        carc=info.code[:5], rarcs=list(answer.remarks), category=info.category[:30],
        reason=(info.meaning + (f" — {remarks}" if remarks else ""))[:300], recommended_action=info.action[:300],
        amount=line.charge if answer.paid == ZERO else sum((adj.amount for adj in refused), ZERO),
        appeal_deadline=payment_date + datetime.timedelta(days=claim.payer.appeal_window_days),
        assignee=claim.assignee)
    summary.denials_opened += 1
    return True


def _eob_status(claim, answers, summary, acting_user, note) -> None:
    paid = sum((answer.paid for _line, answer in answers), ZERO)
    if summary.denials_opened:
        target = ClaimStatus.DENIED if paid == ZERO else ClaimStatus.PARTIALLY_PAID
    else:
        target = ClaimStatus.PAID
    if claim.status != target and can_move(claim.status, target):
        charge = sum((line.charge for line, _answer in answers), ZERO)
        claim_transition(claim=claim, to_status=target, acting_user=acting_user,
                         reason=f"{note}: paid {paid} of {charge}")


# --- patient payment ----------------------------------------------------------------------------------------------


def patient_payment_record(*, claim: Claim, amount, acting_user, method: str, reference: str = "",
                           paid_on: datetime.date | None = None) -> dict:
    """A payment by the patient toward what they owe on the claim, spread over the lines they owe on (by
    position, then the claim-level remainder), dated `paid_on` (today when not given). Refused above the patient
    balance or in the future."""
    problems = []
    paid_on = paid_on or timezone.localdate()
    if paid_on > timezone.localdate():
        problems.append(("paid_on", "the payment date is in the future"))
    try:
        amount = _money(amount, "amount")
    except ValueError as exc:
        problems.append(("amount", str(exc)))
    else:
        if amount <= ZERO:
            problems.append(("amount", "the amount must be more than zero"))
    if method not in PATIENT_METHODS:
        problems.append(("method", f"choose one of {', '.join(PATIENT_METHODS.values())}"))
    if len((reference or "").strip()) > 50:
        problems.append(("reference", "at most 50 characters"))
    if problems:
        raise AppError.from_problems(problems, code="payment_invalid")
    reference = (reference or "").strip()
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        owed = _patient_owed(locked)
        balance = sum(owed.values(), ZERO)
        if amount > balance:
            raise AppError(f"The patient owes {balance} on claim {locked.patient_control_number}; a payment of "
                           f"{amount} is more than that.", code="payment_invalid", field="amount")
        note = f"Patient payment ({PATIENT_METHODS[method].lower()}){' ' + reference if reference else ''}"
        rows = _spread(locked, owed, amount, f"patient:{method}:{reference}"[:80], note, acting_user, paid_on)
    return {"amount": str(amount), "rows": len(rows), "patient_balance": str(balance - amount)}


def _patient_owed(claim) -> dict:
    """{claim line id or None (claim level): what the patient owes there}, lines by position first."""
    rows = (LedgerEntry.objects.filter(claim=claim, party=LedgerParty.PATIENT)
            .values("claim_line_id", "claim_line__position").annotate(total=Sum("amount")))
    ordered = sorted(rows, key=lambda row: (row["claim_line_id"] is None, row["claim_line__position"] or 0))
    return {row["claim_line_id"]: row["total"] for row in ordered if row["total"] > ZERO}


def _spread(claim, owed: dict, amount: Decimal, source_ref: str, note: str, acting_user,
            paid_on: datetime.date) -> list[LedgerEntry]:
    rows, left = [], amount
    for line_id, due in owed.items():
        if left == ZERO:
            break
        share = min(due, left)
        rows.append(LedgerEntry.objects.create(
            clinic_id=claim.clinic_id, claim=claim, claim_line_id=line_id, kind=LedgerKind.PATIENT_PAYMENT,
            party=LedgerParty.PATIENT, amount=-share, source=MANUAL, source_ref=source_ref, note=note[:300],
            posted_by=_user(acting_user), effective_date=paid_on))
        left -= share
    return rows
