"""Benefit-period visit (and unit) limits of a coverage: allowed from the payer's answer, used derived from visits.

The limit comes from the latest benefit snapshot of the coverage that reports one (`visits_allowed` and/or
`units_allowed`). Its period is `limit_period_start`..`limit_period_end`; a missing end is one year after the
start, a missing start one year before the end, and with neither the period is the calendar year of the date
asked about. A snapshot whose period does not contain that date says nothing about it (the next period's limit
is unknown until the payer is asked again). "Used" counts visits exactly as authorizations do
(eligibility.authorizations.counted_visits): signed visits plus drafts dated on or before today.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from .authorizations import UnitsForVisit, counted_visits, through, units_of_visits
from .models import BenefitSnapshot


@dataclass
class VisitLimit:
    """A coverage's benefit-period limit on one date: allowed, used and remaining visits and units."""

    coverage: object
    snapshot: BenefitSnapshot
    period_start: datetime.date
    period_end: datetime.date
    visits: list = field(default_factory=list)
    units_used: int = 0
    uncoded_visits: list = field(default_factory=list)

    @property
    def visits_allowed(self) -> int | None:
        return self.snapshot.visits_allowed

    @property
    def units_allowed(self) -> int | None:
        return self.snapshot.units_allowed

    @property
    def visits_used(self) -> int:
        return len(self.visits)

    @property
    def visits_remaining(self) -> int | None:
        return None if self.visits_allowed is None else self.visits_allowed - self.visits_used

    @property
    def units_remaining(self) -> int | None:
        return None if self.units_allowed is None else self.units_allowed - self.units_used

    @property
    def reached(self) -> bool:
        return any(r is not None and r <= 0 for r in (self.visits_remaining, self.units_remaining))


def _shift_year(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def limit_period(snapshot: BenefitSnapshot, on_date: datetime.date) -> tuple[datetime.date, datetime.date]:
    start, end = snapshot.limit_period_start, snapshot.limit_period_end
    if start and not end:
        end = _shift_year(start, 1) - datetime.timedelta(days=1)
    elif end and not start:
        start = _shift_year(end, -1) + datetime.timedelta(days=1)
    elif not start and not end:
        start, end = datetime.date(on_date.year, 1, 1), datetime.date(on_date.year, 12, 31)
    return start, end


def limit_snapshot(coverage, on_date: datetime.date):
    """(snapshot, period start, period end) of the latest limit that applies on `on_date`, or None."""
    snapshots = (BenefitSnapshot.objects
                 .filter(clinic_id=coverage.clinic_id, coverage_id=coverage.pk)
                 .filter(Q(visits_allowed__isnull=False) | Q(units_allowed__isnull=False))
                 .order_by("-checked_at", "-pk"))
    for snapshot in snapshots:
        start, end = limit_period(snapshot, on_date)
        if start <= on_date <= end:
            return snapshot, start, end
    return None


def visit_limit(coverage, on_date: datetime.date | None = None, *, today: datetime.date | None = None,
                units_for_visit: UnitsForVisit | None = None, through_visit=None) -> VisitLimit | None:
    """The benefit-period limit in force on `on_date` (default today) with its use, or None when none is known.

    `through_visit` counts only the visits up to and including that one in date-of-service order (the scrubber
    asks whether this visit would pass the limit); `units_for_visit` as in auth_usage.
    """
    today = today or timezone.localdate()
    on_date = on_date or today
    found = limit_snapshot(coverage, on_date)
    if found is None:
        return None
    snapshot, start, end = found
    visits = list(counted_visits(clinic_id=coverage.clinic_id, coverage_ids=[coverage.pk], start=start, end=end,
                                 today=today))
    if through_visit is not None:
        visits = through(visits, through_visit)
    units, uncoded = units_of_visits(visits, units_for_visit)
    used = sum(sum(per_code.values()) for per_code in units.values())
    return VisitLimit(coverage=coverage, snapshot=snapshot, period_start=start, period_end=end, visits=visits,
                      units_used=used, uncoded_visits=uncoded)
