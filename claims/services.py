"""Claim write services: build claims from billable visits, assign, and prepare corrections and voids.

Each service is one transaction. Status changes go through claims.lifecycle.claim_transition.
"""

import copy
import secrets
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from coding.models import CodingStatus
from eligibility.authorizations import authorization_for_line, authorization_for_visit
from otbilling.errors import AppError
from visits.models import Visit, VisitStatus

from .lifecycle import claim_created_event, claim_transition
from .models import Claim, ClaimFrequency, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty

# Claims in these statuses no longer hold their visits: the visit may be billed again (a fixed rejection is
# resent from the same claim, so REJECTED is not listed; a void releases the service).
RELEASED_STATUSES = (ClaimStatus.VOIDED,)
PCN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: read over the phone to a payer


@dataclass
class BuildResult:
    claims: list[Claim]
    visits_held: int

    def as_dict(self) -> dict:
        return {"claims_built": len(self.claims), "visits_held": self.visits_held}


def _new_control_number(prefix: str, length: int) -> str:
    return prefix + "".join(secrets.choice(PCN_ALPHABET) for _ in range(length))


def new_patient_control_number() -> str:
    """CLM01: 'C' + 11 characters, unique (checked against the table; collisions are astronomically rare)."""
    while True:
        number = _new_control_number("C", 11)
        if not Claim.objects.filter(patient_control_number=number).exists():
            return number


def new_line_control_number(claim: Claim, position: int) -> str:
    """REF*6R: the claim's number and the line position, so an 835 SVC maps back even without modifiers."""
    return f"{claim.patient_control_number}L{position:02d}"


def billed_line_exists():
    """Subquery: the service line already sits on a claim that still holds it."""
    return ClaimLine.objects.filter(service_line_id=OuterRef("pk")).exclude(claim__status__in=RELEASED_STATUSES)


def unbilled_visits(clinic):
    """Signed visits of the clinic with coverage and at least one service line not yet on a live claim."""
    from visits.models import ServiceLine

    open_lines = ServiceLine.objects.filter(visit=OuterRef("pk")).filter(~Exists(billed_line_exists()))
    return (Visit.objects.filter(clinic=clinic, status=VisitStatus.SIGNED, coverage__isnull=False)
            .filter(Exists(open_lines)))


def _claim_key(visit: Visit) -> tuple:
    return (visit.patient_id, visit.coverage_id, visit.rendering_provider_id, visit.date_of_service)


def _diagnoses_and_pointers(visits: list[Visit]) -> tuple[list[str], dict[tuple[int, int], list[int]]]:
    """Merge the visits' diagnoses in order (at most 12) and re-point each line at the merged list."""
    merged: list[str] = []
    pointers: dict[tuple[int, int], list[int]] = {}
    for visit in visits:
        for code in visit.diagnoses:
            if code not in merged:
                merged.append(code)
        for line in visit.lines.all():
            codes = [visit.diagnoses[p - 1] for p in line.diagnosis_pointers if 0 < p <= len(visit.diagnoses)]
            pointers[(visit.pk, line.pk)] = [merged.index(c) + 1 for c in codes][:4]
    if len(merged) > 12:
        raise AppError(f"The visits of one claim carry {len(merged)} diagnoses; a claim holds at most 12.",
                       code="too_many_diagnoses", field="diagnoses")
    return merged, pointers


