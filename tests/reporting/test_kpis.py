"""Every KPI on a small hand-made ledger whose answers are worked out here, line by line.

Six claims of clinic A from the real pipeline (tests/claims/conftest.py: 97530 × 2 = 120.00 + 97535 × 1 = 60.00,
so 180.00 a claim), submitted at fixed times and answered by 835s with fixed payment dates (BPR16). The month is
September 2026:

    claim  DOS    signed         first sent     answer (payment date)                              balance 30 Sep
    C1     09-14  09-14 17:00    09-15 10:00    paid 105, CO-45 75 (09-22); reversed and reposted  0.00
                                                the same (09-26)
    C2     09-15  09-15 17:00    09-18 10:00    denied CO-197, both lines (09-25); a scrubber       180.00 (0–30)
                                                finding was overridden on its session
    C3     09-16  09-18 09:00    09-18 15:00    paid 84, CO-45 75, PR-2 21 (09-29)                 21.00 (0–30)
    C4     09-17  09-17 17:00    09-18 17:00    rejected, sent again; no answer yet                180.00 (0–30)
    C5     06-01  06-01 17:00    06-02 10:00    paid 100, CO-45 50, PR-1 30 (08-28)                30.00 (120+)
    C6     07-20  07-20 17:00    07-22 10:00    no answer                                          180.00 (61–90)
"""

import datetime
import json
from decimal import Decimal

import pytest

from claims.lifecycle import claim_transition
from claims.models import Claim, ClaimStatus
from coding.models import Finding, Severity
from denials.posting import era_import
from otbilling.tenancy import Role
from reporting import kpis
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import clp, svc
from tests.denials.test_x835 import interchange, transaction

D = Decimal
UTC = datetime.UTC
SEPTEMBER = (datetime.date(2026, 9, 1), datetime.date(2026, 9, 30))
pytestmark = pytest.mark.django_db


def at(month, day, hour) -> datetime.datetime:
    return datetime.datetime(2026, month, day, hour, 0, tzinfo=UTC)


def submit(claim, sent: datetime.datetime, signed: datetime.datetime) -> Claim:
    Claim.objects.filter(pk=claim.pk).update(signed_at=signed)
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=claim, to_status=status, reason="test", at=sent)
    return claim


def pay(body: str, total: str, day: datetime.date, trace: str) -> dict:
    """An 835 around `body` paid on `day` (BPR16)."""
    segments = [s.replace("*20260122", f"*{day:%Y%m%d}") if s.startswith("BPR") else s
                for s in transaction(body, total, trace=trace)]
    return era_import(file_name=f"{trace}.835", content=interchange([segments]), acting_user=None)


def paid_in_full(claim, icn) -> str:
    return (clp(claim, "1", "180.00", "105.00", icn=icn)
            + svc(claim, 1, "97530", "120.00", "70.00", 2, ("CO", "45", "50.00"))
            + svc(claim, 2, "97535", "60.00", "35.00", 1, ("CO", "45", "25.00")))


