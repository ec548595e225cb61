"""835 posting: validate, de-duplicate, match and post one remittance file in one transaction.

- Validate: pyx12 plus our balancing (denials.x835.validate_835). Any problem quarantines the file; nothing posts.
  So does a payee (N1*PE) that is none of our clinics. A quarantined file belongs to the clinic it pays when every
  transaction names the same one of ours; otherwise it has no clinic and only its uploader and operators see it.
- De-duplicate: the same bytes (EraFile.sha256) or the same payment (payer, payee, TRN02: EraPayment's unique
  constraint) never post twice, also when two workers import at the same moment (the loser hits the unique index
  and reports "already posted").
- Match: CLP01 to Claim.patient_control_number in the payee clinic; each SVC by REF*6R line control number first,
  then by code, modifiers, date and units, then by code and date (the payer dropped a modifier). What does not
  match is kept as an UnmatchedRemittance, never dropped.
- Post: ledger rows per line (payment, each CAS adjustment; PR moves the amount to the patient), claim status from
  CLP02, the payer claim control number (CLP07), crossover (NM1*TT), PLB provider adjustments; denials and
  underpayments opened as work items. Nothing is written off.
- Reversal (CLP02 22): the file carries negative amounts, so the same posting undoes the earlier one. A reversal
  quoting a replacement claim, and anything quoting a void, posts on the claim it corrects, where the payments are.
- Progress: `era_import(progress=…)` hears (claims handled, claims in the file) while the transaction is open; the
  EraFile keeps the final count (progress_done of progress_total CLPs).
- Secondary: once the primary adjudicated and a balance remains with a next coverage on file, the secondary claim
  is built (denials.secondary), unless the payer crossed the claim over (NM1*TT).
"""

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from claims.lifecycle import can_move, claim_transition
from claims.models import Claim, ClaimFrequency, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty
from clinics.models import Clinic, Payer
from otbilling.edi.tokenizer import tokenize
from otbilling.errors import AppError

from .carc import carc_info, is_denial, rarc_text
from .models import (
    ClaimRemittance,
    Denial,
    EraFile,
    EraPayment,
    EraStatus,
    ProviderAdjustment,
    Underpayment,
    UnmatchedRemittance,
)
from .x835 import Remittance, RemittanceClaim, RemittanceLine, locate, parse_835, validate_835

ZERO = Decimal("0.00")
PATIENT_GROUP = "PR"
DENIED_STATUS = "4"
REVERSAL_STATUS = "22"
FEE_REDUCTIONS = {"45", "59", "94", "131"}
PRIOR_PAYER_CARC = "23"


def underpayment_tolerance() -> Decimal:
    return Decimal(str(getattr(settings, "UNDERPAYMENT_TOLERANCE", "1.00")))


@dataclass
class PostingSummary:
    duplicate: bool = False
    dry_run: bool = False
    file: str = ""
    claims_matched: int = 0
    lines_posted: int = 0
    paid_total: Decimal = ZERO
    adjustment_total: Decimal = ZERO
    patient_responsibility_total: Decimal = ZERO
    provider_adjustment_total: Decimal = ZERO
    denials_opened: int = 0
    underpayments_opened: int = 0
    unmatched_claims: int = 0
    unmatched_lines: int = 0
    secondary_claims_built: int = 0
    bill_secondary: bool = True
    payments: list = field(default_factory=list)
    message: str = ""

    def as_dict(self) -> dict:
        money = ("paid_total", "adjustment_total", "patient_responsibility_total", "provider_adjustment_total")
        data = {k: (str(v) if k in money else v) for k, v in self.__dict__.items()}
        return data


