"""Coding a visit end to end: units, modifiers with reasons, prices with MPPR and the CO reduction, KX."""

import datetime
from decimal import Decimal

import pytest

from clinics.models import ClaimFilingIndicator, PayerKind
from coding.models import CodedLine
from coding.services import visit_code
from tests import factories

DOS = datetime.date(2026, 10, 5)


@pytest.fixture
def medicare(db):
    return factories.PayerFactory(
        name="Medicare Part B", payer_id="MEDB1", kind=PayerKind.MEDICARE,
        claim_filing_indicator=ClaimFilingIndicator.MEDICARE_B, go_required=True, kx_threshold_applies=True,
        applies_mppr=False, applies_assistant_reduction=True, medicare_documentation_rules=False,
    )


@pytest.fixture
def setup(clinic_a, medicare, code_sets):
    patient = factories.PatientFactory(clinic=clinic_a)
    coverage = factories.CoverageFactory(patient=patient, payer=medicare)
    for cpt, allowed in (("97110", "30.00"), ("97140", "28.00"), ("97530", "35.00"), ("97535", "32.00")):
        factories.FeeScheduleEntryFactory(clinic=clinic_a, cpt=cpt, charge=Decimal("60.00"),
                                          expected_allowed=Decimal(allowed))
    return {"patient": patient, "coverage": coverage, "clinic": clinic_a}


def make_visit(setup, lines, dos=DOS, **kwargs):
    visit = factories.VisitFactory(patient=setup["patient"], coverage=setup["coverage"], date_of_service=dos, **kwargs)
    for position, spec in enumerate(lines, start=1):
        factories.ServiceLineFactory(visit=visit, position=position, **spec)
    return visit


def coded(visit):
    return {c.service_line.cpt: c for c in CodedLine.objects.filter(coding__visit=visit)}


def test_v1_units_and_go_on_every_line(setup):
    visit = make_visit(setup, [{"cpt": "97110", "minutes": 33}, {"cpt": "97140", "minutes": 7}])
    visit_code(visit=visit)
    lines = coded(visit)
    assert (lines["97110"].units, lines["97140"].units) == (2, 1)
    assert lines["97110"].modifiers == ["GO"] and lines["97140"].modifiers == ["GO"]
    assert "requires the OT discipline modifier" in lines["97110"].modifier_reasons["GO"]
    assert lines["97110"].charge == Decimal("120.00")
    assert lines["97110"].expected_allowed == Decimal("60.00")


def test_assistant_over_ten_percent_gets_co_and_fifteen_percent_less(setup):
    visit = make_visit(setup, [{"cpt": "97530", "minutes": 30, "assistant_minutes": 4}])
    visit_code(visit=visit)
    line = coded(visit)["97530"]
    assert line.modifiers == ["GO", "CO"]
    assert line.assistant_reduction == Decimal("10.50")  # 15% of 2 × $35.00
    assert line.expected_allowed == Decimal("59.50")


def test_assistant_at_ten_percent_is_de_minimis(setup):
    visit = make_visit(setup, [{"cpt": "97530", "minutes": 30, "assistant_minutes": 3}])
    visit_code(visit=visit)
    assert coded(visit)["97530"].modifiers == ["GO"]


def test_kx_on_the_line_that_passes_the_threshold_and_later_lines(setup, medicare):
    """domain-rules §3.2: 2026, OT YTD $2,400, new line allowed $150 → $2,550 > $2,480 → KX."""
    factories.FeeScheduleEntryFactory(clinic=setup["clinic"], cpt="97112", charge=Decimal("200.00"),
                                      expected_allowed=Decimal("2400.00"))
    earlier = make_visit(setup, [{"cpt": "97112", "minutes": 15}], dos=datetime.date(2026, 3, 2))
    visit_code(visit=earlier)
    assert coded(earlier)["97112"].modifiers == ["GO"]
    factories.FeeScheduleEntryFactory(clinic=setup["clinic"], cpt="97535", payer=medicare, charge=Decimal("200.00"),
                                      expected_allowed=Decimal("150.00"))
    visit = make_visit(setup, [{"cpt": "97110", "minutes": 10}, {"cpt": "97535", "minutes": 15}])
    visit_code(visit=visit)
    lines = coded(visit)
    assert lines["97110"].modifiers == ["GO"]  # 2,400 + 30 = 2,430: not yet over
    assert lines["97535"].modifiers == ["GO", "KX"]  # 2,430 + 150 = 2,580
    assert "$2580.00" in lines["97535"].modifier_reasons["KX"]


