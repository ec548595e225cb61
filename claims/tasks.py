"""Celery tasks of the claims app. Thin: load by id and call the service."""

import logging

from celery import shared_task

from .batches import OPEN_STATUSES, batch_generate
from .models import ClaimBatch

log = logging.getLogger(__name__)


@shared_task(name="claims.generate_batch", acks_late=True)
def generate_batch(batch_id: int) -> str:
    """Write, check and release (or hold) one 837P batch; returns the batch's status.

    Idempotent: a redelivered message finds the batch released or held and leaves it alone.
    """
    batch = ClaimBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        log.warning("837P batch %s no longer exists", batch_id)
        return "missing"
    if batch.status not in OPEN_STATUSES:
        return batch.status
    return batch_generate(batch=batch).status
