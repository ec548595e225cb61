"""Reads of eligibility data: who is scheduled, the latest benefit snapshot, and the eligibility worklist.

Every read goes through `visible_to(user, perm)`. A system run (the nightly Celery task, a management command
run by an operator) passes user=None and names the clinic explicitly: that is the one place where rows are
narrowed by clinic without a user, and it is always to a single clinic given by the caller.

"Scheduled for a date" (the patients a 270 asks about and the worklist shows) is:
1. every patient of the clinic with a visit (draft or signed) on that date; and, only when the clinic has no
   visit at all on that date (no scheduler feeds us tomorrow's sessions),
2. every patient with a plan of care whose certified interval covers the date and a visit in the 14 days before
   it (an ongoing episode of care that is likely to continue).
Their primary and secondary coverages active on the date are the ones to verify.
"""

import datetime
from dataclasses import dataclass, field

from django.db import models
from django.db.models import Exists, OuterRef, Prefetch

from clinics.models import Clinic, Coverage, CoveragePriority, Patient
from otbilling.tenancy import VIEW_PHI, clinics_visible_to
from visits.models import PlanOfCare, Visit

from .models import BenefitSnapshot, Inquiry, InquiryStatus

RECENT_VISIT_DAYS = 14
VERIFIED_PRIORITIES = (CoveragePriority.PRIMARY, CoveragePriority.SECONDARY)
# Fields compared between the last two checks for "changed since last check", with their labels.
COMPARED_FIELDS = {
    "is_active": "active", "plan_name": "plan", "plan_begin": "plan begin", "plan_end": "plan end",
    "coinsurance_percent": "coinsurance", "copay_amount": "copay", "deductible_total": "deductible",
    "out_of_pocket_total": "out-of-pocket maximum", "visits_allowed": "visit limit", "units_allowed": "unit limit",
}


class WorklistStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Not verified"
    FAILED = "failed", "Failed"
    CHANGED = "changed", "Changed since last check"
    VERIFIED = "verified", "Verified"


def scoped(model, user, perm: str, clinic=None):
    """`model.objects.visible_to(user, perm, clinic)`; for a system run (user None) the rows of `clinic`."""
    if user is not None:
        return model.objects.visible_to(user, perm, clinic=clinic)
    if clinic is None:
        raise ValueError("A system read must name its clinic.")
    if model is Clinic:
        return Clinic.objects.filter(pk=clinic.pk)
    return model.objects.filter(clinic=clinic)


def scheduled_patients(*, user, clinic, for_date: datetime.date, perm: str = VIEW_PHI):
    """(patients, rule) for one clinic: rule is "visit" or "plan_of_care" (see the module docstring)."""
    patients = scoped(Patient, user, perm, clinic)
    on_date = scoped(Visit, user, perm, clinic).filter(date_of_service=for_date)
    if on_date.exists():
        return patients.filter(pk__in=on_date.values("patient")), "visit"
    recent = scoped(Visit, user, perm, clinic).filter(
        date_of_service__gte=for_date - datetime.timedelta(days=RECENT_VISIT_DAYS), date_of_service__lt=for_date)
    plans = scoped(PlanOfCare, user, perm, clinic).filter(start_date__lte=for_date, certified_through__gte=for_date)
    return patients.filter(pk__in=plans.values("patient")).filter(pk__in=recent.values("patient")), "plan_of_care"


def coverages_to_verify(*, user, clinic, for_date: datetime.date, perm: str = VIEW_PHI):
    """Primary and secondary coverages, active on the date, of the clinic's scheduled patients."""
    patients, _rule = scheduled_patients(user=user, clinic=clinic, for_date=for_date, perm=perm)
    return (scoped(Coverage, user, perm, clinic).active_on(for_date)
            .filter(patient__in=patients, priority__in=VERIFIED_PRIORITIES)
            .select_related("patient", "payer", "clinic")
            .order_by("payer__payer_id", "patient__last_name", "patient__first_name", "priority", "pk"))


def latest_snapshot(coverage: Coverage, on_or_before: datetime.date | None = None) -> BenefitSnapshot | None:
    """The newest check of a coverage (found through the scope), optionally as it stood on a date."""
    snapshots = coverage.benefit_snapshots.order_by("-checked_at", "-pk")
    if on_or_before is not None:
        snapshots = snapshots.filter(checked_at__date__lte=on_or_before)
    return snapshots.first()


def snapshots_for_patient(user, patient, perm: str = VIEW_PHI):
    """Every check of the patient's coverages, newest first."""
    return (BenefitSnapshot.objects.visible_to(user, perm).filter(coverage__patient=patient)
            .select_related("coverage__payer", "checked_by").order_by("-checked_at", "-pk"))