@pytest.fixture
def ledger(clinic_a, code_sets, make_user):
    scene = build_claim_scene(clinic_a, make_medicare(payer_id="ACME1"))
    claims = {name: make_claim(scene, date_of_service=dos) for name, dos in (
        ("C1", datetime.date(2026, 9, 14)), ("C2", datetime.date(2026, 9, 15)), ("C3", datetime.date(2026, 9, 16)),
        ("C4", datetime.date(2026, 9, 17)), ("C5", datetime.date(2026, 6, 1)), ("C6", datetime.date(2026, 7, 20)))}
    c = claims
    submit(c["C1"], at(9, 15, 10), at(9, 14, 17))
    submit(c["C2"], at(9, 18, 10), at(9, 15, 17))
    submit(c["C3"], at(9, 18, 15), at(9, 18, 9))
    submit(c["C4"], at(9, 18, 17), at(9, 17, 17))
    submit(c["C5"], at(6, 2, 10), at(6, 1, 17))
    submit(c["C6"], at(7, 22, 10), at(7, 20, 17))
    biller = make_user("kpi_biller", Role.BILLER, clinic_a)
    Finding.objects.create(clinic=clinic_a, visit=c["C2"].lines.first().visit, rule_id="NCCI_PTP",
                           severity=Severity.BLOCKING, message="pair", overridden_by=biller,
                           override_reason="distinct procedure documented", overridden_at=at(9, 16, 9))
    for status in (ClaimStatus.REJECTED, ClaimStatus.READY, ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=c["C4"], to_status=status, reason="277CA rejection, fixed", at=at(9, 19, 10))

    c5 = (clp(c["C5"], "1", "180.00", "100.00", "30.00", icn="ICN5")
          + svc(c["C5"], 1, "97530", "120.00", "70.00", 2, ("CO", "45", "30.00"), ("PR", "1", "20.00"))
          + svc(c["C5"], 2, "97535", "60.00", "30.00", 1, ("CO", "45", "20.00"), ("PR", "1", "10.00")))
    pay(c5, "100.00", datetime.date(2026, 8, 28), "EFT-AUG")
    pay(paid_in_full(c["C1"], "ICN1"), "105.00", datetime.date(2026, 9, 22), "EFT-0922")
    denied = (clp(c["C2"], "4", "180.00", "0.00", icn="ICN2")
              + svc(c["C2"], 1, "97530", "120.00", "0.00", 2, ("CO", "197", "120.00"))
              + svc(c["C2"], 2, "97535", "60.00", "0.00", 1, ("CO", "197", "60.00")))
    pay(denied, "0", datetime.date(2026, 9, 25), "EFT-0925")
    reversal = (clp(c["C1"], "22", "-180.00", "-105.00", icn="ICN1")
                + svc(c["C1"], 1, "97530", "-120.00", "-70.00", -2, ("CO", "45", "-50.00"))
                + svc(c["C1"], 2, "97535", "-60.00", "-35.00", -1, ("CO", "45", "-25.00")))
    pay(reversal + paid_in_full(c["C1"], "ICN1B"), "0", datetime.date(2026, 9, 26), "EFT-0926")
    partial = (clp(c["C3"], "1", "180.00", "84.00", "21.00", icn="ICN3")
               + svc(c["C3"], 1, "97530", "120.00", "56.00", 2, ("CO", "45", "50.00"), ("PR", "2", "14.00"))
               + svc(c["C3"], 2, "97535", "60.00", "28.00", 1, ("CO", "45", "25.00"), ("PR", "2", "7.00")))
    pay(partial, "84.00", datetime.date(2026, 9, 29), "EFT-0929")
    return claims


def september(clinic, **kwargs) -> kpis.Scope:
    return kpis.scope_for_clinics([clinic], start=SEPTEMBER[0], end=SEPTEMBER[1], **kwargs)


def pcns(queryset) -> set[str]:
    return set(queryset.values_list("patient_control_number", flat=True))


def names(ledger, *keys) -> set[str]:
    return {ledger[key].patient_control_number for key in keys}


def test_clean_claim_rate_counts_first_submissions_without_override_or_rejection(ledger, clinic_a):
    scope = september(clinic_a)
    result = kpis.compute(scope)
    # Sent in September: C1–C4. C2's session had a finding overridden and C4 was rejected: 2 of 4 clean.
    assert result.counts["original_claims_submitted"] == 4 and result.counts["clean_claims"] == 2
    assert result["clean_claim_rate"] == D("0.5000")
    assert pcns(kpis.drill_claims(scope, "clean_claim_rate")) == names(ledger, "C1", "C3")
    assert pcns(kpis.drill_claims(scope, "clean_claim_rate", "denominator")) == names(ledger, "C1", "C2", "C3", "C4")


def test_resubmission_rate_counts_a_claim_sent_again_after_its_rejection(ledger, clinic_a):
    result = kpis.compute(september(clinic_a))
    assert result.counts["resubmitted_claims"] == 1 and result["resubmission_rate"] == D("0.2500")
    assert pcns(kpis.drill_claims(september(clinic_a), "resubmission_rate")) == names(ledger, "C4")


def test_denial_rates_count_each_claim_once_and_each_denied_line_once(ledger, clinic_a):
    result = kpis.compute(september(clinic_a))
    # Adjudicated in September: C1 (twice: answer and repost, counted once), C2 and C3. Denied: C2.
    assert (result.counts["claims_adjudicated"], result.counts["claims_denied"]) == (3, 1)
    assert result["denial_rate"] == D("0.3333")
    # 120.00 + 60.00 denied of 3 × 180.00 adjudicated.
    assert (result.money["charges_denied"], result.money["charges_adjudicated"]) == (D("180.00"), D("540.00"))
    assert result["denial_rate_dollars"] == D("0.3333")


