"""837P batches: put ready claims in batches (one per clinic and payer) and generate each batch's file.

`batches_create` moves the claims ready → batched and queues `claims.generate_batch` once the transaction commits.
`batch_generate` (the task's service) checks the claims, writes the 837P, validates the written file with pyx12
and our own checks, then either

* releases it: the content is stored with its SHA-256 and never changes again, the claims are submitted, and
  the file goes to the outbox through the transport; or
* holds it: the problems are stored on the batch and its claims go back to ready, unlinked, to be fixed and
  batched again. Control numbers reserved for a held file are given back.

Progress (`progress_done` of `progress_total` claims) is written with short autocommitted updates while the claims
are checked, so a page can poll it; the final state is written in one transaction.
"""

import hashlib
import logging
import re
from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from eligibility.transport import Transport, get_transport
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, user_has_clinic_perm

from .checks import check_written_837p, precheck_one, problem
from .lifecycle import claim_transition
from .models import BatchStatus, Claim, ClaimBatch, ClaimStatus
from .x837 import render_837p

log = logging.getLogger(__name__)

PROGRESS_EVERY = 25  # claims between two progress updates
MAX_STORED_ERRORS = 500  # a batch wrong everywhere still gives a readable report
OPEN_STATUSES = (BatchStatus.QUEUED, BatchStatus.GENERATING)
SENT_BATCH_STATUSES = (BatchStatus.RELEASED, BatchStatus.ACCEPTED, BatchStatus.PARTIAL, BatchStatus.REJECTED)
CLAIM_RELATIONS = ("clinic", "payer", "patient", "coverage", "rendering_provider", "referring_provider")


