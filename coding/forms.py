"""Browser forms of coding, and the calculator's input rules shared by the page, the API and the command.

`calculate_units` is the one place that turns typed (code, minutes) rows into units, so the 8-minute-rule
calculator page, `POST /api/v1/coding/units/` and `manage.py units` give the same answers and the same messages.
Problems are reported as `lines[N].code` / `lines[N].minutes` (rows numbered from 1) or `rule`.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django import forms
from django.utils import timezone

from clinics.forms import DateInput
from clinics.models import Payer, UnitMethod
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, clinics_visible_to
from visits.services import MAX_LINE_MINUTES

from .models import CodingStatus, ProcedureCode, Severity
from .selectors import CodeBook, code_book
from .units import AMA, CMS, UnitResult, compute_units

WHOLE_NUMBER = re.compile(r"^[+-]?\d+$")
CODE_SETS_MISSING = "Code sets not loaded: run python manage.py load_code_sets"
RULE_LABELS = dict(UnitMethod.choices)


@dataclass
class CalculationRow:
    """One code of a calculation: minutes summed over the rows that named it, and the units it earned."""

    code: str
    description: str
    timed: bool
    minutes: int | None
    units: int
    entered: bool = True  # False for 97129 when only its add-on 97130 was typed


@dataclass
class Calculation:
    rule: str
    rows: list[CalculationRow]
    result: UnitResult

    @property
    def units(self) -> dict[str, int]:
        """Units of every code entered (0 included), plus a family's first code when it earned the first unit."""
        return {row.code: row.units for row in self.rows}

    @property
    def rule_label(self) -> str:
        return RULE_LABELS.get(self.rule, self.rule)


def parse_minutes(value) -> tuple[int | None, str | None]:
    """(minutes or None when blank, problem or None). Whole numbers only; text such as "33" is accepted."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        return None, f"Minutes must be a whole number, not {value!r}."
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and WHOLE_NUMBER.match(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        return None, f"Minutes must be a whole number, not {value!r}."
    if value < 0:
        return None, f"Minutes cannot be negative ({value})."
    if value > MAX_LINE_MINUTES:
        return None, f"At most {MAX_LINE_MINUTES} minutes per row ({value} given)."
    return value, None


def calculate_units(*, rule, lines: Sequence[tuple[object, object]], on_date=None,
                    book: CodeBook | None = None) -> Calculation:
    """Units per code by `rule` ("cms" or "ama") for (code, minutes) rows of one patient and day.

    Codes must be in the code set in force on `on_date` (today by default). Repeated codes are summed; untimed
    codes earn 1 unit and their minutes never count toward the timed total. Every problem is reported at once.
    """
    book = book or code_book(on_date or timezone.localdate())
    if not book.codes:
        raise AppError(CODE_SETS_MISSING, code="code_sets_missing")
    problems: list[tuple[str, str]] = []
    given = str(rule if rule is not None else "").strip()
    rule = given.lower()
    if rule not in (CMS, AMA):
        problems.append(("rule", f"Unknown unit rule {given!r}: use cms (CMS total-time) or ama (AMA per-code)."
                         if given else "Choose the unit rule: cms (CMS total-time) or ama (AMA per-code)."))
    if not lines:
        problems.append(("lines", "Enter at least one code and its minutes."))
    timed: dict[str, int] = {}
    untimed: list[str] = []
    entered: list[str] = []
    for number, (raw_code, raw_minutes) in enumerate(lines, start=1):
        where = f"lines[{number}]"
        code = str(raw_code or "").strip().upper()
        minutes, problem = parse_minutes(raw_minutes)
        procedure = book.get(code)
        if not code or procedure is None:
            problems.append((f"{where}.code", f"{code} is not in the loaded code set." if code
                             else "Enter a CPT/HCPCS code."))
        if problem:
            problems.append((f"{where}.minutes", problem))
        if procedure is None:
            continue
        if procedure.is_timed:
            if minutes is None and not problem:
                problems.append((f"{where}.minutes", f"Enter the minutes of timed code {code}."))
            timed[code] = timed.get(code, 0) + (minutes or 0)
        elif code not in untimed:
            untimed.append(code)
        if code not in entered:
            entered.append(code)
    if problems:
        raise AppError.from_problems(problems)
    families = book.families()
    result = compute_units(timed, rule=rule, untimed=untimed, families=families)
    # 97130 alone still bills its first unit as 97129: show that code just before its add-on.
    first_of = {family.additional: family.first for family in families}
    order: list[str] = []
    for code in entered:
        first = first_of.get(code)
        if first and first not in entered and first not in order and result.units.get(first):
            order.append(first)
        order.append(code)
    rows = []
    for code in order:
        procedure = book.get(code)
        rows.append(CalculationRow(
            code=code, description=procedure.description if procedure else "",
            timed=bool(procedure and procedure.is_timed), minutes=timed.get(code),
            units=result.units.get(code, 0), entered=code in entered,
        ))
    return Calculation(rule=rule, rows=rows, result=result)


def code_choices(book: CodeBook) -> list[ProcedureCode]:
    """The loaded codes in order, for the calculator's code list and reference table."""
    return sorted(book.codes.values(), key=lambda c: c.code)


class CalculatorForm(forms.Form):
    """The calculator's unit rule; its rows of code and minutes are read as repeated `code` / `minutes` inputs."""

    rule = forms.ChoiceField(choices=UnitMethod.choices, initial=UnitMethod.CMS_TOTAL_TIME,
                             widget=forms.RadioSelect, label="Unit rule",
                             error_messages={"required": "Choose the unit rule.",
                                             "invalid_choice": "Choose CMS total-time or AMA per-code."})


class QueueFilterForm(forms.Form):
    """Coding-queue filters. The clinic choices are the user's WORK_CLAIMS clinics; every field is optional."""

    clinic = forms.ModelChoiceField(queryset=None, to_field_name="public_id", required=False,
                                    empty_label="All my clinics")
    payer = forms.ModelChoiceField(queryset=Payer.objects.order_by("name"), to_field_name="public_id",
                                   required=False, empty_label="Any payer")
    status = forms.ChoiceField(choices=[("", "Any status"), *CodingStatus.choices], required=False)
    severity = forms.ChoiceField(label="Open findings",
                                 choices=[("", "Any"), (Severity.BLOCKING, "Blocking"), (Severity.WARNING, "Warning")],
                                 required=False)
    rule = forms.ChoiceField(label="Edit (rule id)", choices=[("", "Any edit")], required=False)
    date_from = forms.DateField(label="From", required=False, widget=DateInput())
    date_to = forms.DateField(label="To", required=False, widget=DateInput())
    sort = forms.ChoiceField(choices=[("-date", "Newest first"), ("date", "Oldest first")], required=False,
                             widget=forms.HiddenInput)

    def __init__(self, *args, user, rule_choices: Sequence[tuple[str, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_visible_to(user, WORK_CLAIMS).order_by("legal_name")
        self.fields["rule"].choices = [("", "Any edit"), *rule_choices]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data


class OverrideForm(forms.Form):
    """Accepting a finding needs a written reason; it is kept on the finding and in its history."""

    reason = forms.CharField(
        label="Reason for the override", max_length=300,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        error_messages={"required": "Give the reason for overriding this finding."},
    )
