"""Browser routes of the EHR visit import (upload, job page, progress fragment)."""

from django.urls import path

from . import views_import

urlpatterns = [
    path("visits/import/", views_import.visit_import, name="visit-import"),
    path("visits/import/<uuid:public_id>/", views_import.visit_import_job, name="visit-import-job"),
    path("visits/import/<uuid:public_id>/progress/", views_import.visit_import_progress,
         name="visit-import-progress"),
]
