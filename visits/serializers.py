"""REST API v1 serializers of the visits app (treatment sessions and plans of care).

They shape and check input only; related records arrive as public ids and the viewset resolves them through
the tenancy scope before calling the services, which own every business rule.
"""

from rest_framework import serializers

from clinics.serializers import ClinicRecordSerializer, PublicIdField

from .diagnoses import icd10_problem, normalize_icd10
from .models import MAX_DIAGNOSES, MAX_MODIFIERS, MAX_POINTERS, PlaceOfService, PlanOfCare, ServiceLine, Visit
from .services import MAX_LINE_MINUTES, MAX_LINES


class ServiceLineSerializer(serializers.ModelSerializer):
    """One CPT/HCPCS line. `position` is assigned from the order of the `lines` list."""

    # The service upper-cases and checks the code, so "g0283" is accepted like the form accepts it.
    cpt = serializers.CharField(max_length=5, help_text="CPT/HCPCS code, e.g. 97530.")
    minutes = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=MAX_LINE_MINUTES,
                                       help_text="Direct treatment minutes; leave out or null for untimed codes.")
    assistant_minutes = serializers.IntegerField(required=False, default=0, min_value=0,
                                                 max_value=MAX_LINE_MINUTES)
    diagnosis_pointers = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_DIAGNOSES), required=False, max_length=MAX_POINTERS,
        help_text="1-based positions in the session's `diagnoses`; defaults to [1].",
    )
    modifiers = serializers.ListField(
        source="manual_modifiers", child=serializers.CharField(max_length=2), required=False,
        max_length=MAX_MODIFIERS, help_text="Modifiers you add by hand; GO, KX, CO and 59 are computed by coding.",
    )
    distinct_time_block = serializers.BooleanField(required=False, default=False)

    class Meta:
        model = ServiceLine
        fields = ["position", "cpt", "minutes", "assistant_minutes", "diagnosis_pointers", "modifiers",
                  "distinct_time_block"]
        read_only_fields = ["position"]
        validators = []


class VisitSerializer(ClinicRecordSerializer):
    """A treatment session with its diagnoses and service lines; `sign: true` signs the note on create."""

    patient = PublicIdField()
    rendering_provider = PublicIdField()
    coverage = PublicIdField(required=False, allow_null=True)
    referring_provider = PublicIdField(required=False, allow_null=True)
    plan_of_care = PublicIdField(required=False, allow_null=True)
    place_of_service = serializers.ChoiceField(choices=PlaceOfService.choices, default=PlaceOfService.OFFICE)
    diagnoses = serializers.ListField(
        child=serializers.CharField(max_length=8), max_length=MAX_DIAGNOSES,
        help_text="ICD-10-CM codes in order (M62.81 or M6281); line pointers refer to positions 1-12.",
    )
    lines = ServiceLineSerializer(many=True, max_length=MAX_LINES)
    note_text = serializers.CharField(required=False, allow_blank=True, default="")
    sign = serializers.BooleanField(write_only=True, required=False, default=False,
                                    help_text="Sign the note now; needs `signed_by_name` and a non-empty note.")
    signed_by_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=80)
    external_id = serializers.CharField(required=False, allow_blank=True, default="", max_length=64,
                                        help_text="Your EHR's id for this session; a second create with it is refused.")

    class Meta(ClinicRecordSerializer.Meta):
        model = Visit
        fields = ["id", "clinic", "patient", "rendering_provider", "coverage", "referring_provider", "plan_of_care",
                  "date_of_service", "place_of_service", "diagnoses", "lines", "note_text", "sign", "status",
                  "signed_by_name", "signed_at", "source", "external_id", "created_at", "updated_at"]
        read_only_fields = ["status", "signed_at", "source", "created_at", "updated_at"]


class PlanOfCareSerializer(ClinicRecordSerializer):
    """A certified plan of care of one patient."""

    patient = PublicIdField()
    diagnoses = serializers.ListField(child=serializers.CharField(max_length=8), max_length=MAX_DIAGNOSES,
                                      required=False, help_text="ICD-10-CM codes the plan treats.")

    class Meta(ClinicRecordSerializer.Meta):
        model = PlanOfCare
        fields = ["id", "clinic", "patient", "start_date", "certified_through", "certification_signed_date",
                  "certifier_name", "certifier_npi", "frequency", "duration", "goals", "diagnoses"]

    def validate_diagnoses(self, codes):
        problems = {}
        for index, code in enumerate(codes):
            problem = icd10_problem(code)
            if problem:
                problems[index] = [problem]
        if problems:
            raise serializers.ValidationError(problems)
        return [normalize_icd10(code) for code in codes]
