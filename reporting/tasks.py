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

from .kpis import month_bounds, parse_month, scope_for_clinics, trend_periods
from .models import MonthlyReport
from .selectors import TABLES, TREND_COUNT, report_for, settings_of
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


def dashboard_scopes(today: datetime.date) -> list:
    """The scopes dashboards open with: each active clinic, and all of them together (operators), for the last
    full month."""
    start, end = month_bounds(previous_month(today))
    clinics = list(Clinic.objects.filter(is_active=True).order_by("pk"))
    scopes = [(clinic, scope_for_clinics([clinic], start=start, end=end)) for clinic in clinics]
    if len(clinics) > 1:
        scopes.append((None, scope_for_clinics(clinics, start=start, end=end)))
    return scopes


@shared_task(name="reporting.warm_dashboards", acks_late=True)
def warm_dashboards() -> dict:
    """Recompute, into the cache, the figures the dashboards open with (tiles, trends, baseline, by payer and by
    therapist), so the first visit after a posting reads them instead of computing them. Only periods whose data
    changed are computed again (reporting.cache)."""
    warmed = 0
    for clinic, scope in dashboard_scopes(timezone.now().date()):
        report = report_for(scope, trend_periods(scope.end, grain="month", count=TREND_COUNT), settings_of(clinic))
        report.trend  # noqa: B018  (computing is the point: each period lands in the cache)
        report.baseline  # noqa: B018
        for table in ("by_payer", "by_therapist"):
            TABLES[table](report)
        warmed += 1
    return {"scopes": warmed}
