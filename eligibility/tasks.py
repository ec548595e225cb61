"""Celery tasks of eligibility. Thin: pick the clinics (or the inbox files) and call eligibility.services.

`eligibility.nightly_270` (Celery beat, evening): for each active clinic, the 270 batch for the clinic's
tomorrow, delivered to the outbox. Idempotent: a clinic that already has a batch for that date is skipped, so a
redelivered message sends nothing twice. `eligibility.collect_271` imports what the transport collected.
"""

import datetime
import logging
import zoneinfo

from celery import shared_task
from django.utils import timezone

from clinics.models import Clinic
from otbilling.errors import AppError

from .models import InquiryBatch
from .services import inquiry_batch_create, inquiry_batch_deliver, response_file_import
from .transport import get_transport

log = logging.getLogger(__name__)


def clinic_tomorrow(clinic: Clinic, now: datetime.datetime | None = None) -> datetime.date:
    """Tomorrow in the clinic's own time zone (the job runs in UTC, the clinic's day may not have ended)."""
    now = now or timezone.now()
    try:
        zone = zoneinfo.ZoneInfo(clinic.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = datetime.UTC
    return now.astimezone(zone).date() + datetime.timedelta(days=1)


@shared_task(name="eligibility.nightly_270", acks_late=True)
def nightly_270(for_date: str | None = None) -> dict:
    """Build and deliver tomorrow's 270 for every active clinic; `for_date` (YYYY-MM-DD) forces a date."""
    forced = datetime.date.fromisoformat(for_date) if for_date else None
    transport = get_transport()
    result = {"batches": 0, "inquiries": 0, "skipped": 0, "failed": 0}
    for clinic in Clinic.objects.filter(is_active=True).order_by("pk"):
        day = forced or clinic_tomorrow(clinic)
        if InquiryBatch.objects.filter(clinic=clinic, for_date=day).exists():
            result["skipped"] += 1
            continue
        try:
            batch = inquiry_batch_create(acting_user=None, clinic=clinic, for_date=day)
        except AppError as exc:
            if exc.code != "no_inquiries":
                log.warning("270 for %s on %s not built: %s", clinic.slug, day, exc.message)
                result["failed"] += 1
            continue
        inquiry_batch_deliver(batch=batch, transport=transport)
        result["batches"] += 1
        result["inquiries"] += batch.inquiries.count()
    return result


@shared_task(name="eligibility.collect_271", acks_late=True)
def collect_271() -> dict:
    """Import every 271 waiting in the inbox; a malformed file goes to inbox/failed with the reason logged."""
    transport = get_transport()
    result = {"files": 0, "snapshots": 0, "duplicates": 0, "failed": 0}
    for name, content in transport.collect():
        try:
            summary = response_file_import(acting_user=None, file_name=name, content=content)
        except AppError as exc:
            log.warning("271 %s refused: %s", name, exc.message)
            transport.archive(name, failed=True)
            result["failed"] += 1
            continue
        transport.archive(name)
        result["files"] += 1
        result["snapshots"] += summary["snapshots"]
        result["duplicates"] += int(summary["duplicate"])
    return result
