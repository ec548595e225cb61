"""seed_demo's history: the sessions more than a week old are billed, acknowledged and paid through the real pipeline
(claims_build, batch_generate, the simulated payers' 999/277CA/835, ack_import, era_import); the last week is left
unbilled for a user to walk through.

Seeded once for the module (a few minutes: the scrub, 78 batches checked by pyx12 and 64 835s posted), inside a
transaction rolled back at the end, like tests/otbilling/test_demo_scrub.py.
"""

import datetime
from collections import defaultdict
from decimal import Decimal

import pytest
from django.db.models import Sum

from claims.ledger import claim_money
from claims.models import AckFile, BatchStatus, Claim, ClaimBatch, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind
from coding.models import CodingStatus, Finding, VisitCoding
from denials.models import ClaimRemittance, Denial, EraFile, EraPayment, EraStatus, Underpayment, WorkStatus
from denials.x835 import balance_problems, parse_835
from otbilling.demo import HISTORY_OVERRIDES, SUBMISSION_EVERY_WEEKS, UNBILLED_DAYS, demo_seed
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
           "overridden_sessions": 15}


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
        assert money["balance"] == money["charged"] - money["paid"] - money["adjusted"] - moved, claim
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
