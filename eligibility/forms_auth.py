"""Browser forms of prior authorizations and their renewal worklist.

The forms only collect input; eligibility.authorizations.authorization_save is the one validator, and its
problems ("number", "codes[2].units", ...) are put back beside the field or row (see `apply_auth_errors`).
"""

import re

from django import forms

from clinics.forms import DateInput
from clinics.models import Payer
from otbilling.errors import AppError
from otbilling.tenancy import VIEW_PHI, clinics_visible_to

from .alerts import AlertReason
from .authorizations import MAX_CODES, SMALL_INT_MAX
from .models import AuthStatus

CODE_FIELD = re.compile(r"^codes\[(\d+)\]\.(\w+)$")


class AuthorizationForm(forms.Form):
    """The authorization itself: number, status, dates and the visits/units in total."""

    number = forms.CharField(label="Authorization number", max_length=80)
    status = forms.ChoiceField(choices=AuthStatus.choices, initial=AuthStatus.APPROVED)
    start_date = forms.DateField(label="First authorized day", widget=DateInput())
    end_date = forms.DateField(label="Last authorized day", widget=DateInput())
    visits_authorized = forms.IntegerField(label="Visits authorized", required=False, min_value=1,
                                           max_value=SMALL_INT_MAX, help_text="Empty when the payer counts no visits.")
    units_authorized = forms.IntegerField(label="Units authorized (total, any code)", required=False, min_value=1,
                                          max_value=SMALL_INT_MAX,
                                          help_text="Empty when the payer authorizes units per code only, or none.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 50}))


class CodeForm(forms.Form):
    """One line-level row: a CPT code and the units authorized for it. Blank rows are ignored."""

    cpt = forms.CharField(label="CPT/HCPCS", required=False, max_length=10,
                          widget=forms.TextInput(attrs={"size": 6, "class": "code-input"}))
    units = forms.IntegerField(label="Units", required=False, min_value=1, max_value=SMALL_INT_MAX,
                               widget=forms.NumberInput(attrs={"class": "num-input"}))

    def clean_cpt(self):
        return self.cleaned_data["cpt"].strip().upper()

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not data.get("cpt") and data.get("units") is None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("cpt") and cleaned.get("units") is None and "units" not in self.errors:
            self.add_error("units", f"Enter the units authorized for {cleaned['cpt']}, or clear the row.")
        if cleaned.get("units") is not None and not cleaned.get("cpt"):
            self.add_error("cpt", "Enter the code these units are for, or clear the row.")
        return cleaned


class BaseCodeFormSet(forms.BaseFormSet):
    def filled_forms(self):
        """The rows that were filled in, in order: row N of the service's errors is the Nth of these."""
        return [form for form in self.forms if not form.is_blank()]

    def codes(self) -> list[tuple[str, int]]:
        return [(form.cleaned_data["cpt"], form.cleaned_data["units"]) for form in self.filled_forms()]


CodeFormSet = forms.formset_factory(CodeForm, formset=BaseCodeFormSet, extra=3, max_num=MAX_CODES,
                                    validate_max=True)


def apply_auth_errors(exc: AppError, form, code_forms) -> None:
    """Put each service problem beside its field or code row; the rest go to the top of the form."""
    problems = [(d.get("field") or "", d.get("message")) for d in exc.details] or [(exc.field or "", exc.message)]
    for name, message in problems:
        if match := CODE_FIELD.match(name):
            number, field = int(match[1]), match[2]
            if 1 <= number <= len(code_forms) and field in code_forms[number - 1].fields:
                code_forms[number - 1].add_error(field, message)
                continue
        form.add_error(name if name in form.fields else None, message)


class CancelForm(forms.Form):
    reason = forms.CharField(label="Why is it cancelled?", max_length=200,
                             widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
                             error_messages={"required": "Say why the authorization is cancelled."})


class AuthWorklistFilterForm(forms.Form):
    """Renewal-worklist filters; clinic choices are the user's clinics. Every field is optional."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    payer = forms.ModelChoiceField(queryset=Payer.objects.order_by("name"), to_field_name="public_id",
                                   required=False, empty_label="Any payer")
    reason = forms.ChoiceField(choices=[("", "Any reason"), *AlertReason.choices], required=False)
    sort = forms.ChoiceField(choices=[("expiry", "Expiring first"), ("-expiry", "Expiring last")], required=False,
                             widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, VIEW_PHI).order_by("legal_name")
