"""Browser routes of prior authorizations. Every route has a name (the cross-clinic matrix enumerates them)."""

from django.urls import path

from . import views_auth as views

urlpatterns = [
    path("eligibility/auths/worklist/", views.auth_worklist, name="auth-worklist"),
    path("eligibility/auths/worklist/csv/", views.auth_worklist_csv, name="auth-worklist-csv"),
    path("eligibility/auths/<uuid:public_id>/", views.auth_detail, name="auth-detail"),
    path("eligibility/auths/<uuid:public_id>/edit/", views.auth_edit, name="auth-edit"),
    path("eligibility/auths/<uuid:public_id>/cancel/", views.auth_cancel, name="auth-cancel"),
    path("eligibility/coverages/<uuid:public_id>/auths/", views.auth_list, name="auth-list"),
    path("eligibility/coverages/<uuid:public_id>/auths/new/", views.auth_create, name="auth-create"),
    path("eligibility/patients/<uuid:public_id>/auths/", views.patient_auths, name="patient-auths"),
]
