"""REST API v1: every app registers its viewsets on one router."""

from rest_framework.routers import DefaultRouter

from clinics import api as clinics_api
from coding import api as coding_api
from visits import api as visits_api

router = DefaultRouter()
clinics_api.register(router)
visits_api.register(router)
coding_api.register(router)

urlpatterns = router.urls
