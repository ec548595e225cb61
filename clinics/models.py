"""Tenants (clinics), their patients, coverages, providers and fee schedules; payers as global reference data."""

import uuid
from decimal import Decimal

import pghistory
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from otbilling.tenancy import CLINIC_PERMISSIONS, ClinicScopedQuerySet, Role

from .validators import (
    normalize_ein,
    normalize_zip,
    validate_ein,
    validate_npi,
    validate_taxonomy,
    validate_x12_safe,
    validate_zip,
    validate_zip9,
)

US_STATE = RegexValidator(r"^[A-Z]{2}$", "Use the two-letter state code, e.g. OR.")
MONEY = {"max_digits": 12, "decimal_places": 2}


def track_history(model_name: str | None = None):
    """Change history (pghistory triggers) for models holding PHI or money: insert, update and delete.

    `model_name` renames the history model (default `<Model>Event`) where that name is taken by a domain model;
    such a history model is then reached as `obj.history`.
    """
    trackers = (pghistory.InsertEvent(), pghistory.UpdateEvent(), pghistory.DeleteEvent())
    if model_name is None:
        return pghistory.track(*trackers)
    return pghistory.track(*trackers, model_name=model_name, obj_field=pghistory.ObjForeignKey(related_name="history"))


class Sex(models.TextChoices):
    FEMALE = "F", "Female"
    MALE = "M", "Male"
    UNKNOWN = "U", "Unknown"


class AddressFields(models.Model):
    """Postal address as an 837P wants it (N3/N4)."""

    address_line1 = models.CharField(max_length=55, validators=[validate_x12_safe])
    address_line2 = models.CharField(max_length=55, blank=True, validators=[validate_x12_safe])
    city = models.CharField(max_length=30, validators=[validate_x12_safe])
    state = models.CharField(max_length=2, validators=[US_STATE])
    zip_code = models.CharField(max_length=10, validators=[validate_zip])

    class Meta:
        abstract = True

    def clean(self):
        super().clean()
        self.state = (self.state or "").upper()
        self.zip_code = normalize_zip(self.zip_code)


