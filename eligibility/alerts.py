"""Which prior authorizations need attention, and the daily digest e-mail to each clinic.

An approved authorization needs attention (thresholds are the payer's settings) when:

- visits low: at most `auth_alert_visits_left` authorized visits remain (but at least one);
- units low: fewer than `auth_alert_units_left` units remain (the total, or the sum over its codes when it only
  lists codes), but at least one;
- expiring: it ends within `auth_alert_days_before_expiry` days (0 = it ends today);
- exhausted: no visits remain, no units remain, or no units remain for one of its codes;
- expired: it ended and the patient was seen on the coverage after its end on days no other approved
  authorization covers (treatment continued without authorization).

Once a renewal is recorded (another approved authorization of the coverage ending later), the old one no longer
raises low / expiring / exhausted; "expired" still shows while sessions after it are left uncovered. Expired
authorizations are looked at for a year after their end (older sessions are past most filing limits anyway).
"""

import datetime
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import models
from django.urls import reverse
from django.utils import timezone

from clinics.models import Clinic, RoleGrant
from otbilling.tenancy import Role

from .authorizations import AuthUsage, auth_usages, counted_visits
from .models import AuthStatus, PriorAuthorization

log = logging.getLogger(__name__)
EXPIRED_LOOKBACK_DAYS = 365
DIGEST_ROLES = (Role.CLINIC_OWNER, Role.CLINIC_STAFF)


class AlertReason(models.TextChoices):
    VISITS_LOW = "visits_low", "Visits low"
    UNITS_LOW = "units_low", "Units low"
    EXPIRING = "expiring", "Expiring soon"
    EXPIRED = "expired", "Expired, sessions continue"
    EXHAUSTED = "exhausted", "Exhausted"


@dataclass
class AuthAlert:
    """One authorization that needs attention: why (reason codes) and what to say (plain messages)."""

    authorization: PriorAuthorization
    usage: AuthUsage
    reasons: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    sessions_after_expiry: list = field(default_factory=list)

    @property
    def days_to_expiry(self) -> int:
        return self.usage.days_to_expiry

    @property
    def reason_labels(self) -> list[tuple[str, str]]:
        labels = dict(AlertReason.choices)
        return [(reason, labels[reason]) for reason in self.reasons]

    def add(self, reason: str, message: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)
        self.messages.append(message)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _expiry_words(days: int, end: datetime.date) -> str:
    if days == 0:
        return f"Expires today ({end:%Y-%m-%d})."
    return f"Expires on {end:%Y-%m-%d}, in {_plural(days, 'day')}."


def _check_remaining(alert: AuthAlert, usage: AuthUsage, payer) -> None:
    if usage.visits_remaining is not None:
        if usage.visits_remaining <= 0:
            seen = f" ({usage.visits_used} seen)" if usage.visits_remaining < 0 else ""
            alert.add(AlertReason.EXHAUSTED, f"All {usage.visits_authorized} authorized visits are used{seen}.")
        elif usage.visits_remaining <= payer.auth_alert_visits_left:
            alert.add(AlertReason.VISITS_LOW, f"{_plural(usage.visits_remaining, 'visit')} left of "
                                              f"{usage.visits_authorized}.")
    pooled = usage.pooled_units
    if pooled is not None:
        authorized, used = pooled
        remaining = authorized - used
        if remaining <= 0:
            billed = f" ({used} billed)" if remaining < 0 else ""
            alert.add(AlertReason.EXHAUSTED, f"All {authorized} authorized units are used{billed}.")
        elif remaining < payer.auth_alert_units_left:
            alert.add(AlertReason.UNITS_LOW, f"{_plural(remaining, 'unit')} left of {authorized}.")
    for code in usage.codes:
        if code.exhausted and (usage.units_authorized is not None or len(usage.codes) > 1):
            alert.add(AlertReason.EXHAUSTED, f"{code.cpt}: all {code.authorized} authorized units are used.")


def auth_alerts(authorizations, *, today: datetime.date | None = None) -> list[AuthAlert]:
    """The authorizations among `authorizations` (a queryset the caller scoped) that need attention.

    Sorted by days to expiry (soonest first), then patient.
    """
    today = today or timezone.localdate()
    auths = list(
        authorizations.filter(status=AuthStatus.APPROVED,
                              end_date__gte=today - datetime.timedelta(days=EXPIRED_LOOKBACK_DAYS))
        .select_related("clinic", "coverage__payer", "coverage__patient").prefetch_related("codes")
    )
    if not auths:
        return []
    usages = auth_usages(auths, today=today)
    # Siblings are read by coverage: rows of coverages the caller's scope already let through.
    siblings: dict[int, list[PriorAuthorization]] = {}
    for sibling in PriorAuthorization.objects.filter(coverage_id__in={a.coverage_id for a in auths},
                                                     status=AuthStatus.APPROVED):
        siblings.setdefault(sibling.coverage_id, []).append(sibling)
    later_visits = _visits_after_expiry([a for a in auths if a.end_date < today], today)
    alerts = []
    for auth in auths:
        usage = usages[auth.pk]
        alert = AuthAlert(authorization=auth, usage=usage)
        others = [s for s in siblings.get(auth.coverage_id, []) if s.pk != auth.pk]
        if auth.end_date < today:
            uncovered = [v for v in later_visits.get(auth.coverage_id, [])
                         if v.date_of_service > auth.end_date and not any(s.covers(v.date_of_service) for s in others)]
            if uncovered:
                alert.sessions_after_expiry = uncovered
                alert.add(AlertReason.EXPIRED,
                          f"Expired on {auth.end_date:%Y-%m-%d}; {_plural(len(uncovered), 'session')} after it "
                          f"(first {uncovered[0].date_of_service:%Y-%m-%d}) "
                          f"{'has' if len(uncovered) == 1 else 'have'} no authorization.")
        elif not any(s.end_date > auth.end_date for s in others):
            payer = auth.coverage.payer
            _check_remaining(alert, usage, payer)
            if usage.days_to_expiry <= payer.auth_alert_days_before_expiry:
                alert.add(AlertReason.EXPIRING, _expiry_words(usage.days_to_expiry, auth.end_date))
        if alert.reasons:
            alerts.append(alert)
    alerts.sort(key=lambda a: (a.days_to_expiry, a.authorization.coverage.patient.last_name,
                               a.authorization.coverage.patient.first_name, a.authorization.pk))
    return alerts


