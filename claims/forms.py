"""Browser forms of the claims screens. Clinic and user choices are always built through the acting user's scope."""

import datetime

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from clinics.forms import DateInput
from clinics.models import Payer
from otbilling.tenancy import VIEW_PHI, WORK_CLAIMS, clinics_visible_to

from .models import Claim, ClaimFrequency, ClaimStatus

MONEY = {"max_digits": 12, "decimal_places": 2, "required": False, "min_value": 0}
ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "none"


class AgeBucket:
    """Days since the first date of service, as billers read an aging report."""

    CHOICES = [("", "Any age"), ("0-30", "0–30 days"), ("31-60", "31–60 days"), ("61-90", "61–90 days"),
               ("91-120", "91–120 days"), ("120+", "Over 120 days")]
    BOUNDS = {"0-30": (0, 30), "31-60": (31, 60), "61-90": (61, 90), "91-120": (91, 120), "120+": (121, None)}

    @classmethod
    def service_date_range(cls, bucket: str, today: datetime.date) -> tuple[datetime.date | None, datetime.date]:
        """(earliest, latest) service_date_from of the bucket; earliest None means no lower bound."""
        youngest, oldest = cls.BOUNDS[bucket]
        latest = today - datetime.timedelta(days=youngest)
        earliest = today - datetime.timedelta(days=oldest) if oldest is not None else None
        return earliest, latest


# Column -> label; "-column" sorts the other way. Age sorts on the date of service (older = larger age).
SORTS = {"age": "Age", "amount": "Amount", "patient": "Patient", "payer": "Payer", "status": "Status"}
SORT_CHOICES = [(key, label) for name, label in SORTS.items() for key in (name, f"-{name}")]
DEFAULT_SORT = "-age"  # oldest claims first: they are closest to timely filing


class ClaimFilterForm(forms.Form):
    """Worklist filters; every field is optional. `sort` and `cursor` ride along in hidden fields."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    payer = forms.ModelChoiceField(queryset=Payer.objects.order_by("name"), to_field_name="public_id",
                                   required=False, empty_label="Any payer")
    status = forms.ChoiceField(choices=[("", "Any status"), *ClaimStatus.choices], required=False)
    age = forms.ChoiceField(label="Age", choices=AgeBucket.CHOICES, required=False)
    amount_min = forms.DecimalField(label="Amount from ($)", **MONEY)
    amount_max = forms.DecimalField(label="Amount to ($)", **MONEY)
    assignee = forms.ChoiceField(label="Assigned to", required=False)
    date_from = forms.DateField(label="Service from", required=False, widget=DateInput())
    date_to = forms.DateField(label="Service to", required=False, widget=DateInput())
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, VIEW_PHI).order_by("legal_name")
        # Only people already holding one of the user's claims: a filter never reveals another clinic's staff.
        holders = (get_user_model().objects
                   .filter(assigned_claims__in=Claim.objects.visible_to(user, VIEW_PHI).values("pk"))
                   .exclude(pk=user.pk).distinct().order_by("username"))
        self.fields["assignee"].choices = [
            ("", "Anyone"), (ASSIGNEE_ME, "Me"), (ASSIGNEE_NONE, "Unassigned"),
            *[(holder.username, holder.get_full_name() or holder.username) for holder in holders],
        ]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is before the start date.")
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and high is not None and high < low:
            self.add_error("amount_max", "The upper amount is below the lower amount.")
        return data


class CorrectForm(forms.Form):
    """A replacement (7) or a void (8) of an adjudicated claim, with the reason the payer and the history see."""

    frequency = forms.ChoiceField(
        label="Correction", widget=forms.RadioSelect,
        choices=[(ClaimFrequency.REPLACEMENT, "Replace (frequency 7): send corrected lines"),
                 (ClaimFrequency.VOID, "Void (frequency 8): cancel the claim")])
    reason = forms.CharField(
        label="Reason", max_length=300, widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        error_messages={"required": "Say why the claim is corrected or voided."})


class LineEditForm(forms.Form):
    """Units, modifiers and charge of one line of a draft replacement; the line is named by its position."""

    position = forms.IntegerField(min_value=1, max_value=50, widget=forms.HiddenInput)
    units = forms.IntegerField(min_value=1, max_value=999)
    modifiers = forms.CharField(required=False, max_length=20, help_text="Up to four, separated by spaces or commas.")
    charge = forms.DecimalField(label="Charge ($)", max_digits=12, decimal_places=2, min_value=0)

    def clean_modifiers(self) -> list[str]:
        words = [word.strip().upper() for word in self.cleaned_data["modifiers"].replace(",", " ").split()]
        if len(words) > 4:
            raise forms.ValidationError("A line carries at most four modifiers.")
        for word in words:
            if len(word) != 2 or not word.isalnum():
                raise forms.ValidationError(f"“{word}” is not a modifier: two letters or digits, e.g. GO or 59.")
        return words


class AssignForm(forms.Form):
    """Give the claim to a biller of its clinic, or to nobody."""

    assignee = forms.ChoiceField(label="Assign to", required=False)

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {user.username: user for user in candidates}
        self.fields["assignee"].choices = [("", "Nobody"), *[(user.username, user.get_full_name() or user.username)
                                                             for user in candidates]]

    def clean_assignee(self):
        return self.candidates.get(self.cleaned_data["assignee"])


class UnsubmittedFilterForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    payer = forms.ModelChoiceField(queryset=Payer.objects.order_by("name"), to_field_name="public_id",
                                   required=False, empty_label="Any payer")

    def __init__(self, *args, user, perm=VIEW_PHI, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, perm).order_by("legal_name")


class AckUploadForm(forms.Form):
    file = forms.FileField(label="999 or 277CA file",
                           help_text="An X12 implementation acknowledgment (999) or claim acknowledgment (277CA).")


def work_clinic_ids(user) -> set[int]:
    """Clinics where the user may act on claims (buttons are shown only for their rows)."""
    return set(clinics_visible_to(user, WORK_CLAIMS).values_list("pk", flat=True))


def today() -> datetime.date:
    return timezone.localdate()
