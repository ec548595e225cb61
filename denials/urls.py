"""Browser routes for working denials, A/R and underpayments. Every route has a name and addresses objects by UUID
public id (the cross-clinic matrix enumerates them): a denial's actions take the denial's id, the letter the
appeal's, the A/R follow-up the claim's."""

from django.urls import path

from . import views

urlpatterns = [
    path("denials/", views.denial_list, name="denial-list"),
    path("denials/export.csv", views.denial_list_csv, name="denial-list-csv"),
    path("denials/assign/", views.denial_bulk_assign, name="denial-bulk-assign"),
    path("denials/underpayments/", views.underpayment_list, name="underpayment-list"),
    path("denials/underpayments/assign/", views.underpayment_bulk_assign, name="underpayment-bulk-assign"),
    path("denials/underpayments/<uuid:public_id>/resolve/", views.underpayment_resolve, name="underpayment-resolve"),
    path("denials/appeals/<uuid:public_id>/letter.pdf", views.appeal_letter, name="appeal-letter"),
    path("denials/<uuid:public_id>/", views.denial_detail, name="denial-detail"),
    path("denials/<uuid:public_id>/appeal/", views.denial_appeal, name="denial-appeal"),
    path("denials/<uuid:public_id>/appeal-outcome/", views.denial_appeal_outcome, name="denial-appeal-outcome"),
    path("denials/<uuid:public_id>/transfer/", views.denial_transfer, name="denial-transfer"),
    path("denials/<uuid:public_id>/write-off/", views.denial_write_off, name="denial-write-off"),
    path("denials/<uuid:public_id>/bill-secondary/", views.denial_bill_secondary, name="denial-bill-secondary"),
    path("denials/<uuid:public_id>/follow-up/", views.denial_follow_up, name="denial-follow-up"),
    path("denials/<uuid:public_id>/assign/", views.denial_assign, name="denial-assign"),
    path("denials/<uuid:public_id>/resolve/", views.denial_resolve, name="denial-resolve"),
    path("ar/", views.ar_list, name="ar-list"),
    path("ar/export.csv", views.ar_list_csv, name="ar-list-csv"),
    path("ar/assign/", views.ar_bulk_assign, name="ar-bulk-assign"),
    path("ar/claims/<uuid:public_id>/follow-up/", views.claim_follow_up, name="claim-follow-up"),
]
