"""The monthly PDF read back with poppler: the numbers printed on it are the `kpis` command's JSON and compute()'s
values for the same clinic and month, worked out by hand on a two-claim month, and it names no patient.

The month (September 2026) of clinic A: two claims to a Medicare-like payer, submitted on 09/15, answered by one
835 paid on 09/25.
- claim 1, DOS 09/14, 180.00: paid 105.00, CO-45 75.00 contractual, nothing owed;
- claim 2, DOS 09/10, 180.00: both lines denied CO-197, 180.00 still owed (20 days old at 09/30).
So: clean claim rate 2/2, denial rate 1/2, net collections $105.00, net collection rate 105/(360 − 75) = 36.8 %,
A/R $180.00 all in 0–30 days, days in A/R 180 ÷ (360 ÷ 90) = 45.0.
"""

import datetime
import io
import json
import re
import subprocess
import tempfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from claims.lifecycle import claim_transition
from claims.models import ClaimStatus
from denials.posting import era_import
from reporting.kpis import compute, month_bounds
from reporting.models import ReportSettings
from reporting.pdf import month_scope, render_monthly_report
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import clp, svc
from tests.denials.test_x835 import era

pytestmark = pytest.mark.django_db

MONTH = datetime.date(2026, 9, 1)
SUBMITTED_AT = datetime.datetime(2026, 9, 15, 14, 0, tzinfo=datetime.UTC)
PAID_ON = "20260925"
BUCKETS = ("0-30", "31-60", "61-90", "91-120", "120+")
BUCKET_LABELS = {"0-30": "0–30 days", "31-60": "31–60 days", "61-90": "61–90 days", "91-120": "91–120 days",
                 "120+": "Over 120 days"}
PNG_DIR = Path(tempfile.gettempdir()) / "otb-monthly-report"


# --- the scene, shared with the command and task tests ---------------------------------------------------------------

def september_scene(clinic) -> dict:
    """Two submitted claims of `clinic` in September 2026 and the 835 that paid one and denied the other."""
    scene = build_claim_scene(clinic, make_medicare(payer_id="ACME1", appeal_window_days=120))
    paid = make_claim(scene, signed_at=datetime.datetime(2026, 9, 14, 18, tzinfo=datetime.UTC))
    denied = make_claim(scene, date_of_service=datetime.date(2026, 9, 10),
                        signed_at=datetime.datetime(2026, 9, 10, 18, tzinfo=datetime.UTC))
    for claim in (paid, denied):
        for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
            claim_transition(claim=claim, to_status=status, reason="test", at=SUBMITTED_AT)
    body = (clp(paid, "1", "180.00", "105.00", icn="ICN1")
            + svc(paid, 1, "97530", "120.00", "70.00", 2, ("CO", "45", "50.00"))
            + svc(paid, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00"))
            + clp(denied, "4", "180.00", "0.00", icn="ICN2")
            + svc(denied, 1, "97530", "120.00", "0.00", 2, ("CO", "197", "120.00")).replace("20260914", "20260910")
            + svc(denied, 2, "97535", "60.00", "0.00", 1, ("CO", "197", "60.00")).replace("20260914", "20260910"))
    summary = era_import(file_name="september.835", content=era(body, "105.00").replace("20260122", PAID_ON))
    assert (summary["claims_matched"], summary["denials_opened"]) == (2, 2), summary
    return {"scene": scene, "paid": paid, "denied": denied}


# --- reading the PDF -------------------------------------------------------------------------------------------------

def pdf_lines(pdf: bytes) -> list[str]:
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf)
        handle.flush()
        text = subprocess.run(["pdftotext", "-layout", handle.name, "-"], check=True, capture_output=True,
                              text=True).stdout
    return text.splitlines()


def cells(lines: list[str], label: str, count: int | None = None) -> list[str]:
    """The cells printed after `label` on the first line that starts with it and goes on with a value (and has
    `count` cells, to tell a table's row from a chart's label)."""
    for line in lines:
        match = re.match(rf"\s*{re.escape(label)}\s{{2,}}(.*)$", line)
        if match and re.match(r"[$\d—-]", match[1]):
            found = re.split(r"\s{2,}", match[1].strip())
            if count is None or len(found) == count:
                return found
    raise AssertionError(f"no row {label!r} in:\n" + "\n".join(lines))


def percent(fraction) -> str:
    return f"{(Decimal(str(fraction)) * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %"


def money(text) -> str:
    return f"${Decimal(str(text)):,.2f}"


def days(number) -> str:
    return f"{Decimal(str(number)).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} days"


