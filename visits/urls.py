"""Browser routes of the visits app. Every route has a name (the cross-clinic matrix enumerates them)."""

from django.urls import path

from . import views

urlpatterns = [
    path("visits/", views.visit_list, name="visit-list"),
    path("visits/new/", views.visit_create, name="visit-create"),
    path("visits/new/patient-fields/", views.visit_patient_fields, name="visit-patient-fields"),
    path("visits/icd10-search/", views.icd10_search, name="icd10-search"),
    path("visits/<uuid:public_id>/", views.visit_detail, name="visit-detail"),
    path("visits/<uuid:public_id>/edit/", views.visit_edit, name="visit-edit"),
    path("visits/<uuid:public_id>/sign/", views.visit_sign, name="visit-sign"),
    path("patients/<uuid:public_id>/plans-of-care/new/", views.plan_of_care_create, name="plan-of-care-create"),
]
