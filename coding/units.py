"""The unit engine: billable units of timed codes by the CMS total-time rule or the AMA per-code rule.

Pure functions; the code set (which codes are timed, which form a family) is passed in by the caller.
domain-rules §1 is the specification and its vectors V1–V18 are the tests.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

UNIT_MINUTES = 15
MIDPOINT = 8

CMS = "cms"
AMA = "ama"


def units_for_minutes(total: int) -> int:
    """The CMS/CPT table: 0–7 → 0, 8–22 → 1, 23–37 → 2, … (≥ 8 minutes past the last full unit adds one)."""
    if total < 0:
        raise ValueError("Minutes cannot be negative.")
    if total < MIDPOINT:
        return 0
    return total // UNIT_MINUTES + (1 if total % UNIT_MINUTES >= MIDPOINT else 0)


@dataclass(frozen=True)
class Family:
    """Codes billed as one time pool: the first unit on `first`, every further unit on `additional`
    (97129 first 15 minutes once a day, 97130 each additional 15 minutes)."""

    first: str
    additional: str


@dataclass
class UnitResult:
    units: dict[str, int]
    total_timed_minutes: int
    total_timed_units: int
    explanation: list[str] = field(default_factory=list)

    def nonzero(self) -> dict[str, int]:
        return {code: n for code, n in self.units.items() if n > 0}


def _pool_minutes(timed: Mapping[str, int], families: Iterable[Family]) -> tuple[dict[str, int], dict[str, Family]]:
    """Merge family members into one pool keyed by the family's first code."""
    by_member = {}
    for family in families:
        by_member[family.first] = family
        by_member[family.additional] = family
    pools: dict[str, int] = {}
    family_of_pool: dict[str, Family] = {}
    for code, minutes in timed.items():
        if minutes < 0:
            raise ValueError(f"{code}: minutes cannot be negative ({minutes}).")
        family = by_member.get(code)
        key = family.first if family else code
        pools[key] = pools.get(key, 0) + minutes
        if family:
            family_of_pool[key] = family
    return pools, family_of_pool


def _split_family(pool_units: dict[str, int], family_of_pool: dict[str, Family]) -> dict[str, int]:
    units: dict[str, int] = {}
    for key, count in pool_units.items():
        family = family_of_pool.get(key)
        if family is None:
            units[key] = units.get(key, 0) + count
        elif count:
            units[family.first] = 1
            units[family.additional] = count - 1
        else:
            units[family.first] = 0
    return units


def cms_total_time(pools: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """CMS Pub 100-04 Ch.5 §20.2: total units from total minutes; full 15-minute blocks first, leftover
    units to the largest remainders (ties broken by more total minutes, then code order)."""
    total = sum(pools.values())
    allowed = units_for_minutes(total)
    units = {code: minutes // UNIT_MINUTES for code, minutes in pools.items()}
    notes = [f"Total timed minutes {total} → {allowed} unit(s) by the 8-minute rule."]
    remaining = allowed - sum(units.values())
    by_leftover = sorted(
        (code for code, minutes in pools.items() if minutes % UNIT_MINUTES > 0),
        key=lambda code: (-(pools[code] % UNIT_MINUTES), -pools[code], code),
    )
    for code in by_leftover[:remaining]:
        units[code] += 1
        notes.append(f"{code}: leftover {pools[code] % UNIT_MINUTES} min earns one more unit.")
    return units, notes


def ama_per_code(pools: dict[str, int]) -> tuple[dict[str, int], list[str]]:
    """CPT midpoint rule applied to each code on its own; minutes are not pooled across codes."""
    units = {code: units_for_minutes(minutes) for code, minutes in pools.items()}
    notes = [f"{code}: {pools[code]} min → {n} unit(s) (AMA per-code)." for code, n in units.items()]
    return units, notes


def compute_units(timed: Mapping[str, int], *, rule: str, untimed: Iterable[str] = (),
                  families: Iterable[Family] = ()) -> UnitResult:
    """Units per code for one patient, date of service and discipline. Untimed codes are always 1 unit and
    their minutes never count toward the timed pool."""
    pools, family_of_pool = _pool_minutes(timed, families)
    if rule == CMS:
        pool_units, notes = cms_total_time(pools)
    elif rule == AMA:
        pool_units, notes = ama_per_code(pools)
    else:
        raise ValueError(f"Unknown unit rule {rule!r}; use 'cms' or 'ama'.")
    units = _split_family(pool_units, family_of_pool)
    for code in untimed:
        units[code] = 1
        notes.append(f"{code}: untimed, 1 unit.")
    total = sum(pools.values())
    return UnitResult(units=units, total_timed_minutes=total,
                      total_timed_units=sum(pool_units.values()), explanation=notes)
