"""Loading code sets: our versioned fixtures, the ICD-10-CM package's year, and CMS quarterly NCCI/MUE files."""

import csv
import datetime
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from otbilling.errors import AppError

from .models import IcdCodeSet, ModifierCode, MueLimit, NcciPair, ProcedureCode, TherapyThreshold

FIXTURES = Path(__file__).resolve().parent / "codesets"
CODE = re.compile(r"^[0-9A-Z]\d{3}[0-9A-Z]$")


def _rows(name: str) -> list[dict]:
    text = (FIXTURES / name).read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


def _date(value: str):
    return datetime.date.fromisoformat(value) if value else None


def _bool(value: str) -> bool:
    return value.strip().lower() in {"true", "1", "yes", "y"}


@dataclass
class LoadSummary:
    procedure_codes: int = 0
    modifiers: int = 0
    ncci_pairs: int = 0
    mue_limits: int = 0
    thresholds: int = 0
    icd_fiscal_year: int | None = None


@transaction.atomic
def code_sets_load() -> LoadSummary:
    """Upsert every fixture file; running it twice changes nothing."""
    summary = LoadSummary()
    for row in _rows("procedure_codes.csv"):
        ProcedureCode.objects.update_or_create(
            code=row["code"], effective_from=_date(row["effective_from"]),
            defaults={
                "description": row["description"], "kind": row["kind"],
                "unit_minutes": int(row["unit_minutes"]) if row["unit_minutes"] else None,
                "family_first": row["family_first"],
                "addon_of": [c for c in row["addon_of"].split("|") if c],
                "once_per_day": _bool(row["once_per_day"]), "medicare_accepted": _bool(row["medicare_accepted"]),
                "medicare_replacement": row["medicare_replacement"],
                "telehealth_eligible": _bool(row["telehealth_eligible"]), "pe_share": Decimal(row["pe_share"]),
                "effective_to": _date(row["effective_to"]),
            },
        )
        summary.procedure_codes += 1
    for row in _rows("modifiers.csv"):
        ModifierCode.objects.update_or_create(code=row["code"], defaults={"description": row["description"]})
        summary.modifiers += 1
    for row in _rows("ncci_pairs.csv"):
        _upsert_ncci(row["column1"], row["column2"], row["modifier_indicator"], _date(row["effective_from"]),
                     _date(row["effective_to"]), row["source"])
        summary.ncci_pairs += 1
    for row in _rows("mue_limits.csv"):
        _upsert_mue(row["code"], int(row["max_units"]), row["adjudication_indicator"], _date(row["effective_from"]),
                    _date(row["effective_to"]), row["source"])
        summary.mue_limits += 1
    for row in _rows("therapy_thresholds.csv"):
        TherapyThreshold.objects.update_or_create(
            year=int(row["year"]),
            defaults={"kx_threshold": Decimal(row["kx_threshold"]),
                      "targeted_review_threshold": Decimal(row["targeted_review_threshold"])},
        )
        summary.thresholds += 1
    summary.icd_fiscal_year = icd_code_set_record().fiscal_year
    return summary


def icd_code_set_record() -> IcdCodeSet:
    """Record the fiscal year of the ICD-10-CM package in use: FY N covers DOS Oct 1 of N-1 to Sep 30 of N."""
    from importlib.metadata import version

    fiscal_year = _icd_package_fiscal_year()
    code_set, _ = IcdCodeSet.objects.update_or_create(
        fiscal_year=fiscal_year,
        defaults={"effective_from": datetime.date(fiscal_year - 1, 10, 1),
                  "effective_to": datetime.date(fiscal_year, 9, 30),
                  "source": f"simple-icd-10-cm {version('simple-icd-10-cm')}"},
    )
    return code_set


def _icd_package_fiscal_year() -> int:
    import simple_icd_10_cm

    data_dir = Path(simple_icd_10_cm.__file__).parent / "data"
    for xml in sorted(data_dir.glob("*.xml")):
        match = re.search(r"<version>(\d{4})</version>", xml.read_text(errors="ignore")[:5000])
        if match:
            return int(match.group(1))
    raise AppError("Cannot tell which ICD-10-CM year the simple-icd-10-cm package ships.", code="icd_year_unknown")


