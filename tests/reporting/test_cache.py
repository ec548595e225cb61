"""The dashboards' cached figures: the same as computing them, read without recomputing, and never stale."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from denials.manual import patient_payment_record
from reporting import kpis
from reporting.cache import Figures, data_version
from reporting.tasks import dashboard_scopes, warm_dashboards
from tests.reporting.test_kpis import ledger, september  # noqa: F401  (the fixture and its scope)

D = Decimal
pytestmark = pytest.mark.django_db


def test_cached_figures_equal_computed_ones_and_a_second_read_only_checks_the_data_version(ledger, clinic_a):  # noqa: F811
    scope = september(clinic_a)
    first = Figures().compute(scope)
    assert first.values == kpis.compute(scope).values and first.aging == kpis.compute(scope).aging
    with CaptureQueriesContext(connection) as queries:
        again = Figures().compute(scope)
    assert again.values == first.values
    assert len(queries) == 5  # the data version's aggregates, no KPI query


def test_a_new_payment_changes_the_version_and_the_figures(ledger, clinic_a):  # noqa: F811
    scope = september(clinic_a)
    before = data_version(scope.clinic_ids, scope.end)
    assert Figures().compute(scope).money["payments"] == D("189.00")
    patient_payment_record(claim=ledger["C3"], amount="21.00", acting_user=None, method="card",
                           paid_on=datetime.date(2026, 9, 30))
    assert data_version(scope.clinic_ids, scope.end) != before
    assert Figures().compute(scope).money["payments"] == D("210.00")


def test_a_payment_dated_after_a_closed_month_leaves_that_months_figures_cached(ledger, clinic_a):  # noqa: F811
    scope = september(clinic_a)
    september_figures = Figures().compute(scope)
    patient_payment_record(claim=ledger["C3"], amount="21.00", acting_user=None, method="card",
                           paid_on=datetime.date(2026, 10, 5))
    with CaptureQueriesContext(connection) as queries:
        again = Figures().compute(scope)
    assert len(queries) == 5 and again.values == september_figures.values
    october = scope.period(datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
    assert Figures().compute(october).money["patient_payments"] == D("21.00")


def test_the_warming_job_leaves_the_dashboards_opening_figures_in_the_cache(ledger, clinic_a):  # noqa: F811
    assert warm_dashboards() == {"scopes": len(dashboard_scopes(timezone.now().date()))}
    [(_clinic, scope)] = [(c, s) for c, s in dashboard_scopes(timezone.now().date()) if c == clinic_a]
    with CaptureQueriesContext(connection) as queries:
        Figures().compute(scope.previous())
    assert len(queries) == 5
