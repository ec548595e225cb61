"""Scrubber edits that read eligibility: verification, active coverage, prior authorization, visit limits, cost share.

They live in coding because coding may read eligibility and not the other way round. Registered by importing this
module (coding.edits does). Rules, with the date of service (DOS) as the day that matters:

- ELIG_NOT_VERIFIED: the payer wants coverage verified within `eligibility_max_age_days` days before the DOS
  (0 = the payer does not ask) and no benefit check of the coverage is dated in [DOS - N, DOS] (clinic's time zone).
- ELIG_INACTIVE: the latest check on or before the DOS said inactive, was rejected (AAA), or gave plan dates that do
  not contain the DOS.
- AUTH_MISSING: the payer requires prior authorization and the coverage has no approved one at all; or the auth in
  force lists codes (and no total) and a billed code is not among them.
- AUTH_EXPIRED / AUTH_NOT_YET_VALID: the coverage has approved authorizations but none covers the DOS; an approved
  auth on file means this coverage needs one even when the payer's default says otherwise.
- AUTH_EXHAUSTED: counting visits and units up to and including this visit (in DOS order), the auth in force is
  exceeded: its visits, its total units, or the units of a code it lists.
- VISIT_LIMIT_REACHED: likewise for the benefit-period visit (or unit) limit the payer reported.
- COST_SHARE_UNKNOWN (warning): the payer is one the clinic verifies (`eligibility_max_age_days` > 0) and there is
  no check on file, or the latest reported no copay, coinsurance or deductible.
"""

import datetime
import zoneinfo

from eligibility.authorizations import auth_usage, authorization_for_line, authorization_for_visit
from eligibility.limits import visit_limit
from eligibility.models import AuthStatus, BenefitSnapshot, PriorAuthorization

from .scrubber import BLOCKING, WARNING, Proposal, ScrubContext, edit


def _dos(context: ScrubContext) -> str:
    return f"{context.visit.date_of_service:%Y-%m-%d}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _local_midnight(clinic, day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=zoneinfo.ZoneInfo(clinic.timezone))


def _checked_on(snapshot, clinic) -> datetime.date:
    return snapshot.checked_at.astimezone(zoneinfo.ZoneInfo(clinic.timezone)).date()


def _snapshots(context: ScrubContext):
    visit = context.visit
    return BenefitSnapshot.objects.filter(clinic_id=visit.clinic_id, coverage_id=visit.coverage_id)


def _has_coverage(context: ScrubContext) -> bool:
    return context.visit.coverage_id is not None and context.payer is not None


def _this_visit_units(context: ScrubContext) -> dict[str, int]:
    units: dict[str, int] = {}
    for plan in context.plan.lines:
        if plan.units:
            units[plan.line.cpt] = units.get(plan.line.cpt, 0) + plan.units
    return units


def _units_for_visit(context: ScrubContext):
    """This visit's units come from the plan being scrubbed; other visits' from their stored coding."""
    mine = _this_visit_units(context)
    return lambda visit: mine if visit.pk == context.visit.pk else None


def _first_lines(context: ScrubContext) -> dict:
    first = {}
    for line in context.lines:
        first.setdefault(line.cpt, line)
    return first


def _auth_label(auth: PriorAuthorization) -> str:
    return f"auth {auth.number} ({auth.start_date:%Y-%m-%d} to {auth.end_date:%Y-%m-%d})"


def _approved_auths(context: ScrubContext) -> list[PriorAuthorization]:
    """The coverage's approved authorizations, read once per scrub."""
    cached = getattr(context, "_approved_auths", None)
    if cached is None:
        visit = context.visit
        cached = list(PriorAuthorization.objects.filter(clinic_id=visit.clinic_id, coverage_id=visit.coverage_id,
                                                        status=AuthStatus.APPROVED)
                      .prefetch_related("codes").order_by("start_date", "pk"))
        context._approved_auths = cached
    return cached


# --- eligibility -----------------------------------------------------------------------------------------------


@edit("ELIG_NOT_VERIFIED", severity=BLOCKING, title="Coverage not verified before the date of service")
def eligibility_not_verified(context: ScrubContext):
    if not _has_coverage(context) or not context.payer.eligibility_max_age_days:
        return
    visit, payer = context.visit, context.payer
    days = payer.eligibility_max_age_days
    first_day = visit.date_of_service - datetime.timedelta(days=days)
    checks = _snapshots(context)
    window = checks.filter(checked_at__gte=_local_midnight(visit.clinic, first_day),
                           checked_at__lt=_local_midnight(visit.clinic, visit.date_of_service
                                                          + datetime.timedelta(days=1)))
    if window.exists():
        return
    earlier = checks.filter(checked_at__lt=_local_midnight(visit.clinic, first_day)).order_by("-checked_at").first()
    last = (f"the last check was on {_checked_on(earlier, visit.clinic):%Y-%m-%d}" if earlier
            else "the coverage was never checked before it")
    yield Proposal(f"{payer} wants coverage verified within {_plural(days, 'day')} before the date of service: "
                   f"no eligibility check dated {first_day:%Y-%m-%d} to {_dos(context)} ({last}); run a 270 or "
                   f"record a phone or portal check.", field="coverage")


