"""Celery tasks of reporting. Thin: they call reporting.services.

`reporting.monthly_reports` (Celery beat, the 1st of each month) stores the previous month's report of every active
clinic and e-mails it to the clinic's owners. It is idempotent: run again for the same month it replaces each stored
report and mails no one who was already mailed for that month (the report's emailed_at). One clinic that fails is
logged and the others still get their report.
"""

import datetime
import logging

from celery import shared_task
from django.utils import timezone

from clinics.models import Clinic

from .kpis import month_bounds, parse_month
from .models import MonthlyReport
from .services import monthly_report_generate

log = logging.getLogger(__name__)


def previous_month(today: datetime.date) -> datetime.date:
    return month_bounds(today.replace(day=1) - datetime.timedelta(days=1))[0]


@shared_task(name="reporting.monthly_reports", acks_late=True)
def monthly_reports(month: str | None = None) -> dict:
    """Reports of `month` ("YYYY-MM"; default the month before today, UTC) for every active clinic; returns the
    slugs generated, e-mailed and failed."""
    month_start = parse_month(month)[0] if month else previous_month(timezone.now().date())
    result = {"month": f"{month_start:%Y-%m}", "generated": [], "emailed": [], "failed": []}
    for clinic in Clinic.objects.filter(is_active=True).order_by("slug"):
        emailed_before = MonthlyReport.objects.filter(clinic=clinic, month=month_start,
                                                      emailed_at__isnull=False).exists()
        try:
            report = monthly_report_generate(clinic=clinic, month=month_start, email=not emailed_before)
        except Exception:  # one clinic's bad data must not keep the other clinics' owners without their report
            log.exception("monthly report of %s for %s failed", clinic.slug, result["month"])
            result["failed"].append(clinic.slug)
            continue
        result["generated"].append(clinic.slug)
        if not emailed_before and report.emailed_at is not None:
            result["emailed"].append(clinic.slug)
    return result
