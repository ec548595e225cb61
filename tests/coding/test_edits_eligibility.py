"""Scrubber edits that read eligibility: each one firing and not firing, at its day and count boundaries.

Visits are built as in test_edits and coded with coding.services.visit_code; importing coding.edits_eligibility
registers the edits (coding.edits imports it too once wired).
"""

import datetime
from decimal import Decimal

import pytest

import coding.edits_eligibility  # noqa: F401  (registers the eligibility edits)
from coding.models import CodingStatus, Severity
from eligibility.models import AuthorizedCode, AuthStatus, BenefitSnapshot, PriorAuthorization, SnapshotSource
from tests.coding.test_edits import DOS, add_visit, build_scene, found, make_medicare, only, scrub
from visits.models import VisitStatus

RULES = ("ELIG_NOT_VERIFIED", "ELIG_INACTIVE", "AUTH_MISSING", "AUTH_EXPIRED", "AUTH_NOT_YET_VALID",
         "AUTH_EXHAUSTED", "VISIT_LIMIT_REACHED", "COST_SHARE_UNKNOWN")
PACIFIC = datetime.timezone(datetime.timedelta(hours=-7))  # the scene clinic's zone in September (PDT)


@pytest.fixture
def scene(clinic_a, code_sets):
    return build_scene(clinic_a, make_medicare(eligibility_max_age_days=30))


def snapshot(scene, checked_at: datetime.datetime, **fields) -> BenefitSnapshot:
    values = {"is_active": True, "coinsurance_percent": Decimal("20.00"), **fields}
    return BenefitSnapshot.objects.create(clinic=scene.clinic, coverage=scene.coverage, source=SnapshotSource.X12_271,
                                          checked_at=checked_at, **values)


def checked_on(day: datetime.date, hour: int = 12) -> datetime.datetime:
    """A check at `hour` o'clock on `day` in the clinic's time zone."""
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=PACIFIC)


def verified(scene, day=DOS - datetime.timedelta(days=1), **fields) -> BenefitSnapshot:
    return snapshot(scene, checked_on(day), **fields)


def treat(scene, dos=DOS, lines=None, **kwargs):
    """A coded visit of the scene (97530 for 30 minutes = 2 units unless told)."""
    visit = add_visit(scene, lines or [{"cpt": "97530", "minutes": 30}], dos=dos, **kwargs)
    scrub(visit)
    return visit


def authorize(scene, *, number="PA-1", start=datetime.date(2026, 8, 1), end=datetime.date(2026, 10, 31),
              visits=None, units=None, codes=(), status=AuthStatus.APPROVED) -> PriorAuthorization:
    auth = PriorAuthorization.objects.create(clinic=scene.clinic, coverage=scene.coverage, number=number,
                                             start_date=start, end_date=end, visits_authorized=visits,
                                             units_authorized=units, status=status)
    for cpt, count in codes:
        AuthorizedCode.objects.create(clinic=scene.clinic, authorization=auth, cpt=cpt, units_authorized=count)
    return auth


def require_auth(scene):
    scene.payer.prior_auth_required = True
    scene.payer.save()


def test_every_eligibility_rule_is_registered():
    from coding.scrubber import REGISTRY

    assert {rule: REGISTRY[rule].severity for rule in RULES} == {
        **{rule: Severity.BLOCKING for rule in RULES}, "COST_SHARE_UNKNOWN": Severity.WARNING}


def test_a_verified_visit_with_an_authorization_in_force_raises_none_of_them(scene):
    require_auth(scene)
    verified(scene)
    authorize(scene, visits=10, units=40)
    visit = treat(scene)
    assert [f.rule_id for f in found_any(visit)] == []


def found_any(visit):
    from coding.models import Finding

    return list(Finding.objects.filter(visit=visit, rule_id__in=RULES))


# --- ELIG_NOT_VERIFIED ---------------------------------------------------------------------------------------


def test_never_verified_coverage_is_blocking(scene):
    visit = treat(scene)
    finding = only(visit, "ELIG_NOT_VERIFIED")
    assert finding.severity == Severity.BLOCKING
    assert finding.field == "coverage"
    assert finding.message == ("Medicare Part B wants coverage verified within 30 days before the date of service: "
                               "no eligibility check dated 2026-08-15 to 2026-09-14 (the coverage was never checked "
                               "before it); run a 270 or record a phone or portal check.")
    assert visit.coding.status == CodingStatus.HELD


