"""Scrubber edits: for every rule id a visit that triggers it and one that does not.

Visits are built with the factories and coded with coding.services.visit_code; the tests assert on the stored
Finding rows (rule id, severity, message, line, fix) and on the visit's coding status.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest

from clinics.models import ClaimFilingIndicator, PayerKind, ProviderKind
from coding.models import CodedLine, CodingStatus, Finding, Severity
from coding.services import finding_apply_fix, visit_code
from otbilling.tenancy import Role
from tests import factories
from visits.models import VisitStatus

DOS = datetime.date(2026, 9, 14)  # inside the loaded ICD-10-CM FY2026 code set
TODAY = datetime.date(2026, 9, 18)
FEE_CODES = ("97110", "97112", "97129", "97130", "97140", "97150", "97165", "97166", "97167", "97168", "97530",
             "97535", "97760", "97014", "G0283")


@dataclass
class Scene:
    """One clinic's patient with coverage, a credentialed OT with a valid NPI, a referrer and fees."""

    clinic: object
    payer: object
    patient: object
    coverage: object
    provider: object
    referrer: object


def make_medicare(**overrides):
    settings = {
        "name": "Medicare Part B", "payer_id": "MEDB1", "kind": PayerKind.MEDICARE,
        "claim_filing_indicator": ClaimFilingIndicator.MEDICARE_B, "go_required": True,
        "kx_threshold_applies": False, "applies_mppr": False, "applies_assistant_reduction": True,
        "medicare_documentation_rules": False, **overrides,
    }
    return factories.PayerFactory(**settings)


@pytest.fixture
def medicare(db):
    return make_medicare()


@pytest.fixture
def commercial(db):
    return factories.PayerFactory(name="Acme Health", payer_id="ACME1", go_required=False)


def build_scene(clinic, payer) -> Scene:
    patient = factories.PatientFactory(clinic=clinic)
    provider = factories.ProviderFactory(clinic=clinic)
    provider.credentialed_payers.add(payer)
    for cpt in FEE_CODES:
        if not factories.FeeScheduleEntryFactory._meta.model.objects.filter(clinic=clinic, cpt=cpt).exists():
            factories.FeeScheduleEntryFactory(clinic=clinic, cpt=cpt, charge=Decimal("60.00"),
                                              expected_allowed=Decimal("35.00"))
    return Scene(clinic=clinic, payer=payer, patient=patient,
                 coverage=factories.CoverageFactory(patient=patient, payer=payer), provider=provider,
                 referrer=factories.ReferringProviderFactory(clinic=clinic))


@pytest.fixture
def scene(clinic_a, medicare, code_sets) -> Scene:
    return build_scene(clinic_a, medicare)


def add_visit(scene: Scene, lines, dos=DOS, **kwargs):
    """A signed visit of the scene's patient; each line spec is passed to ServiceLineFactory (pointers [1])."""
    values = {"patient": scene.patient, "coverage": scene.coverage, "rendering_provider": scene.provider,
              "referring_provider": scene.referrer, "date_of_service": dos, **kwargs}
    visit = factories.VisitFactory(**values)
    for position, spec in enumerate(lines, start=1):
        factories.ServiceLineFactory(visit=visit, position=position, **spec)
    return visit


def scrub(visit, today=TODAY):
    return visit_code(visit=visit, today=today)


def found(visit, rule_id):
    return list(Finding.objects.filter(visit=visit, rule_id=rule_id).select_related("service_line"))


def only(visit, rule_id):
    findings = found(visit, rule_id)
    assert len(findings) == 1, [f.message for f in Finding.objects.filter(visit=visit)]
    return findings[0]


def all_rule_ids(visit):
    return sorted(Finding.objects.filter(visit=visit).values_list("rule_id", flat=True))


@pytest.fixture
def biller(make_user, clinic_a):
    return make_user("scrub_biller", Role.BILLER, clinic_a)


# --- a clean visit ------------------------------------------------------------------------------------------------


def test_a_clean_visit_has_no_findings_and_is_billable(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}, {"cpt": "97535", "minutes": 15}])
    coding = scrub(visit)
    assert all_rule_ids(visit) == []
    assert coding.status == CodingStatus.BILLABLE


# --- DX_INVALID ---------------------------------------------------------------------------------------------------


