"""EFT reconciliation: bank deposits (entered or from the bank's CSV) matched to 835 payments by TRN02 trace number
and amount; the unmatched lists on both sides and the totals.

The 835 payment comes from a real posting (tests/denials/test_posting.py's helpers): trace EFT123, BPR02 105.00,
payee clinic A.
"""

import datetime
from decimal import Decimal

import pytest

from claims.lifecycle import claim_transition
from claims.models import ClaimStatus
from denials.models import BankDeposit, DepositSource, EraPayment
from denials.reconcile import (
    deposit_record,
    deposits_import_csv,
    deposits_match,
    deposits_unmatched,
    payments_without_deposit,
    reconciliation_totals,
)
from denials.tasks import import_one
from otbilling.errors import AppError
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import paid_with_contractual, post
from tests.denials.test_x835 import era

D = Decimal
DAY = datetime.date(2026, 1, 23)
pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(clinic_a, code_sets):
    built = make_claim(build_claim_scene(clinic_a, make_medicare(payer_id="ACME1")))
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=built, to_status=status, reason="test")
    return built


@pytest.fixture
def payment(claim):
    post(era(paid_with_contractual(claim), "105.00"))
    return EraPayment.objects.get()


def record(clinic, user, amount="105.00", trace="EFT123", day=DAY):
    return deposit_record(clinic=clinic, deposit_date=day, amount=amount, trace_number=trace, description="ACH",
                          acting_user=user)


def test_a_deposit_with_the_payments_trace_and_amount_is_matched(payment, clinic_a, user_a):
    deposit = record(clinic_a, user_a)
    assert deposit.era_payment == payment and deposit.matched_at is not None
    assert deposit.created_by == user_a and deposit.source == DepositSource.MANUAL
    assert not deposits_unmatched(user=user_a).exists() and not payments_without_deposit(user=user_a).exists()


def test_a_wrong_amount_does_not_match_and_both_sides_stay_on_the_lists(payment, clinic_a, user_a):
    deposit = record(clinic_a, user_a, amount="105.01")
    assert deposit.era_payment is None
    assert list(deposits_unmatched(user=user_a)) == [deposit]
    assert list(payments_without_deposit(user=user_a)) == [payment]
    totals = reconciliation_totals(user=user_a)
    assert (totals["bank"], totals["posted"], totals["matched"], totals["difference"]) == (
        D("105.01"), D("105.00"), D("0.00"), D("0.01"))
    assert (totals["bank_unmatched"], totals["posted_unmatched"]) == (D("105.01"), D("105.00"))


def test_a_wrong_trace_does_not_match(payment, clinic_a, user_a):
    assert record(clinic_a, user_a, trace="EFT124").era_payment is None


def test_the_trace_is_compared_without_case_or_spaces(payment, clinic_a, user_a):
    assert record(clinic_a, user_a, trace="  eft123 ").era_payment == payment


def test_another_clinics_deposit_never_takes_the_payment(payment, clinic_b, user_b):
    assert record(clinic_b, user_b).era_payment is None
    assert not deposits_unmatched(user=user_b).filter(clinic=payment.clinic).exists()
    assert not payments_without_deposit(user=user_b).exists()


def test_a_deposit_entered_before_the_835_is_matched_when_the_835_is_imported(claim, clinic_a, user_a):
    deposit = record(clinic_a, user_a)
    assert deposit.era_payment is None
    summary = import_one("era.835", era(paid_with_contractual(claim), "105.00"), user_a)
    assert summary["paid_total"] == "105.00"
    deposit.refresh_from_db()
    assert deposit.era_payment == EraPayment.objects.get()


def test_the_same_deposit_entered_twice_is_refused(payment, clinic_a, user_a):
    record(clinic_a, user_a)
    with pytest.raises(AppError) as caught:
        record(clinic_a, user_a)
    assert caught.value.code == "duplicate" and BankDeposit.objects.count() == 1


def test_bad_deposit_values_are_named_by_field(clinic_a, user_a):
    with pytest.raises(AppError) as caught:
        record(clinic_a, user_a, amount="12.345", day=datetime.date(2999, 1, 1))
    fields = {problem["field"] for problem in caught.value.details}
    assert fields == {"amount", "deposit_date"}
    assert not BankDeposit.objects.exists()


CSV_GOOD = ("date,amount,trace_number,description\n"
            "2026-01-23,105.00,EFT123,ACME HEALTH ACH\n"
            "01/24/2026,\"1,250.00\",CHK777,check deposit\n")


def test_a_good_csv_imports_every_row_and_matches_what_it_can(payment, clinic_a, user_a):
    result = deposits_import_csv(clinic=clinic_a, content=CSV_GOOD, acting_user=user_a)
    assert result == {"imported": 2, "duplicates": 0, "matched": 1}
    assert sorted(BankDeposit.objects.values_list("amount", "trace_number", "source")) == [
        (D("105.00"), "EFT123", "csv"), (D("1250.00"), "CHK777", "csv")]
    assert BankDeposit.objects.get(trace_number="EFT123").era_payment == payment


def test_the_same_csv_imported_twice_adds_nothing(clinic_a, user_a):
    deposits_import_csv(clinic=clinic_a, content=CSV_GOOD, acting_user=user_a)
    again = deposits_import_csv(clinic=clinic_a, content=CSV_GOOD.encode(), acting_user=user_a)
    assert again == {"imported": 0, "duplicates": 2, "matched": 0}
    assert BankDeposit.objects.count() == 2


def test_a_csv_with_a_bad_row_imports_nothing_and_names_each_bad_row(clinic_a, user_a):
    content = ("date,amount,trace_number\n"
               "2026-01-23,105.00,EFT123\n"
               "2026-13-40,50.00,EFT200\n"
               "2026-01-25,abc,EFT201\n"
               "2026-01-26,20.00,EFT202\n")
    with pytest.raises(AppError) as caught:
        deposits_import_csv(clinic=clinic_a, content=content, acting_user=user_a)
    problems = {problem["field"]: problem["message"] for problem in caught.value.details}
    assert set(problems) == {"row 3", "row 4"}
    assert "2026-13-40" in problems["row 3"] and "'abc'" in problems["row 4"]
    assert not BankDeposit.objects.exists()


def test_a_csv_without_the_trace_column_is_refused_by_its_header(clinic_a, user_a):
    with pytest.raises(AppError) as caught:
        deposits_import_csv(clinic=clinic_a, content="date,amount\n2026-01-23,1.00\n", acting_user=user_a)
    assert "Row 1" in caught.value.message and "trace_number" in caught.value.message


def test_deposits_match_pairs_each_payment_once(payment, clinic_a, user_a):
    first = record(clinic_a, user_a)
    second = record(clinic_a, user_a, day=DAY + datetime.timedelta(days=1))  # the bank listed it twice
    assert first.era_payment == payment and second.era_payment is None
    assert deposits_match(clinic=clinic_a) == 0
