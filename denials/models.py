"""Remittance (835) files and payments, and the work they open: denials, underpayments, unmatched items.

Money posted from an 835 lives in claims.LedgerEntry (claims owns the ledger); these rows say where it came from
and what a biller must do about it.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from claims.models import Claim, ClaimLine
from clinics.models import MONEY, Clinic, Payer, track_history
from otbilling.tenancy import ClinicScopedQuerySet


class EraStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    POSTED = "posted", "Posted"
    QUARANTINED = "quarantined", "Quarantined: not posted"


class EraFile(models.Model):
    """One 835 file as received, kept with its SHA-256: the same bytes are never posted twice."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               help_text="The payee clinic; empty while a quarantined file names none of ours.")
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, unique=True)
    content = models.TextField()
    status = models.CharField(max_length=12, choices=EraStatus.choices, default=EraStatus.RECEIVED)
    errors = models.JSONField(default=list, blank=True, help_text="[{segment, position, message}]")
    summary = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self):
        return self.file_name


@track_history()
class EraPayment(models.Model):
    """One payment (an 835 transaction: BPR + TRN) to one clinic. (payer, payee, trace) is unique, so a payment
    re-sent in another file, or imported by two workers at once, is posted once."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    era_file = models.ForeignKey(EraFile, on_delete=models.PROTECT, related_name="payments")
    payer = models.ForeignKey(Payer, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payer_identifier = models.CharField(max_length=50, help_text="TRN03 / payer id as the file gives it")
    payer_name = models.CharField(max_length=60, blank=True)
    payee_identifier = models.CharField(max_length=50)
    trace_number = models.CharField(max_length=50, help_text="TRN02: check or EFT trace number")
    amount = models.DecimalField(**MONEY, help_text="BPR02")
    method = models.CharField(max_length=3, blank=True, help_text="BPR04: ACH, CHK, NON")
    payment_date = models.DateField(null=True, blank=True)
    provider_adjustment_total = models.DecimalField(**MONEY, default=0, help_text="Sum of PLB amounts")
    posted_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-posted_at"]
        constraints = [
            models.UniqueConstraint(fields=["payer_identifier", "payee_identifier", "trace_number"],
                                    name="era_payment_trace_once"),
        ]

    def __str__(self):
        return f"{self.payer_name or self.payer_identifier} {self.trace_number} ${self.amount}"

    @property
    def effective_date(self):
        """The day the payer paid (BPR16), else the day it was posted: the ledger rows' accounting date."""
        return self.payment_date or timezone.localdate(self.posted_at)


