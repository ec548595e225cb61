"""Read side of coding: the code book in force on a date, NCCI/MUE lookups, KX year-to-date totals."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Sum

from .models import CodedLine, MueLimit, NcciPair, ProcedureCode, TherapyThreshold
from .units import Family


@dataclass
class CodeBook:
    """The procedure codes in force on one date of service."""

    codes: dict[str, ProcedureCode]

    def get(self, code: str) -> ProcedureCode | None:
        return self.codes.get(code)

    def families(self) -> list[Family]:
        return [Family(first=c.family_first, additional=c.code) for c in self.codes.values() if c.family_first]


def code_book(on_date) -> CodeBook:
    return CodeBook({c.code: c for c in ProcedureCode.objects.in_force_on(on_date)})


def ncci_pairs_among(codes: set[str], on_date) -> list[NcciPair]:
    return list(NcciPair.objects.in_force_on(on_date).filter(column1__in=codes, column2__in=codes))


def mue_limits_for(codes: set[str], on_date) -> dict[str, MueLimit]:
    return {m.code: m for m in MueLimit.objects.in_force_on(on_date).filter(code__in=codes)}


def threshold_for_year(year: int) -> TherapyThreshold | None:
    return TherapyThreshold.objects.filter(year=year).first()


def ot_allowed_year_to_date(visit) -> Decimal:
    """The patient's OT allowed amount of the calendar year before this visit, for the KX threshold.

    When an eligibility response reported the year-to-date therapy amount (which covers every provider's
    processed claims up to the check), that figure is the base and only our visits dated after the check are
    added; otherwise it is our own expected allowed amounts on earlier KX-payer visits of the year. Earlier = an
    earlier date of service, or the same date entered before this visit.
    """
    from eligibility.models import BenefitSnapshot

    year = visit.date_of_service.year
    earlier = (
        CodedLine.objects.filter(
            coding__visit__patient=visit.patient,
            coding__visit__coverage__payer__kx_threshold_applies=True,
            coding__visit__date_of_service__year=year,
        )
        .exclude(coding__visit=visit)
        .filter(coding__visit__date_of_service__lte=visit.date_of_service)
    )
    earlier = earlier.exclude(coding__visit__date_of_service=visit.date_of_service,
                              coding__visit__created_at__gt=visit.created_at)
    base = Decimal("0.00")
    if visit.coverage_id:
        reported = (BenefitSnapshot.objects.filter(coverage_id=visit.coverage_id, therapy_ytd_amount__isnull=False,
                                                   checked_at__year=year,
                                                   checked_at__date__lte=visit.date_of_service)
                    .order_by("-checked_at").first())
        if reported is not None:
            base = reported.therapy_ytd_amount
            earlier = earlier.filter(coding__visit__date_of_service__gt=reported.checked_at.date())
    return base + (earlier.aggregate(total=Sum("expected_allowed"))["total"] or Decimal("0.00"))


# --- Scrubber reads (system side: the scrubber works for every clinic, scoped by the visit's own clinic) ---------


def same_day_visits(visit):
    """The patient's other visits on the same date of service (never another clinic's)."""
    from visits.models import Visit

    return (Visit.objects.filter(clinic_id=visit.clinic_id, patient_id=visit.patient_id,
                                 date_of_service=visit.date_of_service)
            .exclude(pk=visit.pk))


def same_day_lines(visit, *, signed_only: bool = False, rendering_provider=None) -> list:
    """Service lines of the patient's other visits that day, with their visit, in a stable order."""
    from visits.models import ServiceLine, VisitStatus

    visits = same_day_visits(visit)
    if signed_only:
        visits = visits.filter(status=VisitStatus.SIGNED)
    if rendering_provider is not None:
        visits = visits.filter(rendering_provider=rendering_provider)
    # `coded` is prefetched, not joined: while a scrub fills coding_codedline its statistics can still say "empty",
    # and a join then becomes a nested loop over the whole table on every call.
    return list(ServiceLine.objects.filter(visit__in=visits).select_related("visit").prefetch_related("coded")
                .order_by("visit__created_at", "visit_id", "position"))


def same_day_coded_units(visit, *, rendering_provider=None) -> dict[str, int]:
    """Units already coded for this patient and date of service on other visits, per code."""
    lines = CodedLine.objects.filter(coding__visit__in=same_day_visits(visit), units__gt=0)
    if rendering_provider is not None:
        lines = lines.filter(coding__visit__rendering_provider=rendering_provider)
    totals: dict[str, int] = {}
    for cpt, units in lines.values_list("service_line__cpt", "units"):
        totals[cpt] = totals.get(cpt, 0) + units
    return totals


def icd_code_sets() -> list:
    from .models import IcdCodeSet

    return list(IcdCodeSet.objects.order_by("effective_from"))


def plan_first_treatment_day(visit):
    """Earliest date of service of the patient's visits under the visit's plan of care (this visit included)."""
    from django.db.models import Min

    from visits.models import Visit

    first = (Visit.objects.filter(clinic_id=visit.clinic_id, patient_id=visit.patient_id,
                                  plan_of_care_id=visit.plan_of_care_id)
             .aggregate(first=Min("date_of_service"))["first"])
    return min(first, visit.date_of_service) if first else visit.date_of_service


def last_progress_report_date(visit, *, since, until):
    """Date of the patient's latest progress report dated within [since, until], or None."""
    from visits.models import ProgressReport

    report = (ProgressReport.objects.filter(clinic_id=visit.clinic_id, patient_id=visit.patient_id,
                                            report_date__gte=since, report_date__lte=until)
              .order_by("-report_date").first())
    return report.report_date if report else None


def plan_treatment_days(visit, *, after=None, since=None) -> list:
    """Distinct dates of service under the visit's plan of care up to its DOS: signed visits and this one.

    `after` excludes that day (a progress report written on it restarts the count); `since` includes it.
    """
    from django.db.models import Q

    from visits.models import Visit, VisitStatus

    visits = Visit.objects.filter(
        Q(status=VisitStatus.SIGNED) | Q(pk=visit.pk), clinic_id=visit.clinic_id, patient_id=visit.patient_id,
        plan_of_care_id=visit.plan_of_care_id, date_of_service__lte=visit.date_of_service,
    )
    if after is not None:
        visits = visits.filter(date_of_service__gt=after)
    if since is not None:
        visits = visits.filter(date_of_service__gte=since)
    days = set(visits.values_list("date_of_service", flat=True))
    if (after is None or visit.date_of_service > after) and (since is None or visit.date_of_service >= since):
        days.add(visit.date_of_service)  # this visit counts even while its note is unsigned
    return sorted(days)


def later_plan_of_care_exists(plan_of_care) -> bool:
    """True when the patient has a plan of care starting after this one (the recertification is done)."""
    from visits.models import PlanOfCare

    return PlanOfCare.objects.filter(clinic_id=plan_of_care.clinic_id, patient_id=plan_of_care.patient_id,
                                     start_date__gt=plan_of_care.start_date).exists()


def visits_to_scrub(*, today, clinic=None, window_days: int = 400):
    """Visits the nightly scrub codes again: every visit whose date of service lies in the last timely-filing
    window (no visit is marked billed yet; the claims issue narrows this to visits not yet on a claim)."""
    import datetime

    from visits.models import Visit

    visits = Visit.objects.filter(date_of_service__gte=today - datetime.timedelta(days=window_days))
    if clinic is not None:
        visits = visits.filter(clinic=clinic)
    return visits.order_by("clinic_id", "date_of_service", "pk")
