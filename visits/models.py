"""Treatment sessions (visits), their service lines, plans of care, progress reports and imports.

The app is called `visits` because Django owns the label `sessions`.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from clinics.models import Clinic, Coverage, Patient, Provider, ReferringProvider, track_history
from clinics.validators import validate_npi
from otbilling.tenancy import ClinicScopedQuerySet

CPT_CODE = RegexValidator(r"^[0-9A-Z]\d{3}[0-9A-Z]$", "A CPT/HCPCS code is 5 characters, e.g. 97530.")
MODIFIER = RegexValidator(r"^[0-9A-Z]{2}$", "A modifier is 2 characters, e.g. GO.")
MAX_DIAGNOSES = 12
MAX_POINTERS = 4
MAX_MODIFIERS = 4


class PlaceOfService(models.TextChoices):
    TELEHEALTH_OTHER = "02", "02 Telehealth (patient not at home)"
    SCHOOL = "03", "03 School"
    TELEHEALTH_HOME = "10", "10 Telehealth (patient at home)"
    OFFICE = "11", "11 Office"
    HOME = "12", "12 Home"
    ASSISTED_LIVING = "13", "13 Assisted living"
    OUTPATIENT_OFF_CAMPUS = "19", "19 Off-campus outpatient hospital"
    OUTPATIENT_ON_CAMPUS = "22", "22 On-campus outpatient hospital"
    SKILLED_NURSING = "31", "31 Skilled nursing facility"
    NURSING = "32", "32 Nursing facility"
    OTHER = "99", "99 Other"


class VisitStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SIGNED = "signed", "Signed"


class VisitSource(models.TextChoices):
    FORM = "form", "Entered in the browser"
    API = "api", "API"
    IMPORT = "import", "EHR import"


@track_history()
class PlanOfCare(models.Model):
    """A certified plan of care: treatment must fall within its certified interval (at most 90 days)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="plans_of_care")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="plans_of_care")
    start_date = models.DateField()
    certified_through = models.DateField()
    certification_signed_date = models.DateField(null=True, blank=True)
    certifier_name = models.CharField(max_length=80, blank=True)
    certifier_npi = models.CharField("certifier NPI", max_length=10, blank=True, validators=[validate_npi])
    frequency = models.CharField(max_length=40, help_text="e.g. 2x/week")
    duration = models.CharField(max_length=40, help_text="e.g. 8 weeks")
    goals = models.TextField()
    diagnoses = ArrayField(models.CharField(max_length=8), size=MAX_DIAGNOSES, default=list, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["patient", "-start_date"]
        verbose_name_plural = "plans of care"
        constraints = [
            models.CheckConstraint(condition=Q(certified_through__gte=models.F("start_date")),
                                   name="poc_interval_ordered"),
        ]

    def __str__(self):
        return f"POC {self.start_date:%Y-%m-%d} to {self.certified_through:%Y-%m-%d}"

    def clean(self):
        from django.core.exceptions import ValidationError

        super().clean()
        if self.start_date and self.certified_through:
            if self.certified_through < self.start_date:
                raise ValidationError({"certified_through": "Must not be before the start date."})
            if (self.certified_through - self.start_date).days > 89:
                raise ValidationError({"certified_through": "A certification covers at most 90 days."})

    def covers(self, day) -> bool:
        return self.start_date <= day <= self.certified_through


@track_history()
class Visit(models.Model):
    """One treatment session: patient, date of service, therapist, diagnoses, service lines and the note."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="visits")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    coverage = models.ForeignKey(Coverage, null=True, blank=True, on_delete=models.PROTECT, related_name="visits")
    rendering_provider = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="visits")
    referring_provider = models.ForeignKey(ReferringProvider, null=True, blank=True, on_delete=models.PROTECT,
                                           related_name="visits")
    plan_of_care = models.ForeignKey(PlanOfCare, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="visits")
    date_of_service = models.DateField(db_index=True)
    place_of_service = models.CharField(max_length=2, choices=PlaceOfService.choices, default=PlaceOfService.OFFICE)
    diagnoses = ArrayField(models.CharField(max_length=8), size=MAX_DIAGNOSES, default=list,
                           help_text="ICD-10-CM codes in order; line pointers refer to positions 1-12.")
    note_text = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=VisitStatus.choices, default=VisitStatus.DRAFT)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    signed_by_name = models.CharField(max_length=80, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=VisitSource.choices, default=VisitSource.FORM)
    external_id = models.CharField(max_length=64, blank=True, help_text="The sending EHR's id for this session.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-date_of_service", "-created_at"]
        indexes = [models.Index(fields=["clinic", "-date_of_service"])]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "external_id"], condition=~Q(external_id=""),
                                    name="visit_external_id_unique_per_clinic"),
            models.CheckConstraint(
                condition=Q(status="draft") | (Q(signed_at__isnull=False) & ~Q(signed_by_name="")),
                name="signed_visit_has_signature",
            ),
        ]

    def __str__(self):
        return f"{self.patient} {self.date_of_service:%Y-%m-%d}"

    @property
    def is_signed(self) -> bool:
        return self.status == VisitStatus.SIGNED


@track_history()
class ServiceLine(models.Model):
    """One CPT/HCPCS code performed in a visit, with its minutes (timed codes) and pointers."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField()
    cpt = models.CharField("CPT/HCPCS", max_length=5, validators=[CPT_CODE])
    minutes = models.PositiveSmallIntegerField(null=True, blank=True, validators=[MaxValueValidator(480)],
                                               help_text="Direct treatment minutes; empty for untimed codes.")
    assistant_minutes = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(480)],
                                                         help_text="Minutes of this line furnished by an OTA.")
    diagnosis_pointers = ArrayField(
        models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_DIAGNOSES)]),
        size=MAX_POINTERS, default=list,
    )
    manual_modifiers = ArrayField(models.CharField(max_length=2, validators=[MODIFIER]), size=MAX_MODIFIERS,
                                  default=list, blank=True)
    distinct_time_block = models.BooleanField(
        default=False, help_text="The note documents this code in its own time block (NCCI 59/XS).")

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["visit", "position"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "position"], name="line_position_unique"),
            models.CheckConstraint(
                condition=Q(minutes__isnull=True, assistant_minutes=0) | Q(assistant_minutes__lte=models.F("minutes")),
                name="assistant_minutes_within_line",
            ),
        ]

    def __str__(self):
        return f"{self.cpt} {self.minutes or 'untimed'}"


@track_history()
class ProgressReport(models.Model):
    """A progress report written by the therapist (Medicare: at least every 10 treatment days)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="progress_reports")
    plan_of_care = models.ForeignKey(PlanOfCare, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="progress_reports")
    report_date = models.DateField()
    author = models.ForeignKey(Provider, on_delete=models.PROTECT, related_name="+")
    summary = models.TextField()

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["patient", "-report_date"]

    def __str__(self):
        return f"Progress report {self.report_date:%Y-%m-%d}"


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Imported"
    FAILED = "failed", "Rejected"


class VisitImportJob(models.Model):
    """One upload of an EHR visit export; the UI polls it for a progress bar."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    file_name = models.CharField(max_length=200)
    sha256 = models.CharField(max_length=64)
    content = models.TextField()
    import_valid_rows = models.BooleanField(default=False,
                                            help_text="Import the good rows even when some rows are bad.")
    status = models.CharField(max_length=10, choices=ImportJobStatus.choices, default=ImportJobStatus.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    visits_created = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{row, field, message}]")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.file_name} ({self.get_status_display()})"

    @property
    def percent_done(self) -> int:
        if not self.total_rows:
            return 100 if self.status in (ImportJobStatus.DONE, ImportJobStatus.FAILED) else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))