@edit("ELIG_INACTIVE", severity=BLOCKING, title="Payer reported the coverage inactive")
def eligibility_inactive(context: ScrubContext):
    if not _has_coverage(context):
        return
    visit, payer = context.visit, context.payer
    latest = (_snapshots(context)
              .filter(checked_at__lt=_local_midnight(visit.clinic, visit.date_of_service + datetime.timedelta(days=1)))
              .order_by("-checked_at", "-pk").first())
    if latest is None:
        return
    checked = f"{_checked_on(latest, visit.clinic):%Y-%m-%d}"
    if latest.rejection_code or (latest.is_active is None and latest.rejection_reason):
        reason = latest.rejection_reason or "no reason given"
        code = f"AAA {latest.rejection_code}: " if latest.rejection_code else ""
        yield Proposal(f"{payer} rejected the eligibility check of {checked} ({code}{reason}); correct the "
                       f"member details and check again before billing {_dos(context)}.", field="coverage")
    elif latest.is_active is False:
        plan = f" ({latest.plan_name})" if latest.plan_name else ""
        yield Proposal(f"{payer} reported the coverage{plan} inactive on the check of {checked}; the visit of "
                       f"{_dos(context)} cannot be billed to it. Check again or bill another payer.", field="coverage")
    elif latest.is_active and (
            (latest.plan_begin and visit.date_of_service < latest.plan_begin)
            or (latest.plan_end and visit.date_of_service > latest.plan_end)):
        begin = f"{latest.plan_begin:%Y-%m-%d}" if latest.plan_begin else "open"
        end = f"{latest.plan_end:%Y-%m-%d}" if latest.plan_end else "open"
        yield Proposal(f"The check of {checked} gave plan dates {begin} to {end}: the coverage is not active on "
                       f"{_dos(context)}.", field="coverage")


@edit("COST_SHARE_UNKNOWN", severity=WARNING, title="Patient cost share unknown")
def cost_share_unknown(context: ScrubContext):
    if not _has_coverage(context) or not context.payer.eligibility_max_age_days:
        return  # eligibility is not tracked for this payer: the warning would be noise on every visit
    latest = _snapshots(context).order_by("-checked_at", "-pk").first()
    if latest is None:
        yield Proposal(f"No eligibility check on file for {context.visit.coverage}: the patient's copay, "
                       f"coinsurance and deductible are unknown.", field="coverage")
    elif not latest.cost_share_known:
        yield Proposal(f"The latest eligibility check ({_checked_on(latest, context.visit.clinic):%Y-%m-%d}) "
                       f"reported no copay, coinsurance or remaining deductible: ask the payer what the patient "
                       f"owes.", field="coverage")


# --- prior authorization ---------------------------------------------------------------------------------------


@edit("AUTH_MISSING", severity=BLOCKING, title="Prior authorization required but missing")
def auth_missing(context: ScrubContext):
    if not _has_coverage(context):
        return
    auths = _approved_auths(context)
    if not auths:
        if not context.payer.prior_auth_required:
            return
        pending = (PriorAuthorization.objects
                   .filter(clinic_id=context.visit.clinic_id, coverage_id=context.visit.coverage_id,
                           status=AuthStatus.REQUESTED).order_by("-start_date").first())
        note = f" Authorization {pending.number} is still requested, not approved." if pending else ""
        yield Proposal(f"{context.payer} requires prior authorization and this coverage has no approved "
                       f"authorization for {_dos(context)}: record the payer's authorization.{note}",
                       field="authorization")
        return
    if authorization_for_visit(context.visit) is None:
        return  # AUTH_EXPIRED / AUTH_NOT_YET_VALID say which auth is out of date
    billed = _this_visit_units(context)
    for cpt, line in _first_lines(context).items():
        if not billed.get(cpt) or authorization_for_line(context.visit, cpt) is not None:
            continue
        auth = authorization_for_visit(context.visit)
        listed = ", ".join(c.cpt for c in auth.codes.all())
        yield Proposal(f"{context.line_label(line)}: {cpt} is not authorized; {_auth_label(auth)} authorizes only "
                       f"{listed}. Ask the payer to add {cpt} or remove the line.", line=line,
                       field=f"lines[{line.position}].cpt")


