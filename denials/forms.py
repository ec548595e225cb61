"""Browser forms of the denial, A/R and underpayment worklists and of the denial page's actions. Clinic and user
choices are always built through the acting user's scope, so a filter never reveals another clinic's staff."""

from django import forms
from django.contrib.auth import get_user_model

from claims.forms import MONEY, AgeBucket
from claims.models import Claim, LedgerParty
from clinics.forms import DateInput
from clinics.models import Payer
from otbilling.tenancy import ROLE_PERMISSIONS, VIEW_PHI, WORK_CLAIMS, clinics_visible_to

from .carc import CATEGORIES
from .models import AppealOutcome, Denial, Underpayment, WorkStatus
from .services import RESOLVE_TO, UNDERPAYMENT_RESOLVE_TO, TransferReason, WriteOffReason

ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "none"
STATUS_OPEN_WORK = ""  # the default: what still needs a person (open or appealed)
STATUS_ANY = "all"
CATEGORY_CHOICES = [("", "Any category"), *[(category, category.capitalize()) for category in CATEGORIES]]

# Column -> label; "-column" sorts the other way.
DENIAL_SORTS = {"deadline": "Appeal deadline", "amount": "Amount", "age": "Age", "payer": "Payer"}
DENIAL_DEFAULT_SORT = "deadline"  # the nearest deadline first: a missed one cannot be appealed
AR_SORTS = {"age": "Age", "balance": "Balance", "payer": "Payer", "follow_up": "Next follow-up"}
AR_DEFAULT_SORT = "-age"  # oldest first: closest to timely filing and hardest to collect
FOLLOW_UP_CHOICES = [("", "Any"), ("due", "Due today or overdue"), ("week", "Due within 7 days"),
                     ("unset", "No follow-up date")]


def _sort_choices(sorts: dict) -> list[tuple[str, str]]:
    return [(key, label) for name, label in sorts.items() for key in (name, f"-{name}")]


def work_candidates(clinics) -> list:
    """People holding a role that works claims on one of `clinics`: whom a biller may assign work to."""
    roles = [role for role, perms in ROLE_PERMISSIONS.items() if WORK_CLAIMS in perms]
    return list(get_user_model().objects.filter(clinic_grants__clinic__in=clinics, clinic_grants__role__in=roles,
                                                is_active=True).distinct().order_by("username"))


def _assignee_choices(user, holders) -> list[tuple[str, str]]:
    return [("", "Anyone"), (ASSIGNEE_ME, "Me"), (ASSIGNEE_NONE, "Unassigned"),
            *[(holder.username, holder.get_full_name() or holder.username) for holder in holders
              if holder.pk != user.pk]]