def _upsert_ncci(column1, column2, indicator, effective_from, effective_to, source):
    NcciPair.objects.update_or_create(
        column1=column1, column2=column2, effective_from=effective_from,
        defaults={"modifier_indicator": indicator, "effective_to": effective_to, "source": source},
    )


def _upsert_mue(code, max_units, indicator, effective_from, effective_to, source):
    MueLimit.objects.update_or_create(
        code=code, effective_from=effective_from,
        defaults={"max_units": max_units, "adjudication_indicator": indicator, "effective_to": effective_to,
                  "source": source},
    )


def _cms_date(value: str, *, where: str):
    value = value.strip()
    if value in ("", "*"):
        return None
    try:
        return datetime.datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise AppError(f"{where}: {value!r} is not a date in YYYYMMDD form.", code="bad_date") from exc


def _split(line: str) -> list[str]:
    delimiter = "\t" if "\t" in line else ","
    return [cell.strip().strip('"') for cell in next(csv.reader(io.StringIO(line), delimiter=delimiter))]


def _known_codes() -> set[str]:
    return set(ProcedureCode.objects.values_list("code", flat=True))


@transaction.atomic
def ncci_import(*, text: str, source: str, all_codes: bool = False) -> dict:
    """Read a CMS practitioner PTP file (Column 1, Column 2, *, effective YYYYMMDD, deletion YYYYMMDD or *,
    modifier indicator, rationale). Copyright and header lines are skipped; a data row that is malformed is
    an error naming its line, and then nothing is loaded."""
    keep = None if all_codes else _known_codes()
    loaded = skipped = 0
    for number, line in enumerate(text.splitlines(), start=1):
        cells = _split(line) if line.strip() else []
        if len(cells) < 6 or not (CODE.match(cells[0]) and CODE.match(cells[1])):
            continue  # header, notice or blank line
        where = f"{source} line {number}"
        indicator = cells[5]
        if indicator not in ("0", "1", "9"):
            raise AppError(f"{where}: modifier indicator {indicator!r} must be 0, 1 or 9.", code="bad_indicator")
        if keep is not None and not (cells[0] in keep and cells[1] in keep):
            skipped += 1
            continue
        effective_from = _cms_date(cells[3], where=where)
        if effective_from is None:
            raise AppError(f"{where}: the effective date is missing.", code="bad_date")
        _upsert_ncci(cells[0], cells[1], indicator, effective_from, _cms_date(cells[4], where=where), source)
        loaded += 1
    if loaded == 0 and skipped == 0:
        raise AppError(f"{source}: no NCCI pair rows found; is this the practitioner PTP file?", code="empty")
    return {"loaded": loaded, "skipped_other_codes": skipped}


@transaction.atomic
def mue_import(*, text: str, source: str, effective_from: datetime.date, all_codes: bool = False) -> dict:
    """Read a CMS practitioner MUE file (code, MUE value, adjudication indicator text, rationale)."""
    keep = None if all_codes else _known_codes()
    loaded = skipped = 0
    for number, line in enumerate(text.splitlines(), start=1):
        cells = _split(line) if line.strip() else []
        if len(cells) < 3 or not CODE.match(cells[0]):
            continue
        where = f"{source} line {number}"
        if not cells[1].isdigit():
            raise AppError(f"{where}: MUE value {cells[1]!r} is not a whole number.", code="bad_units")
        indicator = cells[2][:1]
        if indicator not in ("1", "2", "3"):
            raise AppError(f"{where}: adjudication indicator {cells[2]!r} must start with 1, 2 or 3.",
                           code="bad_indicator")
        if keep is not None and cells[0] not in keep:
            skipped += 1
            continue
        MueLimit.objects.in_force_on(effective_from).filter(code=cells[0], effective_from__lt=effective_from).update(
            effective_to=effective_from - datetime.timedelta(days=1))
        _upsert_mue(cells[0], int(cells[1]), indicator, effective_from, None, source)
        loaded += 1
    if loaded == 0 and skipped == 0:
        raise AppError(f"{source}: no MUE rows found; is this the practitioner MUE file?", code="empty")
    return {"loaded": loaded, "skipped_other_codes": skipped}
