from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "eligibility"

    def ready(self):
        # Register Celery tasks in every process: beat asks for them by name.
        from . import tasks, tasks_alerts  # noqa: F401