def test_a_category_header_diagnosis_is_blocking_and_named_by_position(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], diagnoses=["M62.81", "M62.8"])
    coding = scrub(visit)
    finding = only(visit, "DX_INVALID")
    assert finding.severity == Severity.BLOCKING
    assert finding.field == "diagnoses[2]"
    assert finding.message == ("Diagnosis 2 (M62.8): M62.8 is a category header, not a billable code; pick a more "
                               "specific child code.")
    assert finding.service_line is None
    assert coding.status == CodingStatus.HELD


def test_a_code_outside_icd10cm_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], diagnoses=["Z99.999"])
    scrub(visit)
    assert only(visit, "DX_INVALID").message == "Diagnosis 1 (Z99.999): Z99.999 is not in the ICD-10-CM code set."


def test_billable_leaf_diagnoses_raise_no_dx_invalid(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], diagnoses=["M62.81", "R26.89"])
    scrub(visit)
    assert found(visit, "DX_INVALID") == []


# --- DX_CODESET_DATE ----------------------------------------------------------------------------------------------


def test_a_dos_before_every_loaded_icd_code_set_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=datetime.date(2024, 3, 4))
    coding = scrub(visit, today=datetime.date(2024, 3, 8))
    finding = only(visit, "DX_CODESET_DATE")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == ("No ICD-10-CM code set is loaded for DOS 2024-03-04; codes cannot be validated for "
                               "that date.")
    assert coding.status == CodingStatus.HELD


def test_a_dos_inside_the_loaded_fiscal_year_raises_no_codeset_finding(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=datetime.date(2025, 10, 1))
    scrub(visit, today=datetime.date(2025, 10, 3))
    assert found(visit, "DX_CODESET_DATE") == []


def test_a_dos_after_the_newest_loaded_fiscal_year_is_checked_against_that_year(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=datetime.date(2026, 11, 2))
    scrub(visit, today=datetime.date(2026, 11, 4))
    assert found(visit, "DX_CODESET_DATE") == []


# --- DX_POINTER ---------------------------------------------------------------------------------------------------


def test_a_pointer_beyond_the_diagnoses_is_blocking_on_its_line(scene):
    visit = add_visit(scene, [{"cpt": "97110", "minutes": 15}, {"cpt": "97530", "minutes": 30,
                                                                 "diagnosis_pointers": [1, 3]}])
    coding = scrub(visit)
    finding = only(visit, "DX_POINTER")
    assert finding.message == "line 2 (97530): diagnosis pointer 3 is beyond the visit's 2 diagnoses."
    assert finding.field == "lines[2].diagnosis_pointers"
    assert finding.service_line.cpt == "97530"
    assert coding.status == CodingStatus.HELD


def test_a_line_without_pointer_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "diagnosis_pointers": []}])
    scrub(visit)
    assert only(visit, "DX_POINTER").message == ("line 1 (97530): no diagnosis pointer; point the line at one of "
                                                 "the visit's diagnoses.")


def test_pointers_within_the_diagnoses_raise_no_pointer_finding(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "diagnosis_pointers": [2, 1]}])
    scrub(visit)
    assert found(visit, "DX_POINTER") == []


# --- CPT_UNKNOWN --------------------------------------------------------------------------------------------------


def test_a_code_not_in_the_code_set_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}, {"cpt": "97999", "minutes": 10}])
    coding = scrub(visit)
    finding = only(visit, "CPT_UNKNOWN")
    assert finding.message == "line 2 (97999): 97999 is not in the code set in force on 2026-09-14."
    assert finding.field == "lines[2].cpt"
    assert coding.status == CodingStatus.HELD


def test_a_code_used_before_it_took_effect_is_unknown_on_that_date(scene):
    visit = add_visit(scene, [{"cpt": "97129", "minutes": 15}], dos=datetime.date(2019, 6, 3))
    scrub(visit, today=datetime.date(2019, 6, 5))
    assert only(visit, "CPT_UNKNOWN").message == "line 1 (97129): 97129 is not in the code set in force on 2019-06-03."


def test_codes_of_the_code_set_raise_no_unknown_code_finding(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}, {"cpt": "G0283"}])
    scrub(visit)
    assert found(visit, "CPT_UNKNOWN") == []


# --- CPT_PAYER_NOT_ACCEPTED ---------------------------------------------------------------------------------------


