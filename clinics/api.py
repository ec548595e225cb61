"""REST API v1 of the clinics app, and the plumbing every app's viewsets share.

Reads start from `Model.objects.visible_to(user, VIEW_PHI)`, so another clinic's record is a 404. Writes need
EDIT_SESSIONS on the record's clinic (403 only when the record is visible but read-only) and go through the
services. Related records in a request body are public ids resolved through the same scope.
"""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as filters
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, mixins, permissions, serializers, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.settings import api_settings

from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to, resolve_in_clinic, user_has_clinic_perm

from .models import (
    AccessAction,
    ApiToken,
    Coverage,
    CoveragePriority,
    Patient,
    Payer,
    PayerKind,
    Provider,
    ProviderKind,
    ReferringProvider,
)
from .serializers import (
    CoverageSerializer,
    PatientSerializer,
    PayerSerializer,
    ProviderSerializer,
    ReferringProviderSerializer,
)
from .services import access_log_record, clinic_record_save


class ClinicTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Token otb_...` in the OpenAPI schema."""

    target_class = "clinics.api_auth.ClinicTokenAuthentication"
    name = "clinicToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "Per-clinic API token, sent as `Token otb_...` (created under Settings, API tokens)."}


class ScopedCursorPagination(CursorPagination):
    """Cursor pagination on the viewset's `ordering`.

    Each viewset orders by a stable field that is not PHI (timestamps, dates, provider names), because the
    cursor encodes the position value into URLs that end up in logs.
    """

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_ordering(self, request, queryset, view):
        ordering = view.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)


def error_problems(detail, where: str = ""):
    """(field, message) pairs from DRF or Django error structures; rows are numbered from 1, as services do."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in (api_settings.NON_FIELD_ERRORS_KEY, NON_FIELD_ERRORS):
                name = where or api_settings.NON_FIELD_ERRORS_KEY
            elif isinstance(key, int):
                name = f"{where}[{key + 1}]"
            else:
                name = f"{where}.{key}" if where else str(key)
            yield from error_problems(value, name)
    elif isinstance(detail, list | tuple):
        for index, item in enumerate(detail, start=1):
            if isinstance(item, dict | list | tuple):
                yield from error_problems(item, f"{where}[{index}]")
            else:
                yield (where or api_settings.NON_FIELD_ERRORS_KEY, str(item))
    else:
        yield (where or api_settings.NON_FIELD_ERRORS_KEY, str(detail))


class ApiErrorsMixin:
    """Every 400 of the API has one shape: {"error": {"code", "message", "field", "details"}}."""

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.ValidationError):
            exc = AppError.from_problems(list(error_problems(exc.detail)) or [("non_field_errors", "Invalid input.")])
        elif isinstance(exc, exceptions.ParseError):
            exc = AppError(str(exc.detail), code="parse_error")
        elif isinstance(exc, DjangoValidationError):
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            exc = AppError.from_problems(list(error_problems(detail)) or [("non_field_errors", "Invalid input.")])
        return super().handle_exception(exc)


def target_clinic(request, slug: str | None):
    """The clinic a new record belongs to: the token's own clinic, or the session user's chosen one."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    if token is not None:
        if slug and slug != token.clinic.slug:
            raise AppError(f"This API token writes to clinic {token.clinic.slug!r} only; leave `clinic` out.",
                           code="wrong_clinic", field="clinic")
        return token.clinic
    if not slug:
        raise AppError("Give the slug of the clinic this record belongs to.", code="required", field="clinic")
    clinic = clinics_visible_to(request.user, EDIT_SESSIONS).filter(slug=slug).first()
    if clinic is None:
        raise AppError(f"No clinic {slug!r} that you may enter records for.", code="not_found", field="clinic")
    return clinic


def resolve_related(user, clinic, data: dict, related: dict) -> None:
    """Replace the public ids in `data` by rows of `clinic` (payers: any active payer). All problems at once."""
    problems: list[AppError] = []
    for name, model in related.items():
        public_id = data.get(name)
        if public_id is None:
            continue
        try:
            if model is Payer:
                data[name] = Payer.objects.filter(is_active=True).get(public_id=public_id)
            else:
                data[name] = resolve_in_clinic(model, user, clinic, EDIT_SESSIONS, field=name, public_id=public_id)
        except Payer.DoesNotExist:
            problems.append(AppError("No such active payer.", code="not_found", field=name))
        except AppError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise AppError.from_problems([(p.field, p.message) for p in problems], code="not_found")


class CanEditClinicRecord(permissions.BasePermission):
    """Writes need EDIT_SESSIONS on the record's clinic; the record itself was already found through the scope."""

    message = "You may read this clinic's records but not change them."

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        return user_has_clinic_perm(request.user, obj.clinic, EDIT_SESSIONS)


class ClinicRecordViewSet(ApiErrorsMixin, viewsets.GenericViewSet):
    """Base of every clinic-owned resource: scoped queryset, public-id lookups, writes through the service."""

    model = None
    related: dict = {}  # body field -> model, resolved through the scope of the record's clinic
    select_related: tuple = ("clinic",)
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    pagination_class = ScopedCursorPagination
    parser_classes = [JSONParser]  # nested lines and lists do not fit form encodings
    permission_classes = [permissions.IsAuthenticated, CanEditClinicRecord]

    def get_queryset(self):
        return self.model.objects.visible_to(self.request.user, VIEW_PHI).select_related(*self.select_related)

    def save_record(self, instance):
        return clinic_record_save(acting_user=self.request.user, instance=instance)


class ScopedCreateMixin(mixins.CreateModelMixin):
    """Create in the caller's clinic with related ids resolved in that clinic, saved by the service."""

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        clinic = target_clinic(self.request, data.pop("clinic", None))
        resolve_related(self.request.user, clinic, data, self.related)
        serializer.instance = self.save_record(self.model(clinic=clinic, **data))


class ScopedUpdateMixin(mixins.UpdateModelMixin):
    """Update (PUT/PATCH) a visible record; the clinic never changes; saved by the service."""

    def perform_update(self, serializer):
        instance = serializer.instance
        data = dict(serializer.validated_data)
        slug = data.pop("clinic", None)
        if slug is not None and slug != instance.clinic.slug:
            raise AppError("A record cannot move to another clinic.", code="immutable", field="clinic")
        resolve_related(self.request.user, instance.clinic, data, self.related)
        for name, value in data.items():
            setattr(instance, name, value)
        serializer.instance = self.save_record(instance)


class LoggedListMixin(mixins.ListModelMixin):
    """List of PHI: one access-log row per record on the page (HIPAA: who saw which record)."""

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        rows = list(page if page is not None else queryset)
        for obj in rows:
            access_log_record(request, action=AccessAction.API, obj=obj)
        serializer = self.get_serializer(rows, many=True)
        if page is not None:
            return self.get_paginated_response(serializer.data)
        return Response(serializer.data)


class LoggedRetrieveMixin(mixins.RetrieveModelMixin):
    """Retrieve of PHI: one access-log row for the record shown."""

    def retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        access_log_record(request, action=AccessAction.API, obj=instance)
        return Response(self.get_serializer(instance).data)


ERROR_RESPONSE = inline_serializer("ErrorResponse", fields={
    "error": inline_serializer("Error", fields={
        "code": serializers.CharField(help_text="Stable machine-readable code, e.g. invalid, not_found, duplicate."),
        "message": serializers.CharField(help_text="Plain-words message naming every field at fault."),
        "field": serializers.CharField(allow_null=True, help_text="First field at fault, e.g. lines[2].cpt."),
        "details": inline_serializer("ErrorDetail", many=True, required=False, fields={
            "field": serializers.CharField(), "message": serializers.CharField(),
        }),
    }),
})


def documented(tag: str):
    """Tag a viewset's operations and document the error envelope of its writes in the OpenAPI schema."""

    def decorate(viewset):
        overrides = {}
        for action, success in (("create", 201), ("update", 200), ("partial_update", 200)):
            if hasattr(viewset, action):
                overrides[action] = extend_schema(responses={success: viewset.serializer_class, 400: ERROR_RESPONSE})
        if overrides:
            viewset = extend_schema_view(**overrides)(viewset)
        return extend_schema(tags=[tag])(viewset)

    return decorate


class ClinicFilterSet(filters.FilterSet):
    """Narrow a list to one of the caller's clinics by slug (the queryset is already scoped)."""

    clinic = filters.CharFilter(field_name="clinic__slug", help_text="Slug of one of your clinics.")


class PatientFilter(ClinicFilterSet):
    mrn = filters.CharFilter(help_text="The clinic's medical record number.")

    class Meta:
        model = Patient
        fields = ["clinic", "mrn"]


@documented("patients")
class PatientViewSet(LoggedListMixin, LoggedRetrieveMixin,
                     ScopedCreateMixin, ScopedUpdateMixin, ClinicRecordViewSet):
    """Patients of your clinics. Reads are written to the PHI access log."""

    model = Patient
    serializer_class = PatientSerializer
    filterset_class = PatientFilter
    ordering = "-created_at"


class CoverageFilter(ClinicFilterSet):
    patient = filters.UUIDFilter(field_name="patient__public_id", help_text="The patient's id.")
    payer = filters.UUIDFilter(field_name="payer__public_id", help_text="The payer's id.")
    priority = filters.ChoiceFilter(choices=CoveragePriority.choices)

    class Meta:
        model = Coverage
        fields = ["clinic", "patient", "payer", "priority"]


@documented("coverages")
class CoverageViewSet(LoggedListMixin, LoggedRetrieveMixin,
                      ScopedCreateMixin, ScopedUpdateMixin, ClinicRecordViewSet):
    """Insurance coverages of your clinics' patients. Reads are written to the PHI access log."""

    model = Coverage
    serializer_class = CoverageSerializer
    filterset_class = CoverageFilter
    related = {"patient": Patient, "payer": Payer}
    select_related = ("clinic", "patient", "payer")
    ordering = "-effective_from"


class ProviderFilter(ClinicFilterSet):
    npi = filters.CharFilter()
    kind = filters.ChoiceFilter(choices=ProviderKind.choices)
    is_active = filters.BooleanFilter()

    class Meta:
        model = Provider
        fields = ["clinic", "npi", "kind", "is_active"]


@documented("providers")
class ProviderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedCreateMixin,
                      ScopedUpdateMixin, ClinicRecordViewSet):
    """Rendering clinicians (OTs and OTAs) of your clinics."""

    model = Provider
    serializer_class = ProviderSerializer
    filterset_class = ProviderFilter
    related = {"supervising_therapist": Provider}
    select_related = ("clinic", "supervising_therapist")
    ordering = "last_name"

    def get_queryset(self):
        return super().get_queryset().prefetch_related("credentialed_payers")


class ReferringProviderFilter(ClinicFilterSet):
    npi = filters.CharFilter()

    class Meta:
        model = ReferringProvider
        fields = ["clinic", "npi"]


@documented("referring providers")
class ReferringProviderViewSet(mixins.ListModelMixin, ScopedCreateMixin, ClinicRecordViewSet):
    """Referring physicians and NPPs of your clinics."""

    model = ReferringProvider
    serializer_class = ReferringProviderSerializer
    filterset_class = ReferringProviderFilter
    ordering = "last_name"


class PayerFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=PayerKind.choices)
    payer_id = filters.CharFilter(help_text="The EDI payer id.")
    is_active = filters.BooleanFilter()

    class Meta:
        model = Payer
        fields = ["kind", "payer_id", "is_active"]


@documented("payers")
class PayerViewSet(ApiErrorsMixin, viewsets.ReadOnlyModelViewSet):
    """Payers and their billing rules: global reference data, readable by every signed-in user or token."""

    queryset = Payer.objects.all()
    serializer_class = PayerSerializer
    filterset_class = PayerFilter
    lookup_field = "public_id"
    lookup_url_kwarg = "id"
    pagination_class = ScopedCursorPagination
    permission_classes = [permissions.IsAuthenticated]
    ordering = "name"


def register(router):
    router.register("patients", PatientViewSet, basename="patient")
    router.register("coverages", CoverageViewSet, basename="coverage")
    router.register("providers", ProviderViewSet, basename="provider")
    router.register("referring-providers", ReferringProviderViewSet, basename="referring-provider")
    router.register("payers", PayerViewSet, basename="payer")
