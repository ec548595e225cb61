from django.apps import AppConfig


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = "Treatment sessions"

    def ready(self):
        from . import tasks  # noqa: F401  (register Celery tasks in the web process too)