def test_a_check_exactly_n_days_before_counts_and_one_day_more_does_not(scene):
    verified(scene, day=datetime.date(2026, 8, 14))
    visit = treat(scene)
    assert "(the last check was on 2026-08-14)" in only(visit, "ELIG_NOT_VERIFIED").message
    verified(scene, day=datetime.date(2026, 8, 15))
    scrub(visit)
    assert found(visit, "ELIG_NOT_VERIFIED") == []


def test_a_check_on_the_date_of_service_counts_in_the_clinics_time_zone(scene):
    # 20:00 in Portland on the DOS is already the next day in UTC.
    snapshot(scene, checked_on(DOS, hour=20))
    visit = treat(scene)
    assert found(visit, "ELIG_NOT_VERIFIED") == []


def test_a_check_after_the_date_of_service_does_not_verify_it(scene):
    verified(scene, day=DOS + datetime.timedelta(days=1))
    assert len(found(treat(scene), "ELIG_NOT_VERIFIED")) == 1


def test_the_payers_window_is_used_and_zero_means_not_required(scene):
    verified(scene, day=DOS - datetime.timedelta(days=10))
    scene.payer.eligibility_max_age_days = 7
    scene.payer.save()
    visit = treat(scene)
    assert "within 7 days" in only(visit, "ELIG_NOT_VERIFIED").message
    scene.payer.eligibility_max_age_days = 0
    scene.payer.save()
    scrub(visit)
    assert found(visit, "ELIG_NOT_VERIFIED") == []


def test_a_visit_without_coverage_raises_no_eligibility_edit(scene):
    visit = treat(scene, coverage=None)
    assert found_any(visit) == []


# --- ELIG_INACTIVE -------------------------------------------------------------------------------------------


def test_coverage_reported_inactive_before_the_dos_is_blocking(scene):
    verified(scene, is_active=False, plan_name="Gold PPO")
    visit = treat(scene)
    assert only(visit, "ELIG_INACTIVE").message == (
        "Medicare Part B reported the coverage (Gold PPO) inactive on the check of 2026-09-13; the visit of "
        "2026-09-14 cannot be billed to it. Check again or bill another payer.")


def test_an_aaa_rejection_is_blocking_with_its_reason(scene):
    verified(scene, is_active=None, rejection_code="72", rejection_reason="Invalid or missing member ID")
    visit = treat(scene)
    assert only(visit, "ELIG_INACTIVE").message == (
        "Medicare Part B rejected the eligibility check of 2026-09-13 (AAA 72: Invalid or missing member ID); "
        "correct the member details and check again before billing 2026-09-14.")


def test_plan_dates_that_end_before_the_dos_are_blocking(scene):
    verified(scene, plan_begin=datetime.date(2026, 1, 1), plan_end=datetime.date(2026, 9, 13))
    assert only(treat(scene), "ELIG_INACTIVE").message == (
        "The check of 2026-09-13 gave plan dates 2026-01-01 to 2026-09-13: the coverage is not active on 2026-09-14.")


def test_only_the_latest_check_on_or_before_the_dos_decides(scene):
    verified(scene, day=DOS - datetime.timedelta(days=5), is_active=False)
    verified(scene, day=DOS - datetime.timedelta(days=2), is_active=True)
    verified(scene, day=DOS + datetime.timedelta(days=1), is_active=False)  # after the DOS: not about it
    assert found(treat(scene), "ELIG_INACTIVE") == []


def test_active_coverage_within_its_plan_dates_is_not_inactive(scene):
    verified(scene, plan_begin=datetime.date(2026, 1, 1), plan_end=DOS)
    assert found(treat(scene), "ELIG_INACTIVE") == []


# --- AUTH_MISSING --------------------------------------------------------------------------------------------


def test_a_payer_requiring_auth_without_one_on_file_is_blocking(scene):
    require_auth(scene)
    visit = treat(scene)
    finding = only(visit, "AUTH_MISSING")
    assert finding.field == "authorization"
    assert finding.message == ("Medicare Part B requires prior authorization and this coverage has no approved "
                               "authorization for 2026-09-14: record the payer's authorization.")


def test_a_requested_authorization_is_named_but_does_not_count(scene):
    require_auth(scene)
    authorize(scene, number="REQ-9", status=AuthStatus.REQUESTED)
    assert only(treat(scene), "AUTH_MISSING").message.endswith(
        "Authorization REQ-9 is still requested, not approved.")


def test_no_auth_finding_when_the_payer_does_not_require_one(scene):
    assert found(treat(scene), "AUTH_MISSING") == []


