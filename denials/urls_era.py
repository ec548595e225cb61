"""Browser routes of remittances: 835 upload, list, progress and page; the unmatched worklist and manual match;
manual posting (paper EOB, patient payment); EFT reconciliation. Every route is named and addresses objects by
UUID public id (the cross-clinic matrix enumerates them)."""

from django.urls import path

from . import views_era

urlpatterns = [
    path("remittances/", views_era.era_list, name="era-list"),
    path("remittances/upload/", views_era.era_upload, name="era-upload"),
    path("remittances/pending/", views_era.era_pending, name="era-pending"),
    path("remittances/unmatched/", views_era.unmatched_list, name="unmatched-list"),
    path("remittances/unmatched/<uuid:public_id>/", views_era.unmatched_match, name="unmatched-match"),
    path("remittances/<uuid:public_id>/", views_era.era_detail, name="era-detail"),
    path("posting/claims/<uuid:public_id>/", views_era.manual_posting, name="manual-posting"),
    path("posting/claims/<uuid:public_id>/patient-payment/", views_era.patient_payment, name="patient-payment"),
    path("deposits/", views_era.deposit_list, name="deposit-list"),
    path("deposits/new/", views_era.deposit_create, name="deposit-create"),
    path("deposits/import/", views_era.deposit_import, name="deposit-import"),
]
