"""Code sets as dated reference data, and the coding result of each visit: units, modifiers, prices, findings.

Reference rows (procedure codes, modifiers, NCCI pairs, MUEs, thresholds) are global and loaded from
versioned fixture files or CMS files by management commands; never constants in code.
"""

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from clinics.models import Clinic, track_history
from otbilling.tenancy import ClinicScopedQuerySet
from visits.models import ServiceLine, Visit

MONEY = {"max_digits": 12, "decimal_places": 2}


class DatedQuerySet(models.QuerySet):
    def in_force_on(self, day):
        return self.filter(Q(effective_from__lte=day), Q(effective_to__isnull=True) | Q(effective_to__gte=day))


class CodeKind(models.TextChoices):
    EVALUATION = "evaluation", "Evaluation"
    REEVALUATION = "reevaluation", "Re-evaluation"
    TIMED = "timed", "Timed (15-minute units)"
    UNTIMED = "untimed", "Untimed (service-based)"
    GROUP = "group", "Group (untimed)"


class ProcedureCode(models.Model):
    """An OT CPT/HCPCS code with our own short description and its billing properties."""

    code = models.CharField(max_length=5)
    description = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=CodeKind.choices)
    unit_minutes = models.PositiveSmallIntegerField(null=True, blank=True)
    family_first = models.CharField(max_length=5, blank=True,
                                    help_text="For an 'each additional' code: the first-unit code it pools with.")
    addon_of = ArrayField(models.CharField(max_length=5), default=list, blank=True,
                          help_text="Primary codes this add-on code needs on the same day.")
    once_per_day = models.BooleanField(default=False)
    medicare_accepted = models.BooleanField(default=True)
    medicare_replacement = models.CharField(max_length=5, blank=True, help_text="e.g. 97014 → G0283 for Medicare")
    telehealth_eligible = models.BooleanField(default=False)
    pe_share = models.DecimalField(
        "practice-expense share", max_digits=4, decimal_places=2, default=0,
        help_text="Share of the allowed amount that is practice expense (PE RVU ÷ total RVU), for MPPR.")
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)

    objects = DatedQuerySet.as_manager()

    class Meta:
        ordering = ["code", "-effective_from"]
        constraints = [models.UniqueConstraint(fields=["code", "effective_from"], name="procedure_code_version")]

    def __str__(self):
        return f"{self.code} {self.description}"

    @property
    def is_timed(self) -> bool:
        return self.kind == CodeKind.TIMED

    @property
    def is_evaluation(self) -> bool:
        return self.kind in (CodeKind.EVALUATION, CodeKind.REEVALUATION)


class ModifierCode(models.Model):
    """A modifier and what it means."""

    code = models.CharField(max_length=2, unique=True)
    description = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.description}"


class NcciIndicator(models.TextChoices):
    NEVER = "0", "0: never billable together"
    BYPASS_ALLOWED = "1", "1: allowed with 59/X modifier and distinct documentation"
    DELETED = "9", "9: edit deleted / not applicable"


class NcciPair(models.Model):
    """An NCCI procedure-to-procedure edit: column-2 code is denied with column 1 on the same day."""

    column1 = models.CharField(max_length=5)
    column2 = models.CharField(max_length=5)
    modifier_indicator = models.CharField(max_length=1, choices=NcciIndicator.choices)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=120, help_text="Fixture version or CMS file name")

    objects = DatedQuerySet.as_manager()

    class Meta:
        ordering = ["column1", "column2", "-effective_from"]
        constraints = [models.UniqueConstraint(fields=["column1", "column2", "effective_from"], name="ncci_version")]
        indexes = [models.Index(fields=["column1", "column2"])]

    def __str__(self):
        return f"{self.column1}/{self.column2} ({self.modifier_indicator})"


class MueIndicator(models.TextChoices):
    PER_LINE = "1", "1: per claim line"
    PER_DAY_POLICY = "2", "2: per day, absolute (policy)"
    PER_DAY_CLINICAL = "3", "3: per day, clinical (appealable)"


class MueLimit(models.Model):
    """Medically unlikely edit: most units of a code per patient per date of service."""

    code = models.CharField(max_length=5)
    max_units = models.PositiveSmallIntegerField()
    adjudication_indicator = models.CharField(max_length=1, choices=MueIndicator.choices)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    source = models.CharField(max_length=120)

    objects = DatedQuerySet.as_manager()

    class Meta:
        ordering = ["code", "-effective_from"]
        constraints = [models.UniqueConstraint(fields=["code", "effective_from"], name="mue_version")]

    def __str__(self):
        return f"{self.code} ≤ {self.max_units}/day"


