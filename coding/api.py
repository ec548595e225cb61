"""REST API v1 of coding: the 8-minute-rule calculator as `POST /api/v1/coding/units/`.

The same rules and messages as the calculator page and `manage.py units` (coding.forms.calculate_units).
"""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import permissions, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from clinics.api import ERROR_RESPONSE, ApiErrorsMixin
from otbilling.tenancy import VIEW_PHI, clinics_visible_to

from .forms import calculate_units
from .serializers import UnitsRequestSerializer, UnitsResponseSerializer


class HoldsAnyGrant(permissions.BasePermission):
    """A user (or API token) holding a role on at least one clinic; the calculator reads no clinic data."""

    message = "You hold no role on any clinic."

    def has_permission(self, request, view):
        return clinics_visible_to(request.user, VIEW_PHI).exists()


class UnitsViewSet(ApiErrorsMixin, viewsets.ViewSet):
    """Billable units of timed and untimed codes by the CMS total-time or AMA per-code rule."""

    permission_classes = [permissions.IsAuthenticated, HoldsAnyGrant]
    parser_classes = [JSONParser]

    @extend_schema(
        tags=["coding"], operation_id="coding_units_calculate",
        summary="Units by the 8-minute rule (CMS) or per code (AMA)",
        request=UnitsRequestSerializer,
        responses={200: UnitsResponseSerializer, 400: ERROR_RESPONSE},
        examples=[
            OpenApiExample("CMS example 3", request_only=True, value={
                "rule": "cms", "lines": [{"code": "97110", "minutes": 33}, {"code": "97140", "minutes": 7}]}),
            OpenApiExample("Result", response_only=True, status_codes=["200"], value={
                "units": {"97110": 2, "97140": 1}, "total_timed_minutes": 40, "total_timed_units": 3,
                "explanation": ["Total timed minutes 40 → 3 unit(s) by the 8-minute rule.",
                                "97140: leftover 7 min earns one more unit."]}),
        ],
    )
    def create(self, request):
        serializer = UnitsRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        calculation = calculate_units(rule=data["rule"], lines=[(line["code"], line.get("minutes"))
                                                                for line in data["lines"]])
        result = calculation.result
        return Response(UnitsResponseSerializer({
            "units": calculation.units, "total_timed_minutes": result.total_timed_minutes,
            "total_timed_units": result.total_timed_units, "explanation": result.explanation,
        }).data)


def register(router):
    router.register("coding/units", UnitsViewSet, basename="coding-units")
