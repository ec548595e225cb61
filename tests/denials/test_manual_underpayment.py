"""A paper EOB that pays a line short opens an underpayment by the 835 import's own rule, with no 835 payment
behind it and the EOB named on the worklist.

The claim is the real one of tests/claims/conftest.py (97530 × 2 = 120.00 expecting 70.00, 97535 × 1 = 60.00),
submitted; its 97535 line is made to expect 60.00 (a fee schedule that expects the full charge).
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from claims.lifecycle import claim_transition
from claims.models import ClaimLine, ClaimStatus
from denials.models import Denial, Underpayment
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_manual import adj, eob

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.denials.urls_work")]


@pytest.fixture
def short_line_claim(clinic_a, code_sets):
    claim = make_claim(build_claim_scene(clinic_a, make_medicare(payer_id="ACME1")))
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=claim, to_status=status, reason="sent")
    ClaimLine.objects.filter(claim=claim, position=2).update(expected_allowed=D("60.00"))
    return claim


def paid_on_line_2(claim, user, paid: str, adjustment: tuple, reference="EOB-7781") -> dict:
    return eob(claim, user, [{"position": 2, "paid": paid, "adjustments": [adj(*adjustment)]}], reference=reference)


def test_a_paper_eob_paying_40_on_a_line_expecting_60_opens_one_underpayment(short_line_claim, user_a):
    summary = paid_on_line_2(short_line_claim, user_a, "40.00", ("CO", "45", "20.00"))
    assert summary["underpayments_opened"] == 1
    item = Underpayment.objects.get()
    assert (item.claim, item.claim_line.position, item.payment) == (short_line_claim, 2, None)
    assert (item.expected, item.allowed, item.paid, item.shortfall) == (D("60.00"), D("40.00"), D("40.00"),
                                                                        D("20.00"))


def test_a_paper_eob_within_the_tolerance_opens_no_underpayment(short_line_claim, user_a):
    summary = paid_on_line_2(short_line_claim, user_a, "59.50", ("CO", "45", "0.50"))
    assert summary["underpayments_opened"] == 0 and not Underpayment.objects.exists()


def test_a_refused_part_on_paper_is_a_denial_not_an_underpayment(short_line_claim, user_a):
    paid_on_line_2(short_line_claim, user_a, "40.00", ("CO", "50", "20.00"))
    assert Denial.objects.get().claim_line.position == 2
    assert not Underpayment.objects.exists()


def test_the_worklist_shows_the_paper_underpayment_with_its_eob(short_line_claim, user_a, client_a):
    paid_on_line_2(short_line_claim, user_a, "40.00", ("CO", "45", "20.00"))
    item = Underpayment.objects.get()
    response = client_a.get(reverse("underpayment-list"))
    assert response.status_code == 200
    row = response.content.decode().split(f'data-underpayment="{item.public_id}"')[1].split("</tr>")[0]
    assert "Paper EOB EOB-7781 of 2026-01-22" in row
    cells = [cell.split(">", 1)[1] for cell in row.split("</td>") if 'class="num"' in cell]
    assert cells == ["$60.00", "$40.00", "$40.00", "$20.00"]  # expected, allowed, paid, shortfall
