"""Celery tasks of the 835 import. Thin: they call denials.posting.era_import and then the EFT matching.

`denials.import_era` posts one uploaded file. The upload page queues it on commit with the file's name and text
(`era_import_queue`), because an EraFile row is created by era_import alone. The task is idempotent: a redelivered
message finds the file (same SHA-256) or its payments (same payer, payee and TRN02) already posted and changes
nothing. The upload page sends the user to `era-pending?sha256=…`, which shows the progress below until an
EraFile with that SHA-256 appears and then opens it (posted, or quarantined with its errors).

Progress ("n of N claims") cannot live in the database: era_import posts the whole file in ONE transaction, and
the EraFile row it would go on is created inside it, so nothing written there is visible to the page before the
commit (claims.batches can update its batch row with short autocommitted updates because that row exists before
its work starts; here even a second connection would find no row to update). So the task reports progress to the
cache, keyed by the file's SHA-256: Redis at REDIS_URL when the project has one (the worker and the web processes
share it), otherwise Django's default cache, which is then the right one because without a broker the task runs
inside the web process. The entry names the uploader, and the page shows it to them (and operator admins) only.

`denials.collect_era` (Celery beat) imports every file of the 835 inbox: ERA_INBOX_DIR, by default
`<MEDIA_ROOT>/edi/inbox-835/` (its own folder: the 271 collector empties `edi/inbox/` and would refuse 835s).
Handled files move to `done/`, refused ones to `failed/`, as the eligibility transport does with 271s.
"""

import functools
import hashlib
import logging
import time
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

from clinics.models import Clinic
from eligibility.transport import FolderTransport
from otbilling.errors import AppError

from .models import EraPayment
from .posting import era_import
from .reconcile import deposits_match

log = logging.getLogger(__name__)
PROGRESS_TTL_SECONDS = 60 * 60
PROGRESS_EVERY_SECONDS = 0.5  # between two cache writes; the first and the last count are always written


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
    digest = content_sha256(content)
    reporter = ProgressReporter(digest, user_id=user.pk if user is not None else None)
    reporter.checking()
    try:
        summary = era_import(file_name=file_name, content=content, acting_user=user, progress=reporter)
    except AppError as exc:
        log.warning("835 %s not posted: %s", file_name, exc.message)
        return {"file": file_name, "error": exc.message, "details": exc.details}
    except Exception:
        reporter.failed()
        raise
    finally:
        reporter.finished()
    if not summary.get("duplicate"):
        match_deposits_of(content_sha256(content))
    return summary


def match_deposits_of(sha256: str) -> int:
    """Match bank deposits to the payments the file with this SHA-256 brought, clinic by clinic."""
    clinic_ids = set(EraPayment.objects.filter(era_file__sha256=sha256).values_list("clinic_id", flat=True))
    return sum(deposits_match(clinic=clinic) for clinic in Clinic.objects.filter(pk__in=clinic_ids))


# --- progress ---------------------------------------------------------------------------------------------------


@functools.cache
def _redis_cache(url: str) -> RedisCache:
    return RedisCache(url, {"KEY_PREFIX": "otb", "TIMEOUT": PROGRESS_TTL_SECONDS})


def progress_cache():
    """Where 835 import progress lives (see the module docstring for why not the database)."""
    url = getattr(settings, "REDIS_URL", "")
    return _redis_cache(url) if url else caches["default"]


def _progress_key(sha256: str) -> str:
    return f"denials:era-progress:{sha256}"


def era_progress(sha256: str) -> dict | None:
    """{"state": "checking" | "posting" | "failed", "done", "total", "user_id"} of the import of this file, or None
    when none is running (not started yet, or finished: its EraFile then exists)."""
    try:
        return progress_cache().get(_progress_key(sha256))
    except Exception:  # a progress bar is never worth an error page
        log.warning("835 import progress could not be read", exc_info=True)
        return None


class ProgressReporter:
    """era_import's progress callback: writes (done, total) to the progress cache, at most every
    PROGRESS_EVERY_SECONDS. A cache that fails is logged and ignored, so it can never roll back a posting."""

    def __init__(self, sha256: str, *, user_id: int | None):
        self.key = _progress_key(sha256)
        self.user_id = user_id
        self.written_at = 0.0
        self.keep = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - self.written_at >= PROGRESS_EVERY_SECONDS:
            self._write("posting", done, total)
            self.written_at = now

    def checking(self) -> None:
        self._write("checking", 0, 0)

    def failed(self) -> None:
        """The import broke (no EraFile will appear): the page says so instead of waiting."""
        self._write("failed", 0, 0)
        self.keep = True

    def finished(self) -> None:
        if not self.keep:  # the file's EraFile row is committed now; the page opens it
            self._safely(lambda cache: cache.delete(self.key))

    def _write(self, state: str, done: int, total: int) -> None:
        entry = {"state": state, "done": done, "total": total, "user_id": self.user_id}
        self._safely(lambda cache: cache.set(self.key, entry, PROGRESS_TTL_SECONDS))

    @staticmethod
    def _safely(action) -> None:
        try:
            action(progress_cache())
        except Exception:
            log.warning("835 import progress could not be written", exc_info=True)
