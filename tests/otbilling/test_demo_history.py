"""seed_demo's history: the sessions more than a week old are billed, acknowledged and paid through the real pipeline
(claims_build, batch_generate, the simulated payers' 999/277CA/835, ack_import, era_import); the last week is left
unbilled for a user to walk through.

Seeded once for the module (a few minutes: the scrub, 78 batches checked by pyx12 and 64 835s posted), inside a
transaction rolled back at the end, like tests/otbilling/test_demo_scrub.py.
"""

import datetime
import io
import json
import subprocess
from collections import defaultdict
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum

from claims.ledger import claim_money
from claims.models import AckFile, BatchStatus, Claim, ClaimBatch, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind
from clinics.models import Clinic
from coding.models import CodingStatus, Finding, VisitCoding
from denials.models import ClaimRemittance, Denial, EraFile, EraPayment, EraStatus, Underpayment, WorkStatus
from denials.x835 import balance_problems, parse_835
from otbilling.demo import HISTORY_OVERRIDES, SUBMISSION_EVERY_WEEKS, UNBILLED_DAYS, demo_seed
from reporting import kpis
from reporting.kpis import DEFINITIONS, parse_month
from reporting.pdf import display, render_monthly_report
from visits.models import Visit, VisitStatus

D = Decimal
TODAY = datetime.date(2026, 11, 20)
CUTOFF = TODAY - datetime.timedelta(days=UNBILLED_DAYS)
SLUGS = ("sprouts", "summit", "homefirst")
# Measured with seed 7 and --today 2026-11-20; a second seed with the same arguments gives the same figures (checked
# by hand: running it twice here would double the module's minutes).
FIGURES = {"claims": 892, "secondary_claims": 39, "batches": 78, "held_batches": 0, "remittances": 64,
           "claims_paid": 749, "paid_total": D("45672.63"), "patient_responsibility_total": D("21728.63"),
           "denials": 19, "underpayments": 29, "awaiting_payment": 182, "ready_to_send": 0, "unbilled_sessions": 71,
           "overridden_sessions": 15, "patient_payments": 319, "patient_paid_total": D("9983.97")}


@pytest.fixture(scope="module")
def history_demo(django_db_setup, django_db_blocker):
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield demo_seed(seed=7, today=TODAY, history=True)
        transaction.set_rollback(True)


@pytest.fixture
def demo(history_demo, db):
    return history_demo


def demo_claims():
    return Claim.objects.filter(clinic__slug__in=SLUGS)


def test_the_history_gives_the_figures_measured_for_this_seed(demo):
    assert demo.history == FIGURES
    assert demo.scrub["visits"] == Visit.objects.filter(clinic__slug__in=SLUGS).count()


def test_every_older_billable_session_is_on_a_claim_and_none_of_the_last_week_is(demo):
    billed = set(ClaimLine.objects.filter(clinic__slug__in=SLUGS).values_list("visit_id", flat=True))
    # Billable with at least one unit: the planted 6-minute 97110 is coded billable (a warning) but bills nothing.
    billable = VisitCoding.objects.filter(clinic__slug__in=SLUGS, status=CodingStatus.BILLABLE,
                                          visit__status=VisitStatus.SIGNED, lines__units__gt=0)
    older = set(billable.filter(visit__date_of_service__lt=CUTOFF).values_list("visit_id", flat=True))
    recent = Visit.objects.filter(clinic__slug__in=SLUGS, date_of_service__gte=CUTOFF)
    assert older and older <= billed
    assert recent.filter(status=VisitStatus.SIGNED).count() == FIGURES["unbilled_sessions"] > 0
    assert not billed & set(recent.values_list("pk", flat=True))
    assert demo_claims().filter(service_date_to__gte=CUTOFF).count() == 0


def test_claims_went_out_on_submission_mondays_and_no_batch_was_held(demo):
    batches = ClaimBatch.objects.filter(clinic__slug__in=SLUGS)
    assert batches.count() == FIGURES["batches"]
    assert set(batches.values_list("status", flat=True)) == {BatchStatus.ACCEPTED}
    assert AckFile.objects.filter(clinic__slug__in=SLUGS).count() == 2 * FIGURES["batches"]  # a 999 and a 277CA each
    days = {sent.date() for sent in batches.values_list("released_at", flat=True)}
    assert all(day.weekday() == 0 and day <= TODAY for day in days)
    assert len({(day - min(days)).days % (7 * SUBMISSION_EVERY_WEEKS) for day in days}) == 1
    for claim in demo_claims().exclude(status=ClaimStatus.READY).select_related("batch"):
        assert claim.submitted_at == claim.batch.released_at and claim.submitted_at.date() > claim.service_date_to


def test_payments_are_posted_from_835s_dated_when_the_payer_paid(demo):
    payments = EraPayment.objects.filter(clinic__slug__in=SLUGS)
    assert payments.count() == FIGURES["remittances"]
    assert set(EraFile.objects.filter(clinic__slug__in=SLUGS).values_list("status", flat=True)) == {
        EraStatus.POSTED}
    assert payments.aggregate(total=Sum("amount"))["total"] == FIGURES["paid_total"]
    assert all(p.payment_date <= TODAY for p in payments)
    paid = -LedgerEntry.objects.filter(clinic__slug__in=SLUGS, kind=LedgerKind.PAYMENT).aggregate(
        total=Sum("amount"))["total"]
    assert paid == FIGURES["paid_total"]
    for era in EraFile.objects.filter(clinic__slug__in=SLUGS):
        [remittance] = parse_835(era.content)
        assert balance_problems(remittance) == []