class _DryRunRollback(Exception):
    """Raised inside the posting transaction to undo a dry run."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _as_bytes(content) -> bytes:
    return content if isinstance(content, bytes) else content.encode("utf-8")


def era_import(*, file_name: str, content, acting_user=None, dry_run: bool = False,
               bill_secondary: bool = True, progress: Callable[[int, int], None] | None = None) -> dict:
    """Import one 835 file. Returns the summary dict; raises AppError (naming segment and position) for a file that
    cannot be posted, after storing it as quarantined (not on a dry run).

    `progress(done, total)` is called with the number of CLP claims handled out of all of the file's, from inside
    the posting transaction: whatever it records must travel outside the database transaction (denials.tasks).
    """
    data = _as_bytes(content)
    digest = _sha256(data)
    existing = EraFile.objects.filter(sha256=digest).first()
    if existing is not None:
        return _duplicate(file_name, f"Already imported on {existing.imported_at:%Y-%m-%d %H:%M} UTC as "
                                     f"{existing.file_name} ({existing.get_status_display().lower()}); nothing was "
                                     "posted.")
    issues = validate_835(data, file_name=file_name)
    if issues:
        _quarantine(file_name, data, digest, issues, acting_user, dry_run=dry_run)
        raise _not_posted(issues, code="era_invalid")
    remittances = parse_835(data, file_name=file_name)
    _refuse_unknown_payees(file_name, data, digest, remittances, acting_user, dry_run=dry_run)
    try:
        return _post_file(file_name, data, digest, remittances, acting_user, dry_run=dry_run,
                          bill_secondary=bill_secondary, progress=_Progress(remittances, progress))
    except _DryRunRollback as rollback:
        return rollback.args[0]
    except IntegrityError:
        # A concurrent import of the same file or payment won the unique index: it is posted once, by the winner.
        return _duplicate(file_name, "Another import of this file or payment was posted at the same moment; "
                                     "nothing was posted twice.")


class _Progress:
    """Counts the file's CLP claims as they are handled and passes (done, total) to the caller's callback."""

    def __init__(self, remittances, report: Callable[[int, int], None] | None):
        self.total = sum(len(remittance.claims) for remittance in remittances)
        self.done = 0
        self.report = report

    def advance(self, claims: int) -> None:
        self.done += claims
        if self.report is not None:
            self.report(self.done, self.total)


def _duplicate(file_name: str, message: str) -> dict:
    return PostingSummary(duplicate=True, file=file_name, message=message).as_dict()


def _not_posted(issues: list[dict], *, code: str) -> AppError:
    first = issues[0]
    more = f" (and {len(issues) - 1} more problems)" if len(issues) > 1 else ""
    return AppError(f"{first['message']}{more}; nothing was posted.", code=code, field="file",
                    details=[{"field": f"segment {i.get('position') or '?'} {i.get('segment') or ''}".strip(),
                              "message": i["message"]} for i in issues])


def _quarantine(file_name, data, digest, issues, acting_user, *, dry_run):
    """Keep a file that cannot be posted, with its problems. When every payment in it is to one clinic, the file
    is that clinic's (its users see it); otherwise only its uploader and operator admins do (denials.views_era)."""
    if dry_run:
        return
    try:
        with transaction.atomic():
            EraFile.objects.create(file_name=file_name[:200], sha256=digest, content=data.decode("utf-8", "replace"),
                                   status=EraStatus.QUARANTINED, errors=issues[:200], imported_by=_user(acting_user),
                                   clinic=_sole_payee_clinic(data, file_name))
    except IntegrityError:
        pass  # the same bad file is already quarantined


def _sole_payee_clinic(data: bytes, file_name: str) -> Clinic | None:
    """The clinic every transaction of the file pays, if the file can be read that far and there is one."""
    try:
        remittances = parse_835(data, file_name=file_name)
    except AppError:
        return None
    clinics = {_find_payee_clinic(r) for r in remittances}
    return clinics.pop() if len(clinics) == 1 else None  # a None in the set means a payee none of ours


def _user(acting_user):
    return acting_user if acting_user is not None and getattr(acting_user, "is_authenticated", False) else None


def _find_payee_clinic(remittance: Remittance) -> Clinic | None:
    """Our clinic the N1*PE payee names: by NPI, then by TIN (digits compared, since files format it freely)."""
    clinic = None
    if remittance.payee_npi:
        clinic = Clinic.objects.filter(billing_npi=remittance.payee_npi).first()
    digits = "".join(ch for ch in remittance.payee_tin if ch.isdigit())
    if clinic is None and digits:
        clinic = next((c for c in Clinic.objects.all() if "".join(ch for ch in c.ein if ch.isdigit()) == digits),
                      None)
    return clinic


def _payee_clinic(remittance: Remittance) -> Clinic:
    clinic = _find_payee_clinic(remittance)
    if clinic is None:
        raise AppError(f"{remittance.file_name}: segment {remittance.position} (ST {remittance.control_number}): the "
                       f"payee {remittance.payee_name} (NPI {remittance.payee_npi or '—'}, TIN "
                       f"{remittance.payee_tin or '—'}) is none of our clinics; nothing was posted.",
                       code="era_payee_unknown", field="file")
    return clinic