def test_a_code_the_line_level_auth_does_not_list_is_missing_on_its_line(scene):
    authorize(scene, codes=[("97535", 8)])
    visit = treat(scene, lines=[{"cpt": "97535", "minutes": 15}, {"cpt": "97530", "minutes": 30}])
    finding = only(visit, "AUTH_MISSING")
    assert finding.service_line.cpt == "97530"
    assert finding.field == "lines[2].cpt"
    assert finding.message == ("line 2 (97530): 97530 is not authorized; auth PA-1 (2026-08-01 to 2026-10-31) "
                               "authorizes only 97535. Ask the payer to add 97530 or remove the line.")


# --- AUTH_EXPIRED / AUTH_NOT_YET_VALID -----------------------------------------------------------------------


def test_a_dos_the_day_after_the_auth_ends_is_expired(scene):
    require_auth(scene)
    authorize(scene, start=datetime.date(2026, 6, 1), end=DOS - datetime.timedelta(days=1))
    visit = treat(scene)
    assert only(visit, "AUTH_EXPIRED").message == (
        "Authorization PA-1 ran from 2026-06-01 to 2026-09-13: it expired 1 day before 2026-09-14. "
        "Record the renewal.")
    assert found(visit, "AUTH_MISSING") == [] and found(visit, "AUTH_NOT_YET_VALID") == []


def test_the_expiry_day_itself_is_still_authorized(scene):
    require_auth(scene)
    authorize(scene, start=datetime.date(2026, 6, 1), end=DOS)
    visit = treat(scene)
    assert found(visit, "AUTH_EXPIRED") == [] and found(visit, "AUTH_MISSING") == []


def test_a_dos_before_the_auth_starts_is_not_yet_valid(scene):
    authorize(scene, start=DOS + datetime.timedelta(days=1), end=datetime.date(2026, 12, 31))
    visit = treat(scene)
    assert only(visit, "AUTH_NOT_YET_VALID").message == (
        "Authorization PA-1 is valid from 2026-09-15 to 2026-12-31: 2026-09-14 is before it starts. Ask the payer "
        "to backdate it or correct the dates.")
    assert found(visit, "AUTH_EXPIRED") == []


def test_the_first_authorized_day_is_valid(scene):
    authorize(scene, start=DOS, end=datetime.date(2026, 12, 31))
    assert found(treat(scene), "AUTH_NOT_YET_VALID") == []


def test_a_gap_between_two_auths_names_the_expired_one_and_the_next(scene):
    authorize(scene, number="OLD", start=datetime.date(2026, 6, 1), end=datetime.date(2026, 9, 10))
    authorize(scene, number="NEXT", start=datetime.date(2026, 9, 20), end=datetime.date(2026, 12, 31))
    visit = treat(scene)
    assert "The next, auth NEXT (2026-09-20 to 2026-12-31), starts later." in only(visit, "AUTH_EXPIRED").message
    assert found(visit, "AUTH_NOT_YET_VALID") == []


def test_cancelled_authorizations_do_not_count_as_on_file(scene):
    authorize(scene, end=DOS - datetime.timedelta(days=1), status=AuthStatus.CANCELLED)
    assert found(treat(scene), "AUTH_EXPIRED") == []


# --- AUTH_EXHAUSTED ------------------------------------------------------------------------------------------


def test_the_last_authorized_visit_passes_and_the_next_is_exhausted(scene):
    authorize(scene, visits=2)
    treat(scene, dos=datetime.date(2026, 9, 7))
    last = treat(scene, dos=datetime.date(2026, 9, 10))
    assert found(last, "AUTH_EXHAUSTED") == []
    over = treat(scene)
    finding = only(over, "AUTH_EXHAUSTED")
    assert finding.severity == Severity.BLOCKING
    assert finding.message == ("This is visit 3 under auth PA-1 (2026-08-01 to 2026-10-31), which authorizes 2 "
                               "visits: ask the payer for more visits.")


def test_visits_count_in_date_order_not_entry_order(scene):
    authorize(scene, visits=1)
    later = treat(scene, dos=DOS)
    assert found(later, "AUTH_EXHAUSTED") == []
    earlier = treat(scene, dos=datetime.date(2026, 9, 8))  # entered after, dated before
    assert found(earlier, "AUTH_EXHAUSTED") == []
    scrub(later)
    assert "This is visit 2" in only(later, "AUTH_EXHAUSTED").message


def test_this_visit_counts_even_as_a_draft(scene):
    authorize(scene, visits=1)
    treat(scene, dos=datetime.date(2026, 9, 8))
    draft = treat(scene, status=VisitStatus.DRAFT, signed_at=None, signed_by_name="")
    assert "This is visit 2" in only(draft, "AUTH_EXHAUSTED").message