@track_history()
class Clinic(AddressFields):
    """A clinic: the tenant. Every clinic-owned row points here; permissions are held on this row."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    legal_name = models.CharField(max_length=60, validators=[validate_x12_safe])
    slug = models.SlugField(max_length=40, unique=True)
    billing_npi = models.CharField("billing NPI", max_length=10, validators=[validate_npi])
    ein = models.CharField("EIN", max_length=10, validators=[validate_ein])
    taxonomy = models.CharField(max_length=10, default="225X00000X", validators=[validate_taxonomy])
    zip_code = models.CharField(max_length=10, validators=[validate_zip9], help_text="ZIP+4 (9 digits)")
    timezone = models.CharField(max_length=40, default="America/New_York")
    contact_name = models.CharField(max_length=60, blank=True)
    contact_phone = models.CharField(max_length=20, blank=True)
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["legal_name"]
        permissions = CLINIC_PERMISSIONS

    def __str__(self):
        return self.legal_name

    def clean(self):
        super().clean()
        self.ein = normalize_ein(self.ein)
        import zoneinfo

        if self.timezone not in zoneinfo.available_timezones():
            raise ValidationError({"timezone": f"Unknown time zone {self.timezone!r}."})


class PayerKind(models.TextChoices):
    MEDICARE = "medicare", "Medicare"
    MEDICAID = "medicaid", "Medicaid"
    MEDICARE_ADVANTAGE = "medicare_advantage", "Medicare Advantage"
    COMMERCIAL = "commercial", "Commercial"
    WORKERS_COMP = "workers_comp", "Workers' compensation"
    AUTO = "auto", "Auto / no-fault"


class ClaimFilingIndicator(models.TextChoices):
    """SBR09 codes used by OT payers."""

    MEDICARE_B = "MB", "MB Medicare Part B"
    MEDICAID = "MC", "MC Medicaid"
    MEDICARE_ADVANTAGE = "16", "16 HMO Medicare risk"
    COMMERCIAL = "CI", "CI Commercial insurance"
    BLUE_CROSS = "BL", "BL Blue Cross/Blue Shield"
    HMO = "HM", "HM Health maintenance organization"
    WORKERS_COMP = "WC", "WC Workers' compensation"
    AUTO = "AM", "AM Automobile medical"


class UnitMethod(models.TextChoices):
    CMS_TOTAL_TIME = "cms", "CMS total-time (8-minute rule)"
    AMA_PER_CODE = "ama", "AMA per-code (substantial portion)"


class Payer(models.Model):
    """A payer and its billing rules. Global reference data: read-only to clinic users."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=60, validators=[validate_x12_safe])
    payer_id = models.CharField("EDI payer id", max_length=20, unique=True, validators=[validate_x12_safe])
    kind = models.CharField(max_length=24, choices=PayerKind.choices)
    claim_filing_indicator = models.CharField(max_length=2, choices=ClaimFilingIndicator.choices)
    unit_method = models.CharField(max_length=8, choices=UnitMethod.choices, default=UnitMethod.CMS_TOTAL_TIME)
    go_required = models.BooleanField("GO modifier required", default=True)
    prior_auth_required = models.BooleanField(default=False)
    referring_provider_required = models.BooleanField(default=False)
    timely_filing_days = models.PositiveIntegerField(default=365, validators=[MinValueValidator(1)])
    appeal_window_days = models.PositiveIntegerField(default=120, validators=[MinValueValidator(1)])
    accepts_replacement_claims = models.BooleanField("accepts replacement claims (frequency 7)", default=True)
    kx_threshold_applies = models.BooleanField(default=False)
    applies_mppr = models.BooleanField("applies multiple procedure payment reduction", default=False)
    applies_assistant_reduction = models.BooleanField(
        "pays CO lines at 85%", default=False, help_text="Medicare since 2022: 15% less for OTA-furnished lines.")
    ncci_bypass_modifier = models.CharField(
        "NCCI bypass modifier", max_length=2, default="59",
        choices=[("59", "59 distinct procedural service"), ("XU", "XU unusual non-overlapping service"),
                 ("XS", "XS separate structure"), ("XE", "XE separate encounter"), ("XP", "XP separate practitioner")],
        help_text="What this payer wants on the column-2 code of an NCCI pair done in its own time block.")
    eligibility_max_age_days = models.PositiveSmallIntegerField(
        "verify eligibility within (days)", default=30,
        help_text="Coverage must have been verified within this many days before the date of service.")
    auth_alert_visits_left = models.PositiveSmallIntegerField("auth alert at visits left", default=2)
    auth_alert_units_left = models.PositiveSmallIntegerField("auth alert below units left", default=10)
    auth_alert_days_before_expiry = models.PositiveSmallIntegerField("auth alert days before expiry", default=7)
    medicare_documentation_rules = models.BooleanField(
        "applies Medicare Part B documentation rules", default=False,
        help_text="Plan of care certification, 90-day interval, progress report every 10 treatment days.")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