def test_kx_counts_only_the_same_calendar_year(setup):
    factories.FeeScheduleEntryFactory(clinic=setup["clinic"], cpt="97112", charge=Decimal("200.00"),
                                      expected_allowed=Decimal("2500.00"))
    visit_code(visit=make_visit(setup, [{"cpt": "97112", "minutes": 15}], dos=datetime.date(2025, 12, 30)))
    visit = make_visit(setup, [{"cpt": "97110", "minutes": 15}], dos=datetime.date(2026, 1, 2))
    visit_code(visit=visit)
    assert coded(visit)["97110"].modifiers == ["GO"]


def test_mppr_halves_practice_expense_after_the_first_unit(setup, medicare):
    medicare.applies_mppr = True
    medicare.applies_assistant_reduction = False
    medicare.save()
    visit = make_visit(setup, [{"cpt": "97530", "minutes": 30}, {"cpt": "97110", "minutes": 15}])
    visit_code(visit=visit)
    lines = coded(visit)
    # 97530 has the highest PE per unit ($35 × 0.57 = $19.95): its first unit is paid in full, its second unit
    # loses half its PE ($9.975); 97110's unit loses half of $30 × 0.49 = $7.35.
    assert lines["97530"].mppr_reduction == Decimal("9.98")
    assert lines["97530"].expected_allowed == Decimal("60.02")
    assert lines["97110"].mppr_reduction == Decimal("7.35")
    assert lines["97110"].expected_allowed == Decimal("22.65")


def test_ncci_bypass_modifier_only_with_documented_distinct_time(setup, medicare):
    medicare.ncci_bypass_modifier = "XU"
    medicare.save()
    visit = make_visit(setup, [{"cpt": "97140", "minutes": 10}, {"cpt": "97530", "minutes": 15,
                                                                   "distinct_time_block": True}])
    visit_code(visit=visit)
    assert coded(visit)["97530"].modifiers == ["GO", "XU"]
    plain = make_visit(setup, [{"cpt": "97140", "minutes": 10}, {"cpt": "97530", "minutes": 15}],
                       dos=datetime.date(2026, 10, 6))
    visit_code(visit=plain)
    assert coded(plain)["97530"].modifiers == ["GO"]


def test_telehealth_place_of_service_adds_95(setup):
    visit = make_visit(setup, [{"cpt": "97535", "minutes": 25}], place_of_service="10")
    visit_code(visit=visit)
    assert coded(visit)["97535"].modifiers == ["GO", "95"]


def test_commercial_ama_payer_counts_codes_separately_and_needs_no_go(setup):
    payer = factories.PayerFactory(unit_method="ama", go_required=False)
    setup["coverage"].payer = payer
    setup["coverage"].save()
    visit = make_visit(setup, [{"cpt": "97110", "minutes": 33}, {"cpt": "97140", "minutes": 7}])
    coding = visit_code(visit=visit)
    lines = coded(visit)
    assert coding.unit_rule == "ama"
    assert (lines["97110"].units, lines["97140"].units) == (2, 0)
    assert lines["97110"].modifiers == []


def test_kx_uses_the_year_to_date_amount_reported_by_eligibility(setup):
    """A 271 reported $2,450 of OT this year (other providers too): our $60 line passes $2,480."""
    import datetime as dt

    from eligibility.models import BenefitSnapshot

    BenefitSnapshot.objects.create(
        clinic=setup["clinic"], coverage=setup["coverage"], source="phone", is_active=True,
        checked_at=dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC), therapy_ytd_amount=Decimal("2450.00"),
    )
    visit = make_visit(setup, [{"cpt": "97110", "minutes": 30}])
    visit_code(visit=visit)
    line = coded(visit)["97110"]
    assert line.modifiers == ["GO", "KX"]
    assert "$2510.00" in line.modifier_reasons["KX"]