def test_medicare_refuses_97014_and_the_fix_replaces_it_with_g0283(scene, biller):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}, {"cpt": "97014", "minutes": None}])
    coding = scrub(visit)
    finding = only(visit, "CPT_PAYER_NOT_ACCEPTED")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == "line 2 (97014): Medicare does not accept 97014; bill G0283 instead."
    assert (finding.fix_code, finding.fix_params, finding.fix_label) == ("replace_code", {"new": "G0283"},
                                                                         "Replace 97014 with G0283")
    assert coding.status == CodingStatus.HELD
    coding = finding_apply_fix(acting_user=biller, finding=finding)
    assert visit.lines.get(position=2).cpt == "G0283"
    assert found(visit, "CPT_PAYER_NOT_ACCEPTED") == []
    assert coding.status == CodingStatus.BILLABLE


def test_a_commercial_payer_may_take_97014(scene, commercial):
    scene.coverage.payer = commercial
    scene.coverage.save()
    scene.provider.credentialed_payers.add(commercial)
    visit = add_visit(scene, [{"cpt": "97014", "minutes": None}])
    coding = scrub(visit)
    assert found(visit, "CPT_PAYER_NOT_ACCEPTED") == []
    assert coding.status == CodingStatus.BILLABLE


# --- UNITS_MINUTES ------------------------------------------------------------------------------------------------


def test_a_timed_line_whose_minutes_earn_no_unit_is_a_warning(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}, {"cpt": "97140", "minutes": 5}])
    coding = scrub(visit)
    finding = only(visit, "UNITS_MINUTES")
    assert finding.severity == Severity.WARNING
    assert finding.message == "line 2 (97140): 5 min earn no unit; it will not be billed."
    assert finding.service_line.cpt == "97140" and finding.field == "lines[2].minutes"
    assert CodedLine.objects.get(service_line=finding.service_line).units == 0
    assert coding.status == CodingStatus.BILLABLE  # a warning does not hold the visit


def test_short_minutes_that_still_earn_a_unit_raise_no_units_finding(scene):
    visit = add_visit(scene, [{"cpt": "97110", "minutes": 33}, {"cpt": "97140", "minutes": 7}])
    scrub(visit)
    assert found(visit, "UNITS_MINUTES") == []


def test_units_averaging_under_eleven_minutes_are_a_warning(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 9}])
    coding = scrub(visit)
    finding = only(visit, "UNITS_MINUTES")
    assert finding.severity == Severity.WARNING
    assert finding.message == ("Billed timed units average 9.0 min (9 min for 1 unit); payers expect about 15 min "
                               "per unit and review visits with short units.")
    assert coding.status == CodingStatus.BILLABLE


def test_units_averaging_eleven_minutes_or_more_raise_no_warning(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 23}])  # 2 units, 11.5 min each
    scrub(visit)
    assert found(visit, "UNITS_MINUTES") == []


# --- MUE_EXCEEDED -------------------------------------------------------------------------------------------------


def test_units_over_the_mue_are_blocking_and_cite_the_indicator(scene):
    visit = add_visit(scene, [{"cpt": "97140", "minutes": 75}])  # 5 units; MUE 4, indicator 3
    coding = scrub(visit)
    finding = only(visit, "MUE_EXCEEDED")
    assert finding.message == ("line 1 (97140): 5 units of 97140 on 2026-09-14 exceed the MUE of 4 (indicator 3, a "
                               "clinical per-day limit: units above it are denied unless an appeal shows they were "
                               "medically necessary).")
    assert finding.severity == Severity.BLOCKING
    assert coding.status == CodingStatus.HELD


def test_mue_counts_the_units_of_the_patients_other_visits_that_day(scene):
    morning = add_visit(scene, [{"cpt": "97140", "minutes": 45}])  # 3 units
    scrub(morning)
    afternoon = add_visit(scene, [{"cpt": "97140", "minutes": 30}], status=VisitStatus.DRAFT, signed_at=None,
                          signed_by_name="")
    scrub(afternoon)
    assert only(afternoon, "MUE_EXCEEDED").message.startswith(
        "line 1 (97140): 5 units of 97140 on 2026-09-14 across the patient's visits (2 on this one) exceed the MUE "
        "of 4 (indicator 3")


