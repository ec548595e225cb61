"""Browser routes of claims. Every route has a name and addresses objects by UUID public id (the cross-clinic
matrix enumerates them); a claim's line is named by a `position` form field, so route kwargs stay `public_id`."""

from django.urls import path

from . import views

urlpatterns = [
    path("claims/", views.claim_list, name="claim-list"),
    path("claims/export.csv", views.claim_list_csv, name="claim-list-csv"),
    path("claims/bulk/", views.claim_bulk, name="claim-bulk"),
    path("claims/rejections/", views.claim_rejections, name="claim-rejections"),
    path("claims/unsubmitted/", views.claim_unsubmitted, name="claim-unsubmitted"),
    path("claims/acks/", views.ack_upload, name="ack-upload"),
    path("claims/batches/", views.batch_list, name="batch-list"),
    path("claims/batches/<uuid:public_id>/", views.batch_detail, name="batch-detail"),
    path("claims/batches/<uuid:public_id>/progress/", views.batch_progress, name="batch-progress"),
    path("claims/batches/<uuid:public_id>/download/", views.batch_download, name="batch-download"),
    path("claims/<uuid:public_id>/", views.claim_detail, name="claim-detail"),
    path("claims/<uuid:public_id>/correct/", views.claim_correct, name="claim-correct"),
    path("claims/<uuid:public_id>/mark-ready/", views.claim_mark_ready, name="claim-mark-ready"),
    path("claims/<uuid:public_id>/lines/", views.claim_line_edit, name="claim-line-edit"),
    path("claims/<uuid:public_id>/assign/", views.claim_assign, name="claim-assign"),
]
