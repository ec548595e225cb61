"""Prior authorizations: the write services (save, cancel) and the burn-down selectors.

Used visits and units are always derived, never stored as counters:

- A visit counts against an authorization when it is a visit of the authorization's clinic and coverage, dated
  within the authorization's dates, and either signed or a draft dated on or before today. A draft for a session
  that already happened uses the authorization as surely as a signed one (the note is just not finished); a draft
  dated in the future has not happened yet and does not count.
- Each visit counts once, whatever its number of lines. Visits are ordered by date of service, then entry time, so
  "the 12th visit" is the same visit on every screen and in the scrubber.
- Units are the units the lines will bill. A caller that knows them (coding, while it scrubs a visit) passes
  `units_for_visit`; otherwise they are read from the stored coding result (see `stored_units`). A counted visit
  that was not coded yet adds no units and is reported in `uncoded_visits`, so screens can say so.

When several approved authorizations of one coverage overlap, a visit counts against each of them; the claim uses
the one `authorization_for_visit` / `authorization_for_line` picks.
"""

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from clinics.validators import validate_x12_safe
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, user_has_clinic_perm
from visits.models import CPT_CODE, Visit, VisitStatus

from .models import AuthorizedCode, AuthStatus, PriorAuthorization

SMALL_INT_MAX = 32767  # PositiveSmallIntegerField
MAX_CODES = 20
NUMBER_MAX_LENGTH = 50  # REF02 of REF*G1 on the 837P
VISIT_ORDER = ("date_of_service", "created_at", "pk")

UnitsForVisit = Callable[[Visit], dict[str, int] | None]


# --- counting visits and units (shared with eligibility.limits) ------------------------------------------------


def counted_visits(*, clinic_id: int, coverage_ids: Iterable[int], start: datetime.date, end: datetime.date,
                   today: datetime.date, as_of: datetime.date | None = None):
    """Visits that use up an authorization or a benefit-period limit, in burn-down order (see module docstring)."""
    visits = Visit.objects.filter(
        Q(status=VisitStatus.SIGNED) | Q(date_of_service__lte=today),
        clinic_id=clinic_id, coverage_id__in=list(coverage_ids), date_of_service__gte=start,
        date_of_service__lte=end,
    )
    if as_of is not None:
        visits = visits.filter(date_of_service__lte=as_of)
    return visits.order_by(*VISIT_ORDER)


def visit_sort_key(visit) -> tuple:
    return (visit.date_of_service, visit.created_at, visit.pk)


def through(visits: list, visit) -> list:
    """The visits up to and including `visit` in burn-down order; `visit` itself always counts."""
    key = visit_sort_key(visit)
    kept = [v for v in visits if v.pk != visit.pk and visit_sort_key(v) < key]
    kept.append(visit)
    return kept