def _refuse_unknown_payees(file_name, data, digest, remittances, acting_user, *, dry_run) -> None:
    """A payment to a payee that is none of our clinics posts nothing, and the file is quarantined with the
    reason: without a clinic, only its uploader and operator admins see it (denials.views_era)."""
    unknown = [r for r in remittances if _find_payee_clinic(r) is None]
    if not unknown:
        return
    payee_positions = _payee_positions(data)
    issues = []
    for remittance in unknown:
        position = payee_positions.get(remittance.position)
        reason = (f"payee NPI {remittance.payee_npi or '—'} / TIN {remittance.payee_tin or '—'} "
                  f"({remittance.payee_name or 'no name'}, transaction {remittance.control_number or '?'}) matches "
                  "no clinic")
        issues.append({"segment": "N1", "position": position, "message": locate(file_name, "N1", position, reason)})
    _quarantine(file_name, data, digest, issues, acting_user, dry_run=dry_run)
    raise _not_posted(issues, code="era_payee_unknown")


def _payee_positions(data: bytes) -> dict[int, int]:
    """{position of an ST: position of its N1*PE}; the file has been read by parse_835 already."""
    _delimiters, segments = tokenize(data.decode("utf-8", "replace"))
    found: dict[int, int] = {}
    st_position = None
    for segment in segments:
        if segment.id == "ST":
            st_position = segment.position
        elif segment.id == "N1" and segment.get(1) == "PE" and st_position is not None:
            found.setdefault(st_position, segment.position)
    return found


def _post_file(file_name, data, digest, remittances, acting_user, *, dry_run, bill_secondary, progress) -> dict:
    summary = PostingSummary(file=file_name, dry_run=dry_run, bill_secondary=bill_secondary)
    with transaction.atomic():
        clinics = [_payee_clinic(r) for r in remittances]
        era_file = EraFile.objects.create(
            file_name=file_name[:200], sha256=digest, content=data.decode("utf-8", "replace"),
            status=EraStatus.POSTED, clinic=clinics[0] if len({c.pk for c in clinics}) == 1 else None,
            imported_by=_user(acting_user), progress_total=progress.total)
        progress.advance(0)
        for remittance, clinic in zip(remittances, clinics, strict=True):
            _post_remittance(era_file, remittance, clinic, summary, acting_user, progress=progress)
        if not summary.payments:
            summary.duplicate = True
            summary.message = "Every payment in this file was already posted; nothing was posted twice."
        era_file.summary = summary.as_dict()
        era_file.progress_done = progress.done
        era_file.save(update_fields=["summary", "progress_done"])
        if dry_run:
            raise _DryRunRollback(summary.as_dict())
    return summary.as_dict()


def _post_remittance(era_file, remittance: Remittance, clinic: Clinic, summary: PostingSummary, acting_user, *,
                     progress: _Progress | None = None):
    progress = progress or _Progress([], None)
    payer_identifier = remittance.trace_payer_id or remittance.payer_id or remittance.payer_name
    payee_identifier = remittance.payee_npi or remittance.payee_tin
    if EraPayment.objects.filter(payer_identifier=payer_identifier, payee_identifier=payee_identifier,
                                 trace_number=remittance.trace_number).exists():
        progress.advance(len(remittance.claims))
        return  # the same payment came in another file: posted once already
    payer = Payer.objects.filter(payer_id=remittance.payer_id).first() if remittance.payer_id else None
    plb_total = sum((p.amount for p in remittance.provider_adjustments), ZERO)
    with transaction.atomic():  # savepoint: a concurrent twin raises IntegrityError here and the file rolls back
        payment = EraPayment.objects.create(
            clinic=clinic, era_file=era_file, payer=payer, payer_identifier=payer_identifier,
            payer_name=remittance.payer_name[:60], payee_identifier=payee_identifier,
            trace_number=remittance.trace_number, amount=remittance.signed_total, method=remittance.payment_method,
            payment_date=remittance.payment_date, provider_adjustment_total=plb_total)
    summary.payments.append({"trace_number": remittance.trace_number, "amount": str(remittance.signed_total),
                             "payer": remittance.payer_name})
    for plb in remittance.provider_adjustments:
        ProviderAdjustment.objects.create(clinic=clinic, payment=payment, reason=plb.reason,
                                          reference=plb.reference[:50], amount=plb.amount,
                                          fiscal_period_date=plb.fiscal_period_date)
    summary.provider_adjustment_total += plb_total
    for remit_claim in remittance.claims:
        _post_claim(payment, remittance, remit_claim, clinic, payer, summary, acting_user)
        progress.advance(1)


