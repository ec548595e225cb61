"""`python manage.py kpis --clinic SLUG --month YYYY-MM [--json] [--payer PAYER_ID] [--therapist NPI]`

Prints the month's revenue-cycle figures of one clinic: with --json one JSON object (rates as fractions, money as
strings, A/R aging keyed by bucket; the object stored with each monthly report), otherwise a table of label, value
and formula. The baseline ("before") is the clinic's, from its report settings.
"""

import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from clinics.models import Clinic, Payer, Provider
from reporting.kpis import DEFINITIONS, parse_month
from reporting.pdf import display, figures_of, month_kpis

FORMULA_WIDTH = 70


def clinic_of(slug: str) -> Clinic:
    clinic = Clinic.objects.filter(slug=slug).first()
    if clinic is None:
        known = ", ".join(Clinic.objects.order_by("slug").values_list("slug", flat=True)) or "none"
        raise CommandError(f"No clinic with slug {slug!r} (clinics: {known}).")
    return clinic


def month_of(text: str) -> datetime.date:
    try:
        return parse_month(text)[0]
    except ValueError as exc:
        raise CommandError(f"--month {text!r} is not a month written YYYY-MM, e.g. 2026-09.") from exc


def _short(formula: str) -> str:
    return formula if len(formula) <= FORMULA_WIDTH else formula[:FORMULA_WIDTH - 1] + "…"


class Command(BaseCommand):
    help = "Revenue-cycle KPIs of one clinic for one month (JSON with --json)."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="the clinic's slug")
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")
        parser.add_argument("--payer", default="", help="only claims to this payer (its EDI payer id)")
        parser.add_argument("--therapist", default="", help="only claims of this rendering therapist (NPI)")

    def handle(self, *args, clinic: str, month: str, as_json: bool, payer: str, therapist: str, **options):
        found = clinic_of(clinic)
        month_start = month_of(month)
        payer_id = self._payer_id(payer)
        provider_id = self._provider_id(found, therapist)
        kpis = month_kpis(found, month_start, payer_id=payer_id, provider_id=provider_id)
        data = figures_of(found, kpis)
        if payer:
            data["payer"] = payer
        if therapist:
            data["therapist"] = therapist
        if as_json:
            self.stdout.write(json.dumps(data))
        else:
            self._table(found, data, kpis)

    def _payer_id(self, code: str) -> int | None:
        if not code:
            return None
        found = Payer.objects.filter(payer_id=code).values_list("pk", flat=True).first()
        if found is None:
            raise CommandError(f"No payer with EDI payer id {code!r}.")
        return found

    def _provider_id(self, clinic: Clinic, npi: str) -> int | None:
        if not npi:
            return None
        found = Provider.objects.filter(clinic=clinic, npi=npi).values_list("pk", flat=True).first()
        if found is None:
            raise CommandError(f"No therapist with NPI {npi!r} at {clinic.slug}.")
        return found

    def _table(self, clinic: Clinic, data: dict, kpis) -> None:
        narrowed = "".join(f" · {key} {data[key]}" for key in ("payer", "therapist") if key in data)
        self.stdout.write(f"{clinic.legal_name} ({clinic.slug}) · {data['month']}{narrowed}")
        for key, definition in DEFINITIONS.items():
            value = display(kpis.values.get(key), definition.kind)
            self.stdout.write(f"{definition.label:<28} {value:>14}  {_short(definition.formula)}")
        self.stdout.write("A/R aging: " + ", ".join(f"{bucket} {display(amount, 'money')}"
                                                    for bucket, amount in kpis.aging.items()))
