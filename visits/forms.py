"""Browser forms for treatment sessions and plans of care.

The forms only parse what was typed; the business rules (codes, pointers, minutes, signatures) live in
visits.services, whose AppError details are mapped back beside the field or service-line row they name.
"""

import re

from django import forms
from django.urls import reverse
from django.utils import timezone

from clinics.forms import ClinicRecordForm, DateInput
from clinics.models import Coverage, Patient, Provider, ProviderKind, ReferringProvider
from otbilling.tenancy import EDIT_SESSIONS, VIEW_PHI, clinics_visible_to

from .diagnoses import describe_icd10, icd10_problem, normalize_icd10
from .models import MAX_DIAGNOSES, PlaceOfService, PlanOfCare, VisitStatus
from .services import MAX_LINES

DIAGNOSIS_FIELDS = [f"diagnosis_{n}" for n in range(1, MAX_DIAGNOSES + 1)]
LIST_SPLIT = re.compile(r"[\s,;]+")


def split_list(text: str) -> list[str]:
    return [item for item in LIST_SPLIT.split(text or "") if item]


class VisitForm(forms.Form):
    """The session header: who, when, where, diagnoses, note and signature.

    Choices are scoped to the clinics where the user may enter sessions (narrowed to the switcher's clinic, or
    the visit's clinic when editing). Once a patient is chosen, every other select is narrowed to that patient's
    clinic, and coverages and plans of care to that patient.
    """

    patient = forms.ModelChoiceField(queryset=Patient.objects.none(), to_field_name="public_id",
                                     empty_label="Choose the patient…")
    coverage = forms.ModelChoiceField(queryset=Coverage.objects.none(), to_field_name="public_id", required=False,
                                      empty_label="No coverage (self-pay)")
    rendering_provider = forms.ModelChoiceField(queryset=Provider.objects.none(), to_field_name="public_id",
                                                label="Rendering therapist (OT)", empty_label="Choose the OT…")
    referring_provider = forms.ModelChoiceField(queryset=ReferringProvider.objects.none(), to_field_name="public_id",
                                                required=False, empty_label="None")
    plan_of_care = forms.ModelChoiceField(queryset=PlanOfCare.objects.none(), to_field_name="public_id",
                                          required=False, empty_label="None")
    date_of_service = forms.DateField(widget=DateInput())
    place_of_service = forms.ChoiceField(choices=PlaceOfService.choices, initial=PlaceOfService.OFFICE)
    note_text = forms.CharField(label="Treatment note", required=False, widget=forms.Textarea(attrs={"rows": 6}))
    sign = forms.BooleanField(label="Sign the note now", required=False)
    signed_by_name = forms.CharField(label="Signed by (therapist's name and credentials)", required=False,
                                     max_length=80)

    def __init__(self, *args, user, clinic=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.scope_clinic = clinic
        for number, name in enumerate(DIAGNOSIS_FIELDS, start=1):
            self.fields[name] = forms.CharField(
                label=f"Diagnosis {number}", required=False, max_length=10,
                widget=forms.TextInput(attrs={
                    "list": "icd10-options", "autocomplete": "off", "size": 9, "class": "code-input",
                    "hx-get": reverse("icd10-search"), "hx-trigger": "input changed delay:300ms",
                    "hx-target": "#icd10-options", "hx-swap": "innerHTML",
                }),
            )
        self.fields["date_of_service"].initial = timezone.localdate
        self.fields["patient"].widget.attrs.update({
            "hx-get": reverse("visit-patient-fields"), "hx-trigger": "change", "hx-target": "#patient-fields",
            "hx-swap": "outerHTML", "hx-include": "[name=rendering_provider],[name=referring_provider]",
        })
        self.fields["patient"].queryset = (Patient.objects.visible_to(user, EDIT_SESSIONS, clinic=clinic)
                                           .select_related("clinic"))
        self.patient = self._selected_patient()
        self._narrow_choices()

    def _selected_patient(self):
        value = self.data.get(self.add_prefix("patient")) if self.is_bound else self.initial.get("patient")
        if isinstance(value, Patient):
            value = value.public_id
        if not value:
            return None
        try:
            return self.fields["patient"].queryset.filter(public_id=value).first()
        except (ValueError, forms.ValidationError):
            return None

    def _narrow_choices(self):
        clinic = self.patient.clinic if self.patient else self.scope_clinic
        many_clinics = clinic is None and clinics_visible_to(self.user, EDIT_SESSIONS).count() > 1
        providers = Provider.objects.visible_to(self.user, EDIT_SESSIONS, clinic=clinic).filter(
            kind=ProviderKind.THERAPIST, is_active=True).select_related("clinic")
        referrers = ReferringProvider.objects.visible_to(self.user, EDIT_SESSIONS, clinic=clinic).select_related(
            "clinic")
        self.fields["rendering_provider"].queryset = providers
        self.fields["referring_provider"].queryset = referrers
        if many_clinics:
            for name in ("patient", "rendering_provider", "referring_provider"):
                self.fields[name].label_from_instance = lambda obj: f"{obj} — {obj.clinic}"
        if self.patient is not None:
            self.fields["coverage"].queryset = Coverage.objects.visible_to(
                self.user, EDIT_SESSIONS, clinic=clinic).filter(patient=self.patient).select_related("payer")
            self.fields["plan_of_care"].queryset = PlanOfCare.objects.visible_to(
                self.user, EDIT_SESSIONS, clinic=clinic).filter(patient=self.patient)
            if not self.is_bound and not self.initial.get("coverage"):
                self.initial["coverage"] = self.patient.coverage_on(timezone.localdate())
        else:
            self.fields["coverage"].help_text = "Choose the patient first."
            self.fields["plan_of_care"].help_text = "Choose the patient first."

    def diagnosis_fields(self):
        """(bound field, description) per diagnosis slot, for the template."""
        rows = []
        for name in DIAGNOSIS_FIELDS:
            bound = self[name]
            value = (bound.value() or "").strip()
            rows.append((bound, describe_or_blank(value)))
        return rows

    def clean(self):
        cleaned = super().clean()
        codes = [(self.cleaned_data.get(name) or "").strip() for name in DIAGNOSIS_FIELDS]
        last = max((i for i, code in enumerate(codes) if code), default=-1)
        for index in range(last + 1):
            if not codes[index]:
                self.add_error(DIAGNOSIS_FIELDS[index],
                               "Fill the diagnoses in order without gaps: line pointers refer to these positions.")
        cleaned["diagnoses"] = codes[:last + 1]
        return cleaned


def describe_or_blank(code: str) -> str:
    return describe_icd10(code) if code else ""


class LineForm(forms.Form):
    """One service line row. Blank rows are ignored; pointers and modifiers are typed as comma lists."""

    cpt = forms.CharField(label="CPT/HCPCS", required=False, max_length=10,
                          widget=forms.TextInput(attrs={"size": 6, "class": "code-input"}))
    minutes = forms.IntegerField(required=False, min_value=0, max_value=480,
                                 widget=forms.NumberInput(attrs={"class": "num-input"}))
    assistant_minutes = forms.IntegerField(label="OTA minutes", required=False, min_value=0, max_value=480,
                                           widget=forms.NumberInput(attrs={"class": "num-input"}))
    diagnosis_pointers = forms.CharField(label="Dx pointers", required=False, max_length=20,
                                         widget=forms.TextInput(attrs={"size": 7, "placeholder": "1,2"}))
    modifiers = forms.CharField(required=False, max_length=20,
                                widget=forms.TextInput(attrs={"size": 8, "placeholder": "GO,59"}))
    distinct_time_block = forms.BooleanField(label="Distinct time block", required=False)

    def clean_cpt(self):
        return self.cleaned_data["cpt"].strip().upper()

    def clean_diagnosis_pointers(self):
        items = split_list(self.cleaned_data["diagnosis_pointers"])
        if not all(item.isdigit() for item in items):
            raise forms.ValidationError("Use diagnosis numbers separated by commas, e.g. 1,2.")
        return [int(item) for item in items]

    def clean_modifiers(self):
        return [item.upper() for item in split_list(self.cleaned_data["modifiers"])]

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(name) for name in self.fields)

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("cpt") and not self.is_blank():
            self.add_error("cpt", "Enter the CPT/HCPCS code of this line, or clear the row.")
        return cleaned


