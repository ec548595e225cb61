"""Prior authorizations: burn-down at the boundaries (last visit, last unit, expiry day, day after), per-CPT units,
which authorization goes on the claim, and the save/cancel services."""

import datetime

import pytest

from coding.models import CodedLine, VisitCoding
from eligibility.authorizations import (
    auth_usage,
    auth_usages,
    authorization_cancel,
    authorization_for_line,
    authorization_for_visit,
    authorization_save,
)
from eligibility.models import AuthorizedCode, AuthStatus, PriorAuthorization
from otbilling.errors import AppError
from otbilling.tenancy import Role
from tests import factories
from visits.models import VisitStatus

TODAY = datetime.date(2026, 10, 20)
START = datetime.date(2026, 10, 1)
END = datetime.date(2026, 10, 31)


def day(n: int) -> datetime.date:
    return START + datetime.timedelta(days=n - 1)


def make_auth(coverage, *, number="A100", start=START, end=END, visits=None, units=None, codes=(),
              status=AuthStatus.APPROVED):
    auth = PriorAuthorization.objects.create(clinic=coverage.clinic, coverage=coverage, number=number,
                                             start_date=start, end_date=end, visits_authorized=visits,
                                             units_authorized=units, status=status)
    for cpt, count in codes:
        AuthorizedCode.objects.create(clinic=coverage.clinic, authorization=auth, cpt=cpt, units_authorized=count)
    return auth


def make_visit(setup, dos, units=None, *, draft=False, coverage=None, coded=True):
    """A visit with one line per code; `units` {cpt: units} are stored as its coding result (as coding would)."""
    units = units or {"97530": 2}
    extra = {"status": VisitStatus.DRAFT, "signed_at": None, "signed_by_name": ""} if draft else {}
    visit = factories.VisitFactory(patient=setup["patient"], coverage=coverage or setup["coverage"],
                                   rendering_provider=setup["provider"], date_of_service=dos, **extra)
    lines = [factories.ServiceLineFactory(visit=visit, position=n, cpt=cpt, minutes=15 * count)
             for n, (cpt, count) in enumerate(units.items(), start=1)]
    if coded:
        coding = VisitCoding.objects.create(clinic=visit.clinic, visit=visit)
        for line, count in zip(lines, units.values(), strict=True):
            CodedLine.objects.create(clinic=visit.clinic, coding=coding, service_line=line, units=count)
    return visit


def usage_of(auth, **kwargs):
    return auth_usage(PriorAuthorization.objects.prefetch_related("codes").get(pk=auth.pk), today=TODAY, **kwargs)


# --- what counts -----------------------------------------------------------------------------------------------


def test_signed_visits_and_drafts_up_to_today_count_but_future_drafts_do_not(visit_setup):
    auth = make_auth(visit_setup["coverage"], visits=12)
    make_visit(visit_setup, day(2))
    make_visit(visit_setup, day(5), draft=True)
    make_visit(visit_setup, TODAY, draft=True)
    make_visit(visit_setup, TODAY + datetime.timedelta(days=1), draft=True)
    usage = usage_of(auth)
    assert [v.date_of_service for v in usage.visits] == [day(2), day(5), TODAY]
    assert (usage.visits_used, usage.visits_remaining) == (3, 9)


def test_visits_outside_the_dates_or_on_another_coverage_do_not_count(visit_setup, payer):
    auth = make_auth(visit_setup["coverage"], visits=5)
    other = factories.CoverageFactory(patient=visit_setup["patient"], payer=factories.PayerFactory(),
                                      priority="secondary")
    make_visit(visit_setup, START - datetime.timedelta(days=1))
    make_visit(visit_setup, day(3), coverage=other)
    make_visit(visit_setup, day(4))
    assert usage_of(auth).visits_used == 1


def test_another_clinics_visits_never_count(visit_setup, clinic_b, payer):
    auth = make_auth(visit_setup["coverage"], visits=5)
    patient_b = factories.PatientFactory(clinic=clinic_b)
    setup_b = {"patient": patient_b, "coverage": factories.CoverageFactory(patient=patient_b, payer=payer),
               "provider": factories.ProviderFactory(clinic=clinic_b)}
    make_visit(setup_b, day(2))
    assert usage_of(auth).visits_used == 0


# --- boundaries ------------------------------------------------------------------------------------------------


