"""Forms of the 835 screens: upload, manual match, paper EOB and patient payment, bank deposits.

The upload form refuses a file paying a clinic the user may not work, before anything is queued: era_import
trusts its caller and would otherwise post clinic A's money for a clinic B biller. The payee is read the way
posting reads it (NPI, then TIN); a file too broken to name its payee is left to era_import, which quarantines it
under the uploader's name.
"""

from decimal import Decimal

from django import forms
from django.utils import timezone

from clinics.models import Clinic
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, clinics_visible_to

from .manual import GROUPS, MANUAL_SOURCES, PATIENT_METHODS
from .posting import _payee_clinic
from .reconcile import MAX_CSV_BYTES
from .x835 import MAX_FILE_BYTES, parse_835

ADJUSTMENT_ROWS = 3
MONEY_FIELD = {"max_digits": 12, "decimal_places": 2}


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # X12 is the basic character set; every byte decodes


def payee_problem(content: str, user) -> str | None:
    """Why this user may not import this 835 (a payee that is none of the clinics they work), or None."""
    try:
        remittances = parse_835(content)
    except AppError:
        return None
    allowed = set(clinics_visible_to(user, WORK_CLAIMS).values_list("pk", flat=True))
    for remittance in remittances:
        try:
            clinic = _payee_clinic(remittance)
        except AppError:
            clinic = None
        if clinic is None or clinic.pk not in allowed:
            # The same words for "unknown" and "another clinic's": an upload must not reveal who our clients are.
            return (f"Transaction {remittance.control_number or '?'} pays {remittance.payee_name or 'a payee'} (NPI "
                    f"{remittance.payee_npi or '—'}, TIN {remittance.payee_tin or '—'}), which is none of the "
                    "clinics you work; nothing was posted.")
    return None


class EraUploadForm(forms.Form):
    file = forms.FileField(label="835 file", help_text="An 835 remittance (005010X221A1) from the payer or "
                                                       "clearinghouse, at most 50 MB.")
    dry_run = forms.BooleanField(required=False, label="Dry run: show what would be posted, post nothing")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_file(self):
        upload = self.cleaned_data["file"]
        data = upload.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise forms.ValidationError(f"{upload.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
        if not data.strip():
            raise forms.ValidationError(f"{upload.name} is empty.")
        self.cleaned_data["file_name"] = upload.name[:200]
        self.cleaned_data["content"] = _decode(data)
        return upload

    def clean(self):
        cleaned = super().clean()
        if "content" in cleaned:
            problem = payee_problem(cleaned["content"], self.user)
            if problem:
                self.add_error("file", problem)
        return cleaned


class UnmatchedMatchForm(forms.Form):
    claim = forms.CharField(label="Our claim number", max_length=20,
                            help_text="The claim's patient control number (CLM01), e.g. from the suggestions below.")
    line = forms.TypedChoiceField(label="Claim line", coerce=int, required=False, empty_value=None)

    def __init__(self, *args, line_choices=None, **kwargs):
        super().__init__(*args, **kwargs)
        if line_choices is None:
            del self.fields["line"]
        else:
            self.fields["line"].choices = [("", "Choose the line"), *line_choices]
            self.fields["line"].required = True


class EobForm(forms.Form):
    """The EOB itself: where the answer came from and when it was paid."""

    source = forms.ChoiceField(choices=list(MANUAL_SOURCES.items()), initial="eob")
    reference = forms.CharField(max_length=50, help_text="Check or EFT number, or the payer's claim number.")
    payment_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["payment_date"].initial = timezone.localdate()


class EobLineForm(forms.Form):
    """One claim line's answer: paid, up to three adjustments (group, CARC, amount) and remark codes."""

    paid = forms.DecimalField(required=False, min_value=Decimal("0"), **MONEY_FIELD)
    remarks = forms.CharField(required=False, max_length=60, help_text="RARCs, space-separated (e.g. N640).")
    partial = forms.BooleanField(required=False, label="Part of the line only",
                                 help_text="The EOB answers only part of this line, so it need not balance.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        groups = [("", "—"), *[(group, group) for group in GROUPS]]
        # The line screen shows these in a table without visible labels, so each says what it is to a screen reader.
        line = self.prefix or "line"
        for n in range(1, ADJUSTMENT_ROWS + 1):
            self.fields[f"group{n}"] = forms.ChoiceField(
                choices=groups, required=False, label=f"Group {n}",
                widget=forms.Select(attrs={"aria-label": f"{line} adjustment {n} group"}))
            self.fields[f"carc{n}"] = forms.CharField(
                required=False, max_length=5, label=f"CARC {n}",
                widget=forms.TextInput(attrs={"aria-label": f"{line} adjustment {n} reason code", "size": 4}))
            self.fields[f"amount{n}"] = forms.DecimalField(
                required=False, label=f"Amount {n}", **MONEY_FIELD,
                widget=forms.NumberInput(attrs={"aria-label": f"{line} adjustment {n} amount", "step": "0.01"}))
        self.fields["remarks"].widget.attrs["aria-label"] = f"{line} remark codes"
        self.fields["partial"].widget.attrs["aria-label"] = f"{line}: part of the line only"

    def adjustment_rows(self):
        return [(self[f"group{n}"], self[f"carc{n}"], self[f"amount{n}"]) for n in range(1, ADJUSTMENT_ROWS + 1)]

    def as_spec(self, position: int) -> dict:
        data = self.cleaned_data
        return {
            "position": position, "paid": data.get("paid") or Decimal("0"), "partial": data.get("partial", False),
            "remarks": (data.get("remarks") or "").replace(",", " ").split(),
            "adjustments": [{"group": data.get(f"group{n}"), "carc": data.get(f"carc{n}"),
                             "amount": data.get(f"amount{n}")} for n in range(1, ADJUSTMENT_ROWS + 1)],
        }


class PatientPaymentForm(forms.Form):
    amount = forms.DecimalField(min_value=Decimal("0.01"), **MONEY_FIELD)
    method = forms.ChoiceField(choices=list(PATIENT_METHODS.items()))
    reference = forms.CharField(required=False, max_length=50, help_text="Receipt or check number.")


class _ClinicForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), to_field_name="public_id",
                                    empty_label="Choose a clinic")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, WORK_CLAIMS)


class DepositForm(_ClinicForm):
    deposit_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    amount = forms.DecimalField(**MONEY_FIELD)
    trace_number = forms.CharField(required=False, max_length=50,
                                   help_text="The EFT trace number (the 835's TRN02) or the check number.")
    description = forms.CharField(required=False, max_length=120)


class DepositImportForm(_ClinicForm):
    file = forms.FileField(label="Bank CSV", help_text="Header row date, amount, trace_number[, description]; "
                                                       "UTF-8, at most 2 MB.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        data = upload.read(MAX_CSV_BYTES + 1)
        if len(data) > MAX_CSV_BYTES:
            raise forms.ValidationError(f"{upload.name} is larger than {MAX_CSV_BYTES // (1024 * 1024)} MB.")
        self.cleaned_data["content"] = data
        return upload
