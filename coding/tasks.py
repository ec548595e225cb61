"""Celery tasks of the coding app. Thin: load by id (or pick the visits) and call coding.services.visit_code."""

import datetime
import logging

from celery import shared_task
from django.db import connection
from django.utils import timezone

from visits.models import Visit

from .models import CodingStatus
from .selectors import visits_to_scrub
from .services import visit_code

log = logging.getLogger(__name__)
SCRUB_WINDOW_DAYS = 400  # longer than any payer's timely filing window


@shared_task(name="coding.code_visit", acks_late=True)
def code_visit(visit_id: int) -> str | None:
    """Code and scrub one visit after it was saved or signed. A visit deleted meanwhile is skipped quietly;
    running twice gives the same result (the coding is replaced, overrides are kept)."""
    visit = Visit.objects.filter(pk=visit_id).first()
    if visit is None:
        return None
    return visit_code(visit=visit).status


ANALYZE_EVERY = 200


def _refresh_coding_statistics() -> None:
    """A long scrub fills the coding tables; when it runs in one transaction (seeding, imports) autovacuum cannot see
    those rows and the planner keeps taking the tables for empty, choosing nested loops that grow with every visit.
    ANALYZE of these three tables takes milliseconds and sees the transaction's own rows."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE coding_codedline, coding_visitcoding, coding_finding")


@shared_task(name="coding.scrub_open_visits")
def scrub_open_visits(today: str | None = None, clinic_id: int | None = None) -> dict:
    """The nightly job: code again every visit of the timely-filing window, so date-driven edits (timely filing,
    certification and progress-report deadlines) move with the calendar and uncoded visits get coded.

    `today` (YYYY-MM-DD) and `clinic_id` narrow a manual run; the beat schedule passes neither.
    """
    day = datetime.date.fromisoformat(today) if today else timezone.localdate()
    counts = {"visits": 0, "billable": 0, "held": 0}
    failed = 0
    pks = list(visits_to_scrub(today=day, clinic=clinic_id, window_days=SCRUB_WINDOW_DAYS).values_list("pk", flat=True))
    for pk in pks:
        visit = Visit.objects.filter(pk=pk).first()
        if visit is None:
            continue
        try:
            coding = visit_code(visit=visit, today=day)
        except Exception:  # one broken visit must not stop the night's scrub; it is logged and counted
            log.exception("Scrubbing visit %s failed", pk)
            failed += 1
            continue
        counts["visits"] += 1
        counts["billable" if coding.status == CodingStatus.BILLABLE else "held"] += 1
        if counts["visits"] % ANALYZE_EVERY == 0:
            _refresh_coding_statistics()
    if failed:
        counts["failed"] = failed
    return counts