def test_the_last_authorized_visit_leaves_none_and_the_next_is_one_over(visit_setup):
    auth = make_auth(visit_setup["coverage"], visits=3)
    for n in (1, 2):
        make_visit(visit_setup, day(n))
    assert (usage_of(auth).visits_remaining, usage_of(auth).exhausted) == (1, False)
    make_visit(visit_setup, day(3))
    usage = usage_of(auth)
    assert (usage.visits_used, usage.visits_remaining, usage.exhausted) == (3, 0, True)
    make_visit(visit_setup, day(4))
    assert usage_of(auth).visits_remaining == -1


def test_the_last_unit_in_total_exhausts_the_authorization(visit_setup):
    auth = make_auth(visit_setup["coverage"], units=8)
    make_visit(visit_setup, day(1), {"97530": 2, "97535": 1})
    make_visit(visit_setup, day(2), {"97530": 4})
    usage = usage_of(auth)
    assert (usage.units_used, usage.units_remaining, usage.exhausted) == (7, 1, False)
    make_visit(visit_setup, day(3), {"97110": 1})
    usage = usage_of(auth)
    assert (usage.units_used, usage.units_remaining, usage.exhausted) == (8, 0, True)
    assert usage.units_by_code == {"97530": 6, "97535": 1, "97110": 1}


def test_units_per_cpt_burn_down_separately(visit_setup):
    auth = make_auth(visit_setup["coverage"], codes=[("97530", 6), ("97535", 4)])
    make_visit(visit_setup, day(1), {"97530": 2, "97535": 2})
    make_visit(visit_setup, day(2), {"97530": 4, "97535": 1})
    usage = usage_of(auth)
    assert [(c.cpt, c.authorized, c.used, c.remaining) for c in usage.codes] == [
        ("97530", 6, 6, 0), ("97535", 4, 3, 1)]
    assert usage.code("97530").exhausted and not usage.code("97535").exhausted
    assert usage.exhausted
    assert usage.pooled_units == (10, 9)


def test_a_visit_on_the_expiry_day_counts_and_one_the_day_after_does_not(visit_setup):
    auth = make_auth(visit_setup["coverage"], visits=10, end=datetime.date(2026, 10, 15))
    make_visit(visit_setup, datetime.date(2026, 10, 15))
    make_visit(visit_setup, datetime.date(2026, 10, 16))
    usage = auth_usage(auth, today=datetime.date(2026, 10, 15))
    assert usage.visits_used == 1
    assert usage.days_to_expiry == 0
    assert auth_usage(auth, today=datetime.date(2026, 10, 16)).days_to_expiry == -1


def test_as_of_counts_only_visits_up_to_that_day(visit_setup):
    auth = make_auth(visit_setup["coverage"], visits=10)
    make_visit(visit_setup, day(2))
    make_visit(visit_setup, day(9))
    assert auth_usage(auth, as_of=day(8), today=TODAY).visits_used == 1


def test_through_a_visit_counts_in_date_order_whatever_the_entry_order(visit_setup):
    auth = make_auth(visit_setup["coverage"], visits=2)
    late = make_visit(visit_setup, day(9))
    early = make_visit(visit_setup, day(2))
    same_day_second = make_visit(visit_setup, day(9))
    assert usage_of(auth, through_visit=early).visits_used == 1
    assert usage_of(auth, through_visit=late).visits_used == 2
    assert usage_of(auth, through_visit=same_day_second).visits_used == 3


# --- units: stored coding, uncoded visits, caller-supplied units ------------------------------------------------


def test_an_uncoded_visit_counts_as_a_visit_adds_no_units_and_is_reported(visit_setup):
    auth = make_auth(visit_setup["coverage"], visits=5, units=20)
    make_visit(visit_setup, day(1), {"97530": 3})
    pending = make_visit(visit_setup, day(2), {"97530": 2}, coded=False)
    usage = usage_of(auth)
    assert (usage.visits_used, usage.units_used) == (2, 3)
    assert usage.uncoded_visits == [pending]


def test_units_given_by_the_caller_win_over_the_stored_coding(visit_setup):
    auth = make_auth(visit_setup["coverage"], units=20)
    first = make_visit(visit_setup, day(1), {"97530": 3})
    make_visit(visit_setup, day(2), {"97530": 2})
    usage = usage_of(auth, units_for_visit=lambda v: {"97530": 5} if v.pk == first.pk else None)
    assert usage.units_used == 7


