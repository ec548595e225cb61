"""The dashboards' cached figures: the same as computing them, read without recomputing, and never stale."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from denials.manual import patient_payment_record
from reporting import kpis
from reporting.cache import Figures, data_version
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
    assert len(queries) == 6  # the data version's aggregates, no KPI query


def test_a_new_payment_changes_the_version_and_the_figures(ledger, clinic_a):  # noqa: F811
    scope = september(clinic_a)
    before = data_version(scope.clinic_ids)
    assert Figures().compute(scope).money["payments"] == D("189.00")
    patient_payment_record(claim=ledger["C3"], amount="21.00", acting_user=None, method="card",
                           paid_on=datetime.date(2026, 9, 30))
    assert data_version(scope.clinic_ids) != before
    assert Figures().compute(scope).money["payments"] == D("210.00")