def _build_one(visits: list[Visit], *, acting_user) -> Claim:
    first = visits[0]
    diagnoses, pointers = _diagnoses_and_pointers(visits)
    visit_auth = authorization_for_visit(first)
    signed = [v.signed_at for v in visits if v.signed_at]
    claim = Claim.objects.create(
        clinic_id=first.clinic_id, patient_id=first.patient_id, coverage_id=first.coverage_id,
        payer_id=first.coverage.payer_id, rendering_provider_id=first.rendering_provider_id,
        referring_provider_id=next((v.referring_provider_id for v in visits if v.referring_provider_id), None),
        patient_control_number=new_patient_control_number(), place_of_service=first.place_of_service,
        service_date_from=min(v.date_of_service for v in visits),
        service_date_to=max(v.date_of_service for v in visits), diagnoses=diagnoses,
        prior_auth_number=visit_auth.number if visit_auth else "", signed_at=min(signed) if signed else None,
        status=ClaimStatus.READY, created_by=acting_user if getattr(acting_user, "is_authenticated", False) else None)
    total = Decimal("0.00")
    position = 0
    for visit in visits:
        for line in visit.lines.all():
            coded = getattr(line, "coded", None)
            if coded is None or coded.units == 0:
                continue  # under 8 minutes, or an untimed code folded into its family: nothing to bill
            position += 1
            line_auth = authorization_for_line(visit, line.cpt)
            claim_line = ClaimLine.objects.create(
                clinic_id=claim.clinic_id, claim=claim, position=position, service_line=line, visit=visit,
                date_of_service=visit.date_of_service, cpt=line.cpt, modifiers=list(coded.modifiers),
                units=coded.units, charge=coded.charge, expected_allowed=coded.expected_allowed,
                diagnosis_pointers=pointers[(visit.pk, line.pk)] or [1],
                line_control_number=new_line_control_number(claim, position),
                auth_number=line_auth.number if line_auth and line_auth.codes.exists() else "")
            LedgerEntry.objects.create(clinic_id=claim.clinic_id, claim=claim, claim_line=claim_line,
                                       kind=LedgerKind.CHARGE, party=LedgerParty.PAYER, amount=coded.charge,
                                       source="build", posted_by=claim.created_by,
                                       effective_date=visit.date_of_service)
            total += coded.charge
    if position == 0:
        raise AppError("No line of these visits has a billable unit.", code="nothing_to_bill")
    if position > 50:
        raise AppError("A professional claim holds at most 50 lines.", code="too_many_lines")
    claim.total_charge = total
    claim.save(update_fields=["total_charge"])
    claim_created_event(claim=claim, acting_user=acting_user,
                        reason=f"built from {len(visits)} billable visit{'s' if len(visits) > 1 else ''}")
    return claim


def claims_build(*, clinic, acting_user=None) -> BuildResult:
    """One claim per patient, coverage, rendering provider and date of service, from billable visits.

    Visits held by the scrubber (or not yet scrubbed) are counted, not billed. One transaction for the clinic.
    """
    with transaction.atomic():
        # Locking the candidate visits makes a second build running at the same moment wait, then find them billed.
        locked = list(unbilled_visits(clinic).select_for_update(of=("self",)).values_list("pk", flat=True))
        # A fresh statement after the lock sees what a concurrent build committed meanwhile.
        still_unbilled = unbilled_visits(clinic).filter(pk__in=locked).values("pk")
        candidates = list(Visit.objects.filter(pk__in=still_unbilled).select_related("coverage", "coding")
                          .prefetch_related("lines__coded").order_by("date_of_service", "pk"))
        groups: dict[tuple, list[Visit]] = defaultdict(list)
        held = 0
        for visit in candidates:
            coding = getattr(visit, "coding", None)
            if coding is None or coding.status != CodingStatus.BILLABLE:
                held += 1
                continue
            groups[_claim_key(visit)].append(visit)
        built = []
        for visits in groups.values():
            try:
                with transaction.atomic():
                    built.append(_build_one(visits, acting_user=acting_user))
            except AppError:
                held += len(visits)  # e.g. more than 50 lines or 12 diagnoses: the rest of the clinic still bills
    return BuildResult(claims=built, visits_held=held)


def claim_assign(*, claims, assignee, acting_user) -> int:
    """Give claims to a biller (or take them back with assignee=None); the change history records who did it."""
    ids = [c.pk for c in claims]
    with transaction.atomic():
        return Claim.objects.filter(pk__in=ids).update(assignee=assignee)


def _copy_lines(source: Claim, target: Claim) -> None:
    for line in source.lines.all():
        ClaimLine.objects.create(
            clinic_id=target.clinic_id, claim=target, position=line.position, service_line=line.service_line,
            visit=line.visit, date_of_service=line.date_of_service, cpt=line.cpt, modifiers=list(line.modifiers),
            units=line.units, charge=line.charge, expected_allowed=line.expected_allowed,
            diagnosis_pointers=list(line.diagnosis_pointers),
            line_control_number=new_line_control_number(target, line.position), auth_number=line.auth_number)


CORRECTABLE = (ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID, ClaimStatus.DENIED, ClaimStatus.CLOSED)


