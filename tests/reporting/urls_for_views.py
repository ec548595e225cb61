"""The project's routes plus the reporting screens under /reports/, for testing the views before otbilling/urls.py
includes them."""

from django.urls import include, path

from otbilling.urls import urlpatterns as project_patterns

urlpatterns = [*project_patterns]
if not any(getattr(getattr(p, "urlconf_name", None), "__name__", "") == "reporting.urls" for p in project_patterns):
    urlpatterns.append(path("reports/", include("reporting.urls")))