@edit("AUTH_EXPIRED", severity=BLOCKING, title="Prior authorization expired")
def auth_expired(context: ScrubContext):
    if not _has_coverage(context):
        return
    auths = _approved_auths(context)
    dos = context.visit.date_of_service
    if not auths or any(a.covers(dos) for a in auths):
        return
    before = [a for a in auths if a.end_date < dos]
    if not before:
        return
    last = max(before, key=lambda a: (a.end_date, a.pk))
    days = (dos - last.end_date).days
    after = [a for a in auths if a.start_date > dos]
    following = ""
    if after:
        following = f" The next, {_auth_label(min(after, key=lambda a: (a.start_date, a.pk)))}, starts later."
    yield Proposal(f"Authorization {last.number} ran from {last.start_date:%Y-%m-%d} to {last.end_date:%Y-%m-%d}: "
                   f"it expired {_plural(days, 'day')} before {_dos(context)}.{following} Record the renewal.",
                   field="authorization")


@edit("AUTH_NOT_YET_VALID", severity=BLOCKING, title="Prior authorization not yet valid")
def auth_not_yet_valid(context: ScrubContext):
    if not _has_coverage(context):
        return
    auths = _approved_auths(context)
    dos = context.visit.date_of_service
    if not auths or any(a.covers(dos) for a in auths) or any(a.end_date < dos for a in auths):
        return
    first = min(auths, key=lambda a: (a.start_date, a.pk))
    yield Proposal(f"Authorization {first.number} is valid from {first.start_date:%Y-%m-%d} to "
                   f"{first.end_date:%Y-%m-%d}: {_dos(context)} is before it starts. Ask the payer to backdate it "
                   f"or correct the dates.", field="authorization")


@edit("AUTH_EXHAUSTED", severity=BLOCKING, title="Prior authorization exhausted")
def auth_exhausted(context: ScrubContext):
    if not _has_coverage(context):
        return
    auth = authorization_for_visit(context.visit)
    if auth is None:
        return
    units_for = _units_for_visit(context)
    usages = {}

    def usage_of(authorization):
        if authorization.pk not in usages:
            usages[authorization.pk] = auth_usage(authorization, units_for_visit=units_for,
                                                  through_visit=context.visit, today=context.today)
        return usages[authorization.pk]

    usage = usage_of(auth)
    billed = _this_visit_units(context)
    if auth.visits_authorized is not None and usage.visits_used > auth.visits_authorized:
        yield Proposal(f"This is visit {usage.visits_used} under {_auth_label(auth)}, which authorizes "
                       f"{_plural(auth.visits_authorized, 'visit')}: ask the payer for more visits.",
                       field="authorization")
    if auth.units_authorized is not None and billed and usage.units_used > auth.units_authorized:
        yield Proposal(f"Units through this visit: {usage.units_used} of the {auth.units_authorized} authorized "
                       f"under {_auth_label(auth)} ({sum(billed.values())} on this visit): ask the payer for more "
                       f"units.", field="authorization")
    for cpt, line in _first_lines(context).items():
        if not billed.get(cpt):
            continue
        line_auth = authorization_for_line(context.visit, cpt)
        if line_auth is None:
            continue
        code = usage_of(line_auth).code(cpt)
        if code is None or code.used <= code.authorized:
            continue
        yield Proposal(f"{context.line_label(line)}: {cpt} units through this visit are {code.used} of the "
                       f"{code.authorized} authorized under {_auth_label(line_auth)} ({billed[cpt]} on this "
                       f"visit): ask the payer for more {cpt} units.", line=line,
                       field=f"lines[{line.position}].units")


# --- benefit-period limit --------------------------------------------------------------------------------------


@edit("VISIT_LIMIT_REACHED", severity=BLOCKING, title="Benefit-period visit limit reached")
def visit_limit_reached(context: ScrubContext):
    if not _has_coverage(context):
        return
    limit = visit_limit(context.visit.coverage, context.visit.date_of_service, today=context.today,
                        units_for_visit=_units_for_visit(context), through_visit=context.visit)
    if limit is None:
        return
    period = f"{limit.period_start:%Y-%m-%d} to {limit.period_end:%Y-%m-%d}"
    source = f"benefit check of {_checked_on(limit.snapshot, context.visit.clinic):%Y-%m-%d}"
    if limit.visits_allowed is not None and limit.visits_used > limit.visits_allowed:
        yield Proposal(f"This is visit {limit.visits_used} of the benefit period {period}; {context.payer} allows "
                       f"{_plural(limit.visits_allowed, 'visit')} ({source}). Bill the patient or another payer, "
                       f"or ask for an exception.", field="coverage")
    billed = sum(_this_visit_units(context).values())
    if limit.units_allowed is not None and billed and limit.units_used > limit.units_allowed:
        yield Proposal(f"Units through this visit: {limit.units_used} in the benefit period {period}; "
                       f"{context.payer} allows {limit.units_allowed} ({source}).", field="coverage")