def test_units_at_the_mue_raise_no_mue_finding(scene):
    visit = add_visit(scene, [{"cpt": "97140", "minutes": 60}])  # 4 units
    scrub(visit)
    assert found(visit, "MUE_EXCEEDED") == []


# --- NCCI_CONFLICT ------------------------------------------------------------------------------------------------


def test_an_indicator_1_pair_without_distinct_time_is_blocking_with_a_fix(scene, biller):
    visit = add_visit(scene, [{"cpt": "97140", "minutes": 10}, {"cpt": "97530", "minutes": 15}])
    coding = scrub(visit)
    finding = only(visit, "NCCI_CONFLICT")
    assert finding.severity == Severity.BLOCKING
    assert finding.service_line.cpt == "97530"
    assert finding.message == ("line 2 (97530): NCCI pairs 97530 with 97140 (on this visit); it is paid only when the "
                               "note documents it in its own time block, then with 59.")
    assert (finding.fix_code, finding.fix_label) == ("mark_distinct_time_block",
                                                     "Note documents separate time blocks: add 59")
    assert coding.status == CodingStatus.HELD
    coding = finding_apply_fix(acting_user=biller, finding=finding)
    assert visit.lines.get(cpt="97530").distinct_time_block is True
    assert CodedLine.objects.get(service_line__cpt="97530", coding=coding).modifiers == ["GO", "59"]
    assert coding.status == CodingStatus.BILLABLE


def test_an_indicator_1_pair_in_distinct_time_blocks_raises_no_ncci_finding(scene):
    visit = add_visit(scene, [{"cpt": "97140", "minutes": 10},
                              {"cpt": "97530", "minutes": 15, "distinct_time_block": True}])
    coding = scrub(visit)
    assert found(visit, "NCCI_CONFLICT") == []
    assert coding.status == CodingStatus.BILLABLE


def test_an_indicator_0_pair_is_blocking_without_a_fix(scene):
    visit = add_visit(scene, [{"cpt": "97165"}, {"cpt": "97168"}], note_text="Low complexity evaluation.")
    scrub(visit)
    finding = only(visit, "NCCI_CONFLICT")
    assert finding.message == ("line 2 (97168): 97165 (on this visit) and 97168 cannot be billed together on the same "
                               "day (NCCI indicator 0); remove one of them.")
    assert finding.fix_code == ""


def test_an_indicator_9_pair_raises_no_ncci_finding(scene):
    visit = add_visit(scene, [{"cpt": "97165"}, {"cpt": "97530", "minutes": 30}],
                      note_text="Low complexity evaluation, then therapeutic activities.")
    coding = scrub(visit)
    assert found(visit, "NCCI_CONFLICT") == []
    assert coding.status == CodingStatus.BILLABLE


def test_a_pair_across_two_visits_of_the_same_provider_that_day_is_found(scene):
    scrub(add_visit(scene, [{"cpt": "97140", "minutes": 15}]))
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert "97140 (on another visit that day by the same provider)" in only(visit, "NCCI_CONFLICT").message


def test_a_pair_across_visits_of_different_providers_raises_no_ncci_finding(scene):
    scrub(add_visit(scene, [{"cpt": "97140", "minutes": 15}]))
    colleague = factories.ProviderFactory(clinic=scene.clinic)
    colleague.credentialed_payers.add(scene.payer)
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], rendering_provider=colleague)
    scrub(visit)
    assert found(visit, "NCCI_CONFLICT") == []


# --- MOD_DISCIPLINE -----------------------------------------------------------------------------------------------


def test_gp_on_a_line_for_a_go_payer_is_blocking_and_the_fix_puts_go(scene, biller):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "manual_modifiers": ["GP"]}])
    coding = scrub(visit)
    finding = only(visit, "MOD_DISCIPLINE")
    assert finding.message == ("line 1 (97530): carries GP (physical therapy); this payer needs GO (occupational "
                               "therapy) on every OT line.")
    assert (finding.fix_code, finding.fix_params) == ("replace_modifier", {"old": "GP", "new": "GO"})
    assert finding.fix_label == "Replace GP with GO"
    assert coding.status == CodingStatus.HELD
    coding = finding_apply_fix(acting_user=biller, finding=finding)
    assert visit.lines.get().manual_modifiers == ["GO"]
    assert coding.status == CodingStatus.BILLABLE


