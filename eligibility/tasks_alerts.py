"""Celery beat task: the daily digest of prior authorizations that need attention, one e-mail per clinic.

Thin: it picks the day and calls eligibility.alerts. It reads and mails only, so a retry at worst repeats the
digest of the same day.
"""

import datetime

from celery import shared_task
from django.utils import timezone

from .alerts import auth_alert_digests_send

AUTH_ALERTS_TASK = "eligibility.auth_alerts"


@shared_task(name=AUTH_ALERTS_TASK, acks_late=True)
def auth_alerts(today: str | None = None, clinic_id: int | None = None) -> dict:
    """E-mail every clinic's owners and staff the authorizations that run low, expire or ran out.

    `today` (YYYY-MM-DD) and `clinic_id` narrow a manual run; the beat schedule passes neither.
    """
    from clinics.models import Clinic

    day = datetime.date.fromisoformat(today) if today else timezone.localdate()
    clinic = Clinic.objects.filter(pk=clinic_id).first() if clinic_id else None
    if clinic_id and clinic is None:
        return {"clinics": 0, "mails": 0, "alerts": 0, "no_recipient": 0}
    return auth_alert_digests_send(today=day, clinic=clinic)
