"""Eligibility (270/271), benefit snapshots, benefit-period limits and prior authorizations.

"Used" visits and units are always derived from visits (selectors), never stored as counters.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from clinics.models import MONEY, Clinic, Coverage, track_history
from otbilling.tenancy import ClinicScopedQuerySet


class InquiryBatch(models.Model):
    """One 270 file we wrote: many patients' eligibility inquiries, stored immutably with its SHA-256."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    for_date = models.DateField(help_text="The date of service the inquiries are for (usually tomorrow).")
    file_name = models.CharField(max_length=120)
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    interchange_control_number = models.PositiveIntegerField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_to = models.CharField(max_length=300, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.file_name


class InquiryStatus(models.TextChoices):
    SENT = "sent", "Sent, waiting for 271"
    ANSWERED = "answered", "Answered"
    REJECTED = "rejected", "Rejected (AAA)"


class Inquiry(models.Model):
    """One subscriber/dependent inquiry inside a 270, matched back to its 271 by trace number (TRN02)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(InquiryBatch, on_delete=models.CASCADE, related_name="inquiries")
    coverage = models.ForeignKey(Coverage, on_delete=models.PROTECT, related_name="eligibility_inquiries")
    trace_number = models.CharField(max_length=50, unique=True)
    service_types = models.CharField(max_length=20, default="AD^30")
    status = models.CharField(max_length=10, choices=InquiryStatus.choices, default=InquiryStatus.SENT)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["batch", "pk"]

    def __str__(self):
        return f"{self.trace_number} ({self.get_status_display()})"


class ResponseFile(models.Model):
    """A 271 file we imported (global: one file may answer several clinics); never imported twice."""

    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, unique=True)
    content = models.TextField()
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self):
        return self.file_name


class SnapshotSource(models.TextChoices):
    X12_271 = "271", "271 response"
    PHONE = "phone", "Phone call"
    PORTAL = "portal", "Payer portal"


@track_history()
class BenefitSnapshot(models.Model):
    """What the payer said about a coverage on one date: from a 271 or a recorded phone/portal check."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    coverage = models.ForeignKey(Coverage, on_delete=models.CASCADE, related_name="benefit_snapshots")
    source = models.CharField(max_length=6, choices=SnapshotSource.choices)
    checked_at = models.DateTimeField()
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    checked_by_name = models.CharField(max_length=80, blank=True, help_text="Who called or looked (manual checks)")
    reference_number = models.CharField(max_length=50, blank=True, help_text="Call reference or 271 trace number")
    inquiry = models.ForeignKey(Inquiry, null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshots")
    response_file = models.ForeignKey(ResponseFile, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="snapshots")
    is_active = models.BooleanField(null=True, help_text="Empty when the payer rejected the inquiry")
    plan_name = models.CharField(max_length=80, blank=True)
    plan_begin = models.DateField(null=True, blank=True)
    plan_end = models.DateField(null=True, blank=True)
    coinsurance_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    copay_amount = models.DecimalField(**MONEY, null=True, blank=True)
    deductible_total = models.DecimalField(**MONEY, null=True, blank=True)
    deductible_remaining = models.DecimalField(**MONEY, null=True, blank=True)
    out_of_pocket_total = models.DecimalField(**MONEY, null=True, blank=True)
    out_of_pocket_remaining = models.DecimalField(**MONEY, null=True, blank=True)
    visits_allowed = models.PositiveSmallIntegerField(null=True, blank=True,
                                                      help_text="Visit limit for the benefit period")
    units_allowed = models.PositiveSmallIntegerField(null=True, blank=True)
    limit_period_start = models.DateField(null=True, blank=True)
    limit_period_end = models.DateField(null=True, blank=True)
    therapy_ytd_amount = models.DecimalField(**MONEY, null=True, blank=True,
                                             help_text="OT amount applied this year (Medicare KX), as reported")
    rejection_code = models.CharField(max_length=3, blank=True, help_text="AAA03")
    rejection_reason = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=list, blank=True, help_text="Every benefit line as read, for display")

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["coverage", "-checked_at"]
        get_latest_by = "checked_at"
        indexes = [models.Index(fields=["coverage", "-checked_at"])]

    def __str__(self):
        return f"{self.coverage} checked {self.checked_at:%Y-%m-%d}"

    @property
    def cost_share_known(self) -> bool:
        return any(v is not None for v in (self.coinsurance_percent, self.copay_amount, self.deductible_remaining))


class AuthStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CANCELLED = "cancelled", "Cancelled"


@track_history()
class PriorAuthorization(models.Model):
    """A payer's prior authorization: dates, and visits and/or units in total or per CPT code."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    coverage = models.ForeignKey(Coverage, on_delete=models.PROTECT, related_name="authorizations")
    number = models.CharField(max_length=50)
    status = models.CharField(max_length=10, choices=AuthStatus.choices, default=AuthStatus.APPROVED)
    start_date = models.DateField()
    end_date = models.DateField()
    visits_authorized = models.PositiveSmallIntegerField(null=True, blank=True)
    units_authorized = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Total units, any code")
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["coverage", "-start_date"]
        constraints = [
            models.CheckConstraint(condition=Q(end_date__gte=models.F("start_date")), name="auth_dates_ordered"),
            models.UniqueConstraint(fields=["coverage", "number"], name="auth_number_unique_per_coverage"),
        ]

    def __str__(self):
        return f"Auth {self.number} {self.start_date:%Y-%m-%d}–{self.end_date:%Y-%m-%d}"

    def covers(self, day) -> bool:
        return self.start_date <= day <= self.end_date


class AuthorizedCode(models.Model):
    """Units authorized for one CPT code under an authorization (line-level auth)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    authorization = models.ForeignKey(PriorAuthorization, on_delete=models.CASCADE, related_name="codes")
    cpt = models.CharField(max_length=5)
    units_authorized = models.PositiveSmallIntegerField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["authorization", "cpt"]
        constraints = [models.UniqueConstraint(fields=["authorization", "cpt"], name="auth_code_once")]

    def __str__(self):
        return f"{self.cpt} × {self.units_authorized}"