def test_co_without_go_is_blocking_when_the_payer_requires_go(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "assistant_minutes": 10, "manual_modifiers": ["GN"]}])
    scrub(visit)
    messages = [f.message for f in found(visit, "MOD_DISCIPLINE")]
    assert "line 1 (97530): CO (OTA) must be paired with GO, which this payer requires." in messages
    assert len(messages) == 2


def test_a_payer_without_the_go_rule_raises_no_discipline_finding(scene, commercial):
    scene.coverage.payer = commercial
    scene.coverage.save()
    scene.provider.credentialed_payers.add(commercial)
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "manual_modifiers": ["GP"]}])
    scrub(visit)
    assert found(visit, "MOD_DISCIPLINE") == []


def test_go_added_by_the_engine_raises_no_discipline_finding(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "assistant_minutes": 10}])
    coding = scrub(visit)
    assert found(visit, "MOD_DISCIPLINE") == []
    assert coding.status == CodingStatus.BILLABLE


# --- MOD_ASSISTANT ------------------------------------------------------------------------------------------------


def test_manual_co_within_the_de_minimis_share_is_blocking_and_the_fix_removes_it(scene, biller):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "assistant_minutes": 3, "manual_modifiers": ["CO"]}])
    coding = scrub(visit)
    finding = only(visit, "MOD_ASSISTANT")
    assert finding.message == ("line 1 (97530): CO was entered, but the OTA furnished 3 of 30 min (10%), within the "
                               "10% de minimis share; CO would cut payment by 15%.")
    assert (finding.fix_code, finding.fix_params) == ("remove_modifier", {"modifier": "CO"})
    assert coding.status == CodingStatus.HELD
    coding = finding_apply_fix(acting_user=biller, finding=finding)
    assert visit.lines.get().manual_modifiers == []
    assert coding.status == CodingStatus.BILLABLE


def test_manual_co_over_ten_percent_raises_no_assistant_finding(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30, "assistant_minutes": 4, "manual_modifiers": ["CO"]}])
    scrub(visit)
    assert found(visit, "MOD_ASSISTANT") == []


def test_an_ota_as_rendering_provider_is_blocking(scene):
    ota = factories.ProviderFactory(clinic=scene.clinic, kind=ProviderKind.ASSISTANT, credentials="COTA",
                                    supervising_therapist=scene.provider, taxonomy="224Z00000X")
    ota.credentialed_payers.add(scene.payer)
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], rendering_provider=ota)
    coding = scrub(visit)
    finding = only(visit, "MOD_ASSISTANT")
    assert finding.message == (f"Rendering provider {ota} is an OTA; bill under the supervising OT and mark the OTA's "
                               f"minutes on each line (CO).")
    assert finding.field == "rendering_provider"
    assert coding.status == CodingStatus.HELD


# --- KX_THRESHOLD and TARGETED_REVIEW -----------------------------------------------------------------------------


@pytest.fixture
def kx_scene(clinic_a, code_sets):
    return build_scene(clinic_a, make_medicare(kx_threshold_applies=True))


def earlier_year_total(scene, allowed: str):
    """An earlier 2026 visit whose one 97112 unit is allowed at `allowed`."""
    factories.FeeScheduleEntryFactory(clinic=scene.clinic, cpt="97112", payer=scene.payer, charge=Decimal("90.00"),
                                      expected_allowed=Decimal(allowed))
    scrub(add_visit(scene, [{"cpt": "97112", "minutes": 15}], dos=datetime.date(2026, 3, 2)))


def test_kx_added_is_a_warning_that_explains_the_year_total(kx_scene):
    earlier_year_total(kx_scene, "2400.00")
    visit = add_visit(kx_scene, [{"cpt": "97530", "minutes": 45}])  # 3 × $35.00
    coding = scrub(visit)
    finding = only(visit, "KX_THRESHOLD")
    assert finding.severity == Severity.WARNING
    assert finding.message == ("line 1 (97530): KX added: the patient's OT allowed amount for 2026 reaches $2505.00 "
                               "with this visit ($2400.00 before), over the $2480.00 threshold; the note must "
                               "support medical necessity.")
    assert found(visit, "TARGETED_REVIEW") == []
    assert coding.status == CodingStatus.BILLABLE


def test_below_the_threshold_no_kx_warning(kx_scene):
    earlier_year_total(kx_scene, "2300.00")
    visit = add_visit(kx_scene, [{"cpt": "97530", "minutes": 45}])  # $2,405 ≤ $2,480
    scrub(visit)
    assert found(visit, "KX_THRESHOLD") == []