@track_history()
class Patient(AddressFields):
    """A patient of one clinic."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("MRN", max_length=30, validators=[validate_x12_safe])
    first_name = models.CharField(max_length=35, validators=[validate_x12_safe])
    last_name = models.CharField(max_length=60, validators=[validate_x12_safe])
    date_of_birth = models.DateField()
    sex = models.CharField(max_length=1, choices=Sex.choices)
    phone = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_mrn_unique_per_clinic")]
        indexes = [models.Index(fields=["clinic", "last_name", "first_name"])]

    def __str__(self):
        return f"{self.last_name}, {self.first_name}"

    @property
    def display_name(self):
        return f"{self.first_name} {self.last_name}"

    def coverage_on(self, date_of_service, priority="primary"):
        return self.coverages.active_on(date_of_service).filter(priority=priority).first()


class CoveragePriority(models.TextChoices):
    PRIMARY = "primary", "Primary"
    SECONDARY = "secondary", "Secondary"
    TERTIARY = "tertiary", "Tertiary"


class SubscriberRelationship(models.TextChoices):
    """X12 individual relationship codes (SBR02 / PAT01)."""

    SELF = "18", "Self"
    SPOUSE = "01", "Spouse"
    CHILD = "19", "Child"
    OTHER = "G8", "Other relationship"


class CoverageQuerySet(ClinicScopedQuerySet):
    def active_on(self, day):
        return self.filter(Q(effective_from__lte=day), Q(effective_to__isnull=True) | Q(effective_to__gte=day))


@track_history()
class Coverage(models.Model):
    """A patient's insurance policy with one payer, at a priority, for a date range."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="coverages")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="coverages")
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="coverages")
    priority = models.CharField(max_length=10, choices=CoveragePriority.choices, default=CoveragePriority.PRIMARY)
    member_id = models.CharField(max_length=40, validators=[validate_x12_safe])
    group_number = models.CharField(max_length=40, blank=True, validators=[validate_x12_safe])
    relationship = models.CharField(
        "patient's relationship to subscriber", max_length=2, choices=SubscriberRelationship.choices,
        default=SubscriberRelationship.SELF,
    )
    subscriber_first_name = models.CharField(max_length=35, blank=True, validators=[validate_x12_safe])
    subscriber_last_name = models.CharField(max_length=60, blank=True, validators=[validate_x12_safe])
    subscriber_date_of_birth = models.DateField(null=True, blank=True)
    subscriber_sex = models.CharField(max_length=1, choices=Sex.choices, blank=True)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)

    objects = CoverageQuerySet.as_manager()

    class Meta:
        ordering = ["patient", "priority", "-effective_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=models.F("effective_from")),
                name="coverage_dates_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.payer} {self.get_priority_display().lower()} ({self.member_id})"

    def clean(self):
        super().clean()
        errors = {}
        if self.effective_to and self.effective_from and self.effective_to < self.effective_from:
            errors["effective_to"] = "Coverage cannot end before it starts."
        if self.relationship != SubscriberRelationship.SELF:
            for field in ("subscriber_first_name", "subscriber_last_name", "subscriber_date_of_birth"):
                if not getattr(self, field):
                    errors[field] = "Required when the patient is not the subscriber."
        if self.patient_id and self.clinic_id and self.patient.clinic_id != self.clinic_id:
            errors["patient"] = "Patient belongs to another clinic."
        if errors:
            raise ValidationError(errors)

    def is_active_on(self, day) -> bool:
        return self.effective_from <= day and (self.effective_to is None or self.effective_to >= day)


class ProviderKind(models.TextChoices):
    THERAPIST = "OT", "Occupational therapist (OT)"
    ASSISTANT = "OTA", "Occupational therapy assistant (OTA)"


@track_history()
class Provider(models.Model):
    """A rendering clinician of the clinic: an OT or an OTA (who needs a supervising OT)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="providers")
    kind = models.CharField(max_length=3, choices=ProviderKind.choices, default=ProviderKind.THERAPIST)
    first_name = models.CharField(max_length=35, validators=[validate_x12_safe])
    last_name = models.CharField(max_length=60, validators=[validate_x12_safe])
    credentials = models.CharField(max_length=20, blank=True)
    npi = models.CharField("NPI", max_length=10, validators=[validate_npi])
    taxonomy = models.CharField(max_length=10, default="225X00000X", validators=[validate_taxonomy])
    supervising_therapist = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="supervised_assistants",
        limit_choices_to={"kind": ProviderKind.THERAPIST},
    )
    credentialed_payers = models.ManyToManyField(Payer, blank=True, related_name="credentialed_providers")
    is_active = models.BooleanField(default=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "npi"], name="provider_npi_unique_per_clinic")]

    def __str__(self):
        suffix = f", {self.credentials}" if self.credentials else f" ({self.kind})"
        return f"{self.first_name} {self.last_name}{suffix}"

    def clean(self):
        super().clean()
        if self.kind == ProviderKind.ASSISTANT and not self.supervising_therapist_id:
            raise ValidationError({"supervising_therapist": "An OTA needs a supervising OT."})
        if self.kind == ProviderKind.THERAPIST and self.supervising_therapist_id:
            raise ValidationError({"supervising_therapist": "Only assistants have a supervising therapist."})
        if self.supervising_therapist_id:
            sup = self.supervising_therapist
            if sup.clinic_id != self.clinic_id or sup.kind != ProviderKind.THERAPIST:
                raise ValidationError({"supervising_therapist": "Choose an OT of the same clinic."})
        if self.kind == ProviderKind.ASSISTANT and self.taxonomy.startswith("225X"):
            self.taxonomy = "224Z00000X"


@track_history()
class ReferringProvider(models.Model):
    """A physician or NPP who refers patients to the clinic (837P 2310A)."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="referring_providers")
    first_name = models.CharField(max_length=35, validators=[validate_x12_safe])
    last_name = models.CharField(max_length=60, validators=[validate_x12_safe])
    npi = models.CharField("NPI", max_length=10, validators=[validate_npi])

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "npi"], name="referrer_npi_unique_per_clinic")]

    def __str__(self):
        return f"{self.first_name} {self.last_name} (NPI {self.npi})"


