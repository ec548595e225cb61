"""Celery application. Tasks are thin: they load by id and call a service."""

import logging
import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "otbilling.settings.dev")

app = Celery("otbilling")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

log = logging.getLogger(__name__)


def log_broker_mode() -> None:
    """Say once at start-up whether tasks go to Redis or run in-process."""
    from django.conf import settings

    if settings.CELERY_TASK_ALWAYS_EAGER:
        log.warning("REDIS_URL is not set: Celery tasks run eagerly in the web process.")
    else:
        log.info("Celery broker: %s", settings.CELERY_BROKER_URL.split("@")[-1])


@worker_init.connect
def _on_worker_init(**_kwargs):
    log_broker_mode()
