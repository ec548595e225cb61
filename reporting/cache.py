"""Computed figures kept in the cache until the data behind them changes, so a dashboard's twelve trend periods
are read, not recomputed, on every visit.

The key holds the scope and a data version of its clinics: the newest ledger row, claim event, remittance and
denial, the latest claim change and the scrubber overrides. Anything a KPI reads moves one of them, so a cached
figure is never stale; there is nothing to invalidate by hand.
"""

import hashlib

from django.core.cache import cache
from django.db.models import Count, Max, Q

from claims.models import Claim, ClaimEvent, LedgerEntry
from coding.models import Finding
from denials.models import ClaimRemittance, Denial

from . import kpis as K

TIMEOUT = 24 * 3600


def data_version(clinic_ids: tuple[int, ...]) -> tuple:
    """What changes whenever a figure of these clinics can change (a few indexed aggregates)."""
    mine = {"clinic_id__in": clinic_ids}
    overrides = Finding.objects.filter(**mine).aggregate(
        n=Count("pk", filter=Q(overridden_by__isnull=False)), last=Max("overridden_at"))
    return (
        LedgerEntry.objects.filter(**mine).aggregate(v=Max("pk"))["v"],
        ClaimEvent.objects.filter(**mine).aggregate(v=Max("pk"))["v"],
        ClaimRemittance.objects.filter(**mine).aggregate(v=Max("pk"))["v"],
        Denial.objects.filter(**mine).aggregate(v=Max("pk"))["v"],
        Claim.objects.filter(**mine).aggregate(v=Max("updated_at"))["v"],
        overrides["n"], overrides["last"],
    )


def _key(scope: K.Scope, baseline: K.Scope | None, version: tuple) -> str:
    text = repr((scope, baseline, version))
    return "kpis:" + hashlib.sha256(text.encode()).hexdigest()


class Figures:
    """compute() through the cache, with the data version read once for every scope of the same clinics."""

    def __init__(self):
        self._versions: dict[tuple[int, ...], tuple] = {}

    def compute(self, scope: K.Scope, *, baseline: K.Scope | None = None) -> K.Kpis:
        if scope.clinic_ids not in self._versions:
            self._versions[scope.clinic_ids] = data_version(scope.clinic_ids)
        key = _key(scope, baseline, self._versions[scope.clinic_ids])
        found = cache.get(key)
        if found is None:
            found = K.compute(scope, baseline=baseline)
            cache.set(key, found, TIMEOUT)
        return found
