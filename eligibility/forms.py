"""Browser forms of eligibility. Clinic choices are always built through the acting user's scope."""

import datetime

from django import forms
from django.utils import timezone

from clinics.forms import DateInput
from clinics.models import Payer
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to

from .models import SnapshotSource
from .selectors import WorklistStatus

MONEY = {"max_digits": 12, "decimal_places": 2, "required": False, "min_value": 0}


def tomorrow() -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=1)


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%dT%H:%M")


class ManualVerificationForm(forms.Form):
    """A phone call or a look at the payer's portal: who, when, reference number and the benefits found."""

    source = forms.ChoiceField(choices=[(SnapshotSource.PHONE, "Phone call"), (SnapshotSource.PORTAL, "Payer portal")])
    checked_at = forms.DateTimeField(label="When", widget=DateTimeInput(),
                                     input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"])
    checked_by_name = forms.CharField(label="Checked by", max_length=80, help_text="Who called or looked.")
    reference_number = forms.CharField(label="Call reference number", max_length=50, required=False)
    is_active = forms.TypedChoiceField(
        label="Coverage active on the date of service?", choices=[("yes", "Active"), ("no", "Inactive")],
        coerce=lambda value: value == "yes", widget=forms.RadioSelect)
    plan_name = forms.CharField(max_length=80, required=False)
    plan_begin = forms.DateField(required=False, widget=DateInput())
    plan_end = forms.DateField(required=False, widget=DateInput())
    coinsurance_percent = forms.DecimalField(label="Coinsurance (%)", max_digits=5, decimal_places=2, required=False,
                                             min_value=0, max_value=100)
    copay_amount = forms.DecimalField(label="Copay ($)", **MONEY)
    deductible_total = forms.DecimalField(label="Deductible total ($)", **MONEY)
    deductible_remaining = forms.DecimalField(label="Deductible remaining ($)", **MONEY)
    out_of_pocket_total = forms.DecimalField(label="Out-of-pocket maximum ($)", **MONEY)
    out_of_pocket_remaining = forms.DecimalField(label="Out-of-pocket remaining ($)", **MONEY)
    visits_allowed = forms.IntegerField(label="Visit limit", required=False, min_value=0, max_value=32767)
    units_allowed = forms.IntegerField(label="Unit limit", required=False, min_value=0, max_value=32767)
    limit_period_start = forms.DateField(label="Limit period from", required=False, widget=DateInput())
    limit_period_end = forms.DateField(label="Limit period to", required=False, widget=DateInput())
    therapy_ytd_amount = forms.DecimalField(label="Therapy amount used this year ($)", **MONEY)
    notes = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))


class ResponseUploadForm(forms.Form):
    file = forms.FileField(label="271 file", help_text="An X12 005010X279A1 eligibility response, at most 20 MB.")


class WorklistFilterForm(forms.Form):
    """Worklist filters; every field is optional and the date defaults to tomorrow."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    payer = forms.ModelChoiceField(queryset=Payer.objects.order_by("name"), to_field_name="public_id",
                                   required=False, empty_label="Any payer")
    status = forms.ChoiceField(choices=[("", "Any status"), *WorklistStatus.choices], required=False)
    date = forms.DateField(label="Date of service", required=False, widget=DateInput())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, VIEW_PHI).order_by("legal_name")


class BatchCreateForm(forms.Form):
    """Build a 270 now (the nightly job does the same for tomorrow)."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", empty_label="Choose a clinic")
    for_date = forms.DateField(label="Date of service", widget=DateInput())

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, EDIT_SESSIONS).order_by("legal_name")