def test_first_pass_yield_is_paid_on_the_first_answer_without_denial(ledger, clinic_a):
    scope = september(clinic_a)
    result = kpis.compute(scope)
    assert (result.counts["first_pass_claims"], result.counts["claims_first_adjudicated"]) == (2, 3)
    assert result["first_pass_yield"] == D("0.6667")
    assert pcns(kpis.drill_claims(scope, "first_pass_yield")) == names(ledger, "C1", "C3")


def test_money_of_the_month_nets_the_reversal_and_repost(ledger, clinic_a):
    result = kpis.compute(september(clinic_a))
    # Charges by day of service: C1–C4 = 4 × 180.00. Payments: C1 105 − 105 + 105, C3 84.
    assert result.money["charges"] == D("720.00")
    assert (result.money["payments"], result.money["payer_payments"]) == (D("189.00"), D("189.00"))
    # Contractual: C1 75 − 75 + 75, C3 75.
    assert result.money["contractual_adjustments"] == D("150.00")


def test_collection_rates_are_measured_on_the_claims_adjudicated_in_the_period(ledger, clinic_a):
    scope = september(clinic_a)
    result = kpis.compute(scope)
    # C1, C2 and C3: charges 540.00, contractual 150.00, collected 105.00 + 0.00 (C2 denied) + 84.00.
    money = result.money
    assert (money["collection_charges"], money["collection_contractual"], money["collection_payments"]) == (
        D("540.00"), D("150.00"), D("189.00"))
    assert result["net_collection_rate"] == D("0.4846")  # 189 / 390
    assert result["gross_collection_rate"] == D("0.3500")  # 189 / 540
    assert pcns(kpis.drill_claims(scope, "net_collection_rate")) == names(ledger, "C1", "C2", "C3")


def test_ar_aging_days_in_ar_and_aged_shares_at_month_end(ledger, clinic_a):
    result = kpis.compute(september(clinic_a))
    assert result.aging == {"0-30": D("381.00"), "31-60": D("0.00"), "61-90": D("180.00"), "91-120": D("0.00"),
                            "120+": D("30.00")}
    assert result.money["ar_total"] == D("591.00")
    assert result["ar_over_90"] == result["ar_over_120"] == D("0.0508")  # 30 / 591
    # Charges of 3 Jul–30 Sep: C1–C4 and C6 = 900.00, 10.00 a day; 591.00 / 10.00.
    assert result.money["charges_last_90_days"] == D("900.00")
    assert result["days_in_ar"] == D("59.1")
    assert pcns(kpis.drill_claims(september(clinic_a), "aging:61-90")) == names(ledger, "C6")


def test_ar_at_the_end_of_an_earlier_month_ignores_later_payments(ledger, clinic_a):
    august = kpis.compute(kpis.scope_for_clinics([clinic_a], start=datetime.date(2026, 8, 1),
                                                 end=datetime.date(2026, 8, 31)))
    # 31 Aug: C5 owes its PR 30.00 (age 91 days), C6 its 180.00 (42 days); September's claims do not exist yet.
    assert august.aging["91-120"] == D("30.00") and august.aging["31-60"] == D("180.00")
    assert august.money["ar_total"] == D("210.00")


def test_lags_and_the_48_hour_promise(ledger, clinic_a):
    result = kpis.compute(september(clinic_a))
    # DOS to signature: 0, 0, 2, 0 days. Signature to first submission: 17 h, 65 h, 6 h, 24 h = 28 h on average.
    assert result["charge_lag_days"] == D("0.5")
    assert result["submission_lag_days"] == D("1.2")
    assert result.counts["submitted_within_48h"] == 3 and result["submitted_within_48h"] == D("0.7500")
    late = kpis.drill_claims(september(clinic_a), "submitted_within_48h")
    assert names(ledger, "C2") - pcns(late) == names(ledger, "C2")