def _post_claim(payment, remittance, remit: RemittanceClaim, clinic, payer, summary, acting_user):
    claim = (Claim.objects.filter(clinic=clinic, patient_control_number=remit.patient_control_number)
             .select_related("payer").first())
    if claim is None:
        UnmatchedRemittance.objects.create(
            clinic=clinic, payment=payment, patient_control_number=remit.patient_control_number[:40],
            description=f"No claim {remit.patient_control_number} in {clinic.legal_name}: paid {remit.paid} of "
                        f"{remit.charge}.",
            data=_claim_data(remit))
        summary.unmatched_claims += 1
        return
    summary.claims_matched += 1
    claim, line_aliases = _claim_to_post(claim, remit, payment)
    ClaimRemittance.objects.create(
        clinic=clinic, payment=payment, claim=claim, status_code=remit.status_code, charge=remit.charge,
        paid=remit.paid, patient_responsibility=remit.patient_responsibility,
        payer_claim_control_number=remit.payer_claim_control_number[:50],
        crossover_payer_name=(remit.crossover_carrier.last[:60] if remit.crossover_carrier else ""),
        crossover_payer_id=(remit.crossover_carrier.id[:80] if remit.crossover_carrier else ""))
    source_ref = str(payment.public_id)
    post = _Poster(claim=claim, source_ref=source_ref, acting_user=acting_user, summary=summary,
                   effective_date=payment.effective_date)
    denials_before = summary.denials_opened
    if remit.lines:
        lines = list(claim.lines.all())
        taken: set[int] = set()
        for remit_line in remit.lines:
            line = match_line(_aliased(remit_line, line_aliases), lines, taken, claim)
            if line is None:
                UnmatchedRemittance.objects.create(
                    clinic=clinic, payment=payment, claim=claim, patient_control_number=claim.patient_control_number,
                    description=f"Line {remit_line.code} {'-'.join(remit_line.modifiers)} of {remit_line.service_date} "
                                f"matches no line of {claim.patient_control_number}: paid {remit_line.paid}.",
                    data=_line_data(remit_line))
                summary.unmatched_lines += 1
                continue
            taken.add(line.pk)
            post.line(line, remit_line)
            _open_line_work(claim, line, remit_line, payment, payer, summary, remit)
    else:
        post.claim_level(remit.paid, remit.adjustments)
        if remit.status_code == DENIED_STATUS or (remit.paid == ZERO and _denial_adjustment(remit.adjustments)):
            _open_denial(claim, None, remit.adjustments, remit.remarks, remit.charge, payment, payer, summary)
    if remit.lines and remit.adjustments:
        post.claim_level(ZERO, remit.adjustments)
    if remit.status_code == DENIED_STATUS and summary.denials_opened == denials_before:
        _open_denial(claim, None, remit.all_adjustments, remit.remarks, remit.charge, payment, payer, summary)
    _update_claim(claim, remit, summary.denials_opened > denials_before, acting_user)
    if summary.bill_secondary and remit.status_code != REVERSAL_STATUS and not remit.crossover_carrier:
        from .secondary import maybe_bill_secondary  # posting and secondary billing import each other's helpers

        if maybe_bill_secondary(claim=claim, acting_user=acting_user) is not None:
            summary.secondary_claims_built += 1


