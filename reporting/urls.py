"""Browser routes of reporting, under /reports/ in the `reporting` namespace. Every route has a name; the settings
page takes the clinic's public id and the download the monthly report's (the cross-clinic matrix enumerates them)."""

from django.urls import path

from . import views

app_name = "reporting"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("drill/", views.drill, name="drill"),
    path("drill/export.csv", views.drill_csv, name="drill_csv"),
    path("export/<slug:table>.csv", views.export, name="export"),
    path("settings/<uuid:public_id>/", views.report_settings, name="settings"),
    path("monthly/", views.monthly_list, name="monthly_list"),
    path("monthly/<uuid:public_id>/download/", views.monthly_download, name="monthly_download"),
]
