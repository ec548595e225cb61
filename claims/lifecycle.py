"""The one way a claim changes status: a table of allowed moves and an event row per move.

    draft → ready → batched → submitted → accepted | rejected
    accepted → paid | partially paid | denied → closed
    rejected → ready (fixed and resent as a new original) or closed
    paid / partially paid / denied → replaced (a corrected claim took over) or voided
"""

from django.db import transaction
from django.utils import timezone

from otbilling.errors import AppError

from .models import Claim, ClaimEvent, ClaimStatus

S = ClaimStatus
ALLOWED_MOVES: dict[str, set[str]] = {
    S.DRAFT: {S.READY, S.CLOSED},
    S.READY: {S.BATCHED, S.DRAFT, S.CLOSED},
    S.BATCHED: {S.SUBMITTED, S.READY},  # back to ready when its batch is held by validation
    S.SUBMITTED: {S.ACCEPTED, S.REJECTED, S.PAID, S.PARTIALLY_PAID, S.DENIED},
    S.ACCEPTED: {S.REJECTED, S.PAID, S.PARTIALLY_PAID, S.DENIED},
    S.REJECTED: {S.READY, S.CLOSED},
    S.PAID: {S.CLOSED, S.REPLACED, S.VOIDED, S.PARTIALLY_PAID, S.DENIED},
    S.PARTIALLY_PAID: {S.PAID, S.DENIED, S.CLOSED, S.REPLACED, S.VOIDED},
    S.DENIED: {S.PAID, S.PARTIALLY_PAID, S.CLOSED, S.REPLACED, S.VOIDED},
    S.CLOSED: {S.REPLACED, S.VOIDED},
    S.REPLACED: set(),
    S.VOIDED: set(),
}


def can_move(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_MOVES.get(from_status, set())


def claim_transition(*, claim: Claim, to_status: str, acting_user=None, reason: str = "", at=None) -> ClaimEvent:
    """Move `claim` to `to_status` if the table allows it, and record who, when, from, to and why."""
    with transaction.atomic():
        locked = Claim.objects.select_for_update().get(pk=claim.pk)
        if not can_move(locked.status, to_status):
            raise AppError(
                f"Claim {locked.patient_control_number} cannot move from status '{locked.status}' to "
                f"'{to_status}'.", code="claim_transition_refused", field="status")
        from_status = locked.status
        locked.status = to_status
        fields = ["status", "updated_at"]
        if to_status == S.SUBMITTED and locked.submitted_at is None:
            locked.submitted_at = at or timezone.now()
            fields.append("submitted_at")
        if to_status == S.REJECTED:
            locked.rejection_reason = reason[:400]
            fields.append("rejection_reason")
        locked.save(update_fields=fields)
        event = ClaimEvent.objects.create(
            clinic_id=locked.clinic_id, claim=locked, from_status=from_status, to_status=to_status,
            actor=acting_user if acting_user is not None and acting_user.is_authenticated else None,
            actor_name=getattr(acting_user, "username", "") or "system", reason=reason[:400])
    for name in fields:
        setattr(claim, name, getattr(locked, name))
    return event


def claim_created_event(*, claim: Claim, acting_user=None, reason: str) -> ClaimEvent:
    """The first event of a claim's history (from nothing to its starting status)."""
    return ClaimEvent.objects.create(
        clinic_id=claim.clinic_id, claim=claim, from_status="", to_status=claim.status,
        actor=acting_user if acting_user is not None and acting_user.is_authenticated else None,
        actor_name=getattr(acting_user, "username", "") or "system", reason=reason[:400])
