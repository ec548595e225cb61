"""`manage.py kpis` and `manage.py monthly_report` on the two-claim September of tests/reporting/test_pdf.py: the JSON
shape (rates as fractions, money as strings, aging keyed by bucket), narrowing by payer and therapist, the clinic's
baseline, the readable table, the PDF written and stored, and clear errors for what a person can mistype."""

import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from otbilling.tenancy import Role
from reporting.kpis import RATE_KEYS
from reporting.models import MonthlyReport, ReportSettings
from tests import factories
from tests.reporting.test_pdf import BUCKETS, september_scene

pytestmark = pytest.mark.django_db
MONEY_KEYS = ("revenue", "charges", "payments", "contractual_adjustments", "ar_total", "payer_payments",
              "patient_payments")


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def kpis_json(*args) -> dict:
    return json.loads(run("kpis", "--clinic", "alder", "--month", "2026-09", "--json", *args))


@pytest.fixture
def september(clinic_a, code_sets):
    return september_scene(clinic_a)


def test_kpis_json_is_one_object_with_fractions_money_strings_and_aging_by_bucket(september):
    out = run("kpis", "--clinic", "alder", "--month", "2026-09", "--json")
    assert len(out.strip().splitlines()) == 1
    data = json.loads(out)
    assert (data["clinic"], data["month"], data["start"], data["end"]) == ("alder", "2026-09", "2026-09-01",
                                                                        "2026-09-30")
    for key in RATE_KEYS:
        if not key.startswith("revenue_growth"):  # growth may fall below 0 or pass 100 %
            assert data[key] is None or (isinstance(data[key], float) and 0 <= data[key] <= 1), key
    assert (data["clean_claim_rate"], data["denial_rate"], data["denial_rate_dollars"]) == (1.0, 0.5, 0.5)
    for key in MONEY_KEYS:
        assert isinstance(data[key], str) and Decimal(data[key]).as_tuple().exponent == -2, key
    assert (data["revenue"], data["charges"], data["contractual_adjustments"], data["ar_total"]) == (
        "105.00", "360.00", "75.00", "180.00")
    assert data["ar_aging"] == {"0-30": "180.00", "31-60": "0.00", "61-90": "0.00", "91-120": "0.00", "120+": "0.00"}
    assert list(data["ar_aging"]) == list(BUCKETS)
    assert data["days_in_ar"] == 45.0
    (reason,) = data["top_denial_reasons"]
    assert (reason["group"], reason["carc"], reason["count"], reason["amount"], reason["share"]) == (
        "CO", "197", 2, "180.00", 1.0)
    assert data["payer_mix"] == [{"payer": "Medicare Part B", "charges": "360.00", "share": 1.0,
                                  "payments": "105.00"}]


def test_payer_and_therapist_narrow_the_figures(september):
    other = factories.PayerFactory(name="Other Health", payer_id="OTHER1")
    assert other.pk
    mine = kpis_json("--payer", "ACME1", "--therapist", "1558598797")
    assert (mine["payer"], mine["therapist"], mine["revenue"], mine["clean_claim_rate"]) == (
        "ACME1", "1558598797", "105.00", 1.0)
    theirs = kpis_json("--payer", "OTHER1")
    assert (theirs["revenue"], theirs["charges"], theirs["ar_total"], theirs["clean_claim_rate"]) == (
        "0.00", "0.00", "0.00", None)


def test_the_baseline_comes_from_the_clinics_report_settings(clinic_a, september):
    assert kpis_json()["revenue_growth_baseline"] is None
    ReportSettings.objects.create(clinic=clinic_a, baseline_start=datetime.date(2026, 9, 16),
                                  baseline_end=datetime.date(2026, 9, 30))
    data = kpis_json()
    # 105.00 in the 15 baseline days is 210.00 over September's 30: collections fell by half against it
    assert (data["revenue_baseline"], data["revenue_growth_baseline"]) == ("210.00", -0.5)


def test_kpis_without_json_prints_a_table_of_label_value_and_formula(september):
    out = run("kpis", "--clinic", "alder", "--month", "2026-09")
    assert out.splitlines()[0] == "Alder Pediatric OT (alder) · 2026-09"
    row = next(line for line in out.splitlines() if line.startswith("Clean claim rate"))
    assert row.split()[3:5] == ["100.0", "%"] and "Original claims first submitted" in row
    assert "Days in A/R" in out and "45.0 days" in out
    assert "A/R aging: 0-30 $180.00, 31-60 $0.00" in out


@pytest.mark.parametrize(("args", "message"), [
    (("--clinic", "nowhere", "--month", "2026-09"), "No clinic with slug 'nowhere' (clinics: alder, birch)."),
    (("--clinic", "alder", "--month", "2026-13"), "--month '2026-13' is not a month written YYYY-MM, e.g. 2026-09."),
    (("--clinic", "alder", "--month", "September"), "--month 'September' is not a month written YYYY-MM"),
    (("--clinic", "alder", "--month", "2026-09", "--payer", "NOPE"), "No payer with EDI payer id 'NOPE'."),
    (("--clinic", "alder", "--month", "2026-09", "--therapist", "1234567893"),
     "No therapist with NPI '1234567893' at alder."),
])
def test_kpis_refuses_what_it_cannot_answer_with_a_clear_message(clinic_a, clinic_b, args, message):
    with pytest.raises(CommandError) as caught:
        run("kpis", *args, "--json")
    assert str(caught.value).startswith(message)


def test_monthly_report_writes_and_stores_the_pdf_and_prints_the_headline(clinic_a, september, tmp_path):
    out_file = tmp_path / "alder-september.pdf"
    out = run("monthly_report", "--clinic", "alder", "--month", "2026-09", "--out", str(out_file))
    report = MonthlyReport.objects.get(clinic=clinic_a)
    assert out_file.read_bytes() == bytes(report.pdf) and out_file.read_bytes().startswith(b"%PDF")
    assert report.month == datetime.date(2026, 9, 1) and report.figures == kpis_json()
    assert out.splitlines()[0].startswith(f"Wrote {out_file}") and "Alder Pediatric OT, September 2026" in out
    assert [line.split() for line in out.splitlines()[1:5]] == [
        ["Net", "collections", "$105.00"], ["Clean", "claim", "rate", "100.0", "%"],
        ["Denial", "rate", "(claims)", "50.0", "%"], ["Days", "in", "A/R", "45.0", "days"]]
    assert report.emailed_at is None and not mail.outbox


def test_monthly_report_email_sends_it_to_the_owners_and_says_to_whom(clinic_a, september, make_user, tmp_path,
                                                                      settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    make_user("owner_a", Role.CLINIC_OWNER, clinic_a)
    out = run("monthly_report", "--clinic", "alder", "--month", "2026-09", "--out", str(tmp_path / "r.pdf"),
              "--email")
    assert out.splitlines()[-1] == "E-mailed to owner_a@example.test"
    (message,) = mail.outbox
    assert message.to == ["owner_a@example.test"]
    assert MonthlyReport.objects.get(clinic=clinic_a).emailed_to == ["owner_a@example.test"]


def test_monthly_report_refuses_a_month_that_has_not_begun(clinic_a, tmp_path):
    with pytest.raises(CommandError, match="has not begun"):
        run("monthly_report", "--clinic", "alder", "--month", "2099-01", "--out", str(tmp_path / "r.pdf"))
    assert not MonthlyReport.objects.exists()