def claim_correct(*, claim: Claim, frequency: str, acting_user, reason: str) -> Claim:
    """A replacement (7) or void (8) of an adjudicated claim: a new claim carrying the payer's claim number.

    Refused when the payer never adjudicated it (a rejected claim is fixed and resent as a new original), when
    the payer's claim control number is unknown, or when the payer takes no replacements. A corrected secondary
    claim stays a secondary claim: it keeps `primary_claim` and the primary's adjudication (its 837P COB loops).

    The ledger, once the correction is final (a replacement when it leaves draft, in claim_mark_ready, since its
    lines may be edited until then; a void at once, as it is created ready):
    - what the original billed is reversed on the original: a CHARGE row of −charge per charge row, `reverses` set,
      on that row's accounting date (the day of service), so a month's gross charges net to the replacement's; a
      secondary claim's prior-payer adjustment (OA-23, written when it was built) is reversed with it;
    - a replacement carries CHARGE rows for its own lines (and its copy of the prior-payer adjustment); a void
      carries no row at all;
    - the original's payments and adjustments stay where the payer posted them. Until the payer answers, the
      original shows −(paid + adjusted) as a credit and the replacement its charges, so the two add up to what is
      still to be adjudicated. The payer answers with a reversal (835 CLP02 22) of the original's adjudication,
      posted on the original (denials.posting routes it there even when it quotes the correction's number), which
      brings the original to zero, and an adjudication of the replacement, which settles the replacement.
    """
    if frequency not in (ClaimFrequency.REPLACEMENT, ClaimFrequency.VOID):
        raise AppError("A correction is a replacement (7) or a void (8).", code="invalid", field="frequency")
    if not reason.strip():
        raise AppError("Say why the claim is corrected or voided.", code="required", field="reason")
    if claim.status not in CORRECTABLE:
        raise AppError(
            f"Claim {claim.patient_control_number} is {claim.get_status_display().lower()}: only a claim the payer "
            "adjudicated can be replaced or voided; a rejected claim is fixed and resent as a new original.",
            code="not_adjudicated", field="status")
    if not claim.payer_claim_control_number:
        raise AppError(f"Claim {claim.patient_control_number} has no payer claim control number (835 CLP07) yet; "
                       "a replacement or void must quote it in REF*F8.", code="missing_payer_claim_number",
                       field="payer_claim_control_number")
    if frequency == ClaimFrequency.REPLACEMENT and not claim.payer.accepts_replacement_claims:
        raise AppError(f"{claim.payer.name} accepts no replacement claims (frequency 7): ask the payer for a "
                       "reopening instead.", code="replacement_not_accepted", field="frequency")
    with transaction.atomic():
        correction = Claim.objects.create(
            clinic_id=claim.clinic_id, patient_id=claim.patient_id, coverage_id=claim.coverage_id,
            payer_id=claim.payer_id, rendering_provider_id=claim.rendering_provider_id,
            referring_provider_id=claim.referring_provider_id,
            patient_control_number=new_patient_control_number(), frequency=frequency, replaces=claim,
            payer_claim_control_number=claim.payer_claim_control_number, place_of_service=claim.place_of_service,
            service_date_from=claim.service_date_from, service_date_to=claim.service_date_to,
            diagnoses=list(claim.diagnoses), prior_auth_number=claim.prior_auth_number,
            total_charge=claim.total_charge, signed_at=claim.signed_at, primary_claim_id=claim.primary_claim_id,
            other_payer_adjudication=copy.deepcopy(claim.other_payer_adjudication),
            status=ClaimStatus.DRAFT if frequency == ClaimFrequency.REPLACEMENT else ClaimStatus.READY,
            created_by=acting_user)
        _copy_lines(claim, correction)
        kind = "replacement" if frequency == ClaimFrequency.REPLACEMENT else "void"
        claim_created_event(claim=correction, acting_user=acting_user,
                            reason=f"{kind} of {claim.patient_control_number}: {reason}")
        claim_transition(claim=claim, acting_user=acting_user,
                         to_status=ClaimStatus.REPLACED if kind == "replacement" else ClaimStatus.VOIDED,
                         reason=f"{kind} {correction.patient_control_number}: {reason}")
        if frequency == ClaimFrequency.VOID:
            _post_correction_ledger(correction, acting_user)
    return correction