def test_passing_the_targeted_review_amount_is_a_warning(kx_scene):
    earlier_year_total(kx_scene, "2990.00")
    visit = add_visit(kx_scene, [{"cpt": "97530", "minutes": 45}])
    coding = scrub(visit)
    finding = only(visit, "TARGETED_REVIEW")
    assert finding.severity == Severity.WARNING
    assert finding.message == ("The patient's OT allowed amount for 2026 reaches $3095.00 with this visit, past the "
                               "$3000.00 targeted medical review amount: the claim may be selected for review.")
    assert coding.status == CodingStatus.BILLABLE


# --- EVAL_TWICE ---------------------------------------------------------------------------------------------------


def test_two_evaluations_on_one_visit_are_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97166"}, {"cpt": "97167"}], note_text="Moderate complexity evaluation.")
    coding = scrub(visit)
    finding = only(visit, "EVAL_TWICE")
    assert finding.message == ("line 2 (97167): more than one evaluation or re-evaluation on 2026-09-14 (97166 on "
                               "line 1, 97167 on line 2); bill one per day.")
    assert finding.service_line.cpt == "97167"
    assert coding.status == CodingStatus.HELD


def test_an_evaluation_on_another_visit_the_same_day_counts(scene):
    add_visit(scene, [{"cpt": "97165"}], note_text="Low complexity evaluation.")
    visit = add_visit(scene, [{"cpt": "97168"}, {"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert only(visit, "EVAL_TWICE").message == ("line 1 (97168): more than one evaluation or re-evaluation on "
                                                 "2026-09-14 (97168 on line 1, 97165 on another visit); bill one per "
                                                 "day.")


def test_one_evaluation_a_day_raises_no_eval_finding(scene):
    add_visit(scene, [{"cpt": "97165"}], note_text="Low complexity evaluation.", dos=DOS - datetime.timedelta(days=1))
    visit = add_visit(scene, [{"cpt": "97166"}, {"cpt": "97530", "minutes": 30}],
                      note_text="Moderate complexity evaluation.")
    scrub(visit)
    assert found(visit, "EVAL_TWICE") == []


# --- ADDON_WITHOUT_PRIMARY ----------------------------------------------------------------------------------------


def test_an_add_on_without_its_primary_code_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97130", "minutes": 30}])
    coding = scrub(visit)
    finding = only(visit, "ADDON_WITHOUT_PRIMARY")
    assert finding.message == ("line 1 (97130): add-on code 97130 needs its primary code 97129 on the same day; add a "
                               "97129 line.")
    assert coding.status == CodingStatus.HELD


def test_an_add_on_with_its_primary_code_raises_no_addon_finding(scene):
    visit = add_visit(scene, [{"cpt": "97129", "minutes": 15}, {"cpt": "97130", "minutes": 15}])
    coding = scrub(visit)
    assert found(visit, "ADDON_WITHOUT_PRIMARY") == []
    assert coding.status == CodingStatus.BILLABLE


def test_the_primary_code_on_another_visit_that_day_satisfies_the_add_on(scene):
    add_visit(scene, [{"cpt": "97129", "minutes": 15}])
    visit = add_visit(scene, [{"cpt": "97130", "minutes": 15}])
    scrub(visit)
    assert found(visit, "ADDON_WITHOUT_PRIMARY") == []


# --- RENDERING_NPI_INVALID ----------------------------------------------------------------------------------------


def test_a_rendering_npi_with_a_bad_check_digit_is_blocking(scene):
    scene.provider.npi = "1234567890"
    scene.provider.save()
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    coding = scrub(visit)
    finding = only(visit, "RENDERING_NPI_INVALID")
    assert finding.message == (f"Rendering provider {scene.provider}: NPI '1234567890' is not valid (10 digits "
                               f"starting with 1 or 2 and a correct check digit).")
    assert finding.field == "rendering_provider.npi"
    assert coding.status == CodingStatus.HELD


def test_a_valid_rendering_npi_raises_no_npi_finding(scene):
    scene.provider.npi = "1000000020"  # check digit 0 (domain-rules §9.1 edge case)
    scene.provider.save()
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert found(visit, "RENDERING_NPI_INVALID") == []


# --- RENDERING_NOT_CREDENTIALED -----------------------------------------------------------------------------------


def test_a_provider_credentialed_with_other_payers_only_is_blocking(scene, commercial):
    scene.provider.credentialed_payers.set([commercial])
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    coding = scrub(visit)
    finding = only(visit, "RENDERING_NOT_CREDENTIALED")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == (f"Rendering provider {scene.provider} is not credentialed with Medicare Part B; the "
                               f"claim would be denied.")
    assert coding.status == CodingStatus.HELD


def test_a_provider_without_recorded_credentialing_is_a_warning(scene):
    scene.provider.credentialed_payers.clear()
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    coding = scrub(visit)
    finding = only(visit, "RENDERING_NOT_CREDENTIALED")
    assert finding.severity == Severity.WARNING
    assert finding.message == (f"Rendering provider {scene.provider}: credentialing not recorded; record the payers "
                               f"they are credentialed with.")
    assert coding.status == CodingStatus.BILLABLE


def test_a_provider_credentialed_with_the_payer_raises_no_credentialing_finding(scene, commercial):
    scene.provider.credentialed_payers.add(commercial)
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert found(visit, "RENDERING_NOT_CREDENTIALED") == []


# --- REFERRING_MISSING --------------------------------------------------------------------------------------------


def test_a_missing_referrer_is_blocking_when_the_payer_requires_one(scene):
    scene.payer.referring_provider_required = True
    scene.payer.save()
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], referring_provider=None)
    coding = scrub(visit)
    finding = only(visit, "REFERRING_MISSING")
    assert finding.message == ("Medicare Part B requires a referring provider: add the referring physician or NPP.")
    assert finding.field == "referring_provider"
    assert coding.status == CodingStatus.HELD


