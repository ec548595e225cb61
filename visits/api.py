"""REST API v1 of the visits app: treatment sessions (with nested lines and diagnoses) and plans of care.

Built on the clinics app's API plumbing: scoped querysets, public ids, one error shape, PHI read logging.
"""

from django_filters import rest_framework as filters

from clinics.api import (
    ClinicFilterSet,
    ClinicRecordViewSet,
    LoggedListMixin,
    LoggedRetrieveMixin,
    ScopedCreateMixin,
    documented,
    resolve_related,
    target_clinic,
)
from clinics.models import Coverage, Patient, Provider, ReferringProvider

from .models import PlanOfCare, Visit, VisitSource, VisitStatus
from .serializers import PlanOfCareSerializer, VisitSerializer
from .services import LineInput, VisitInput, visit_create


class VisitFilter(ClinicFilterSet):
    patient = filters.UUIDFilter(field_name="patient__public_id", help_text="The patient's id.")
    date_from = filters.DateFilter(field_name="date_of_service", lookup_expr="gte",
                                   help_text="Sessions on or after this date of service (YYYY-MM-DD).")
    date_to = filters.DateFilter(field_name="date_of_service", lookup_expr="lte",
                                 help_text="Sessions on or before this date of service (YYYY-MM-DD).")
    status = filters.ChoiceFilter(choices=VisitStatus.choices)
    external_id = filters.CharFilter(help_text="The sending EHR's id for the session.")

    class Meta:
        model = Visit
        fields = ["clinic", "patient", "date_from", "date_to", "status", "external_id"]


@documented("visits")
class VisitViewSet(LoggedListMixin, LoggedRetrieveMixin, ScopedCreateMixin, ClinicRecordViewSet):
    """Treatment sessions of your clinics. Create takes the lines and diagnoses in one body; reads are logged."""

    model = Visit
    serializer_class = VisitSerializer
    filterset_class = VisitFilter
    related = {"patient": Patient, "rendering_provider": Provider, "coverage": Coverage,
               "referring_provider": ReferringProvider, "plan_of_care": PlanOfCare}
    select_related = ("clinic", "patient", "rendering_provider", "coverage", "referring_provider", "plan_of_care")
    ordering = "-created_at"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("lines")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        clinic = target_clinic(self.request, data.pop("clinic", None))
        resolve_related(self.request.user, clinic, data, self.related)
        lines = [
            LineInput(cpt=line["cpt"], minutes=line.get("minutes"), assistant_minutes=line.get("assistant_minutes", 0),
                      diagnosis_pointers=line.get("diagnosis_pointers", [1]),
                      modifiers=line.get("manual_modifiers", []),
                      distinct_time_block=line.get("distinct_time_block", False))
            for line in data.pop("lines")
        ]
        visit = visit_create(acting_user=self.request.user, clinic=clinic,
                             data=VisitInput(lines=lines, source=VisitSource.API, **data))
        serializer.instance = self.get_queryset().get(pk=visit.pk)


class PlanOfCareFilter(ClinicFilterSet):
    patient = filters.UUIDFilter(field_name="patient__public_id", help_text="The patient's id.")

    class Meta:
        model = PlanOfCare
        fields = ["clinic", "patient"]


@documented("plans of care")
class PlanOfCareViewSet(LoggedListMixin, ScopedCreateMixin, ClinicRecordViewSet):
    """Certified plans of care of your clinics' patients; lists are written to the PHI access log."""

    model = PlanOfCare
    serializer_class = PlanOfCareSerializer
    filterset_class = PlanOfCareFilter
    related = {"patient": Patient}
    select_related = ("clinic", "patient")
    ordering = "-start_date"


def register(router):
    router.register("visits", VisitViewSet, basename="visit")
    router.register("plans-of-care", PlanOfCareViewSet, basename="plan-of-care")