class _Refused(Exception):
    """The written file failed its checks: roll back (giving the control numbers back) and hold the batch."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} problem(s)")
        self.errors = errors


class _Finished(Exception):
    """Another run released or held the batch meanwhile (a redelivered task): leave it as it is."""


def claims_transport() -> Transport:
    """CLAIMS_TRANSPORT (a dotted path) when set, else the transport eligibility uses (the outbox folder)."""
    path = getattr(settings, "CLAIMS_TRANSPORT", "")
    return import_string(path)() if path else get_transport()


def batch_content_immutable(batch: ClaimBatch) -> None:
    """Refuse any change to the file of a released batch: once sent, its content and hash are the record."""
    stored = ClaimBatch.objects.filter(pk=batch.pk).values_list("status", flat=True).first()
    if stored in SENT_BATCH_STATUSES:
        raise AppError(f"Batch {batch} was released; its file can never change. Correct a claim with a "
                       "replacement or a void instead.", code="batch_released")


# --- creating batches -------------------------------------------------------------------------------------------


def _require(user, clinic) -> None:
    if user is not None and not user_has_clinic_perm(user, clinic, WORK_CLAIMS):
        raise AppError(f"You may not submit claims for {clinic}.", code="forbidden")


def _queue(batch_id: int) -> None:
    from .tasks import generate_batch

    generate_batch.delay(batch_id)


def batches_create(*, claims, acting_user, queue: bool = True) -> list[ClaimBatch]:
    """Batch ready claims, one batch per clinic and payer, and queue each batch's file on commit.

    Refused as a whole when a claim is not ready (it may have been batched by someone else meanwhile).
    `queue=False` leaves the generation to the caller (the export command runs it in-process).
    """
    ids = [claim.pk for claim in claims]
    if not ids:
        raise AppError("Choose at least one claim that is ready to send.", code="no_claims", field="claims")
    user = acting_user if getattr(acting_user, "is_authenticated", False) else None
    with transaction.atomic():
        locked = list(Claim.objects.select_for_update(of=("self",)).filter(pk__in=ids)
                      .select_related("clinic", "payer").order_by("pk"))
        not_ready = [c.patient_control_number for c in locked if c.status != ClaimStatus.READY]
        if not_ready:
            shown = ", ".join(not_ready[:10]) + (f" and {len(not_ready) - 10} more" if len(not_ready) > 10 else "")
            raise AppError(f"Only claims ready to send can be batched; not ready: {shown}.", code="not_ready",
                           field="claims")
        groups: dict[tuple[int, int], list[Claim]] = defaultdict(list)
        for claim in locked:
            groups[(claim.clinic_id, claim.payer_id)].append(claim)
        batches = [_create_one(group, acting_user=acting_user, user=user) for group in groups.values()]
        if queue:
            for batch in batches:
                transaction.on_commit(lambda pk=batch.pk: _queue(pk))
    return batches


def _create_one(claims: list[Claim], *, acting_user, user) -> ClaimBatch:
    first = claims[0]
    _require(acting_user, first.clinic)
    batch = ClaimBatch.objects.create(
        clinic=first.clinic, payer=first.payer, status=BatchStatus.QUEUED, claim_count=len(claims),
        total_charge=sum((c.total_charge for c in claims), Decimal("0.00")), progress_total=len(claims),
        created_by=user)
    for claim in claims:
        claim_transition(claim=claim, to_status=ClaimStatus.BATCHED, acting_user=acting_user,
                         reason=f"batched for {first.payer.name} (batch {batch.public_id})")
    Claim.objects.filter(pk__in=[c.pk for c in claims]).update(batch=batch)
    return batch


# --- generating a batch's file ----------------------------------------------------------------------------------


def _claims_of(batch: ClaimBatch) -> list[Claim]:
    return list(Claim.objects.filter(batch=batch, status=ClaimStatus.BATCHED).select_related(*CLAIM_RELATIONS)
                .prefetch_related("lines").order_by("pk"))


def _set_progress(batch: ClaimBatch, done: int) -> None:
    ClaimBatch.objects.filter(pk=batch.pk, status=BatchStatus.GENERATING).update(progress_done=done)


def _precheck(batch: ClaimBatch, claims: list[Claim]) -> list[dict]:
    errors: list[dict] = []
    for done, claim in enumerate(claims, start=1):
        errors += precheck_one(claim)
        if done % PROGRESS_EVERY == 0:
            _set_progress(batch, done)
    return errors


def _file_name(batch: ClaimBatch, interchange_number: int) -> str:
    payer_id = re.sub(r"[^A-Za-z0-9-]", "", batch.payer.payer_id) or "payer"
    return f"837P_{batch.clinic.slug}_{payer_id}_{interchange_number:09d}.txt"


def batch_generate(*, batch: ClaimBatch, transport: Transport | None = None, now=None) -> ClaimBatch:
    """Write, check and release (or hold) one queued batch; see the module docstring."""
    batch = ClaimBatch.objects.select_related("clinic", "payer").get(pk=batch.pk)
    batch_content_immutable(batch)
    if batch.status == BatchStatus.HELD:
        raise AppError(f"Batch {batch} was held and its claims went back to ready: batch them again.",
                       code="batch_held")
    ClaimBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.GENERATING, progress_done=0)
    claims = _claims_of(batch)
    if not claims:
        return _hold(batch, claims, [problem("", "", "claims", "The batch holds no claim waiting to be sent.")])
    errors = _precheck(batch, claims)
    if errors:
        return _hold(batch, claims, errors)
    now = now or timezone.now()
    try:
        with transaction.atomic():
            written = render_837p(claims, now=now, reference=batch.public_id.hex)
            errors = check_written_837p(written.text)
            if errors:
                raise _Refused(errors)
            return _release(batch, claims, written, transport or claims_transport(), now)
    except _Finished:
        return ClaimBatch.objects.get(pk=batch.pk)
    except _Refused as refused:
        errors = refused.errors
    except AppError as exc:  # the writer refused a value (X12WriteError) or the outbox refused the file name
        errors = [problem("", "", exc.field or "", exc.message)]
    except OSError as exc:
        errors = [problem("", "", "outbox", f"The file could not be delivered to the outbox: {exc}")]
    return _hold(batch, claims, errors)


def _release(batch: ClaimBatch, claims: list[Claim], written, transport: Transport, now) -> ClaimBatch:
    locked = ClaimBatch.objects.select_for_update().select_related("clinic", "payer").get(pk=batch.pk)
    if locked.status not in OPEN_STATUSES:
        raise _Finished
    locked.content = written.text
    locked.sha256 = hashlib.sha256(written.text.encode("utf-8")).hexdigest()
    locked.file_name = _file_name(locked, written.interchange_control_number)
    locked.interchange_control_number = f"{written.interchange_control_number:09d}"
    locked.group_control_number = str(written.group_control_number)
    locked.claim_count = len(claims)
    locked.total_charge = sum((c.total_charge for c in claims), Decimal("0.00"))
    locked.progress_done = locked.progress_total = len(claims)
    locked.errors = []
    locked.released_at = now
    locked.status = BatchStatus.RELEASED
    locked.save()
    for claim in claims:
        claim_transition(claim=claim, to_status=ClaimStatus.SUBMITTED, reason=f"sent in {locked.file_name}", at=now)
    # Last, so that a refused delivery rolls back everything above and the batch is held instead.
    transport.deliver(locked.file_name, locked.content)
    return locked


def _hold(batch: ClaimBatch, claims: list[Claim], errors: list[dict]) -> ClaimBatch:
    with transaction.atomic():
        locked = ClaimBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status not in OPEN_STATUSES:
            return locked
        locked.status = BatchStatus.HELD
        locked.errors = errors[:MAX_STORED_ERRORS]
        locked.progress_done = locked.progress_total
        locked.save(update_fields=["status", "errors", "progress_done"])
        own = defaultdict(list)
        for error in errors:
            own[error["claim"]].append(error["message"])
        for claim in claims:
            why = own[claim.patient_control_number][0] if own[claim.patient_control_number] else (
                errors[0]["message"] if errors and not errors[0]["claim"] else "other claims of the batch failed")
            claim_transition(claim=claim, to_status=ClaimStatus.READY, reason=f"batch held: {why}")
        Claim.objects.filter(pk__in=[c.pk for c in claims]).update(batch=None)
    log.info("837P batch %s held with %d problem(s)", locked.public_id, len(errors))
    return locked