def test_a_referrer_on_the_visit_raises_no_referrer_finding(scene):
    scene.payer.referring_provider_required = True
    scene.payer.save()
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert found(visit, "REFERRING_MISSING") == []


def test_no_referrer_is_fine_when_the_payer_does_not_require_one(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], referring_provider=None)
    scrub(visit)
    assert found(visit, "REFERRING_MISSING") == []


# --- DOS_FUTURE ---------------------------------------------------------------------------------------------------


def test_a_date_of_service_after_today_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=TODAY + datetime.timedelta(days=1))
    coding = scrub(visit)
    assert only(visit, "DOS_FUTURE").message == "Date of service 2026-09-19 is after today (2026-09-18)."
    assert coding.status == CodingStatus.HELD


def test_a_date_of_service_of_today_is_not_in_the_future(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=TODAY)
    scrub(visit)
    assert found(visit, "DOS_FUTURE") == []


# --- TIMELY_FILING ------------------------------------------------------------------------------------------------


@pytest.fixture
def ninety_day_scene(clinic_a, code_sets):
    payer = factories.PayerFactory(name="Quick Pay Health", payer_id="QUICK1", go_required=False,
                                   timely_filing_days=90)
    return build_scene(clinic_a, payer)


def test_the_timely_filing_limit_passed_is_blocking(ninety_day_scene):
    visit = add_visit(ninety_day_scene, [{"cpt": "97530", "minutes": 30}], dos=datetime.date(2026, 6, 1))
    coding = scrub(visit, today=datetime.date(2026, 8, 30))
    finding = only(visit, "TIMELY_FILING")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == "Quick Pay Health's 90-day timely filing limit passed on 2026-08-30."
    assert coding.status == CodingStatus.HELD


def test_a_timely_filing_window_closing_within_30_days_is_a_warning(ninety_day_scene):
    visit = add_visit(ninety_day_scene, [{"cpt": "97530", "minutes": 30}], dos=datetime.date(2026, 6, 1))
    coding = scrub(visit, today=datetime.date(2026, 7, 31))
    finding = only(visit, "TIMELY_FILING")
    assert finding.severity == Severity.WARNING
    assert finding.message == "Quick Pay Health's 90-day timely filing window closes on 2026-08-30 (30 days left)."
    assert coding.status == CodingStatus.BILLABLE


def test_more_than_30_days_left_to_file_raises_no_timely_filing_finding(ninety_day_scene):
    visit = add_visit(ninety_day_scene, [{"cpt": "97530", "minutes": 30}], dos=datetime.date(2026, 6, 1))
    scrub(visit, today=datetime.date(2026, 7, 30))
    assert found(visit, "TIMELY_FILING") == []


