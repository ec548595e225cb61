"""Browser routes of the clinics app. Every route has a name (the cross-clinic matrix enumerates them)."""

from django.urls import path

from . import views

urlpatterns = [
    path("clinic/switch/", views.clinic_switch, name="clinic-switch"),
    path("patients/", views.patient_list, name="patient-list"),
    path("patients/new/", views.patient_create, name="patient-create"),
    path("patients/<uuid:public_id>/", views.patient_detail, name="patient-detail"),
    path("patients/<uuid:public_id>/edit/", views.patient_edit, name="patient-edit"),
    path("patients/<uuid:public_id>/coverages/new/", views.coverage_create, name="coverage-create"),
    path("coverages/<uuid:public_id>/edit/", views.coverage_edit, name="coverage-edit"),
    path("providers/", views.provider_list, name="provider-list"),
    path("providers/new/", views.provider_create, name="provider-create"),
    path("providers/<uuid:public_id>/edit/", views.provider_edit, name="provider-edit"),
    path("referring-providers/", views.referring_provider_list, name="referring-provider-list"),
    path("referring-providers/new/", views.referring_provider_create, name="referring-provider-create"),
    path("access-log/", views.access_log, name="access-log"),
]