def _post_correction_ledger(correction: Claim, acting_user) -> None:
    """Move what is billed from the original to its final correction (the model is in claim_correct's docstring).

    Safe to run again: rows already reversed are left alone, and a replacement line whose charge rows already add
    up to its charge gets none (one sent back to draft and edited has its old charge reversed and the new written).
    """
    original = correction.replaces
    user = acting_user if getattr(acting_user, "is_authenticated", False) else None

    def write(claim, line, kind, amount, on, ref, reverses=None, group="", carc=""):
        LedgerEntry.objects.create(clinic_id=claim.clinic_id, claim=claim, claim_line=line, kind=kind,
                                   party=LedgerParty.PAYER, amount=amount, group_code=group, carc=carc,
                                   source="correction", source_ref=ref, reverses=reverses, posted_by=user,
                                   effective_date=on)

    def billed(claim, *, live=True):
        # Rows that say what was billed (charges, a secondary's prior-payer part); live: not reversed yet.
        prior_payer_part = Q(kind=LedgerKind.ADJUSTMENT, source__in=("secondary", "correction"))
        rows = LedgerEntry.objects.filter(claim=claim, reverses__isnull=True)
        if live:
            rows = rows.filter(reversals__isnull=True)
        return rows.filter(Q(kind=LedgerKind.CHARGE) | prior_payer_part).select_related("claim_line").order_by("pk")

    for row in billed(original):
        write(original, row.claim_line, row.kind, -row.amount, row.effective_date, correction.patient_control_number,
              reverses=row, group=row.group_code, carc=row.carc)
    if correction.frequency != ClaimFrequency.REPLACEMENT:
        return
    by_position = defaultdict(list)
    for row in billed(original, live=False):
        by_position[row.claim_line.position if row.claim_line else None].append(row)
    current = defaultdict(list)
    for row in billed(correction):
        current[row.claim_line_id].append(row)
    for line in correction.lines.all():
        was = by_position.get(line.position, [])
        on = next((r.effective_date for r in was if r.kind == LedgerKind.CHARGE), line.date_of_service)
        charges = [r for r in current[line.pk] if r.kind == LedgerKind.CHARGE]
        if sum((r.amount for r in charges), Decimal("0.00")) != line.charge:
            for row in charges:
                write(correction, line, LedgerKind.CHARGE, -row.amount, row.effective_date,
                      original.patient_control_number, reverses=row)
            if line.charge:
                write(correction, line, LedgerKind.CHARGE, line.charge, on, original.patient_control_number)
        if not any(r.kind == LedgerKind.ADJUSTMENT for r in current[line.pk]):
            for row in was:
                if row.kind == LedgerKind.ADJUSTMENT:
                    write(correction, line, row.kind, row.amount, row.effective_date, original.patient_control_number,
                          group=row.group_code, carc=row.carc)


def claim_line_update(*, line: ClaimLine, acting_user, units: int | None = None, modifiers: list[str] | None = None,
                      charge: Decimal | None = None) -> ClaimLine:
    """Edit a line of a draft replacement claim; the claim total follows."""
    claim = line.claim
    if claim.status != ClaimStatus.DRAFT:
        raise AppError("Only the lines of a draft (replacement) claim can be edited.", code="not_editable")
    with transaction.atomic():
        if units is not None:
            if units < 1:
                raise AppError("Units must be at least 1.", code="invalid", field="units")
            line.units = units
        if modifiers is not None:
            line.modifiers = [m.strip().upper() for m in modifiers if m.strip()][:4]
        if charge is not None:
            if charge < 0:
                raise AppError("The charge cannot be negative.", code="invalid", field="charge")
            line.charge = charge
        line.save()
        claim.total_charge = sum((ln.charge for ln in claim.lines.all()), Decimal("0.00"))
        claim.save(update_fields=["total_charge", "updated_at"])
    return line


def claim_mark_ready(*, claim: Claim, acting_user, reason: str = "") -> Claim:
    """A draft correction, or a rejected claim fixed by the biller, goes back in line for the next batch.

    A rejected original is resent as a new original (frequency 1, never 7: the payer never adjudicated it) in a
    fresh batch; a rejected replacement stays a replacement, since the original it corrects was adjudicated.
    """
    with transaction.atomic():
        if claim.status == ClaimStatus.REJECTED:
            Claim.objects.filter(pk=claim.pk).update(batch=None)
            claim.batch = None
        claim_transition(claim=claim, to_status=ClaimStatus.READY, acting_user=acting_user,
                         reason=reason or "ready to send")
        if claim.frequency == ClaimFrequency.REPLACEMENT and claim.replaces_id:
            # Its lines are final now: the charges move from the original (see claim_correct).
            _post_correction_ledger(Claim.objects.select_related("replaces").get(pk=claim.pk), acting_user)
    return claim


def claims_in_scope(user, perm, clinic=None):
    """Claims the user may see (the scoping helper), with what lists need."""
    return (Claim.objects.visible_to(user, perm, clinic=clinic)
            .select_related("patient", "payer", "clinic", "rendering_provider", "assignee"))


def overdue_unbilled_visits(user, perm, clinic=None, *, now=None):
    """Signed visits not on a submitted claim 24 hours after signature, oldest first (the 24–48 hour promise)."""
    import datetime

    from django.utils import timezone

    now = now or timezone.now()
    submitted = ClaimLine.objects.filter(visit=OuterRef("pk"), claim__submitted_at__isnull=False) \
        .exclude(claim__status__in=RELEASED_STATUSES)
    return (Visit.objects.visible_to(user, perm, clinic=clinic)
            .filter(status=VisitStatus.SIGNED, signed_at__lte=now - datetime.timedelta(hours=24))
            .filter(~Exists(submitted)).filter(Q(coverage__isnull=False))
            .select_related("patient", "coverage__payer", "clinic", "coding").order_by("signed_at"))
