"""Claims: what we bill (Claim, ClaimLine), how it moved (ClaimEvent), the 837P files (ClaimBatch) and the
acknowledgments that answered them (AckFile).

A claim's status changes only through `claims.lifecycle.claim_transition`, which checks the table of allowed
moves and writes a ClaimEvent. Database constraints forbid the impossible states (a replacement without the
payer's claim control number, a submitted claim without a submission time, a negative charge).
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from clinics.models import MONEY, Clinic, Coverage, Patient, Payer, Provider, ReferringProvider, track_history
from otbilling.tenancy import ClinicScopedQuerySet
from visits.models import PlaceOfService, ServiceLine, Visit


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    READY = "ready", "Ready to batch"
    BATCHED = "batched", "In a batch"
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted by payer"
    REJECTED = "rejected", "Rejected"
    PAID = "paid", "Paid"
    PARTIALLY_PAID = "partial", "Partially paid"
    DENIED = "denied", "Denied"
    CLOSED = "closed", "Closed"
    REPLACED = "replaced", "Replaced by a corrected claim"
    VOIDED = "voided", "Voided"


# Statuses in which the claim has left the building: a submission time must exist.
SENT_STATUSES = (
    ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED, ClaimStatus.REJECTED, ClaimStatus.PAID,
    ClaimStatus.PARTIALLY_PAID, ClaimStatus.DENIED, ClaimStatus.CLOSED, ClaimStatus.REPLACED, ClaimStatus.VOIDED,
)


class ClaimFrequency(models.TextChoices):
    ORIGINAL = "1", "Original"
    REPLACEMENT = "7", "Replacement (corrected claim)"
    VOID = "8", "Void"


class BatchStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    GENERATING = "generating", "Generating"
    HELD = "held", "Held: validation failed"
    RELEASED = "released", "Released to the outbox"
    ACCEPTED = "accepted", "Accepted (999)"
    PARTIAL = "partial", "Partly accepted (999)"
    REJECTED = "rejected", "Rejected (999)"


class AckKind(models.TextChoices):
    IMPLEMENTATION = "999", "999 implementation acknowledgment"
    CLAIM = "277CA", "277CA claim acknowledgment"


@track_history()
class ClaimBatch(models.Model):
    """One 837P file for one clinic and payer: stored once, immutable after release, with its SHA-256."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="claim_batches")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.QUEUED)
    file_name = models.CharField(max_length=120, blank=True)
    content = models.TextField(blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    interchange_control_number = models.CharField(max_length=9, blank=True, db_index=True)
    group_control_number = models.CharField(max_length=9, blank=True, db_index=True)
    claim_count = models.PositiveIntegerField(default=0)
    total_charge = models.DecimalField(**MONEY, default=0)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{segment, line, field, message}]")
    ack_note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "claim batches"
        constraints = [
            models.CheckConstraint(condition=~Q(status="released") | ~Q(sha256=""), name="released_batch_has_hash"),
        ]

    def __str__(self):
        return self.file_name or f"batch {self.public_id}"

    @property
    def progress_percent(self) -> int:
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0


@track_history(model_name="ClaimHistory")  # ClaimEvent is the status-change log below
class Claim(models.Model):
    """One professional claim: a patient, a coverage (payer) and a rendering provider for a date of service."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="claims")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="claims")
    coverage = models.ForeignKey(Coverage, on_delete=models.PROTECT, related_name="claims")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="claims")
    rendering_provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="claims")
    referring_provider = models.ForeignKey(ReferringProvider, null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="claims")
    # CLM01: short, unique, echoed back by the payer in 277CA and 835 CLP01.
    patient_control_number = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT, db_index=True)
    frequency = models.CharField(max_length=1, choices=ClaimFrequency.choices, default=ClaimFrequency.ORIGINAL)
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="corrections", help_text="The claim this replacement or void answers.")
    payer_claim_control_number = models.CharField(
        max_length=50, blank=True, help_text="The payer's ICN/DCN (835 CLP07); REF*F8 on a replacement or void.")
    place_of_service = models.CharField(max_length=2, choices=PlaceOfService.choices)
    service_date_from = models.DateField()
    service_date_to = models.DateField()
    diagnoses = ArrayField(models.CharField(max_length=8), size=12, default=list)
    prior_auth_number = models.CharField(max_length=50, blank=True)
    total_charge = models.DecimalField(**MONEY, default=0)
    batch = models.ForeignKey(ClaimBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="claims")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_claims")
    signed_at = models.DateTimeField(null=True, blank=True, help_text="Earliest note signature of its visits.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.CharField(max_length=400, blank=True)
    # Coordination of benefits: a claim to the secondary (or tertiary) payer points at the claim the previous payer
    # adjudicated and carries that payer's answer as the 837P 2320/2330/2430 loops need it (see claims.x837):
    # {"payer": {...}, "paid": "..", "adjudicated_on": "YYYY-MM-DD", "claim_adjustments": [...],
    #  "lines": {"<position>": {"paid": "..", "adjustments": [{"group", "carc", "amount"}]}}}
    primary_claim = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="next_payer_claims")
    other_payer_adjudication = models.JSONField(default=dict, blank=True)
    next_follow_up = models.DateField(null=True, blank=True, db_index=True,
                                      help_text="A/R follow-up: when a biller should look at this claim again.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["clinic", "status", "created_at"]),
            models.Index(fields=["payer", "status"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(frequency__in=["1", "7", "8"]), name="claim_frequency_known"),
            models.CheckConstraint(
                condition=Q(frequency="1") | (~Q(payer_claim_control_number="") & Q(replaces__isnull=False)),
                name="correction_names_the_original"),
            models.CheckConstraint(condition=Q(total_charge__gte=0), name="claim_charge_not_negative"),
            models.CheckConstraint(condition=Q(service_date_to__gte=models.F("service_date_from")),
                                   name="claim_span_in_order"),
            models.CheckConstraint(condition=~Q(status__in=[s.value for s in SENT_STATUSES])
                                   | Q(submitted_at__isnull=False), name="sent_claim_has_submission_time"),
            models.CheckConstraint(condition=Q(status__in=[s.value for s in ClaimStatus]), name="claim_status_known"),
        ]

    def __str__(self):
        return f"Claim {self.patient_control_number}"

    @property
    def submission_lag_hours(self) -> float | None:
        """Hours from the note's signature to submission (the 24–48 hour promise)."""
        if not (self.signed_at and self.submitted_at):
            return None
        return (self.submitted_at - self.signed_at).total_seconds() / 3600


