from django.apps import AppConfig


class OtbillingConfig(AppConfig):
    name = "otbilling"
    verbose_name = "Platform"
