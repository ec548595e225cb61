"""API serializers of coding: the units calculator's request and response (documented in the OpenAPI schema)."""

from rest_framework import serializers

from visits.services import MAX_LINE_MINUTES

from .units import AMA, CMS

# Own labels (not clinics.UnitMethod's): the OpenAPI schema then names this choice set RuleEnum without clashing
# with the payer's UnitMethodEnum.
RULE_CHOICES = [(CMS, "CMS total-time rule"), (AMA, "AMA per-code rule")]


class UnitsLineSerializer(serializers.Serializer):
    """One code and its direct treatment minutes. Repeated codes are summed."""

    code = serializers.CharField(max_length=5, help_text="CPT/HCPCS code of the loaded code set, e.g. 97110.")
    minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_LINE_MINUTES,
        help_text="Whole minutes; required for timed codes, ignored for untimed codes (always 1 unit).",
        error_messages={"min_value": "Minutes cannot be negative.", "invalid": "Minutes must be a whole number.",
                        "max_value": f"At most {MAX_LINE_MINUTES} minutes per line."},
    )


class UnitsRequestSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(
        choices=RULE_CHOICES,
        help_text="cms = CMS total-time (8-minute rule, minutes pooled); ama = AMA per-code (each code alone).",
        error_messages={"invalid_choice": "Unknown unit rule {input!r}: use cms or ama."},
    )
    lines = UnitsLineSerializer(many=True, allow_empty=False,
                                help_text="The codes of one patient, date of service and discipline.")


class UnitsResponseSerializer(serializers.Serializer):
    units = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Units per code, in the order entered; codes that earn no unit are listed with 0. A family's "
                  "first code (97129) appears when only its add-on (97130) was sent.")
    total_timed_minutes = serializers.IntegerField(
        help_text="Minutes of all timed codes (untimed minutes never count).")
    total_timed_units = serializers.IntegerField(help_text="Units of all timed codes together.")
    explanation = serializers.ListField(child=serializers.CharField(), help_text="Each step of the rule in words.")