class _WorklistFilter(forms.Form):
    """The filters both worklists share; every field is optional."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    payer = forms.ModelChoiceField(queryset=Payer.objects.order_by("name"), to_field_name="public_id",
                                   required=False, empty_label="Any payer")
    category = forms.ChoiceField(label="CARC category", choices=CATEGORY_CHOICES, required=False)
    amount_min = forms.DecimalField(label="Amount from ($)", **MONEY)
    amount_max = forms.DecimalField(label="Amount to ($)", **MONEY)
    assignee = forms.ChoiceField(label="Assigned to", required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, VIEW_PHI).order_by("legal_name")

    def clean(self):
        data = super().clean()
        low, high = data.get("amount_min"), data.get("amount_max")
        if low is not None and high is not None and high < low:
            self.add_error("amount_max", "The upper amount is below the lower amount.")
        return data


class DenialFilterForm(_WorklistFilter):
    status = forms.ChoiceField(
        choices=[(STATUS_OPEN_WORK, "Open or appealed"), (STATUS_ANY, "Any status"), *WorkStatus.choices],
        required=False)
    date_from = forms.DateField(label="Denied from", required=False, widget=DateInput())
    date_to = forms.DateField(label="Denied to", required=False, widget=DateInput())
    deadline_days = forms.IntegerField(label="Appeal deadline within (days)", required=False, min_value=0,
                                       max_value=3650)
    sort = forms.ChoiceField(choices=_sort_choices(DENIAL_SORTS), required=False, widget=forms.HiddenInput)

    field_order = ["clinic", "payer", "status", "category", "amount_min", "amount_max", "assignee", "date_from",
                   "date_to", "deadline_days"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        holders = (get_user_model().objects
                   .filter(assigned_denials__in=Denial.objects.visible_to(user, VIEW_PHI).values("pk"))
                   .distinct().order_by("username"))
        self.fields["assignee"].choices = _assignee_choices(user, holders)

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class ArFilterForm(_WorklistFilter):
    age = forms.ChoiceField(label="Age", choices=AgeBucket.CHOICES, required=False)
    follow_up = forms.ChoiceField(label="Next follow-up", choices=FOLLOW_UP_CHOICES, required=False)
    sort = forms.ChoiceField(choices=_sort_choices(AR_SORTS), required=False, widget=forms.HiddenInput)

    field_order = ["clinic", "payer", "age", "category", "amount_min", "amount_max", "assignee", "follow_up"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, user=user, **kwargs)
        self.fields["amount_min"].label, self.fields["amount_max"].label = "Balance from ($)", "Balance to ($)"
        holders = (get_user_model().objects
                   .filter(assigned_claims__in=Claim.objects.visible_to(user, VIEW_PHI).values("pk"))
                   .distinct().order_by("username"))
        self.fields["assignee"].choices = _assignee_choices(user, holders)


class UnderpaymentFilterForm(forms.Form):
    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    payer = forms.ModelChoiceField(queryset=Payer.objects.order_by("name"), to_field_name="public_id",
                                   required=False, empty_label="Any payer")
    status = forms.ChoiceField(
        choices=[(STATUS_OPEN_WORK, "Open or appealed"), (STATUS_ANY, "Any status"), *WorkStatus.choices],
        required=False)
    assignee = forms.ChoiceField(label="Assigned to", required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, VIEW_PHI).order_by("legal_name")
        holders = (get_user_model().objects
                   .filter(assigned_underpayments__in=Underpayment.objects.visible_to(user, VIEW_PHI).values("pk"))
                   .distinct().order_by("username"))
        self.fields["assignee"].choices = _assignee_choices(user, holders)


class BulkAssignForm(forms.Form):
    """Whom the checked rows go to: me, nobody, or a person who works claims of the user's clinics."""

    assignee = forms.ChoiceField(label="Assign the selected to")

    def __init__(self, *args, user, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.candidates = {candidate.username: candidate for candidate in candidates}
        self.fields["assignee"].choices = [
            (ASSIGNEE_ME, "Me"), (ASSIGNEE_NONE, "Nobody"),
            *[(name, person.get_full_name() or name) for name, person in self.candidates.items() if person != user]]

    def clean_assignee(self):
        value = self.cleaned_data["assignee"]
        if value == ASSIGNEE_ME:
            return self.user
        if value == ASSIGNEE_NONE:
            return None
        return self.candidates[value]


class AssignForm(forms.Form):
    """Give one item to a person who works claims of its clinic, or to nobody."""

    assignee = forms.ChoiceField(label="Assign to", required=False)

    def __init__(self, *args, candidates, **kwargs):
        super().__init__(*args, **kwargs)
        self.candidates = {user.username: user for user in candidates}
        self.fields["assignee"].choices = [("", "Nobody"), *[(user.username, user.get_full_name() or user.username)
                                                             for user in candidates]]

    def clean_assignee(self):
        return self.candidates.get(self.cleaned_data["assignee"])


class AppealForm(forms.Form):
    argument = forms.CharField(
        label="Our argument", widget=forms.Textarea(attrs={"rows": 6, "cols": 60}), max_length=6000,
        help_text="Why the payer should pay: what the record shows, the authorization, the rule the payer misapplied. "
                  "The letter quotes it and attaches the signed note and the plan of care.",
        error_messages={"required": "Write the argument of the appeal: why the payer should pay."})


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(label="Payer's answer", widget=forms.RadioSelect,
                                choices=[c for c in AppealOutcome.choices if c[0] != AppealOutcome.PENDING])
    note = forms.CharField(label="Note", required=False, max_length=300,
                           help_text="e.g. the payer's letter date or reference number")


class TransferForm(forms.Form):
    amount = forms.DecimalField(label="Amount ($)", help_text="Empty: the payer's whole open balance.", **MONEY)
    reason = forms.ChoiceField(label="Why the patient owes it", choices=TransferReason.choices)
    note = forms.CharField(label="Note", required=False, max_length=300)


class WriteOffForm(forms.Form):
    amount = forms.DecimalField(label="Amount ($)", max_digits=12, decimal_places=2, min_value=0)
    reason_code = forms.ChoiceField(label="Reason", choices=[("", "Choose a reason"), *WriteOffReason.choices])
    party = forms.ChoiceField(label="Whose balance", initial=LedgerParty.PAYER,
                              choices=[(LedgerParty.PAYER, "The payer's"), (LedgerParty.PATIENT, "The patient's")])
    note = forms.CharField(label="Note", required=False, max_length=300)


class FollowUpForm(forms.Form):
    text = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
                           max_length=4000)
    next_follow_up = forms.DateField(label="Next follow-up", required=False, widget=DateInput())

    def clean(self):
        data = super().clean()
        if not (data.get("text") or "").strip() and not data.get("next_follow_up") and not self.errors:
            self.add_error("text", "Write a note or choose the next follow-up date.")
        return data


class ResolveForm(forms.Form):
    status = forms.ChoiceField(label="Resolved how", choices=[(s, WorkStatus(s).label) for s in RESOLVE_TO])
    note = forms.CharField(label="Note", max_length=300, error_messages={"required": "Say how it was resolved."})


class UnderpaymentResolveForm(forms.Form):
    status = forms.ChoiceField(label="Resolved how",
                               choices=[(s, WorkStatus(s).label) for s in UNDERPAYMENT_RESOLVE_TO])
    note = forms.CharField(label="Note", max_length=300, error_messages={"required": "Say how it was resolved."})
