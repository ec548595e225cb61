"""Write services of reporting: the monthly report of a clinic, stored and e-mailed to the clinic's owners."""

import datetime
import logging

import pghistory
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from clinics.models import RoleGrant
from otbilling.errors import AppError
from otbilling.tenancy import Role

from .kpis import month_bounds
from .models import MonthlyReport
from .pdf import render_monthly_report, report_settings_of

log = logging.getLogger(__name__)


def _audit(service: str, acting_user):
    """History context: every change-history row written inside names the service and the person."""
    return pghistory.context(service=service, acting_user_id=getattr(acting_user, "pk", None))


def _person(acting_user):
    return acting_user if acting_user is not None and acting_user.is_authenticated else None


def clinic_owner_emails(clinic) -> list[str]:
    """Addresses of the active users holding the clinic-owner role on this clinic, sorted, each once."""
    emails = (RoleGrant.objects.filter(clinic=clinic, role=Role.CLINIC_OWNER, user__is_active=True)
              .exclude(user__email="").values_list("user__email", flat=True))
    return sorted(set(emails))


def monthly_report_generate(*, clinic, month: datetime.date, acting_user=None, email: bool = False) -> MonthlyReport:
    """Render the clinic's report of the month holding `month` and store it, replacing the one stored for that
    month; with email=True also send it to the clinic's owners (see monthly_report_email)."""
    month_start = month_bounds(month)[0]
    if month_start > timezone.now().date():
        raise AppError(f"{month_start:%B %Y} has not begun; a report covers a month that has.", code="future_month",
                       field="month")
    # Rendering reads only and takes seconds: outside the transaction, which only swaps the stored report.
    pdf, figures = render_monthly_report(clinic, month_start)
    with transaction.atomic(), _audit("monthly_report_generate", acting_user):
        report, _created = MonthlyReport.objects.update_or_create(
            clinic=clinic, month=month_start,
            defaults={"pdf": pdf, "figures": figures, "generated_by": _person(acting_user)})
    log.info("monthly report of %s for %s stored (%d bytes)", clinic.slug, f"{month_start:%Y-%m}", len(pdf))
    if email:
        monthly_report_email(report=report, acting_user=acting_user)
    return report


def monthly_report_email(*, report: MonthlyReport, acting_user=None) -> list[str]:
    """Send the stored PDF to the clinic's owners and record to whom and when; returns the addresses (none when the
    clinic turned e-mailing off or has no owner with an address). The body names no patient."""
    clinic = report.clinic
    settings = report_settings_of(clinic)
    if settings is not None and not settings.email_owners:
        return []
    recipients = clinic_owner_emails(clinic)
    if not recipients:
        log.info("monthly report of %s for %s not e-mailed: no owner with an e-mail address", clinic.slug,
                 f"{report.month:%Y-%m}")
        return []
    message = EmailMessage(
        subject=f"{clinic.legal_name}: monthly report for {report.month:%B %Y}",
        body=(f"The monthly revenue-cycle report of {clinic.legal_name} for {report.month:%B %Y} is attached "
              f"({report.file_name}). You can also download it from the reports page of your dashboard.\n"),
        to=recipients)
    message.attach(report.file_name, bytes(report.pdf), "application/pdf")
    # Sent before it is recorded: a failed send leaves emailed_at empty, so the next run tries again.
    message.send(fail_silently=False)
    sent_at = timezone.now()
    with transaction.atomic(), _audit("monthly_report_email", acting_user):
        MonthlyReport.objects.filter(pk=report.pk).update(emailed_to=recipients, emailed_at=sent_at)
    report.emailed_to, report.emailed_at = recipients, sent_at
    return recipients
