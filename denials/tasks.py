"""Celery tasks of the 835 import. Thin: they call denials.posting.era_import and then the EFT matching.

`denials.import_era` posts one uploaded file. The upload page queues it on commit with the file's name and text
(`era_import_queue`), because an EraFile row is created by era_import alone. The task is idempotent: a redelivered
message finds the file (same SHA-256) or its payments (same payer, payee and TRN02) already posted and changes
nothing. Progress is the file's own row: the upload page sends the user to `era-pending?sha256=…`, which waits for
an EraFile with that SHA-256 to appear and then opens it (posted, or quarantined with its errors).

`denials.collect_era` (Celery beat) imports every file of the 835 inbox: ERA_INBOX_DIR, by default
`<MEDIA_ROOT>/edi/inbox-835/` (its own folder: the 271 collector empties `edi/inbox/` and would refuse 835s).
Handled files move to `done/`, refused ones to `failed/`, as the eligibility transport does with 271s.
"""

import hashlib
import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from clinics.models import Clinic
from eligibility.transport import FolderTransport
from otbilling.errors import AppError

from .models import EraPayment
from .posting import era_import
from .reconcile import deposits_match

log = logging.getLogger(__name__)


def content_sha256(content) -> str:
    """The SHA-256 era_import stores for this content (text is hashed as UTF-8, as era_import does)."""
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def era_inbox() -> FolderTransport:
    folder = getattr(settings, "ERA_INBOX_DIR", None) or Path(settings.MEDIA_ROOT) / "edi" / "inbox-835"
    return FolderTransport(inbox=folder)


def era_import_queue(*, file_name: str, content: str, acting_user) -> str:
    """Queue the import of an uploaded 835 once the current transaction commits; returns the SHA-256 its EraFile
    will carry, which the progress page waits for."""
    user_id = acting_user.pk if acting_user is not None and acting_user.is_authenticated else None
    transaction.on_commit(lambda: import_era.delay(file_name, content, user_id))
    return content_sha256(content)


@shared_task(name="denials.import_era", acks_late=True)
def import_era(file_name: str, content: str, user_id: int | None = None) -> dict:
    """Post one 835; returns era_import's summary, or {"error", "details"} for a file that cannot be posted (kept
    as quarantined, with its errors, for the uploader)."""
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    return import_one(file_name, content, user)


@shared_task(name="denials.collect_era", acks_late=True)
def collect_era() -> dict:
    """Import every 835 waiting in the inbox. A file that cannot be posted goes to inbox/failed (its errors are on
    its quarantined EraFile); a duplicate counts as handled and goes to inbox/done."""
    inbox = era_inbox()
    result = {"files": 0, "posted": 0, "duplicates": 0, "failed": 0}
    for name, content in inbox.collect():
        outcome = import_one(name, content, None)
        failed = "error" in outcome
        inbox.archive(name, failed=failed)
        result["files"] += 1
        if failed:
            result["failed"] += 1
        elif outcome.get("duplicate"):
            result["duplicates"] += 1
        else:
            result["posted"] += 1
    return result


def import_one(file_name: str, content, user) -> dict:
    try:
        summary = era_import(file_name=file_name, content=content, acting_user=user)
    except AppError as exc:
        log.warning("835 %s not posted: %s", file_name, exc.message)
        return {"file": file_name, "error": exc.message, "details": exc.details}
    if not summary.get("duplicate"):
        match_deposits_of(content_sha256(content))
    return summary


def match_deposits_of(sha256: str) -> int:
    """Match bank deposits to the payments the file with this SHA-256 brought, clinic by clinic."""
    clinic_ids = set(EraPayment.objects.filter(era_file__sha256=sha256).values_list("clinic_id", flat=True))
    return sum(deposits_match(clinic=clinic) for clinic in Clinic.objects.filter(pk__in=clinic_ids))
