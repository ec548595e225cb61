from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from clinics import views as clinic_views
from otbilling.views import healthz

urlpatterns = [
    path("", clinic_views.home, name="home"),
    path("healthz/", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("clinics.urls")),
    path("", include("visits.urls")),
    path("", include("visits.urls_import")),
    path("", include("clinics.urls_tokens")),
    path("", include("coding.urls")),
    path("", include("eligibility.urls")),
    path("", include("eligibility.urls_auth")),
    path("", include("claims.urls")),
    path("", include("denials.urls_era")),
    path("", include("denials.urls")),
    path("reports/", include("reporting.urls")),
    path("api/v1/", include(("otbilling.api_urls", "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