def test_many_authorizations_at_once_give_the_same_answers(visit_setup):
    first = make_auth(visit_setup["coverage"], number="A1", visits=4, end=day(10))
    second = make_auth(visit_setup["coverage"], number="A2", visits=4, start=day(11))
    for n in (2, 5, 12):
        make_visit(visit_setup, day(n))
    usages = auth_usages(PriorAuthorization.objects.prefetch_related("codes"), today=TODAY)
    assert usages[first.pk].visits_used == usage_of(first).visits_used == 2
    assert usages[second.pk].visits_used == usage_of(second).visits_used == 1


# --- which authorization goes on the claim ---------------------------------------------------------------------


def test_authorization_for_visit_is_the_approved_one_in_force(visit_setup):
    make_auth(visit_setup["coverage"], number="OLD", end=day(10))
    make_auth(visit_setup["coverage"], number="ASKED", start=day(11), status=AuthStatus.REQUESTED)
    current = make_auth(visit_setup["coverage"], number="NEW", start=day(11))
    assert authorization_for_visit(make_visit(visit_setup, day(11))) == current
    assert authorization_for_visit(make_visit(visit_setup, day(10))).number == "OLD"
    assert authorization_for_visit(make_visit(visit_setup, END + datetime.timedelta(days=1))) is None


def test_authorization_for_line_prefers_the_auth_that_lists_the_code(visit_setup):
    general = make_auth(visit_setup["coverage"], number="GEN", visits=10)
    per_code = make_auth(visit_setup["coverage"], number="LINE", start=START - datetime.timedelta(days=5),
                         codes=[("97535", 4)])
    visit = make_visit(visit_setup, day(3), {"97530": 2, "97535": 1})
    assert authorization_for_visit(visit) == general  # the one that started last
    assert authorization_for_line(visit, "97535") == per_code
    assert authorization_for_line(visit, "97530") == general


def test_a_code_only_authorization_does_not_cover_other_codes(visit_setup):
    make_auth(visit_setup["coverage"], number="LINE", codes=[("97535", 4)])
    visit = make_visit(visit_setup, day(3), {"97530": 2, "97535": 1})
    assert authorization_for_line(visit, "97535").number == "LINE"
    assert authorization_for_line(visit, "97530") is None


def test_a_code_list_with_a_total_covers_other_codes_from_the_total(visit_setup):
    auth = make_auth(visit_setup["coverage"], number="MIX", units=20, codes=[("97535", 4)])
    visit = make_visit(visit_setup, day(3), {"97530": 2})
    assert authorization_for_line(visit, "97530") == auth


def test_a_visit_without_coverage_has_no_authorization(visit_setup):
    visit = factories.VisitFactory(patient=visit_setup["patient"], coverage=None,
                                   rendering_provider=visit_setup["provider"], date_of_service=day(3))
    assert authorization_for_visit(visit) is None
    assert authorization_for_line(visit, "97530") is None


# --- authorization_save / authorization_cancel -----------------------------------------------------------------


def new_auth(coverage, **fields):
    values = {"number": "PA-2026-001", "start_date": START, "end_date": END, "visits_authorized": 12,
              "status": AuthStatus.APPROVED, **fields}
    return PriorAuthorization(coverage=coverage, **values)


def test_save_records_the_authorization_with_its_codes(visit_setup, user_a):
    auth = authorization_save(acting_user=user_a, authorization=new_auth(visit_setup["coverage"]),
                              codes=[(" 97530 ", 12), ("97535", "6")])
    auth.refresh_from_db()
    assert auth.clinic == visit_setup["coverage"].clinic
    assert auth.created_by == user_a
    assert sorted(auth.codes.values_list("cpt", "units_authorized")) == [("97530", 12), ("97535", 6)]


def test_clinic_staff_may_record_authorizations(visit_setup, make_user, clinic_a):
    staff = make_user("front_desk", Role.CLINIC_STAFF, clinic_a)
    authorization_save(acting_user=staff, authorization=new_auth(visit_setup["coverage"]), codes=[])
    assert PriorAuthorization.objects.filter(number="PA-2026-001").exists()


