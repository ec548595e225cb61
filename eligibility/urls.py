"""Browser routes of eligibility. Every route has a name (the cross-clinic matrix enumerates them)."""

from django.urls import path

from . import views

urlpatterns = [
    path("eligibility/worklist/", views.eligibility_worklist_view, name="eligibility-worklist"),
    path("eligibility/coverages/<uuid:public_id>/verify/", views.coverage_verify, name="eligibility-verify"),
    path("eligibility/import/", views.response_import, name="eligibility-import"),
    path("eligibility/batches/", views.batch_list, name="eligibility-batches"),
    path("eligibility/batches/<uuid:public_id>/download/", views.batch_download, name="eligibility-batch-download"),
]