class BaseLineFormSet(forms.BaseFormSet):
    def filled_forms(self):
        """The rows that were filled in, in order: row N of the service's errors is the Nth of these."""
        return [form for form in self.forms if not form.is_blank()]


LineFormSet = forms.formset_factory(LineForm, formset=BaseLineFormSet, extra=4, max_num=MAX_LINES,
                                    validate_max=True)


class SignForm(forms.Form):
    signed_by_name = forms.CharField(label="Signed by (therapist's name and credentials)", max_length=80)


class PlanOfCareForm(ClinicRecordForm):
    """A certified plan of care for one patient; diagnoses typed as a comma list of ICD-10-CM codes."""

    class Meta:
        model = PlanOfCare
        fields = ["start_date", "certified_through", "certification_signed_date", "certifier_name",
                  "certifier_npi", "frequency", "duration", "goals", "diagnoses"]
        widgets = {"start_date": DateInput(), "certified_through": DateInput(),
                   "certification_signed_date": DateInput()}
        help_texts = {"diagnoses": "ICD-10-CM codes separated by commas, e.g. M62.81, R26.89."}

    def __init__(self, *args, patient, **kwargs):
        super().__init__(*args, clinic=patient.clinic, **kwargs)
        self.instance.patient = patient

    def clean_diagnoses(self):
        codes = [normalize_icd10(code) for code in self.cleaned_data.get("diagnoses") or []]
        problems = [problem for problem in map(icd10_problem, codes) if problem]
        if problems:
            raise forms.ValidationError(problems)
        return codes


class VisitFilterForm(forms.Form):
    """Filters of the session list (the clinic comes from the switcher)."""

    patient = forms.CharField(label="Patient name", required=False, max_length=80)
    provider = forms.ModelChoiceField(label="Rendering provider", queryset=Provider.objects.none(),
                                      to_field_name="public_id", required=False, empty_label="All providers")
    status = forms.ChoiceField(choices=[("", "Any status"), *VisitStatus.choices], required=False)
    date_from = forms.DateField(label="From", required=False, widget=DateInput())
    date_to = forms.DateField(label="To", required=False, widget=DateInput())
    sort = forms.ChoiceField(choices=[("-date", "Newest first"), ("date", "Oldest first")], required=False,
                             widget=forms.HiddenInput)

    def __init__(self, *args, user, clinic=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = Provider.objects.visible_to(user, VIEW_PHI, clinic=clinic).order_by(
            "last_name", "first_name")