class TherapyThreshold(models.Model):
    """Medicare per-beneficiary therapy amounts for a calendar year: KX threshold and targeted review."""

    year = models.PositiveSmallIntegerField(unique=True)
    kx_threshold = models.DecimalField(**MONEY)
    targeted_review_threshold = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["-year"]

    def __str__(self):
        return f"{self.year}: KX ${self.kx_threshold}, review ${self.targeted_review_threshold}"


class IcdCodeSet(models.Model):
    """An ICD-10-CM code set (fiscal year) that was loaded, and the dates of service it is valid for."""

    fiscal_year = models.PositiveSmallIntegerField(unique=True)
    effective_from = models.DateField()
    effective_to = models.DateField()
    source = models.CharField(max_length=120)

    class Meta:
        ordering = ["-fiscal_year"]

    def __str__(self):
        return f"ICD-10-CM FY{self.fiscal_year}"


class CodingStatus(models.TextChoices):
    PENDING = "pending", "Not yet scrubbed"
    HELD = "held", "Held by blocking findings"
    BILLABLE = "billable", "Billable"


@track_history()
class VisitCoding(models.Model):
    """The coding result of one visit: its unit rule, status and when it was last scrubbed."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    visit = models.OneToOneField(Visit, on_delete=models.CASCADE, related_name="coding")
    status = models.CharField(max_length=10, choices=CodingStatus.choices, default=CodingStatus.PENDING)
    unit_rule = models.CharField(max_length=8, blank=True)
    explanation = models.JSONField(default=list, blank=True)
    scrubbed_at = models.DateTimeField(null=True, blank=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["clinic", "status"])]

    def __str__(self):
        return f"{self.visit}: {self.get_status_display()}"


@track_history()
class CodedLine(models.Model):
    """A service line as it will be billed: units, modifiers with reasons, charge and expected payment."""

    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    coding = models.ForeignKey(VisitCoding, on_delete=models.CASCADE, related_name="lines")
    service_line = models.OneToOneField(ServiceLine, on_delete=models.CASCADE, related_name="coded")
    units = models.PositiveSmallIntegerField()
    modifiers = ArrayField(models.CharField(max_length=2), size=4, default=list, blank=True)
    modifier_reasons = models.JSONField(default=dict, blank=True, help_text="{modifier: reason in words}")
    unit_reason = models.CharField(max_length=300, blank=True)
    charge = models.DecimalField(**MONEY, default=0)
    expected_allowed = models.DecimalField(**MONEY, default=0,
                                           help_text="Fee-schedule allowed amount after MPPR and CO reductions.")
    mppr_reduction = models.DecimalField(**MONEY, default=0)
    assistant_reduction = models.DecimalField(**MONEY, default=0)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["coding", "service_line__position"]
        constraints = [
            models.CheckConstraint(condition=Q(charge__gte=0) & Q(expected_allowed__gte=0),
                                   name="coded_money_positive"),
        ]

    def __str__(self):
        return f"{self.service_line.cpt} x{self.units} {'-'.join(self.modifiers)}"


class Severity(models.TextChoices):
    BLOCKING = "blocking", "Blocking"
    WARNING = "warning", "Warning"


@track_history()
class Finding(models.Model):
    """One scrubber or documentation finding on a visit, with its rule id and, where possible, a fix."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="findings")
    service_line = models.ForeignKey(ServiceLine, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    rule_id = models.CharField(max_length=40, db_index=True)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    message = models.CharField(max_length=400)
    field = models.CharField(max_length=60, blank=True)
    fix_code = models.CharField(max_length=40, blank=True, help_text="Name of the one-click fix, if any")
    fix_label = models.CharField(max_length=120, blank=True)
    fix_params = models.JSONField(default=dict, blank=True)
    overridden_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                      related_name="+")
    override_reason = models.CharField(max_length=300, blank=True)
    overridden_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClinicScopedQuerySet.as_manager()

    class Meta:
        ordering = ["visit", "-severity", "rule_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(overridden_by__isnull=True) | ~Q(override_reason=""), name="override_needs_reason",
            ),
        ]

    def __str__(self):
        return f"{self.rule_id}: {self.message}"

    @property
    def is_blocking(self) -> bool:
        return self.severity == Severity.BLOCKING and self.overridden_by_id is None
