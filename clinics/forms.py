"""Browser forms for clinic records. Choices are always built through the tenancy scope of the acting user."""

from django import forms
from django.core.exceptions import ValidationError

from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, clinics_visible_to

from .models import Coverage, Patient, Payer, Provider, ProviderKind, ReferringProvider


class DateInput(forms.DateInput):
    """A native date picker; the value is sent as YYYY-MM-DD."""

    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def apply_errors(form, exc) -> None:
    """Show a service's ValidationError or AppError beside the field it names, or at the top of the form."""
    if isinstance(exc, AppError):
        problems = [(d.get("field"), d.get("message")) for d in exc.details] or [(exc.field, exc.message)]
    elif hasattr(exc, "error_dict"):
        problems = [(name, message) for name, messages in exc.message_dict.items() for message in messages]
    else:
        problems = [(None, message) for message in exc.messages]
    for name, message in problems:
        form.add_error(name if name in form.fields else None, message)


class ClinicRecordForm(forms.ModelForm):
    """A clinic-owned record. New records get their clinic from the switcher, or ask when it is on "all".

    `clinic` is the record's clinic when it is already known (an existing record, the switcher's choice, or the
    patient's clinic for a coverage); otherwise the form shows a select of the clinics the user may edit.
    """

    def __init__(self, *args, user, clinic=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if self.instance.pk:
            clinic = self.instance.clinic
        self.fixed_clinic = clinic
        if clinic is None:
            editable = clinics_visible_to(user, EDIT_SESSIONS).order_by("legal_name")
            self.fields = {
                "clinic": forms.ModelChoiceField(
                    queryset=editable, to_field_name="public_id", empty_label="Choose the clinic…",
                    initial=editable.first() if editable.count() == 1 else None,
                    help_text="The clinic this record belongs to.",
                ),
                **self.fields,
            }

    def chosen_clinic(self):
        """The clinic the record will be saved in (None while the clinic select is still invalid)."""
        if self.fixed_clinic is not None:
            return self.fixed_clinic
        return self.cleaned_data.get("clinic") if hasattr(self, "cleaned_data") else None

    def clean(self):
        cleaned = super().clean()
        clinic = self.chosen_clinic()
        if clinic is not None:
            # Model validation (run next by ModelForm) needs to know the clinic.
            self.instance.clinic = clinic
        return cleaned

    def _post_clean(self):
        if self.chosen_clinic() is None and not self.instance.pk:
            return  # no clinic yet: the select's own error is enough; model.clean() would fail on it
        super()._post_clean()


class PatientForm(ClinicRecordForm):
    class Meta:
        model = Patient
        fields = ["first_name", "last_name", "mrn", "date_of_birth", "sex", "phone",
                  "address_line1", "address_line2", "city", "state", "zip_code"]
        widgets = {"date_of_birth": DateInput()}

    def clean_state(self):
        return self.cleaned_data["state"].strip().upper()


class CoverageForm(ClinicRecordForm):
    class Meta:
        model = Coverage
        fields = ["payer", "priority", "member_id", "group_number", "effective_from", "effective_to",
                  "relationship", "subscriber_first_name", "subscriber_last_name", "subscriber_date_of_birth",
                  "subscriber_sex"]
        widgets = {"effective_from": DateInput(), "effective_to": DateInput(),
                   "subscriber_date_of_birth": DateInput()}

    def __init__(self, *args, patient, **kwargs):
        super().__init__(*args, clinic=patient.clinic, **kwargs)
        self.instance.patient = patient
        self.fields["payer"].queryset = Payer.objects.filter(is_active=True)  # global reference data


class ProviderForm(ClinicRecordForm):
    class Meta:
        model = Provider
        fields = ["kind", "first_name", "last_name", "credentials", "npi", "taxonomy", "supervising_therapist",
                  "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Supervisors: active OTs of the record's clinic (of the editable clinics while the clinic is unchosen).
        therapists = Provider.objects.visible_to(self.user, EDIT_SESSIONS, clinic=self.fixed_clinic).filter(
            kind=ProviderKind.THERAPIST, is_active=True).select_related("clinic")
        if self.instance.pk:
            therapists = therapists.exclude(pk=self.instance.pk)
            if self.instance.supervising_therapist_id:
                # The select's values are public ids, not the primary key model_to_dict() puts in initial.
                self.initial["supervising_therapist"] = self.instance.supervising_therapist.public_id
        field = self.fields["supervising_therapist"]
        field.queryset = therapists
        field.to_field_name = "public_id"
        field.help_text = "Required for an OTA: an OT of the same clinic."
        if self.fixed_clinic is None:
            field.label_from_instance = lambda p: f"{p} — {p.clinic}"

    def clean(self):
        cleaned = super().clean()
        supervisor, clinic = cleaned.get("supervising_therapist"), self.chosen_clinic()
        if supervisor is not None and clinic is not None and supervisor.clinic_id != clinic.pk:
            self.add_error("supervising_therapist", ValidationError("Choose an OT of the same clinic."))
        return cleaned


class ReferringProviderForm(ClinicRecordForm):
    class Meta:
        model = ReferringProvider
        fields = ["first_name", "last_name", "npi"]


class PatientSearchForm(forms.Form):
    q = forms.CharField(label="Name or MRN", required=False, max_length=80)


class AccessLogFilterForm(forms.Form):
    """Filters of the operator's PHI access-log page."""

    user = forms.CharField(label="User name", required=False, max_length=150)
    clinic = forms.ModelChoiceField(queryset=None, required=False, to_field_name="slug", empty_label="All clinics")
    action = forms.ChoiceField(required=False)
    date_from = forms.DateField(label="From", required=False, widget=DateInput())
    date_to = forms.DateField(label="To", required=False, widget=DateInput())

    def __init__(self, *args, clinics, actions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics
        self.fields["action"].choices = [("", "All actions"), *actions]