class _Poster:
    """Writes the ledger rows of one claim's remittance."""

    def __init__(self, *, claim, source_ref, acting_user, summary, effective_date):
        self.claim, self.source_ref, self.user, self.summary = claim, source_ref, _user(acting_user), summary
        self.effective_date = effective_date

    def _entry(self, line, kind, party, amount, group="", carc="", rarcs=()):
        if amount == ZERO:
            return
        LedgerEntry.objects.create(clinic_id=self.claim.clinic_id, claim=self.claim, claim_line=line, kind=kind,
                                   party=party, amount=amount, group_code=group, carc=carc[:5],
                                   rarcs=[r[:7] for r in rarcs], source="835", source_ref=self.source_ref,
                                   posted_by=self.user, effective_date=self.effective_date)

    def _adjustments(self, line, adjustments, rarcs):
        for adj in adjustments:
            if self.claim.primary_claim_id and adj.group == "OA" and adj.reason == PRIOR_PAYER_CARC:
                # The prior payer's part was taken off when the secondary claim was built (denials.secondary).
                self.summary.adjustment_total += adj.amount
                continue
            if adj.group != PATIENT_GROUP and is_denial(adj.group, adj.reason):
                # A denial is never written off on import: the amount stays owed by the payer and a Denial row
                # sends it to a biller, who appeals, corrects, transfers or writes it off.
                self.summary.adjustment_total += adj.amount
                continue
            self._entry(line, LedgerKind.ADJUSTMENT, LedgerParty.PAYER, -adj.amount, adj.group, adj.reason, rarcs)
            if adj.group == PATIENT_GROUP:
                self._entry(line, LedgerKind.TRANSFER, LedgerParty.PATIENT, adj.amount, adj.group, adj.reason, rarcs)
                self.summary.patient_responsibility_total += adj.amount
            else:
                self.summary.adjustment_total += adj.amount

    def line(self, line: ClaimLine, remit_line: RemittanceLine):
        self._entry(line, LedgerKind.PAYMENT, LedgerParty.PAYER, -remit_line.paid)
        self._adjustments(line, remit_line.adjustments, remit_line.remarks)
        self.summary.paid_total += remit_line.paid
        self.summary.lines_posted += 1

    def claim_level(self, paid, adjustments):
        self._entry(None, LedgerKind.PAYMENT, LedgerParty.PAYER, -paid)
        self._adjustments(None, adjustments, ())
        self.summary.paid_total += paid


def _claim_to_post(claim: Claim, remit: RemittanceClaim, payment) -> tuple[Claim, dict[str, str]]:
    """The claim whose ledger a CLP posts to, and {its line control number: that claim's} when it is another.

    A void carries no money (claims.services.claim_correct), so whatever the payer answers to it (the reversal of the
    original's payment) posts on the original. A CLP02 22 quoting a replacement reverses the original's adjudication,
    whose payments sit on the original, unless the replacement was adjudicated by an earlier payment: then it
    reverses the replacement's own answer.
    """
    if claim.replaces_id is None:
        return claim, {}
    if claim.frequency != ClaimFrequency.VOID:
        own_answer = (ClaimRemittance.objects.filter(claim=claim).exclude(payment=payment)
                      .exclude(status_code=REVERSAL_STATUS))
        if remit.status_code != REVERSAL_STATUS or own_answer.exists():
            return claim, {}
    original = Claim.objects.select_related("payer").get(pk=claim.replaces_id)
    # The payer may echo the correction's REF*6R; the original's line at the same position is the one it means.
    theirs = {line.position: line.line_control_number for line in original.lines.all()}
    aliases = {line.line_control_number: theirs[line.position] for line in claim.lines.all() if line.position in theirs}
    return original, aliases


def _aliased(remit_line: RemittanceLine, aliases: dict[str, str]) -> RemittanceLine:
    number = aliases.get(remit_line.line_control_number)
    return replace(remit_line, line_control_number=number) if number else remit_line


def match_line(remit_line: RemittanceLine, lines: list[ClaimLine], taken: set[int], claim: Claim):
    """Our line for an SVC: line control number, then code + modifiers + date + units, then code + date."""
    free = [ln for ln in lines if ln.pk not in taken]
    if remit_line.line_control_number:
        found = next((ln for ln in free if ln.line_control_number == remit_line.line_control_number), None)
        if found:
            return found
    code = remit_line.original_code or remit_line.code
    day = remit_line.service_date or claim.service_date_from
    same_code = [ln for ln in free if ln.cpt == code and ln.date_of_service == day]
    modifiers = list(remit_line.original_modifiers or remit_line.modifiers)
    units = remit_line.original_units or remit_line.units_paid
    exact = [ln for ln in same_code if ln.modifiers == modifiers and Decimal(ln.units) == units]
    return (exact or same_code or [None])[0]


def _denial_adjustment(adjustments):
    """The first adjustment that is a refusal to pay (not cost sharing, not contractual)."""
    return next((a for a in adjustments if is_denial(a.group, a.reason)), None)


def _open_line_work(claim, line, remit_line, payment, payer, summary, remit):
    if remit_line.paid < ZERO or remit.status_code == REVERSAL_STATUS:
        return
    refused = [a for a in remit_line.adjustments if a.group != PATIENT_GROUP and is_denial(a.group, a.reason)]
    if refused:  # paid zero, or part of the line refused (e.g. units cut): either way a biller must act
        amount = line.charge if remit_line.paid == ZERO else sum((a.amount for a in refused), ZERO)
        _open_denial(claim, line, refused, remit_line.remarks, amount, payment, payer, summary)
        return
    _open_underpayment(claim, line, remit_line, payment, summary)


