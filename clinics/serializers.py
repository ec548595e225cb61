"""REST API v1 serializers of the clinics app.

Serializers only shape and check input; they never look related rows up. Related records are named by their
public id (a UUID) and resolved by the viewset through the tenancy scope, once it knows the clinic.
"""

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Coverage, Patient, Payer, Provider, ReferringProvider, Sex


@extend_schema_field(OpenApiTypes.UUID)
class PublicIdField(serializers.Field):
    """A related record given and shown by its public id. Input stays a UUID until the view resolves it."""

    default_error_messages = {"invalid": "Give the record's id (a UUID)."}

    def to_representation(self, value):
        return str(value.public_id)

    def to_internal_value(self, data):
        try:
            return uuid.UUID(str(data))
        except (TypeError, ValueError, AttributeError):
            self.fail("invalid")


@extend_schema_field({"type": "string", "example": "alder",
                      "description": "Slug of the clinic the record belongs to. Required for session users; "
                                     "API tokens always write to their own clinic and may leave it out."})
class ClinicSlugField(serializers.Field):
    """The owning clinic by slug: shown on every record, accepted (not yet resolved) on create."""

    default_error_messages = {"invalid": "Give the clinic's slug, e.g. 'alder'."}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value.slug

    def to_internal_value(self, data):
        if not isinstance(data, str) or not data.strip():
            self.fail("invalid")
        return data.strip()


class ClinicRecordSerializer(serializers.ModelSerializer):
    """Common fields of clinic-owned records: `id` is the public UUID; integer keys never leave the server."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    clinic = ClinicSlugField()

    class Meta:
        # Uniqueness (e.g. MRN per clinic) is checked by the model's full_clean in the service, which knows
        # the clinic; DRF's generic unique-together validator would query across every clinic.
        validators = []


class PatientSerializer(ClinicRecordSerializer):
    class Meta(ClinicRecordSerializer.Meta):
        model = Patient
        fields = ["id", "clinic", "mrn", "first_name", "last_name", "date_of_birth", "sex", "phone",
                  "address_line1", "address_line2", "city", "state", "zip_code", "created_at"]
        read_only_fields = ["created_at"]


@extend_schema_field({"type": "string", "pattern": "^[FMU]?$",
                      "description": "F, M or U (like a patient's `sex`); blank when the patient is the subscriber."})
class SubscriberSexField(serializers.ChoiceField):
    """Documented without its own enum: the same choice set under a second name makes the schema warn."""


class CoverageSerializer(ClinicRecordSerializer):
    patient = PublicIdField()
    payer = PublicIdField()
    subscriber_sex = SubscriberSexField(choices=Sex.choices, required=False, allow_blank=True)

    class Meta(ClinicRecordSerializer.Meta):
        model = Coverage
        fields = ["id", "clinic", "patient", "payer", "priority", "member_id", "group_number", "relationship",
                  "subscriber_first_name", "subscriber_last_name", "subscriber_date_of_birth", "subscriber_sex",
                  "effective_from", "effective_to"]


class ProviderSerializer(ClinicRecordSerializer):
    supervising_therapist = PublicIdField(required=False, allow_null=True)
    credentialed_payers = serializers.SerializerMethodField()

    class Meta(ClinicRecordSerializer.Meta):
        model = Provider
        fields = ["id", "clinic", "kind", "first_name", "last_name", "credentials", "npi", "taxonomy",
                  "supervising_therapist", "credentialed_payers", "is_active"]

    @extend_schema_field(serializers.ListField(child=serializers.UUIDField()))
    def get_credentialed_payers(self, obj) -> list[str]:
        return [str(payer.public_id) for payer in obj.credentialed_payers.all()]


class ReferringProviderSerializer(ClinicRecordSerializer):
    class Meta(ClinicRecordSerializer.Meta):
        model = ReferringProvider
        fields = ["id", "clinic", "first_name", "last_name", "npi"]


class PayerSerializer(serializers.ModelSerializer):
    """A payer and its billing rules (global reference data, read-only)."""

    id = serializers.UUIDField(source="public_id", read_only=True)

    class Meta:
        model = Payer
        fields = ["id", "name", "payer_id", "kind", "claim_filing_indicator", "unit_method", "go_required",
                  "prior_auth_required", "referring_provider_required", "timely_filing_days", "appeal_window_days",
                  "accepts_replacement_claims", "kx_threshold_applies", "applies_mppr", "is_active"]
        read_only_fields = fields