@track_history()
class ClaimLine(models.Model):
    """One SV1 line: code, modifiers, units, charge, pointers, and a line control number (REF*6R)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    service_line = models.ForeignKey(ServiceLine, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="claim_lines")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="claim_lines")
    date_of_service = models.DateField()
    cpt = models.CharField("CPT/HCPCS", max_length=5)
    modifiers = ArrayField(models.CharField(max_length=2), size=4, default=list, blank=True)
    units = models.PositiveSmallIntegerField()
    charge = models.DecimalField(**MONEY)
    expected_allowed = models.DecimalField(**MONEY, default=0)
    diagnosis_pointers = ArrayField(models.PositiveSmallIntegerField(), size=4, default=list)
    line_control_number = models.CharField(max_length=30, unique=True)
    auth_number = models.CharField(max_length=50, blank=True, help_text="Line-level prior auth (per-CPT auth).")

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["claim", "position"]
        constraints = [
            models.UniqueConstraint(fields=["claim", "position"], name="claim_line_position_unique"),
            models.CheckConstraint(condition=Q(charge__gte=0) & Q(units__gte=1), name="claim_line_money_units"),
        ]

    def __str__(self):
        return f"{self.cpt} x{self.units}"


class ClaimEvent(models.Model):
    """One status move of a claim: who, when, from, to and why. Written only by claim_transition."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(Claim, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=10, choices=ClaimStatus.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=ClaimStatus.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, help_text="'system' for tasks and imports")
    reason = models.CharField(max_length=400, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["claim", "at", "pk"]

    def __str__(self):
        return f"{self.claim}: {self.from_status or '∅'} → {self.to_status}"


class AckFile(models.Model):
    """An imported 999 or 277CA, kept with its SHA-256 so a re-import changes nothing."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The clinic whose batch it answers; empty when nothing in it matched one of our batches.
    clinic = models.ForeignKey(Clinic, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=5, choices=AckKind.choices)
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64, unique=True)
    content = models.TextField()
    summary = models.JSONField(default=dict, blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    imported_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-imported_at"]

    def __str__(self):
        return f"{self.kind} {self.file_name}"


class LedgerKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    PAYMENT = "payment", "Payer payment"
    ADJUSTMENT = "adjustment", "Adjustment"
    TRANSFER = "transfer", "Transfer of responsibility"
    PATIENT_PAYMENT = "patient_pay", "Patient payment"
    WRITE_OFF = "write_off", "Write-off"


class LedgerParty(models.TextChoices):
    PAYER = "payer", "Payer"
    PATIENT = "patient", "Patient"
    SECONDARY = "secondary", "Next payer"


class LedgerEntry(models.Model):
    """One money movement on a claim line (or the claim): the only source of balances.

    `amount` is the effect on the balance owed by `party`: a charge is positive, a payment, a contractual adjustment
    or a write-off negative. Moving patient responsibility (PR) is a pair: −X payer, +X patient. A reversal is a new
    row with the opposite amount pointing at the row it reverses; no row is ever updated or deleted.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="ledger")
    claim_line = models.ForeignKey(ClaimLine, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger")
    kind = models.CharField(max_length=12, choices=LedgerKind.choices)
    party = models.CharField(max_length=10, choices=LedgerParty.choices, default=LedgerParty.PAYER)
    amount = models.DecimalField(**MONEY)
    group_code = models.CharField(max_length=2, blank=True, help_text="CAS group: CO, PR, OA, PI")
    carc = models.CharField("CARC", max_length=5, blank=True)
    rarcs = ArrayField(models.CharField(max_length=7), default=list, blank=True)
    source = models.CharField(max_length=10, help_text="835, manual, build, writeoff, transfer")
    source_ref = models.CharField(max_length=80, blank=True, help_text="e.g. the ERA payment's public id")
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")
    reason_code = models.CharField(max_length=20, blank=True, help_text="Write-off or transfer reason")
    note = models.CharField(max_length=300, blank=True)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    posted_at = models.DateTimeField(auto_now_add=True)
    # Reports count money on this date, not on posted_at: an 835 imported late still belongs to the month it paid.
    effective_date = models.DateField(
        default=timezone.localdate,
        help_text="Accounting date: the day of service for a charge, BPR16 for an 835's rows, the EOB's date for a "
                  "manual posting, otherwise the day it was posted.")

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["claim", "posted_at", "pk"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["clinic", "kind", "posted_at"]), models.Index(fields=["source", "source_ref"]),
                   models.Index(fields=["clinic", "effective_date"]),
                   models.Index(fields=["clinic", "kind", "effective_date"])]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="ledger_amount_not_zero"),
            models.CheckConstraint(condition=~Q(kind="charge") | Q(amount__gt=0) | Q(reverses__isnull=False),
                                   name="ledger_charge_positive"),
            models.CheckConstraint(condition=~Q(kind="adjustment") | ~Q(group_code=""),
                                   name="ledger_adjustment_has_group"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.amount} on {self.claim}"