def test_per_visit_figures(ledger, clinic_a):
    result = kpis.compute(september(clinic_a))
    assert (result.counts["visits"], result.counts["units"]) == (4, 12)
    assert result["units_per_visit"] == D("3.00")
    assert result["payments_per_visit"] == D("47.25")  # 189.00 / 4


def test_carc_pareto_and_payer_mix(ledger, clinic_a):
    result = kpis.compute(september(clinic_a))
    [reason] = result.top_denials
    assert (reason["group"], reason["carc"], reason["count"], reason["amount"]) == ("CO", "197", 2, D("180.00"))
    assert reason["cumulative_share"] == D("1.0000") and reason["category"]
    [payer] = result.payer_mix
    assert (payer["charges"], payer["payments"], payer["share"]) == (D("720.00"), D("189.00"), D("1.0000"))


def test_growth_against_the_previous_month_and_a_baseline(ledger, clinic_a):
    baseline = kpis.scope_for_clinics([clinic_a], start=datetime.date(2026, 8, 1), end=datetime.date(2026, 8, 31))
    result = kpis.compute(september(clinic_a), baseline=baseline)
    assert result.money["revenue_previous"] == D("100.00")
    assert result["revenue_growth_previous"] == D("0.8900")  # (189 − 100) / 100
    # August's 100.00 over 31 days scaled to September's 30: 96.77.
    assert result.money["revenue_baseline"] == D("96.77")
    assert result["revenue_growth_baseline"] == D("0.9531")


def test_a_payer_filter_narrows_every_figure(ledger, clinic_a):
    other = kpis.compute(september(clinic_a, payer_id=make_medicare(payer_id="OTHER1", name="Other").pk))
    assert other.counts["claims_submitted"] == 0 and other.money["charges"] == D("0.00")
    assert other["clean_claim_rate"] is None and other["days_in_ar"] is None


def test_a_user_scope_holds_only_the_clinics_where_they_see_reports(ledger, clinic_a, clinic_b, make_user):
    owner_b = make_user("owner_b", Role.CLINIC_OWNER, clinic_b)
    scope = kpis.scope_for_user(owner_b, start=SEPTEMBER[0], end=SEPTEMBER[1])
    assert scope.clinic_ids == (clinic_b.pk,)
    assert kpis.compute(scope).money["charges"] == D("0.00")
    assert kpis.scope_for_user(owner_b, start=SEPTEMBER[0], end=SEPTEMBER[1], clinic=clinic_a).clinic_ids == ()
    staff_a = make_user("staff_a", Role.CLINIC_STAFF, clinic_a)  # no VIEW_REPORTS
    assert kpis.scope_for_user(staff_a, start=SEPTEMBER[0], end=SEPTEMBER[1]).clinic_ids == ()


def test_unknown_drill_keys_are_refused(ledger, clinic_a):
    for key in ("nonsense", "aging:7-8", "payer:x"):
        with pytest.raises(ValueError):
            kpis.drill_claims(september(clinic_a), key)


def test_as_json_gives_fractions_strings_and_the_aging_object(ledger, clinic_a):
    data = json.loads(json.dumps(kpis.as_json(kpis.compute(september(clinic_a)))))
    assert data["clean_claim_rate"] == 0.5 and data["denial_rate"] == 0.3333
    assert data["revenue"] == "189.00" and data["payments_per_visit"] == "47.25"
    assert data["ar_aging"] == {"0-30": "381.00", "31-60": "0.00", "61-90": "180.00", "91-120": "0.00",
                                "120+": "30.00"}
    assert data["days_in_ar"] == 59.1


def test_month_helpers():
    assert kpis.parse_month("2026-02") == (datetime.date(2026, 2, 1), datetime.date(2026, 2, 28))
    assert kpis.previous_period(*kpis.parse_month("2026-03")) == kpis.parse_month("2026-02")
    assert kpis.previous_period(datetime.date(2026, 3, 10), datetime.date(2026, 3, 16)) == (
        datetime.date(2026, 3, 3), datetime.date(2026, 3, 9))
    assert kpis.trend_periods(datetime.date(2026, 1, 15), grain="month", count=3)[0] == kpis.parse_month("2025-11")
    with pytest.raises(ValueError, match="YYYY-MM"):
        kpis.parse_month("2026/13")

