"""The project's routes plus the denial/A-R screens (and the remittance screens they link to), for testing the
views before otbilling/urls.py includes them."""

from django.urls import include, path

from otbilling.urls import urlpatterns as project_patterns

urlpatterns = [*project_patterns]
_included = {getattr(getattr(p, "urlconf_name", None), "__name__", "") for p in project_patterns}
for module in ("denials.urls", "denials.urls_era"):
    if module not in _included:
        urlpatterns.append(path("", include(module)))