def _visits_after_expiry(expired: list[PriorAuthorization], today) -> dict[int, list]:
    found: dict[int, list] = {}
    for clinic_id in {a.clinic_id for a in expired}:
        mine = [a for a in expired if a.clinic_id == clinic_id]
        start = min(a.end_date for a in mine) + datetime.timedelta(days=1)
        for visit in counted_visits(clinic_id=clinic_id, coverage_ids={a.coverage_id for a in mine}, start=start,
                                    end=datetime.date.max, today=today):
            found.setdefault(visit.coverage_id, []).append(visit)
    return found


# --- the daily digest ----------------------------------------------------------------------------------------


def digest_recipients(clinic: Clinic) -> list[str]:
    """E-mail addresses of the clinic's owners and staff (active people, not API-token service users).

    Falls back to the clinic's contact address when no owner or staff member has one.
    """
    user_ids = RoleGrant.objects.filter(clinic=clinic, role__in=DIGEST_ROLES).values("user_id")
    users = (get_user_model().objects.filter(pk__in=user_ids, is_active=True, api_token__isnull=True)
             .exclude(email="").order_by("email"))
    addresses = list(dict.fromkeys(users.values_list("email", flat=True)))
    if not addresses and clinic.contact_email:
        addresses = [clinic.contact_email]
    return addresses


def _patient_label(patient) -> str:
    # Minimum necessary in an e-mail: initials and MRN identify the patient to the clinic, not to a stranger.
    return f"{patient.first_name[:1]}. {patient.last_name[:1]}. (MRN {patient.mrn})"


def digest_message(clinic: Clinic, alerts: list[AuthAlert], today: datetime.date) -> tuple[str, str]:
    """(subject, plain-text body) of one clinic's digest."""
    verb = "needs" if len(alerts) == 1 else "need"
    subject = f"{clinic.legal_name}: {_plural(len(alerts), 'prior authorization')} {verb} attention ({today:%Y-%m-%d})"
    link = f"{getattr(settings, 'SITE_URL', '').rstrip('/')}{reverse('auth-worklist')}"
    lines = [
        f"Prior authorizations of {clinic.legal_name} that need attention on {today:%Y-%m-%d}:",
        "",
    ]
    for alert in alerts:
        auth = alert.authorization
        coverage = auth.coverage
        lines.append(f"- {_patient_label(coverage.patient)} · {coverage.payer.name} auth {auth.number} "
                     f"({auth.start_date:%Y-%m-%d} to {auth.end_date:%Y-%m-%d})")
        lines.extend(f"    {message}" for message in alert.messages)
    lines += ["", f"Renewal worklist: {link}",
              "You receive this because you are an owner or staff member of the clinic in OT Billing."]
    return subject, "\n".join(lines)


def auth_alert_digests_send(*, today: datetime.date | None = None, clinic: Clinic | None = None) -> dict:
    """E-mail each active clinic's owners and staff one digest of its authorizations that need attention.

    A clinic with nothing to say gets no mail. Returns counts for the task's result.
    """
    today = today or timezone.localdate()
    clinics = Clinic.objects.filter(is_active=True).order_by("pk")
    if clinic is not None:
        clinics = clinics.filter(pk=clinic.pk)
    counts = {"clinics": 0, "mails": 0, "alerts": 0, "no_recipient": 0}
    for each in clinics:
        counts["clinics"] += 1
        # System side: one clinic's own rows, for that clinic's own people.
        alerts = auth_alerts(PriorAuthorization.objects.filter(clinic=each), today=today)
        if not alerts:
            continue
        recipients = digest_recipients(each)
        if not recipients:
            log.warning("Authorization digest for %s: %d alerts but nobody to e-mail", each.slug, len(alerts))
            counts["no_recipient"] += 1
            continue
        subject, body = digest_message(each, alerts, today)
        EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=recipients).send()
        counts["mails"] += 1
        counts["alerts"] += len(alerts)
    return counts