def test_the_last_unit_in_total_passes_and_one_more_is_exhausted(scene):
    authorize(scene, units=4)
    treat(scene, dos=datetime.date(2026, 9, 8))  # 2 units
    last = treat(scene, dos=datetime.date(2026, 9, 10))  # 4 of 4
    assert found(last, "AUTH_EXHAUSTED") == []
    over = treat(scene, lines=[{"cpt": "97535", "minutes": 15}])
    assert only(over, "AUTH_EXHAUSTED").message == (
        "Units through this visit: 5 of the 4 authorized under auth PA-1 (2026-08-01 to 2026-10-31) (1 on this "
        "visit): ask the payer for more units.")


def test_units_per_cpt_are_checked_on_the_line_of_that_code(scene):
    authorize(scene, codes=[("97530", 4), ("97535", 8)])
    treat(scene, dos=datetime.date(2026, 9, 8), lines=[{"cpt": "97530", "minutes": 30}])
    last = treat(scene, dos=datetime.date(2026, 9, 10), lines=[{"cpt": "97530", "minutes": 30}])
    assert found(last, "AUTH_EXHAUSTED") == []
    over = treat(scene, lines=[{"cpt": "97535", "minutes": 15}, {"cpt": "97530", "minutes": 15}])
    finding = only(over, "AUTH_EXHAUSTED")
    assert finding.service_line.cpt == "97530"
    assert finding.field == "lines[2].units"
    assert finding.message == ("line 2 (97530): 97530 units through this visit are 5 of the 4 authorized under auth "
                               "PA-1 (2026-08-01 to 2026-10-31) (1 on this visit): ask the payer for more 97530 "
                               "units.")


def test_a_visit_outside_the_auth_does_not_use_it(scene):
    authorize(scene, visits=1, start=datetime.date(2026, 9, 1))
    treat(scene, dos=datetime.date(2026, 8, 28))
    assert found(treat(scene), "AUTH_EXHAUSTED") == []


# --- VISIT_LIMIT_REACHED -------------------------------------------------------------------------------------


def test_the_last_visit_of_the_benefit_period_passes_and_the_next_is_blocked(scene):
    verified(scene, day=datetime.date(2026, 9, 1), visits_allowed=2)
    treat(scene, dos=datetime.date(2025, 12, 29))  # last year's period
    treat(scene, dos=datetime.date(2026, 9, 3))
    last = treat(scene, dos=datetime.date(2026, 9, 8))
    assert found(last, "VISIT_LIMIT_REACHED") == []
    over = treat(scene)
    assert only(over, "VISIT_LIMIT_REACHED").message == (
        "This is visit 3 of the benefit period 2026-01-01 to 2026-12-31; Medicare Part B allows 2 visits (benefit "
        "check of 2026-09-01). Bill the patient or another payer, or ask for an exception.")


def test_a_unit_limit_is_checked_too(scene):
    verified(scene, day=datetime.date(2026, 9, 1), units_allowed=3)
    treat(scene, dos=datetime.date(2026, 9, 3))  # 2 units
    over = treat(scene)  # 4 units
    assert only(over, "VISIT_LIMIT_REACHED").message == (
        "Units through this visit: 4 in the benefit period 2026-01-01 to 2026-12-31; Medicare Part B allows 3 "
        "(benefit check of 2026-09-01).")


def test_no_limit_reported_means_no_limit_finding(scene):
    verified(scene)
    for day in (2, 3, 4, 8):
        treat(scene, dos=datetime.date(2026, 9, day))
    assert found(treat(scene), "VISIT_LIMIT_REACHED") == []


# --- COST_SHARE_UNKNOWN --------------------------------------------------------------------------------------


def test_no_check_on_file_leaves_the_cost_share_unknown(scene):
    visit = treat(scene)
    finding = only(visit, "COST_SHARE_UNKNOWN")
    assert finding.severity == Severity.WARNING
    assert finding.message.startswith("No eligibility check on file for Medicare Part B primary")


def test_a_check_without_copay_coinsurance_or_deductible_is_a_warning(scene):
    verified(scene, coinsurance_percent=None)
    visit = treat(scene)
    assert only(visit, "COST_SHARE_UNKNOWN").message == (
        "The latest eligibility check (2026-09-13) reported no copay, coinsurance or remaining deductible: ask the "
        "payer what the patient owes.")
    assert visit.coding.status == CodingStatus.BILLABLE  # a warning does not hold the visit


def test_a_known_copay_raises_no_cost_share_warning(scene):
    verified(scene, coinsurance_percent=None, copay_amount=Decimal("25.00"))
    assert found(treat(scene), "COST_SHARE_UNKNOWN") == []