def kpis_json(clinic, month="2026-09") -> dict:
    out = io.StringIO()
    call_command("kpis", "--clinic", clinic.slug, "--month", month, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.fixture
def september(clinic_a, code_sets):
    return september_scene(clinic_a)


# --- the tests -------------------------------------------------------------------------------------------------------

def test_the_pdf_prints_the_kpis_commands_figures_and_computes_values(clinic_a, september):
    pdf, figures = render_monthly_report(clinic_a, MONTH)
    command = kpis_json(clinic_a)
    kpis = compute(month_scope(clinic_a, MONTH))
    lines = pdf_lines(pdf)
    assert figures == command  # what is stored with the report is what the command prints

    labels = {"clean_claim_rate": ("Clean claim rate", percent, "100.0 %"),
              "denial_rate": ("Denial rate (claims)", percent, "50.0 %"),
              "revenue": ("Net collections", money, "$105.00"),
              "days_in_ar": ("Days in A/R", days, "45.0 days"),
              "net_collection_rate": ("Net collection rate", percent, "36.8 %")}
    for key, (label, shown, worked_out) in labels.items():
        assert cells(lines, label)[0] == shown(command[key]) == shown(kpis[key]) == worked_out, key


def test_the_aging_table_prints_each_bucket_as_the_command_does(clinic_a, september):
    pdf, _figures = render_monthly_report(clinic_a, MONTH)
    command = kpis_json(clinic_a)
    kpis = compute(month_scope(clinic_a, MONTH))
    lines = pdf_lines(pdf)
    for key in BUCKETS:
        _claims, amount, _share = cells(lines, BUCKET_LABELS[key], 3)
        assert amount == money(command["ar_aging"][key]) == money(kpis.aging[key])
    assert cells(lines, "0–30 days", 3) == ["1", "$180.00", "100.0 %"]
    assert cells(lines, "Over 120 days", 3) == ["0", "$0.00", "0.0 %"]
    assert cells(lines, "Total A/R") == ["$180.00"]


def test_the_cover_compares_with_the_previous_month_the_baseline_and_the_target(clinic_a, september):
    ReportSettings.objects.create(clinic=clinic_a, baseline_start=datetime.date(2026, 1, 1),
                                  baseline_end=datetime.date(2026, 6, 30), baseline_label="Before the service")
    pdf, figures = render_monthly_report(clinic_a, MONTH)
    lines = pdf_lines(pdf)
    # this month | August (nothing adjudicated) | baseline (nothing either) | target
    assert cells(lines, "Clean claim rate") == ["100.0 %", "—", "—", "≥ 95.0 %"]
    assert cells(lines, "Denial rate (claims)") == ["50.0 %", "—", "—", "≤ 5.0 %"]
    assert cells(lines, "Net collections") == ["$105.00", "$0.00", "$0.00", "trend"]
    assert "Before the service (01/01/2026 – 06/30/2026)" in " ".join(" ".join(lines).split())
    assert figures["revenue_baseline"] == "0.00" and figures["revenue_growth_baseline"] is None


def test_the_report_lists_open_items_by_claim_number_and_names_no_patient(clinic_a, september):
    pdf, _figures = render_monthly_report(clinic_a, MONTH)
    text = " ".join(" ".join(pdf_lines(pdf)).split())
    denied = september["denied"]
    assert f"{denied.patient_control_number} Medicare Part B 09/10/2026 $180.00 20 days 0–30 days" in text
    assert september["paid"].patient_control_number not in text  # paid in full: not an open item
    assert "CO-197" in text and "Prior authorization" in text  # the denial reasons table
    for name in ("Zebulon", "ZEBULON", "Anna", "1EG4TE5MK73"):
        assert name not in text


def test_an_empty_month_renders_with_dashes_not_errors(clinic_a, september):
    pdf, figures = render_monthly_report(clinic_a, datetime.date(2026, 3, 1))
    lines = pdf_lines(pdf)
    assert cells(lines, "Clean claim rate")[0] == "—" and figures["clean_claim_rate"] is None
    assert figures["month"] == "2026-03" and (figures["start"], figures["end"]) == tuple(
        day.isoformat() for day in month_bounds(datetime.date(2026, 3, 1)))


def test_page_one_renders_to_png_at_60_dpi(clinic_a, september):
    """Writes page 1 (and every page) as PNG for a person to look at; asserts they exist and are Letter-sized."""
    pdf, _figures = render_monthly_report(clinic_a, MONTH)
    PNG_DIR.mkdir(exist_ok=True)
    (PNG_DIR / "report.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(PNG_DIR / "report.pdf"), str(PNG_DIR / "page")], check=True)
    pages = sorted(PNG_DIR.glob("page-*.png"))
    assert len(pages) >= 3
    header = pages[0].read_bytes()[16:24]
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
    assert (width, height) == (510, 660)  # 8.5 × 11 in at 60 dpi