def test_some_denials_and_some_underpayments_are_open_for_billers(demo):
    denials = Denial.objects.filter(clinic__slug__in=SLUGS, status=WorkStatus.OPEN)
    assert denials.count() == FIGURES["denials"]
    assert {"bundling/NCCI", "provider enrollment", "timely filing"} <= set(denials.values_list("category",
                                                                                                flat=True))
    underpayments = Underpayment.objects.filter(clinic__slug__in=SLUGS, status=WorkStatus.OPEN)
    assert underpayments.count() == FIGURES["underpayments"]
    # Aspen prices 97530 from last year's fee schedule (denials.simulator.PAYER_HABITS): 3% under the contract.
    assert set(underpayments.values_list("claim__payer__payer_id", "claim_line__cpt")) == {("ASP01", "97530")}
    assert all(u.allowed < u.expected and u.expected - u.allowed > D("1.00") for u in underpayments)


def test_each_denial_answers_a_finding_a_biller_overrode(demo):
    overridden = Finding.objects.filter(clinic__slug__in=SLUGS, overridden_by__isnull=False)
    assert set(overridden.values_list("override_reason", flat=True)) <= set(HISTORY_OVERRIDES.values())
    assert overridden.values("visit").distinct().count() == FIGURES["overridden_sessions"]
    for denial in Denial.objects.filter(clinic__slug__in=SLUGS, claim_line__isnull=False):
        assert overridden.filter(visit=denial.claim_line.visit).exists(), denial


def test_every_claims_balance_is_its_charge_less_payments_adjustments_and_what_went_to_the_next_payer(demo):
    checked = 0
    for claim in demo_claims():
        money = claim_money(claim)
        moved = -(LedgerEntry.objects.filter(claim=claim, kind=LedgerKind.TRANSFER, source="secondary")
                  .aggregate(total=Sum("amount"))["total"] or D("0.00"))
        assert money["balance"] == (money["charged"] - money["paid"] - money["adjusted"] - moved
                                    - money["patient_paid"]), claim
        checked += 1
    assert checked == FIGURES["claims"] + FIGURES["secondary_claims"]


def test_what_a_payer_still_owes_on_an_adjudicated_claim_is_what_it_denied(demo):
    denied = defaultdict(lambda: D("0.00"))
    for denial in Denial.objects.filter(clinic__slug__in=SLUGS, status=WorkStatus.OPEN):
        denied[denial.claim_id] += denial.amount
    remitted = set(ClaimRemittance.objects.filter(clinic__slug__in=SLUGS).values_list("claim_id", flat=True))
    for claim in demo_claims().filter(pk__in=remitted, next_payer_claims__isnull=True):
        assert claim_money(claim)["payer_balance"] == denied[claim.pk], claim


def test_claims_not_yet_paid_are_accepted_and_waiting(demo):
    waiting = demo_claims().exclude(pk__in=ClaimRemittance.objects.values("claim_id"))
    assert waiting.count() == FIGURES["awaiting_payment"]
    assert set(waiting.values_list("status", flat=True)) == {ClaimStatus.ACCEPTED}
    assert all(claim.payer_claim_control_number for claim in waiting)  # from the 277CA's REF*1K


def test_patients_paid_their_share_on_dates_after_the_payers_answer(demo):
    paid = LedgerEntry.objects.filter(clinic__slug__in=SLUGS, kind=LedgerKind.PATIENT_PAYMENT)
    assert paid.values("claim_id").distinct().count() == FIGURES["patient_payments"] > 0
    assert -(paid.aggregate(total=Sum("amount"))["total"]) == FIGURES["patient_paid_total"]
    assert not paid.filter(effective_date__gt=TODAY).exists()
    for row in paid.select_related("claim")[:50]:
        answered = row.claim.remittances.order_by("payment__payment_date").first().payment.payment_date
        assert answered + datetime.timedelta(days=10) <= row.effective_date, row


# --- reporting on the demo ---------------------------------------------------------------------------------------

MONTHS = ("2026-09", "2026-10", "2026-11")


def test_each_clinic_has_three_months_of_believable_figures_after_the_ramp_up(demo):
    for slug in SLUGS:
        clinic = Clinic.objects.get(slug=slug)
        by_month = {}
        for month in MONTHS:
            start, end = kpis.parse_month(month)
            by_month[month] = kpis.compute(kpis.scope_for_clinics([clinic], start=start, end=end))
        for month in MONTHS:
            figures = by_month[month]
            assert figures.money["charges"] > 0 and figures.counts["claims_submitted"] > 0, (slug, month)
            assert D("0.85") <= figures["clean_claim_rate"] <= 1, (slug, month)
            assert figures["denial_rate"] <= D("0.15"), (slug, month)
        for month in MONTHS[1:]:  # the first month billed only ramps up
            figures = by_month[month]
            assert figures.money["payments"] > 1000, (slug, month)
            assert D("0.6") <= figures["net_collection_rate"] <= 1, (slug, month)
            assert D("5") <= figures["days_in_ar"] <= 60, (slug, month)


def test_the_monthly_pdf_prints_the_kpis_commands_figures_for_each_clinic(demo, tmp_path):
    for slug in SLUGS:
        out = io.StringIO()
        call_command("kpis", "--clinic", slug, "--month", "2026-10", "--json", stdout=out)
        figures = json.loads(out.getvalue())
        pdf, stored = render_monthly_report(Clinic.objects.get(slug=slug), parse_month("2026-10")[0], today=TODAY)
        path = tmp_path / f"{slug}.pdf"
        path.write_bytes(pdf)
        text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
        assert stored["clean_claim_rate"] == figures["clean_claim_rate"]
        for key in ("clean_claim_rate", "denial_rate", "days_in_ar", "net_collection_rate"):
            value = figures[key]
            assert display(D(str(value)) if value is not None else None, DEFINITIONS[key].kind) in text, (slug, key)
        assert display(D(figures["revenue"]), "money") in text, slug