def stored_units(visit_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Billed units per visit and code, from coding's stored result.

    Eligibility sits left of coding and must not import it. Reading coding's stored result by model name through
    the app registry is a read of data already computed (the unit engine stays coding's alone); the lookup is
    lazy so this module still imports without the coding app. A visit missing from the answer was not coded yet.
    """
    ids = list(visit_ids)
    if not ids:
        return {}
    coded_line = apps.get_model("coding", "CodedLine")
    units: dict[int, dict[str, int]] = {}
    rows = coded_line.objects.filter(coding__visit_id__in=ids).values_list(
        "coding__visit_id", "service_line__cpt", "units")
    for visit_id, cpt, count in rows:
        per_code = units.setdefault(visit_id, {})
        per_code[cpt] = per_code.get(cpt, 0) + count
    return units


def units_of_visits(visits: list, units_for_visit: UnitsForVisit | None = None
                    ) -> tuple[dict[int, dict[str, int]], list]:
    """({visit pk: {cpt: units}}, visits whose units are unknown because they were not coded yet)."""
    known: dict[int, dict[str, int]] = {}
    pending = []
    for visit in visits:
        units = units_for_visit(visit) if units_for_visit is not None else None
        if units is None:
            pending.append(visit)
        else:
            known[visit.pk] = dict(units)
    stored = stored_units(v.pk for v in pending)
    uncoded = []
    for visit in pending:
        if visit.pk in stored:
            known[visit.pk] = stored[visit.pk]
        else:
            known[visit.pk] = {}
            uncoded.append(visit)
    return known, uncoded


# --- usage ---------------------------------------------------------------------------------------------------


@dataclass
class CodeUsage:
    """Units authorized and used for one CPT code of a line-level authorization."""

    cpt: str
    authorized: int
    used: int

    @property
    def remaining(self) -> int:
        """Negative when more units were billed than authorized."""
        return self.authorized - self.used

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0


@dataclass
class AuthUsage:
    """An authorization's burn-down: visits and units used and remaining, in total and per CPT code."""

    authorization: PriorAuthorization
    today: datetime.date
    visits: list = field(default_factory=list)  # counted visits, in burn-down order
    units_by_code: dict[str, int] = field(default_factory=dict)  # every code billed, authorized or not
    codes: list[CodeUsage] = field(default_factory=list)  # the codes listed on the authorization
    uncoded_visits: list = field(default_factory=list)
    units_by_visit: dict[int, dict[str, int]] = field(default_factory=dict)

    @property
    def visits_used(self) -> int:
        return len(self.visits)

    @property
    def visits_authorized(self) -> int | None:
        return self.authorization.visits_authorized

    @property
    def visits_remaining(self) -> int | None:
        if self.visits_authorized is None:
            return None
        return self.visits_authorized - self.visits_used

    @property
    def units_used(self) -> int:
        """Units of every code billed under the authorization."""
        return sum(self.units_by_code.values())

    @property
    def units_authorized(self) -> int | None:
        return self.authorization.units_authorized

    @property
    def units_remaining(self) -> int | None:
        if self.units_authorized is None:
            return None
        return self.units_authorized - self.units_used

    @property
    def pooled_units(self) -> tuple[int, int] | None:
        """(authorized, used) units the alerts watch: the total, else the sum over the listed codes, else None."""
        if self.units_authorized is not None:
            return self.units_authorized, self.units_used
        if self.codes:
            return sum(c.authorized for c in self.codes), sum(c.used for c in self.codes)
        return None

    @property
    def days_to_expiry(self) -> int:
        """Days from today to the last authorized day: 0 on the expiry day, negative once expired."""
        return (self.authorization.end_date - self.today).days

    @property
    def exhausted(self) -> bool:
        remaining = [self.visits_remaining, self.units_remaining, *(c.remaining for c in self.codes)]
        return any(r is not None and r <= 0 for r in remaining)

    def code(self, cpt: str) -> CodeUsage | None:
        return next((c for c in self.codes if c.cpt == cpt), None)


def _usage_from(authorization, visits: list, units: dict[int, dict[str, int]], uncoded: list, today) -> AuthUsage:
    by_code: dict[str, int] = {}
    for visit in visits:
        for cpt, count in units.get(visit.pk, {}).items():
            by_code[cpt] = by_code.get(cpt, 0) + count
    codes = [CodeUsage(cpt=c.cpt, authorized=c.units_authorized, used=by_code.get(c.cpt, 0))
             for c in authorization.codes.all()]
    counted = {v.pk for v in visits}
    return AuthUsage(
        authorization=authorization, today=today, visits=visits, units_by_code=by_code, codes=codes,
        uncoded_visits=[v for v in uncoded if v.pk in counted],
        units_by_visit={pk: units[pk] for pk in counted if pk in units},
    )


def auth_usages(authorizations: Iterable[PriorAuthorization], *, today: datetime.date | None = None,
                units_for_visit: UnitsForVisit | None = None) -> dict[int, AuthUsage]:
    """Burn-down of many authorizations at once (worklists): one query for visits, one for units.

    The authorizations were read through the caller's scope; their visits are read by clinic and coverage.
    """
    today = today or timezone.localdate()
    auths = list(authorizations)
    if not auths:
        return {}
    visits_by_clinic: dict[int, list] = {}
    for clinic_id in {a.clinic_id for a in auths}:
        mine = [a for a in auths if a.clinic_id == clinic_id]
        visits_by_clinic[clinic_id] = list(counted_visits(
            clinic_id=clinic_id, coverage_ids={a.coverage_id for a in mine},
            start=min(a.start_date for a in mine), end=max(a.end_date for a in mine), today=today,
        ))
    every_visit = [v for visits in visits_by_clinic.values() for v in visits]
    units, uncoded = units_of_visits(every_visit, units_for_visit)
    usages = {}
    for auth in auths:
        visits = [v for v in visits_by_clinic[auth.clinic_id]
                  if v.coverage_id == auth.coverage_id and auth.covers(v.date_of_service)]
        usages[auth.pk] = _usage_from(auth, visits, units, uncoded, today)
    return usages


def auth_usage(authorization: PriorAuthorization, as_of: datetime.date | None = None, *,
               units_for_visit: UnitsForVisit | None = None, through_visit=None,
               today: datetime.date | None = None) -> AuthUsage:
    """One authorization's visits and units used and remaining (in total and per CPT).

    `as_of` counts only visits dated on or before it. `through_visit` counts the visits up to and including that
    visit in burn-down order (the scrubber asks "would this visit exceed the authorization?"); the visit counts
    even while it is a draft. `units_for_visit(visit)` returns {cpt: units} or None to use the stored coding.
    """
    today = today or timezone.localdate()
    visits = list(counted_visits(clinic_id=authorization.clinic_id, coverage_ids=[authorization.coverage_id],
                                 start=authorization.start_date, end=authorization.end_date, today=today,
                                 as_of=as_of))
    if through_visit is not None:
        visits = through(visits, through_visit)
    units, uncoded = units_of_visits(visits, units_for_visit)
    return _usage_from(authorization, visits, units, uncoded, today)


# --- which authorization goes on the claim ------------------------------------------------------------------


def _approved_covering(visit):
    if not visit.coverage_id:
        return PriorAuthorization.objects.none()
    return (PriorAuthorization.objects
            .filter(clinic_id=visit.clinic_id, coverage_id=visit.coverage_id, status=AuthStatus.APPROVED,
                    start_date__lte=visit.date_of_service, end_date__gte=visit.date_of_service)
            .prefetch_related("codes").order_by("-start_date", "-created_at", "-pk"))


def authorization_for_visit(visit) -> PriorAuthorization | None:
    """The approved authorization of the visit's coverage in force on its date of service (claim 2300 REF*G1).

    When several overlap, the one that started last wins. None when there is no coverage or no such auth.
    """
    return _approved_covering(visit).first()


def authorizes_code(authorization: PriorAuthorization, cpt: str) -> bool:
    """An auth covers a code when it lists it, lists no codes, or has a total of units for any code.

    An auth that only lists codes (line-level, no total) authorizes those codes and no others.
    """
    listed = {c.cpt for c in authorization.codes.all()}
    return not listed or cpt in listed or authorization.units_authorized is not None


def authorization_for_line(visit, cpt: str) -> PriorAuthorization | None:
    """The approved authorization for one code of the visit (claim 2400 REF*G1 where the auth is per CPT).

    An auth that lists the code wins over one that covers it without listing it; None when no auth in force
    covers the code.
    """
    covering = list(_approved_covering(visit))
    listing = [a for a in covering if any(c.cpt == cpt for c in a.codes.all())]
    if listing:
        return listing[0]
    return next((a for a in covering if authorizes_code(a, cpt)), None)


# --- write services ------------------------------------------------------------------------------------------


def _whole_number(value, where: str, label: str, problems: list, *, required: bool = False) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append((where, f"Enter the {label}."))
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append((where, f"The {label} must be a whole number, not {value!r}."))
        return None
    if not 1 <= value <= SMALL_INT_MAX:
        problems.append((where, f"The {label} must be between 1 and {SMALL_INT_MAX} ({value} given)."))
        return None
    return value


def _code_rows(codes, problems: list) -> list[tuple[str, int]]:
    rows: list[tuple[str, int]] = []
    codes = list(codes or [])
    if len(codes) > MAX_CODES:
        problems.append(("codes", f"At most {MAX_CODES} codes per authorization; {len(codes)} given."))
        return rows
    seen: dict[str, int] = {}
    for number, row in enumerate(codes, start=1):
        where = f"codes[{number}]"
        try:
            raw_cpt, raw_units = row
        except (TypeError, ValueError):
            problems.append((where, "Give each code as (CPT, units)."))
            continue
        cpt = str(raw_cpt or "").strip().upper()
        try:
            CPT_CODE(cpt)
        except ValidationError:
            problems.append((f"{where}.cpt", f"{cpt!r} is not a 5-character CPT/HCPCS code." if cpt
                             else "Enter the CPT/HCPCS code."))
            cpt = ""
        units = _whole_number(raw_units, f"{where}.units", f"units authorized for {cpt or 'this code'}", problems,
                              required=True)
        if cpt and cpt in seen:
            problems.append((f"{where}.cpt", f"{cpt} is listed twice (rows {seen[cpt]} and {number}): "
                                             f"give its units once."))
            continue
        if cpt:
            seen[cpt] = number
        if cpt and units is not None:
            rows.append((cpt, units))
    return rows


def _authorization_problems(authorization: PriorAuthorization, coverage) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    number = (authorization.number or "").strip()
    if not number:
        problems.append(("number", "Enter the authorization number the payer gave."))
    elif len(number) > NUMBER_MAX_LENGTH:
        problems.append(("number", f"The authorization number has at most {NUMBER_MAX_LENGTH} characters."))
    else:
        try:
            validate_x12_safe(number)
        except ValidationError as exc:
            problems.append(("number", exc.messages[0]))
    if authorization.status not in AuthStatus.values:
        problems.append(("status", f"Unknown status {authorization.status!r}."))
    start, end = authorization.start_date, authorization.end_date
    if start is None:
        problems.append(("start_date", "Enter the first authorized day."))
    if end is None:
        problems.append(("end_date", "Enter the last authorized day."))
    if start and end:
        if end < start:
            problems.append(("end_date", f"The authorization cannot end ({end:%Y-%m-%d}) before it starts "
                                         f"({start:%Y-%m-%d})."))
        elif end < coverage.effective_from or (coverage.effective_to and start > coverage.effective_to):
            ends = f"{coverage.effective_to:%Y-%m-%d}" if coverage.effective_to else "open"
            problems.append(("start_date", f"{start:%Y-%m-%d} to {end:%Y-%m-%d} lies outside the coverage's "
                                           f"effective dates ({coverage.effective_from:%Y-%m-%d} to {ends})."))
    authorization.visits_authorized = _whole_number(authorization.visits_authorized, "visits_authorized",
                                                    "number of visits authorized", problems)
    authorization.units_authorized = _whole_number(authorization.units_authorized, "units_authorized",
                                                   "total units authorized", problems)
    if number and not any(p[0] == "number" for p in problems):
        taken = PriorAuthorization.objects.filter(coverage=coverage, number=number)
        if authorization.pk:
            taken = taken.exclude(pk=authorization.pk)
        if taken.exists():
            problems.append(("number", f"Authorization {number} is already recorded for this coverage."))
    authorization.number = number
    return problems


@transaction.atomic
def authorization_save(*, acting_user, authorization: PriorAuthorization,
                       codes: list[tuple[str, int]]) -> PriorAuthorization:
    """Create or update a prior authorization and replace its per-CPT units. All or nothing.

    `authorization` carries its coverage (already resolved through the caller's scope); its clinic is the
    coverage's. `codes` is [(cpt, units)]; an empty list leaves the authorization without line-level units.
    Problems are reported together, by field (`number`, `end_date`, `codes[2].units`, ...).
    """
    coverage = authorization.coverage
    if not user_has_clinic_perm(acting_user, coverage.clinic, EDIT_SESSIONS):
        raise AppError("You may not record authorizations for this clinic.", code="forbidden")
    if authorization.pk:
        stored = PriorAuthorization.objects.select_for_update().get(pk=authorization.pk)
        if stored.coverage_id != coverage.pk:
            raise AppError("An authorization stays with the coverage it was recorded for.", code="invalid",
                           field="coverage")
    authorization.clinic = coverage.clinic
    problems = _authorization_problems(authorization, coverage)
    rows = _code_rows(codes, problems)
    if problems:
        raise AppError.from_problems(problems)
    if not authorization.pk:
        authorization.created_by = acting_user if acting_user.is_authenticated else None
    try:
        with transaction.atomic():
            authorization.save()
    except IntegrityError as exc:  # a concurrent save took the number between our check and this insert
        raise AppError(f"Authorization {authorization.number} is already recorded for this coverage.",
                       code="duplicate", field="number") from exc
    authorization.codes.all().delete()
    AuthorizedCode.objects.bulk_create([
        AuthorizedCode(clinic=authorization.clinic, authorization=authorization, cpt=cpt, units_authorized=units)
        for cpt, units in rows
    ])
    return authorization


@transaction.atomic
def authorization_cancel(*, acting_user, authorization: PriorAuthorization, reason: str) -> PriorAuthorization:
    """Cancel an authorization (entered in error, or withdrawn by the payer), keeping why in its notes."""
    authorization = PriorAuthorization.objects.select_for_update().get(pk=authorization.pk)
    if not user_has_clinic_perm(acting_user, authorization.clinic, EDIT_SESSIONS):
        raise AppError("You may not change authorizations of this clinic.", code="forbidden")
    if authorization.status == AuthStatus.CANCELLED:
        raise AppError(f"Authorization {authorization.number} is already cancelled.", code="cancelled")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise AppError("Say why the authorization is cancelled.", code="required", field="reason")
    who = acting_user.get_username() if acting_user.is_authenticated else "system"
    line = f"Cancelled {timezone.localdate():%Y-%m-%d} by {who}: {reason}"
    authorization.notes = f"{authorization.notes.rstrip()}\n{line}".strip()
    authorization.status = AuthStatus.CANCELLED
    authorization.save(update_fields=["status", "notes"])
    return authorization