class ProviderAdjustment(models.Model):
    """A PLB provider-level adjustment (interest, recoupment, forward balance…). A positive amount reduced the
    payment."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(EraPayment, on_delete=models.CASCADE, related_name="provider_adjustments")
    reason = models.CharField(max_length=2)
    reference = models.CharField(max_length=50, blank=True)
    amount = models.DecimalField(**MONEY)
    fiscal_period_date = models.DateField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    def __str__(self):
        return f"PLB {self.reason} {self.amount}"


class ClaimRemittance(models.Model):
    """How one 835 CLP answered one of our claims: status, amounts and the payer's claim control number."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(EraPayment, on_delete=models.CASCADE, related_name="claim_remittances")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="remittances")
    status_code = models.CharField(max_length=2, help_text="CLP02")
    charge = models.DecimalField(**MONEY)
    paid = models.DecimalField(**MONEY)
    patient_responsibility = models.DecimalField(**MONEY, default=0)
    payer_claim_control_number = models.CharField(max_length=50, blank=True)
    crossover_payer_name = models.CharField(max_length=60, blank=True, help_text="NM1*TT: forwarded to this payer")
    crossover_payer_id = models.CharField(max_length=80, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["payment", "pk"]

    def __str__(self):
        return f"{self.claim} CLP02 {self.status_code} paid {self.paid}"


class WorkStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPEALED = "appealed", "Appealed"
    CORRECTED = "corrected", "Corrected claim sent"
    TRANSFERRED = "transferred", "Billed to next payer / patient"
    WRITTEN_OFF = "written_off", "Written off"
    RESOLVED = "resolved", "Resolved"


@track_history()
class Denial(models.Model):
    """A line or claim the payer paid nothing for, with a non-patient-responsibility reason. Never written off
    automatically: a biller appeals, corrects, transfers or writes it off."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="denials")
    claim_line = models.ForeignKey(ClaimLine, null=True, blank=True, on_delete=models.PROTECT, related_name="denials")
    payment = models.ForeignKey(EraPayment, null=True, blank=True, on_delete=models.PROTECT, related_name="denials")
    group_code = models.CharField(max_length=2, blank=True)
    carc = models.CharField("CARC", max_length=5, blank=True)
    rarcs = ArrayField(models.CharField(max_length=7), default=list, blank=True)
    category = models.CharField(max_length=30)
    reason = models.CharField(max_length=300)
    recommended_action = models.CharField(max_length=300)
    amount = models.DecimalField(**MONEY, help_text="Charge denied")
    appeal_deadline = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=WorkStatus.choices, default=WorkStatus.OPEN, db_index=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_denials")
    next_follow_up = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["clinic", "status", "category"])]

    def __str__(self):
        return f"Denial {self.group_code}-{self.carc} on {self.claim}"


@track_history()
class Underpayment(models.Model):
    """A line paid below its expected reimbursement by more than the tolerance."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="underpayments")
    claim_line = models.ForeignKey(ClaimLine, on_delete=models.PROTECT, related_name="underpayments")
    # Empty when a paper EOB posted by hand (denials.manual) opened it; its ledger rows name the EOB.
    payment = models.ForeignKey(EraPayment, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="underpayments")
    expected = models.DecimalField(**MONEY)
    allowed = models.DecimalField(**MONEY, null=True, blank=True)
    paid = models.DecimalField(**MONEY)
    status = models.CharField(max_length=12, choices=WorkStatus.choices, default=WorkStatus.OPEN, db_index=True)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_underpayments")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(paid__lt=models.F("expected")),
                                              name="underpayment_paid_below_expected")]

    def __str__(self):
        return f"Underpayment on {self.claim}: expected {self.expected}, paid {self.paid}"

    @property
    def shortfall(self):
        return self.expected - self.paid


class UnmatchedRemittance(models.Model):
    """An 835 claim or line we could not tie to ours: kept for a manual match, never dropped."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    payment = models.ForeignKey(EraPayment, on_delete=models.CASCADE, related_name="unmatched")
    claim = models.ForeignKey(Claim, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              help_text="Set when the claim matched but a line did not.")
    patient_control_number = models.CharField(max_length=40)
    description = models.CharField(max_length=300)
    data = models.JSONField(default=dict)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Unmatched {self.patient_control_number}: {self.description}"


class AppealOutcome(models.TextChoices):
    PENDING = "pending", "Pending"
    WON = "won", "Won: paid"
    PARTIAL = "partial", "Partly won"
    LOST = "lost", "Upheld: lost"


@track_history()
class Appeal(models.Model):
    """An appeal of a denial: our argument, the letter (PDF, with the signed note and plan of care attached),
    its deadline and its outcome."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    denial = models.ForeignKey(Denial, on_delete=models.PROTECT, related_name="appeals")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="appeals")
    argument = models.TextField()
    letter_pdf = models.BinaryField(editable=False)
    letter_sha256 = models.CharField(max_length=64)
    deadline = models.DateField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=AppealOutcome.choices, default=AppealOutcome.PENDING)
    outcome_note = models.CharField(max_length=300, blank=True)
    outcome_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Appeal of {self.denial}"


class FollowUpNote(models.Model):
    """A biller's note on a claim (and the denial it concerns), with the next follow-up date it set."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="follow_up_notes")
    denial = models.ForeignKey(Denial, null=True, blank=True, on_delete=models.PROTECT, related_name="notes")
    text = models.TextField()
    next_follow_up = models.DateField(null=True, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"Note on {self.claim}"


class DepositSource(models.TextChoices):
    MANUAL = "manual", "Entered"
    CSV = "csv", "Imported CSV"


@track_history()
class BankDeposit(models.Model):
    """Money that reached the clinic's bank account (EFT or check), matched to an 835 payment by trace and
    amount, so cash in the bank and cash posted agree."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    deposit_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    trace_number = models.CharField(max_length=50, blank=True)
    description = models.CharField(max_length=120, blank=True)
    source = models.CharField(max_length=6, choices=DepositSource.choices, default=DepositSource.MANUAL)
    era_payment = models.OneToOneField(EraPayment, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="deposit")
    matched_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-deposit_date", "-pk"]

    def __str__(self):
        return f"Deposit {self.deposit_date} ${self.amount} {self.trace_number}"
