"""What reporting stores: each clinic's baseline period ("before vs after") and the monthly PDF reports."""

import uuid

import pghistory
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from clinics.models import Clinic, track_history
from otbilling.tenancy import ClinicScopedQuerySet


@track_history()
class ReportSettings(models.Model):
    """Per clinic: the baseline period the KPIs are compared with (e.g. the months before the billing service took
    over) and whether the monthly report is e-mailed to the clinic's owners."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="report_settings")
    baseline_start = models.DateField(null=True, blank=True)
    baseline_end = models.DateField(null=True, blank=True)
    baseline_label = models.CharField(max_length=60, blank=True, help_text='e.g. "Before the billing service"')
    email_owners = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "report settings"
        constraints = [
            models.CheckConstraint(
                condition=(Q(baseline_start__isnull=True) & Q(baseline_end__isnull=True))
                | Q(baseline_end__gte=F("baseline_start")), name="baseline_both_or_none_in_order"),
        ]

    def __str__(self):
        return f"Report settings of {self.clinic}"

    @property
    def has_baseline(self) -> bool:
        return self.baseline_start is not None and self.baseline_end is not None


# Who generated or mailed which month's report is kept; the PDF bytes are not copied into the history.
@pghistory.track(pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent(), exclude=["pdf"])
class MonthlyReport(models.Model):
    """One clinic's report for one month: the PDF as sent and the figures it printed."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    month = models.DateField(help_text="First day of the month reported")
    pdf = models.BinaryField(editable=False)
    figures = models.JSONField(default=dict, help_text="The kpis JSON the PDF printed")
    generated_at = models.DateTimeField(auto_now=True)
    generated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", help_text="Empty when the monthly job made it")
    emailed_to = models.JSONField(default=list, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-month", "clinic"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "month"], name="one_monthly_report_per_clinic_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="monthly_report_month_first_day"),
        ]

    def __str__(self):
        return f"{self.clinic} {self.month:%Y-%m}"

    @property
    def file_name(self) -> str:
        return f"{self.clinic.slug}-{self.month:%Y-%m}-report.pdf"
