"""Browser forms of the reporting screens: the dashboard filters (shared by the drill-down and the CSV exports), the
baseline settings and the monthly report request. Clinic, payer and therapist choices are built through the acting
user's scope, so an id of another clinic's payer or therapist is simply not a valid choice."""

import datetime
import re
from dataclasses import dataclass
from urllib.parse import urlencode

from django import forms
from django.utils import timezone

from claims.models import Claim
from clinics.forms import DateInput
from clinics.models import Clinic, Payer, Provider
from otbilling.tenancy import VIEW_REPORTS, clinics_visible_to

from .kpis import month_bounds, parse_month, previous_period
from .models import ReportSettings

MONTH, WEEK = "month", "week"
GRAIN_CHOICES = [(MONTH, "Monthly"), (WEEK, "Weekly")]
MAX_RANGE_DAYS = 731  # two years: the trend charts go back twelve ranges of this length
EARLIEST = datetime.date(2000, 1, 1)
LATEST = datetime.date(2099, 12, 31)
MONTH_TEXT = re.compile(r"^\d{4}-\d{2}$")


def today() -> datetime.date:
    return timezone.localdate()


def last_full_month(on_day: datetime.date) -> tuple[datetime.date, datetime.date]:
    return month_bounds(on_day.replace(day=1) - datetime.timedelta(days=1))


def week_of(day: datetime.date) -> tuple[datetime.date, datetime.date]:
    monday = day - datetime.timedelta(days=day.weekday())
    return monday, monday + datetime.timedelta(days=6)


def last_full_week(on_day: datetime.date) -> tuple[datetime.date, datetime.date]:
    return week_of(on_day - datetime.timedelta(days=7))


@dataclass(frozen=True)
class ReportFilters:
    """What one report shows: the clinic (None = all the user's reporting clinics), the period and the narrowing."""

    clinic: Clinic | None
    grain: str
    start: datetime.date
    end: datetime.date
    custom: bool = False
    payer: Payer | None = None
    therapist: Provider | None = None

    def params(self, **overrides) -> dict[str, str]:
        """The filters as GET parameters (overrides win; None drops a parameter)."""
        params = {"clinic": str(self.clinic.public_id) if self.clinic else None, "grain": self.grain}
        if self.custom:
            params.update(start=self.start.isoformat(), end=self.end.isoformat())
        else:
            params["period"] = f"{self.start:%Y-%m}" if self.grain == MONTH else self.start.isoformat()
        params["payer"] = str(self.payer.public_id) if self.payer else None
        params["therapist"] = str(self.therapist.public_id) if self.therapist else None
        params.update(overrides)
        return {key: value for key, value in params.items() if value not in (None, "")}

    def query(self, **overrides) -> str:
        return urlencode(self.params(**overrides))

    @property
    def label(self) -> str:
        if self.custom:
            return f"{self.start:%-d %b %Y} – {self.end:%-d %b %Y}"
        if self.grain == WEEK:
            return f"Week of {self.start:%a %-d %b %Y} – {self.end:%a %-d %b %Y}"
        return f"{self.start:%B %Y}"

    def periods(self, count: int) -> list[tuple[datetime.date, datetime.date]]:
        """`count` consecutive periods ending with this one, oldest first: months, weeks, or ranges of this length."""
        periods = [(self.start, self.end)]
        while len(periods) < count:
            periods.insert(0, previous_period(*periods[0]))
        return periods

    def period_label(self, start: datetime.date) -> str:
        """A short name for one period of a chart's axis."""
        if self.grain == MONTH and not self.custom:
            return f"{start:%b %Y}"
        return f"{start:%-d %b}"


class TherapistChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj} · {obj.clinic.legal_name}" if self.show_clinic else str(obj)