def latest_snapshots_for_patient(user, patient, perm: str = VIEW_PHI) -> list[tuple[Coverage, BenefitSnapshot | None]]:
    """(coverage, latest snapshot or None) for each of the patient's coverages: the patient page's benefits."""
    coverages = (Coverage.objects.visible_to(user, perm).filter(patient=patient).select_related("payer")
                 .order_by("priority", "-effective_from"))
    return [(coverage, latest_snapshot(coverage)) for coverage in coverages]


@dataclass
class WorklistRow:
    """One coverage of a scheduled patient and what we know about it for the date."""

    coverage: Coverage
    patient: Patient
    clinic: Clinic
    snapshot: BenefitSnapshot | None
    status: str
    reasons: list[str] = field(default_factory=list)
    inquiry_pending: bool = False

    @property
    def last_checked(self):
        return self.snapshot.checked_at if self.snapshot else None

    @property
    def status_label(self) -> str:
        return WorklistStatus(self.status).label


def _changes(latest: BenefitSnapshot, previous: BenefitSnapshot | None) -> list[str]:
    if previous is None:
        return []
    changes = []
    for name, label in COMPARED_FIELDS.items():
        before, after = getattr(previous, name), getattr(latest, name)
        if before is None or before == "":
            continue  # newly reported values are information, not a change
        if before != after:
            changes.append(f"{label}: {_shown(before)} → {_shown(after)}")
    return changes


def _shown(value) -> str:
    if value is None or value == "":
        return "not reported"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def judge(coverage: Coverage, snapshots: list[BenefitSnapshot], for_date: datetime.date) -> tuple[str, list[str]]:
    """(status, reasons) of a coverage for a date of service, from its checks newest first (none after the date).

    Unverified: never checked, last check older than the payer's eligibility_max_age_days (when set), or a check
    that did not say whether the coverage is active. Failed: the last check was rejected (AAA) or says inactive.
    Changed: active, but a benefit differs from the check before it. Verified: otherwise.
    """
    if not snapshots:
        return WorklistStatus.UNVERIFIED, ["Never checked."]
    latest = snapshots[0]
    age = (for_date - latest.checked_at.date()).days
    max_age = coverage.payer.eligibility_max_age_days
    if max_age and age > max_age:  # 0: the payer sets no age limit, any check on file counts
        return WorklistStatus.UNVERIFIED, [f"Last checked {age} days before the date; {coverage.payer.name} "
                                           f"wants a check within {max_age} days."]
    if latest.rejection_code:
        return WorklistStatus.FAILED, [f"Rejected: {latest.rejection_reason or latest.rejection_code}."]
    if latest.is_active is False:
        return WorklistStatus.FAILED, ["The payer says the coverage is inactive."]
    if latest.is_active is None:
        return WorklistStatus.UNVERIFIED, ["The last check did not say whether the coverage is active."]
    changes = _changes(latest, snapshots[1] if len(snapshots) > 1 else None)
    if changes:
        return WorklistStatus.CHANGED, changes
    return WorklistStatus.VERIFIED, []


def eligibility_worklist(user, clinic=None, *, for_date: datetime.date, payer=None, status: str = "",
                         perm: str = VIEW_PHI) -> list[WorklistRow]:
    """Rows for the coverages of the patients scheduled on `for_date` in the user's clinics (or `clinic`)."""
    clinics = clinics_visible_to(user, perm)
    if clinic is not None:
        clinics = clinics.filter(pk=clinic.pk)
    snapshot_qs = (BenefitSnapshot.objects.visible_to(user, perm).filter(checked_at__date__lte=for_date)
                   .select_related("checked_by").order_by("-checked_at", "-pk"))
    pending = Inquiry.objects.visible_to(user, perm).filter(
        coverage=OuterRef("pk"), status=InquiryStatus.SENT, batch__for_date=for_date)
    rows = []
    for each_clinic in clinics.order_by("legal_name"):
        coverages = coverages_to_verify(user=user, clinic=each_clinic, for_date=for_date, perm=perm)
        if payer is not None:
            coverages = coverages.filter(payer=payer)
        coverages = coverages.annotate(inquiry_pending=Exists(pending)).prefetch_related(
            Prefetch("benefit_snapshots", queryset=snapshot_qs, to_attr="checks"))
        for coverage in coverages:
            row_status, reasons = judge(coverage, coverage.checks, for_date)
            if status and row_status != status:
                continue
            rows.append(WorklistRow(coverage=coverage, patient=coverage.patient, clinic=each_clinic,
                                    snapshot=coverage.checks[0] if coverage.checks else None, status=row_status,
                                    reasons=reasons, inquiry_pending=coverage.inquiry_pending))
    order = {value: n for n, value in enumerate(WorklistStatus.values)}
    rows.sort(key=lambda r: (order[r.status], r.patient.last_name, r.patient.first_name, r.coverage.priority))
    return rows