def _open_underpayment(claim, line, remit_line: RemittanceLine, payment, summary) -> Underpayment | None:
    """The underpayment rule: a line paid, but allowed below its expected amount by more than the tolerance, opens an
    item. `payment` is the 835 payment, or None for a paper EOB posted by hand (denials.manual)."""
    if remit_line.paid <= ZERO or line.expected_allowed <= ZERO:
        return None
    allowed = remit_line.allowed if remit_line.allowed is not None else _allowed(remit_line)
    if allowed + underpayment_tolerance() >= line.expected_allowed or remit_line.paid >= line.expected_allowed:
        return None
    summary.underpayments_opened += 1
    return Underpayment.objects.create(clinic_id=claim.clinic_id, claim=claim, claim_line=line, payment=payment,
                                       expected=line.expected_allowed, allowed=allowed, paid=remit_line.paid)


def _allowed(remit_line: RemittanceLine) -> Decimal:
    """Allowed amount when the payer sent no AMT*B6: the charge less the reductions of the fee itself (CO-45
    contract, 59 MPPR, 94/131 negotiated discounts). Sequestration (253) cuts the payment, not the allowed amount."""
    reductions = sum((a.amount for a in remit_line.adjustments
                      if a.group != PATIENT_GROUP and a.reason in FEE_REDUCTIONS), ZERO)
    return remit_line.charge - reductions


def _open_denial(claim, line, adjustments, remarks, amount, payment, payer, summary):
    reason_adj = _denial_adjustment(adjustments)
    info = carc_info(reason_adj.reason if reason_adj else "")
    window = (payer or claim.payer).appeal_window_days
    base = payment.payment_date or timezone.localdate()
    remark_text = "; ".join(f"{r}: {rarc_text(r)}" for r in remarks)
    reason = info.meaning + (f" — {remark_text}" if remark_text else "")
    Denial.objects.create(
        clinic_id=claim.clinic_id, claim=claim, claim_line=line, payment=payment,
        group_code=reason_adj.group if reason_adj else "", carc=info.code[:5], rarcs=[r[:7] for r in remarks],
        category=info.category[:30], reason=reason[:300], recommended_action=info.action[:300], amount=amount,
        appeal_deadline=base + datetime.timedelta(days=window), assignee=claim.assignee)
    summary.denials_opened += 1


def _update_claim(claim: Claim, remit: RemittanceClaim, denied_any: bool, acting_user):
    if remit.payer_claim_control_number and remit.status_code != REVERSAL_STATUS:
        Claim.objects.filter(pk=claim.pk).update(payer_claim_control_number=remit.payer_claim_control_number[:50])
        claim.payer_claim_control_number = remit.payer_claim_control_number[:50]
    if remit.status_code == REVERSAL_STATUS:
        return  # the repost that follows (or a later file) sets the status
    # Paid nothing because of deductible or contract is processed, not denied: only a refusal makes a denial.
    if remit.status_code == DENIED_STATUS or (remit.paid == ZERO and denied_any):
        target = ClaimStatus.DENIED
    elif denied_any:
        target = ClaimStatus.PARTIALLY_PAID
    else:
        target = ClaimStatus.PAID
    if claim.status == target:
        return
    if claim.status == ClaimStatus.BATCHED or not can_move(claim.status, target):
        return  # e.g. a closed or replaced claim: the money is posted, the status stays as the biller left it
    claim_transition(claim=claim, to_status=target, acting_user=acting_user,
                     reason=f"835 CLP02 {remit.status_code} ({remit.status_label}): paid {remit.paid} of "
                            f"{remit.charge}")


def _claim_data(remit: RemittanceClaim) -> dict:
    return {"status_code": remit.status_code, "charge": str(remit.charge), "paid": str(remit.paid),
            "patient": remit.patient.display if remit.patient else "",
            "payer_claim_control_number": remit.payer_claim_control_number,
            "lines": [_line_data(line) for line in remit.lines]}


def _line_data(line: RemittanceLine) -> dict:
    return {"code": line.code, "modifiers": list(line.modifiers), "charge": str(line.charge), "paid": str(line.paid),
            "date": line.service_date.isoformat() if line.service_date else "",
            "line_control_number": line.line_control_number,
            "adjustments": [{"group": a.group, "carc": a.reason, "amount": str(a.amount)} for a in line.adjustments]}