class ReportFilterForm(forms.Form):
    """The dashboard's filters. Every field is optional; an empty period means the last full month (or week)."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    grain = forms.ChoiceField(label="View", choices=GRAIN_CHOICES, required=False)
    period = forms.CharField(label="Period", required=False, max_length=10,
                             widget=forms.TextInput(attrs={"placeholder": "YYYY-MM", "size": 10}),
                             help_text="Monthly: YYYY-MM. Weekly: any day of the week, YYYY-MM-DD.")
    start = forms.DateField(label="Or from", required=False, widget=DateInput())
    end = forms.DateField(label="to", required=False, widget=DateInput())
    payer = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                   empty_label="Any payer")
    therapist = TherapistChoiceField(queryset=None, to_field_name="public_id", required=False,
                                     empty_label="Any therapist")

    def __init__(self, *args, user, on_day: datetime.date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = on_day or today()
        self.clinics = list(clinics_visible_to(user, VIEW_REPORTS).order_by("legal_name"))
        ids = [clinic.pk for clinic in self.clinics]
        if len(self.clinics) > 1:
            self.fields["clinic"].queryset = Clinic.objects.filter(pk__in=ids).order_by("legal_name")
        else:
            del self.fields["clinic"]  # one clinic: nothing to choose, and another clinic's id is ignored
        billed = Claim.objects.visible_to(user, VIEW_REPORTS).values("payer_id")
        self.fields["payer"].queryset = Payer.objects.filter(pk__in=billed).order_by("name")
        therapists = self.fields["therapist"]
        therapists.queryset = (Provider.objects.visible_to(user, VIEW_REPORTS).select_related("clinic")
                               .order_by("last_name", "first_name", "pk"))
        therapists.show_clinic = len(self.clinics) > 1

    def clean(self):
        data = super().clean()
        data["grain"] = data.get("grain") or MONTH
        if data.get("start") or data.get("end"):
            self._clean_range(data)
        elif data.get("period"):
            self._clean_period(data)
        therapist, clinic = data.get("therapist"), data.get("clinic")
        if therapist and clinic and therapist.clinic_id != clinic.pk:
            self.add_error("therapist", f"{therapist} is not a therapist of {clinic.legal_name}.")
        return data

    def _clean_range(self, data) -> None:
        start, end = data.get("start"), data.get("end")
        if not (start and end):
            self.add_error("end" if start else "start", "A date range needs both dates, e.g. 2026-10-01 to "
                                                        "2026-10-15.")
        elif end < start:
            self.add_error("end", "The end date is before the start date.")
        elif (end - start).days >= MAX_RANGE_DAYS:
            self.add_error("end", "A date range spans at most two years.")
        elif start < EARLIEST or end > LATEST:
            self.add_error("start", f"Dates run from {EARLIEST:%Y} to {LATEST:%Y}.")
        elif data.get("period"):
            self.add_error("period", "Give a period or a date range, not both.")

    def _clean_period(self, data) -> None:
        text = data["period"].strip()
        if data["grain"] == MONTH:
            bounds = _month_or_none(text)
            if bounds is None:
                self.add_error("period", f"“{text}” is not a month: write it as YYYY-MM, e.g. 2026-10.")
                return
        else:
            day = _date_or_none(text)
            if day is None:
                self.add_error("period", f"“{text}” is not a date: for the weekly view give any day of the week as "
                                         "YYYY-MM-DD, e.g. 2026-10-05.")
                return
            bounds = week_of(day)
        if bounds[0] < EARLIEST or bounds[1] > LATEST:
            self.add_error("period", f"Periods run from {EARLIEST:%Y} to {LATEST:%Y}.")
            return
        data["period_bounds"] = bounds

    def filters(self) -> ReportFilters:
        """The filters to apply: the valid form's, or the defaults (the last full month of all the user's clinics,
        or of the only one) when the form is invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        grain = data.get("grain") or MONTH
        clinic = data.get("clinic") or (self.clinics[0] if len(self.clinics) == 1 else None)
        narrowing = {"payer": data.get("payer"), "therapist": data.get("therapist")}
        if data.get("start") and data.get("end"):
            return ReportFilters(clinic, grain, data["start"], data["end"], custom=True, **narrowing)
        default = last_full_month(self.today) if grain == MONTH else last_full_week(self.today)
        start, end = data.get("period_bounds") or default
        return ReportFilters(clinic, grain, start, end, **narrowing)


def _month_or_none(text: str):
    if MONTH_TEXT.match(text):
        try:
            return parse_month(text)
        except ValueError:
            return None
    day = _date_or_none(text)
    return month_bounds(day) if day else None


def _date_or_none(text: str):
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


class ReportSettingsForm(forms.ModelForm):
    """The baseline ("before") period the dashboards and the monthly report compare with, and the e-mailing."""

    class Meta:
        model = ReportSettings
        fields = ["baseline_label", "baseline_start", "baseline_end", "email_owners"]
        labels = {"baseline_label": "Baseline name", "baseline_start": "Baseline from",
                  "baseline_end": "Baseline to", "email_owners": "E-mail the monthly report to the clinic's owners"}
        widgets = {"baseline_start": DateInput(), "baseline_end": DateInput()}

    def __init__(self, *args, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def clean(self):
        data = super().clean()
        start, end = data.get("baseline_start"), data.get("baseline_end")
        if bool(start) != bool(end):
            self.add_error("baseline_end" if start else "baseline_start",
                           "A baseline needs both dates (or neither, for no baseline).")
        elif start and end and end < start:
            self.add_error("baseline_end", "The baseline ends before it starts.")
        elif start and (end - start).days >= MAX_RANGE_DAYS:
            self.add_error("baseline_end", "A baseline spans at most two years.")
        elif start and not data.get("baseline_label", "").strip():
            self.add_error("baseline_label", 'Name the baseline, e.g. "Before the billing service".')
        elif not start and data.get("baseline_label", "").strip():
            self.add_error("baseline_start", "Give the baseline's dates, or clear its name.")
        return data


class MonthlyReportForm(forms.Form):
    """Generate (or regenerate) one clinic's monthly report for a month that has ended."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", empty_label=None)
    month = forms.CharField(max_length=7, widget=forms.TextInput(attrs={"placeholder": "YYYY-MM", "size": 8}),
                            help_text="A month that has ended, as YYYY-MM.")

    def __init__(self, *args, user, on_day: datetime.date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = on_day or today()
        clinics = clinics_visible_to(user, VIEW_REPORTS).order_by("legal_name")
        self.fields["clinic"].queryset = clinics
        if len(clinics) == 1:
            self.fields["clinic"].initial = clinics[0].public_id
            self.fields["clinic"].widget = forms.HiddenInput()
        self.fields["month"].initial = f"{last_full_month(self.today)[0]:%Y-%m}"

    def clean_month(self) -> datetime.date:
        text = self.cleaned_data["month"].strip()
        bounds = parse_month(text) if MONTH_TEXT.match(text) and _month_or_none(text) else None
        if bounds is None:
            raise forms.ValidationError(f"“{text}” is not a month: write it as YYYY-MM, e.g. 2026-10.")
        if bounds[0] < EARLIEST:
            raise forms.ValidationError(f"Reports start in {EARLIEST:%Y}.")
        if bounds[1] >= self.today:
            raise forms.ValidationError(f"{bounds[0]:%B %Y} has not ended yet: choose an earlier month.")
        return bounds[0]
