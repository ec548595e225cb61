"""Computed figures kept in the cache until the data behind them changes, so a dashboard's twelve trend periods
are read, not recomputed, on every visit.

The key holds the scope and the data version of its clinics up to the period's end: the newest ledger row,
remittance and denial dated on or before it, the newest claim event of the claims submitted by then, and the
scrubber overrides on sessions until then. Anything a period's KPI reads moves one of them (a late 835 dated in an
old month has a newer row id dated in that month), so a cached figure is never stale, and a posting of today leaves
the closed months' figures cached. The job `reporting.warm_dashboards` recomputes what the dashboards open with, so
the first visit after a posting is fast too.
"""

import datetime
import hashlib

from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce, TruncDate

from claims.models import ClaimEvent, LedgerEntry
from coding.models import Finding
from denials.models import ClaimRemittance, Denial

from . import kpis as K

TIMEOUT = 7 * 24 * 3600


def data_version(clinic_ids: tuple[int, ...], end: datetime.date) -> tuple:
    """What changes whenever a figure of these clinics for a period ending on `end` can change."""
    mine = {"clinic_id__in": clinic_ids}
    overrides = Finding.objects.filter(**mine, visit__date_of_service__lte=end).aggregate(
        n=Count("pk", filter=Q(overridden_by__isnull=False)), last=Max("overridden_at"))
    remittances = (ClaimRemittance.objects.filter(**mine)
                   .annotate(day=Coalesce("payment__payment_date", TruncDate("payment__posted_at")))
                   .filter(day__lte=end))
    denials = (Denial.objects.filter(**mine).annotate(day=Coalesce("payment__payment_date", TruncDate("created_at")))
               .filter(day__lte=end))
    return (
        LedgerEntry.objects.filter(**mine, effective_date__lte=end).aggregate(v=Max("pk"))["v"],
        remittances.aggregate(v=Max("pk"))["v"],
        denials.aggregate(v=Max("pk"))["v"],
        ClaimEvent.objects.filter(**mine, claim__submitted_at__date__lte=end).aggregate(v=Max("pk"))["v"],
        overrides["n"], overrides["last"],
    )


def _key(scope: K.Scope, baseline: K.Scope | None, versions: tuple) -> str:
    text = repr((scope, baseline, versions))
    return "kpis:" + hashlib.sha256(text.encode()).hexdigest()


class Figures:
    """compute() through the cache; each (clinics, period end) version is read once per instance."""

    def __init__(self):
        self._versions: dict[tuple, tuple] = {}

    def _version(self, scope: K.Scope, end: datetime.date) -> tuple:
        # A period's figures also read the previous period (growth) and the 90 days before its end (days in A/R),
        # all on or before `end`, so one version up to `end` covers them.
        key = (scope.clinic_ids, end)
        if key not in self._versions:
            self._versions[key] = data_version(scope.clinic_ids, end)
        return self._versions[key]

    def compute(self, scope: K.Scope, *, baseline: K.Scope | None = None) -> K.Kpis:
        versions = (self._version(scope, scope.end),) + ((self._version(baseline, baseline.end),) if baseline else ())
        key = _key(scope, baseline, versions)
        found = cache.get(key)
        if found is None:
            found = K.compute(scope, baseline=baseline)
            cache.set(key, found, TIMEOUT)
        return found