@track_history()
class FeeScheduleEntry(models.Model):
    """The clinic's charge and expected allowed amount for one code, per payer (or default), by date."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="fee_schedule")
    payer = models.ForeignKey(Payer, null=True, blank=True, on_delete=models.PROTECT,
                              help_text="Empty means the clinic's default fee for every payer.")
    cpt = models.CharField("CPT/HCPCS", max_length=5, validators=[RegexValidator(r"^[0-9A-Z]\d{3}[0-9A-Z]$")])
    charge = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0.01"))])
    expected_allowed = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0.00"))])
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "fee schedule entries"
        ordering = ["cpt", "payer", "-effective_from"]
        constraints = [
            models.CheckConstraint(condition=Q(charge__gt=0), name="fee_charge_positive"),
            models.CheckConstraint(condition=Q(expected_allowed__gte=0), name="fee_allowed_not_negative"),
            models.UniqueConstraint(fields=["clinic", "payer", "cpt", "effective_from"],
                                    name="fee_unique_start", nulls_distinct=False),
        ]

    def __str__(self):
        return f"{self.cpt} {self.payer or 'default'} ${self.charge}"


class FeeScheduleQuery:
    """Finds the fee in force for a clinic, payer and code on a date: payer-specific beats default."""

    @staticmethod
    def fee_for(*, clinic, payer, cpt: str, on_date):
        rows = FeeScheduleEntry.objects.filter(
            Q(payer=payer) | Q(payer__isnull=True), clinic=clinic, cpt=cpt, effective_from__lte=on_date,
        ).filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on_date))
        return rows.order_by(models.F("payer").asc(nulls_last=True), "-effective_from").first()


@track_history()
class RoleGrant(models.Model):
    """A named role held by a user on one clinic. Created and revoked only through clinics.services."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clinic_grants")
    role = models.CharField(max_length=20, choices=Role.choices)
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    granted_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["clinic", "user__username"]
        constraints = [models.UniqueConstraint(fields=["clinic", "user", "role"], name="one_grant_per_role")]

    def __str__(self):
        return f"{self.user} is {self.get_role_display()} of {self.clinic}"


class AccessAction(models.TextChoices):
    VIEW = "view", "Viewed"
    LIST = "list", "Listed"
    EXPORT = "export", "Exported"
    DOWNLOAD = "download", "Downloaded"
    API = "api", "Read via API"


class AccessLogEntry(models.Model):
    """PHI read-access log: who opened which record, when and from where. Append-only."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    clinic = models.ForeignKey(Clinic, null=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=10, choices=AccessAction.choices)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=120, blank=True)
    path = models.CharField(max_length=300)
    ip_address = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name_plural = "access log entries"

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.object_type} {self.object_id}"


class ApiToken(models.Model):
    """A per-clinic integration token. Only its SHA-256 is stored; the key is shown once at creation.

    Each token acts as its own service user holding the clinic-staff role on exactly one clinic, so API
    requests go through the same scoping as everyone else.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=60)
    prefix = models.CharField(max_length=8, db_index=True)
    key_sha256 = models.CharField(max_length=64, unique=True)
    service_user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

