"""Benefit-period visit limits: allowed from the latest snapshot that reports one, used derived from visits."""

import datetime
from decimal import Decimal

from eligibility.limits import visit_limit
from eligibility.models import BenefitSnapshot, SnapshotSource
from tests.eligibility.test_authorizations import make_visit

TODAY = datetime.date(2026, 10, 20)


def snapshot(coverage, checked: datetime.date, **fields):
    values = {"is_active": True, "coinsurance_percent": Decimal("20.00"), **fields}
    return BenefitSnapshot.objects.create(
        clinic=coverage.clinic, coverage=coverage, source=SnapshotSource.PHONE,
        checked_at=datetime.datetime.combine(checked, datetime.time(17), tzinfo=datetime.UTC), **values)


def test_no_limit_reported_means_no_limit(visit_setup):
    snapshot(visit_setup["coverage"], datetime.date(2026, 9, 1))
    assert visit_limit(visit_setup["coverage"], TODAY, today=TODAY) is None


def test_a_limit_without_dates_applies_to_the_calendar_year_of_the_day(visit_setup):
    snapshot(visit_setup["coverage"], datetime.date(2026, 9, 1), visits_allowed=20)
    make_visit(visit_setup, datetime.date(2025, 12, 30))
    make_visit(visit_setup, datetime.date(2026, 1, 5))
    make_visit(visit_setup, datetime.date(2026, 10, 2))
    limit = visit_limit(visit_setup["coverage"], TODAY, today=TODAY)
    assert (limit.period_start, limit.period_end) == (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))
    assert (limit.visits_allowed, limit.visits_used, limit.visits_remaining) == (20, 2, 18)
    assert limit.units_allowed is None and limit.units_remaining is None


def test_the_reported_period_is_used_and_a_day_outside_it_has_no_known_limit(visit_setup):
    snapshot(visit_setup["coverage"], datetime.date(2026, 6, 1), visits_allowed=30,
             limit_period_start=datetime.date(2025, 7, 1), limit_period_end=datetime.date(2026, 6, 30))
    make_visit(visit_setup, datetime.date(2025, 8, 1))
    make_visit(visit_setup, datetime.date(2026, 6, 30))
    make_visit(visit_setup, datetime.date(2026, 7, 1))
    limit = visit_limit(visit_setup["coverage"], datetime.date(2026, 6, 30), today=TODAY)
    assert limit.visits_used == 2
    assert visit_limit(visit_setup["coverage"], datetime.date(2026, 7, 1), today=TODAY) is None


def test_a_period_start_alone_runs_for_one_year(visit_setup):
    snapshot(visit_setup["coverage"], datetime.date(2026, 3, 1), visits_allowed=12,
             limit_period_start=datetime.date(2026, 3, 1))
    limit = visit_limit(visit_setup["coverage"], TODAY, today=TODAY)
    assert (limit.period_start, limit.period_end) == (datetime.date(2026, 3, 1), datetime.date(2027, 2, 28))


def test_the_latest_snapshot_with_a_limit_wins_and_a_later_one_without_a_limit_does_not_hide_it(visit_setup):
    coverage = visit_setup["coverage"]
    snapshot(coverage, datetime.date(2026, 2, 1), visits_allowed=20)
    snapshot(coverage, datetime.date(2026, 8, 1), visits_allowed=24)
    snapshot(coverage, datetime.date(2026, 10, 1))  # a later check that reported no limit
    assert visit_limit(coverage, TODAY, today=TODAY).visits_allowed == 24


def test_units_are_counted_from_the_coding_result(visit_setup):
    snapshot(visit_setup["coverage"], datetime.date(2026, 9, 1), units_allowed=10)
    make_visit(visit_setup, datetime.date(2026, 9, 2), {"97530": 3, "97535": 2})
    make_visit(visit_setup, datetime.date(2026, 9, 9), {"97530": 4})
    limit = visit_limit(visit_setup["coverage"], TODAY, today=TODAY)
    assert (limit.units_used, limit.units_remaining, limit.reached) == (9, 1, False)
    make_visit(visit_setup, datetime.date(2026, 9, 16), {"97110": 1})
    limit = visit_limit(visit_setup["coverage"], TODAY, today=TODAY)
    assert (limit.units_used, limit.units_remaining, limit.reached) == (10, 0, True)


def test_the_last_allowed_visit_reaches_the_limit(visit_setup):
    snapshot(visit_setup["coverage"], datetime.date(2026, 9, 1), visits_allowed=2)
    first = make_visit(visit_setup, datetime.date(2026, 9, 2))
    second = make_visit(visit_setup, datetime.date(2026, 9, 9))
    third = make_visit(visit_setup, datetime.date(2026, 9, 16))
    coverage = visit_setup["coverage"]
    assert visit_limit(coverage, first.date_of_service, today=TODAY, through_visit=first).visits_remaining == 1
    assert visit_limit(coverage, second.date_of_service, today=TODAY, through_visit=second).visits_remaining == 0
    assert visit_limit(coverage, third.date_of_service, today=TODAY, through_visit=third).visits_remaining == -1


def test_future_drafts_do_not_use_the_limit(visit_setup):
    snapshot(visit_setup["coverage"], datetime.date(2026, 9, 1), visits_allowed=20)
    make_visit(visit_setup, TODAY + datetime.timedelta(days=3), draft=True)
    make_visit(visit_setup, TODAY, draft=True)
    assert visit_limit(visit_setup["coverage"], TODAY, today=TODAY).visits_used == 1
