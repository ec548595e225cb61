from django.apps import AppConfig


class OtbillingConfig(AppConfig):
    name = "otbilling"
    verbose_name = "Platform"

    def ready(self):
        from otbilling.celery import log_broker_mode

        log_broker_mode()
