from django.apps import AppConfig


class CodingConfig(AppConfig):
    name = "coding"

    def ready(self):
        # Register Celery tasks in every process: visits asks for "coding.code_visit" by name.
        from . import tasks  # noqa: F401