def test_save_reports_every_problem_by_field_and_writes_nothing(visit_setup, user_a):
    bad = new_auth(visit_setup["coverage"], number=" ", start_date=END, end_date=START, visits_authorized=0)
    with pytest.raises(AppError) as caught:
        authorization_save(acting_user=user_a, authorization=bad,
                           codes=[("9753", 2), ("97535", 0), ("97110", 3), ("97110", 1)])
    problems = {d["field"]: d["message"] for d in caught.value.details}
    assert problems == {
        "number": "Enter the authorization number the payer gave.",
        "end_date": "The authorization cannot end (2026-10-01) before it starts (2026-10-31).",
        "visits_authorized": "The number of visits authorized must be between 1 and 32767 (0 given).",
        "codes[1].cpt": "'9753' is not a 5-character CPT/HCPCS code.",
        "codes[2].units": "The units authorized for 97535 must be between 1 and 32767 (0 given).",
        "codes[4].cpt": "97110 is listed twice (rows 3 and 4): give its units once.",
    }
    assert not PriorAuthorization.objects.exists() and not AuthorizedCode.objects.exists()


def test_the_number_is_unique_per_coverage_and_free_of_x12_delimiters(visit_setup, user_a):
    authorization_save(acting_user=user_a, authorization=new_auth(visit_setup["coverage"]), codes=[])
    with pytest.raises(AppError, match="Authorization PA-2026-001 is already recorded for this coverage."):
        authorization_save(acting_user=user_a, authorization=new_auth(visit_setup["coverage"]), codes=[])
    with pytest.raises(AppError, match="Remove the characters"):
        authorization_save(acting_user=user_a, authorization=new_auth(visit_setup["coverage"], number="A*1"),
                           codes=[])
    assert PriorAuthorization.objects.count() == 1


def test_dates_outside_the_coverage_are_refused(visit_setup, user_a):
    coverage = visit_setup["coverage"]
    coverage.effective_to = datetime.date(2025, 12, 31)
    coverage.save()
    with pytest.raises(AppError) as caught:
        authorization_save(acting_user=user_a, authorization=new_auth(coverage), codes=[])
    assert caught.value.field == "start_date"
    assert "lies outside the coverage's effective dates (2020-01-01 to 2025-12-31)" in caught.value.message


def test_a_user_of_another_clinic_may_not_record_one(visit_setup, user_b):
    with pytest.raises(AppError) as caught:
        authorization_save(acting_user=user_b, authorization=new_auth(visit_setup["coverage"]), codes=[])
    assert caught.value.code == "forbidden"
    assert not PriorAuthorization.objects.exists()


def test_editing_replaces_the_codes_and_keeps_the_coverage(visit_setup, user_a, payer):
    auth = authorization_save(acting_user=user_a, authorization=new_auth(visit_setup["coverage"]),
                              codes=[("97530", 12), ("97535", 6)])
    auth.units_authorized = 30
    authorization_save(acting_user=user_a, authorization=auth, codes=[("97530", 10)])
    auth.refresh_from_db()
    assert auth.units_authorized == 30
    assert list(auth.codes.values_list("cpt", "units_authorized")) == [("97530", 10)]
    auth.coverage = factories.CoverageFactory(patient=visit_setup["patient"], payer=payer, priority="secondary")
    with pytest.raises(AppError, match="stays with the coverage"):
        authorization_save(acting_user=user_a, authorization=auth, codes=[])


def test_a_failed_edit_leaves_the_old_codes(visit_setup, user_a):
    auth = authorization_save(acting_user=user_a, authorization=new_auth(visit_setup["coverage"]),
                              codes=[("97530", 12)])
    with pytest.raises(AppError):
        authorization_save(acting_user=user_a, authorization=auth, codes=[("BAD", 1)])
    assert list(auth.codes.values_list("cpt", flat=True)) == ["97530"]


def test_cancel_keeps_the_reason_in_the_notes(visit_setup, user_a):
    auth = make_auth(visit_setup["coverage"])
    authorization_cancel(acting_user=user_a, authorization=auth, reason="Entered for the wrong patient")
    auth.refresh_from_db()
    assert auth.status == AuthStatus.CANCELLED
    assert auth.notes.endswith("by biller_a: Entered for the wrong patient")
    with pytest.raises(AppError, match="already cancelled"):
        authorization_cancel(acting_user=user_a, authorization=auth, reason="again, twice")


def test_cancel_needs_a_reason_and_a_grant(visit_setup, user_a, user_b):
    auth = make_auth(visit_setup["coverage"])
    with pytest.raises(AppError, match="Say why"):
        authorization_cancel(acting_user=user_a, authorization=auth, reason="  ")
    with pytest.raises(AppError) as caught:
        authorization_cancel(acting_user=user_b, authorization=auth, reason="Not my clinic at all")
    assert caught.value.code == "forbidden"
    auth.refresh_from_db()
    assert auth.status == AuthStatus.APPROVED