# --- DUPLICATE_SERVICE --------------------------------------------------------------------------------------------


def test_the_same_code_on_another_signed_visit_that_day_is_a_duplicate(scene):
    first = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    visit = add_visit(scene, [{"cpt": "97110", "minutes": 15}, {"cpt": "97530", "minutes": 30}])
    coding = scrub(visit)
    finding = only(visit, "DUPLICATE_SERVICE")
    assert finding.message == (f"line 2 (97530): 97530 is already on another signed visit of this patient on "
                               f"2026-09-14 (entered {first.created_at:%Y-%m-%d %H:%M}); remove the duplicate.")
    assert finding.service_line.cpt == "97530"
    assert coding.status == CodingStatus.HELD


def test_a_draft_visit_with_the_same_code_is_not_a_duplicate(scene):
    add_visit(scene, [{"cpt": "97530", "minutes": 30}], status=VisitStatus.DRAFT, signed_at=None, signed_by_name="")
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert found(visit, "DUPLICATE_SERVICE") == []


def test_the_same_code_on_another_day_is_not_a_duplicate(scene):
    add_visit(scene, [{"cpt": "97530", "minutes": 30}], dos=DOS - datetime.timedelta(days=2))
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert found(visit, "DUPLICATE_SERVICE") == []


# --- COVERAGE_MISSING and COVERAGE_INACTIVE -----------------------------------------------------------------------


def test_a_visit_without_coverage_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], coverage=None)
    coding = scrub(visit)
    finding = only(visit, "COVERAGE_MISSING")
    assert finding.message == "No coverage: bill the patient or add coverage."
    assert finding.field == "coverage"
    assert coding.status == CodingStatus.HELD


def test_a_visit_with_coverage_raises_no_coverage_missing_finding(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert found(visit, "COVERAGE_MISSING") == []


def test_coverage_ended_before_the_date_of_service_is_blocking(scene):
    scene.coverage.effective_to = DOS - datetime.timedelta(days=1)
    scene.coverage.save()
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    coding = scrub(visit)
    assert only(visit, "COVERAGE_INACTIVE").message == (f"Coverage {scene.coverage} is not active on 2026-09-14 "
                                                        f"(effective 2020-01-01 to 2026-09-13).")
    assert coding.status == CodingStatus.HELD


def test_coverage_ending_on_the_date_of_service_is_active(scene):
    scene.coverage.effective_to = DOS
    scene.coverage.save()
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}])
    scrub(visit)
    assert found(visit, "COVERAGE_INACTIVE") == []


# --- FEE_MISSING --------------------------------------------------------------------------------------------------


def test_a_billed_line_without_a_fee_is_blocking(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}, {"cpt": "97537", "minutes": 15}])
    coding = scrub(visit)
    finding = only(visit, "FEE_MISSING")
    assert finding.message == ("line 2 (97537): no fee schedule entry for 97537 on 2026-09-14; add one (for this "
                               "payer or the clinic default).")
    assert coding.status == CodingStatus.HELD


def test_a_line_without_units_needs_no_fee(scene):
    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}, {"cpt": "97537", "minutes": 5}])  # 0 units
    scrub(visit)
    assert found(visit, "FEE_MISSING") == []


def test_a_payer_specific_fee_is_enough(scene):
    factories.FeeScheduleEntryFactory(clinic=scene.clinic, payer=scene.payer, cpt="97537")
    visit = add_visit(scene, [{"cpt": "97537", "minutes": 30}])
    scrub(visit)
    assert found(visit, "FEE_MISSING") == []


# --- overrides survive a re-scrub ---------------------------------------------------------------------------------


def test_an_overridden_finding_stays_overridden_when_the_visit_is_scrubbed_again(scene, biller):
    from coding.services import finding_override

    visit = add_visit(scene, [{"cpt": "97530", "minutes": 30}], coverage=None)
    scrub(visit)
    finding_override(acting_user=biller, finding=only(visit, "COVERAGE_MISSING"),
                     reason="Self-pay patient; statement goes out directly.")
    coding = scrub(visit)
    assert only(visit, "COVERAGE_MISSING").overridden_by == biller
    assert coding.status == CodingStatus.BILLABLE
