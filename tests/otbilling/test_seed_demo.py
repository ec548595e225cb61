"""seed_demo builds three deterministic demo clinics, prints the logins and plants the problems it documents."""

import io
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command
from django.db import transaction

from clinics.models import (
    Clinic,
    Coverage,
    FeeScheduleEntry,
    FeeScheduleQuery,
    Patient,
    Payer,
    PayerKind,
    Provider,
    ProviderKind,
    ReferringProvider,
    RoleGrant,
    SubscriberRelationship,
)
from clinics.validators import INVALID_EIN_PREFIXES, npi_is_valid
from eligibility.models import AuthorizedCode, AuthStatus, BenefitSnapshot, PriorAuthorization
from eligibility.selectors import WorklistStatus, eligibility_worklist
from otbilling.demo import DEMO_PASSWORD, DX_PROFILES, PAYERS, PLANTED_PROBLEMS
from otbilling.tenancy import clinics_visible_to
from visits.diagnoses import icd10_problem
from visits.models import PlanOfCare, ProgressReport, ServiceLine, Visit, VisitStatus

TODAY = date(2026, 11, 20)
SLUGS = ("sprouts", "summit", "homefirst")
PAYER_IDS = tuple(p["payer_id"] for p in PAYERS)
EVALS = {"97165", "97166", "97167", "97168"}


def run_seed(seed=7, today=TODAY) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--seed", str(seed), "--today", today.isoformat(), "--no-scrub", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed once for the module (a few seconds), inside a transaction rolled back when the module is done.

    Each test still runs in its own savepoint (pytest-django's db fixture), so tests that reseed or edit rows
    leave the module's data as it was.
    """
    with django_db_blocker.unblock(), transaction.atomic():
        output = run_seed()
        yield output
        transaction.set_rollback(True)


@pytest.fixture
def demo(seeded, db):
    return seeded


def demo_visits():
    return Visit.objects.filter(clinic__slug__in=SLUGS)


def lines_by_visit():
    lines = defaultdict(list)
    for line in ServiceLine.objects.filter(clinic__slug__in=SLUGS).order_by("visit_id", "position"):
        lines[line.visit_id].append(line)
    return lines


def canonical_dump() -> dict:
    """Every demo row as sorted tuples of natural keys and values (no pks, no creation timestamps)."""
    lines = lines_by_visit()
    dump = {
        "clinics": sorted(Clinic.objects.filter(slug__in=SLUGS).values_list(
            "slug", "public_id", "legal_name", "billing_npi", "ein", "taxonomy", "address_line1", "city", "state",
            "zip_code", "timezone", "contact_name", "contact_phone", "contact_email")),
        "payers": sorted(Payer.objects.filter(payer_id__in=PAYER_IDS).values_list(
            "payer_id", "public_id", "name", "kind", "claim_filing_indicator", "unit_method", "go_required",
            "prior_auth_required", "referring_provider_required", "timely_filing_days", "appeal_window_days",
            "kx_threshold_applies", "applies_mppr")),
        "patients": sorted(Patient.objects.filter(clinic__slug__in=SLUGS).values_list(
            "clinic__slug", "mrn", "public_id", "first_name", "last_name", "date_of_birth", "sex", "phone",
            "address_line1", "city", "zip_code")),
        "coverages": sorted(Coverage.objects.filter(clinic__slug__in=SLUGS).values_list(
            "patient__mrn", "public_id", "payer__payer_id", "priority", "member_id", "group_number", "relationship",
            "subscriber_first_name", "subscriber_last_name", "subscriber_date_of_birth", "subscriber_sex",
            "effective_from", "effective_to")),
        "providers": sorted(
            (p.clinic.slug, str(p.public_id), p.kind, p.first_name, p.last_name, p.credentials, p.npi, p.taxonomy,
             p.supervising_therapist.npi if p.supervising_therapist else "",
             tuple(sorted(p.credentialed_payers.values_list("payer_id", flat=True))))
            for p in Provider.objects.filter(clinic__slug__in=SLUGS).select_related("clinic", "supervising_therapist")
        ),
        "referrers": sorted(ReferringProvider.objects.filter(clinic__slug__in=SLUGS).values_list(
            "clinic__slug", "public_id", "first_name", "last_name", "npi")),
        "fees": sorted((slug, payer or "", cpt, str(charge), str(allowed), start, end)
                       for slug, payer, cpt, charge, allowed, start, end in FeeScheduleEntry.objects.filter(
                           clinic__slug__in=SLUGS).values_list("clinic__slug", "payer__payer_id", "cpt", "charge",
                                                               "expected_allowed", "effective_from", "effective_to")),
        "plans_of_care": sorted(
            (slug, mrn, str(pid), start, through, signed, name, npi, freq, dur, goals, tuple(dx))
            for slug, mrn, pid, start, through, signed, name, npi, freq, dur, goals, dx in PlanOfCare.objects.filter(
                clinic__slug__in=SLUGS).values_list(
                "clinic__slug", "patient__mrn", "public_id", "start_date", "certified_through",
                "certification_signed_date", "certifier_name", "certifier_npi", "frequency", "duration", "goals",
                "diagnoses")),
        "visits": sorted(
            (v.clinic.slug, v.patient.mrn, v.date_of_service, str(v.public_id), v.external_id, v.status,
             v.signed_at, v.signed_by_name, v.rendering_provider.npi,
             v.coverage.payer.payer_id if v.coverage else "", v.referring_provider.npi if v.referring_provider else "",
             v.plan_of_care.start_date if v.plan_of_care else None, v.place_of_service, tuple(v.diagnoses),
             v.note_text,
             tuple((ln.position, ln.cpt, ln.minutes, ln.assistant_minutes, tuple(ln.diagnosis_pointers),
                    tuple(ln.manual_modifiers), ln.distinct_time_block) for ln in lines[v.pk]))
            for v in demo_visits().select_related("clinic", "patient", "rendering_provider", "coverage__payer",
                                                  "referring_provider", "plan_of_care")
        ),
        "progress_reports": sorted(ProgressReport.objects.filter(clinic__slug__in=SLUGS).values_list(
            "patient__mrn", "public_id", "report_date", "author__npi", "plan_of_care__start_date", "summary")),
        "grants": sorted(RoleGrant.objects.filter(clinic__slug__in=SLUGS).values_list(
            "clinic__slug", "user__username", "role")),
        "benefit_snapshots": sorted(tuple(map(str, row)) for row in BenefitSnapshot.objects.filter(
            clinic__slug__in=SLUGS).values_list(
            "public_id", "coverage__public_id", "source", "checked_at", "checked_by_name", "reference_number",
            "is_active", "plan_name", "plan_begin", "plan_end", "coinsurance_percent", "copay_amount",
            "deductible_total", "deductible_remaining", "out_of_pocket_total", "out_of_pocket_remaining",
            "visits_allowed", "limit_period_start", "limit_period_end", "therapy_ytd_amount", "details")),
        "authorizations": sorted(tuple(map(str, row)) for row in PriorAuthorization.objects.filter(
            clinic__slug__in=SLUGS).values_list(
            "public_id", "coverage__public_id", "number", "status", "start_date", "end_date", "visits_authorized",
            "units_authorized", "notes")),
        "authorized_codes": sorted(tuple(map(str, row)) for row in AuthorizedCode.objects.filter(
            clinic__slug__in=SLUGS).values_list("authorization__public_id", "cpt", "units_authorized")),
    }
    return dump


def planted_rows(output: str, key: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(f"{key} ("))


def planted_sessions(output: str, key: str) -> set[tuple[str, date | None]]:
    """(MRN, date of service or None) of each row printed for a planted problem."""
    rows = planted_rows(output, key).split(": ", 1)[1].split("; ")
    found = set()
    for row in rows:
        _clinic, mrn, *day = row.split()
        found.add((mrn, date.fromisoformat(day[0]) if day else None))
    return found


def planted_patient(output: str, key: str) -> str:
    [mrn] = {mrn for mrn, _day in planted_sessions(output, key)}
    return mrn


def checked_on(snapshot) -> date:
    return snapshot.checked_at.astimezone(ZoneInfo(snapshot.clinic.timezone)).date()


# --- what gets built ---------------------------------------------------------------------------------------------

def test_seed_builds_three_clinics_five_payers_sixty_patients_and_fifteen_secondaries(demo):
    assert sorted(Clinic.objects.values_list("slug", flat=True)) == sorted(SLUGS)
    assert Payer.objects.filter(payer_id__in=PAYER_IDS).count() == 5
    assert set(Payer.objects.values_list("kind", flat=True)) == {PayerKind.MEDICARE, PayerKind.MEDICAID,
                                                                 PayerKind.COMMERCIAL}
    for slug in SLUGS:
        assert Patient.objects.filter(clinic__slug=slug).count() == 20
        assert ReferringProvider.objects.filter(clinic__slug=slug).count() == 3
        assert Provider.objects.filter(clinic__slug=slug, kind=ProviderKind.ASSISTANT).count() == 1
        assert 2 <= Provider.objects.filter(clinic__slug=slug, kind=ProviderKind.THERAPIST).count() <= 3
    assert Patient.objects.count() == 60
    assert Coverage.objects.filter(priority="secondary").count() == 15
    assert not Patient.objects.filter(coverages__isnull=True).exists()
    assert "3 clinics, 5 payers, 60 patients (15 with secondary coverage)" in demo


def test_payer_rules_match_the_domain_rules(demo):
    medicare = Payer.objects.get(kind=PayerKind.MEDICARE)
    assert (medicare.claim_filing_indicator, medicare.unit_method, medicare.go_required) == ("MB", "cms", True)
    assert medicare.kx_threshold_applies and medicare.applies_mppr
    assert (medicare.timely_filing_days, medicare.appeal_window_days) == (365, 120)
    medicaid = Payer.objects.get(kind=PayerKind.MEDICAID)
    assert medicaid.prior_auth_required and medicaid.timely_filing_days == 180
    commercial = Payer.objects.filter(kind=PayerKind.COMMERCIAL)
    assert {p.unit_method for p in commercial} == {"ama", "cms"}
    assert Payer.objects.get(payer_id="UMH01").timely_filing_days == 90
    assert Payer.objects.get(payer_id="BCX01").claim_filing_indicator == "BL"


def test_identifiers_are_valid_npis_eins_and_zip_plus_four(demo):
    npis = list(Clinic.objects.values_list("billing_npi", flat=True))
    npis += list(Provider.objects.values_list("npi", flat=True))
    npis += list(ReferringProvider.objects.values_list("npi", flat=True))
    assert all(npi_is_valid(n) for n in npis)
    assert len(set(npis)) == len(npis)
    for clinic in Clinic.objects.all():
        assert clinic.ein[:2] not in INVALID_EIN_PREFIXES and len(clinic.ein) == 9
        assert len(clinic.zip_code) == 9
        clinic.full_clean()
    homefirst_pos = set(demo_visits().filter(clinic__slug="homefirst").values_list("place_of_service", flat=True))
    assert homefirst_pos == {"12"}


def test_assistants_have_a_supervising_therapist_and_assistant_taxonomy(demo):
    for ota in Provider.objects.filter(kind=ProviderKind.ASSISTANT):
        assert ota.taxonomy == "224Z00000X"
        assert ota.supervising_therapist.clinic_id == ota.clinic_id
    assert set(Provider.objects.filter(kind=ProviderKind.THERAPIST).values_list("taxonomy", flat=True)) >= {
        "225XP0200X", "225XH1200X", "225X00000X"}


def test_pediatric_commercial_coverages_name_the_guardian_and_medicare_patients_are_65_plus(demo):
    kids = Coverage.objects.filter(clinic__slug="sprouts", payer__kind=PayerKind.COMMERCIAL)
    assert kids.exists()
    for coverage in kids:
        assert coverage.relationship == SubscriberRelationship.CHILD
        assert coverage.subscriber_first_name and coverage.subscriber_date_of_birth
        assert (coverage.patient.date_of_birth - coverage.subscriber_date_of_birth).days > 18 * 365
    for patient in Patient.objects.filter(clinic__slug="sprouts"):
        assert (TODAY - patient.date_of_birth).days < 13 * 366
    for coverage in Coverage.objects.filter(payer__kind=PayerKind.MEDICARE).select_related("patient"):
        assert (TODAY - coverage.patient.date_of_birth).days >= 65 * 365


def test_fee_schedule_has_default_and_payer_rows_for_every_ot_code(demo):
    codes = {"97165", "97166", "97167", "97168", "97110", "97112", "97140", "97530", "97535", "97750", "97760",
             "97763", "97129", "97130", "97542"}
    for slug in SLUGS:
        rows = FeeScheduleEntry.objects.filter(clinic__slug=slug, effective_to__isnull=True)
        assert codes <= set(rows.filter(payer__isnull=True).values_list("cpt", flat=True))
        assert codes <= set(rows.filter(payer__payer_id="MDCR1").values_list("cpt", flat=True))
    summit = Clinic.objects.get(slug="summit")
    medicare = Payer.objects.get(payer_id="MDCR1")
    fee = FeeScheduleQuery.fee_for(clinic=summit, payer=medicare, cpt="97530", on_date=TODAY)
    assert fee.payer == medicare and isinstance(fee.expected_allowed, Decimal)
    assert Decimal("20") < fee.expected_allowed < fee.charge
    last_year = FeeScheduleQuery.fee_for(clinic=summit, payer=medicare, cpt="97530",
                                         on_date=date(TODAY.year - 1, 12, 1))
    assert last_year.expected_allowed < fee.expected_allowed


def test_sessions_fall_in_the_13_weeks_before_today_and_are_mostly_signed(demo):
    days = list(demo_visits().values_list("date_of_service", flat=True))
    assert 700 < len(days) < 1800
    assert min(days) >= TODAY - timedelta(days=91)
    assert max(days) == TODAY - timedelta(days=1) or max(days) >= TODAY - timedelta(days=4)
    signed = demo_visits().filter(status=VisitStatus.SIGNED).count()
    assert signed / len(days) > 0.95
    for visit in demo_visits().filter(status=VisitStatus.SIGNED)[:50]:
        assert visit.signed_by_name.startswith(
            f"{visit.rendering_provider.first_name} {visit.rendering_provider.last_name}")
        assert visit.signed_at.date() >= visit.date_of_service


def test_first_session_of_a_new_patient_is_an_evaluation_and_minutes_are_realistic(demo):
    lines = lines_by_visit()
    evaluations = [v for v in demo_visits() if {ln.cpt for ln in lines[v.pk]} & {"97165", "97166", "97167"}]
    assert len(evaluations) >= 20
    for line in ServiceLine.objects.filter(clinic__slug__in=SLUGS, cpt__in=EVALS):
        assert line.minutes is None
    for line in ServiceLine.objects.filter(clinic__slug__in=SLUGS, cpt="97530"):
        assert 8 <= line.minutes <= 38
    assistant_lines = ServiceLine.objects.filter(clinic__slug__in=SLUGS, assistant_minutes__gt=0)
    assert assistant_lines.filter(assistant_minutes=models_f("minutes")).count() > 50
    assert assistant_lines.filter(assistant_minutes__lte=3).exists()  # de-minimis assistant time


def models_f(name):
    from django.db.models import F

    return F(name)


def test_every_diagnosis_code_of_the_profiles_is_billable():
    for profiles in DX_PROFILES.values():
        for _name, codes in profiles:
            for code in codes:
                assert icd10_problem(code) is None, code


def test_clean_sessions_use_only_billable_diagnoses(demo):
    bad = [(v.patient.mrn, v.date_of_service, code) for v in demo_visits().select_related("patient")
           for code in v.diagnoses if icd10_problem(code)]
    assert len(bad) == 1 and bad[0][2] == "M62.8"  # the planted one, nothing else


# --- logins ------------------------------------------------------------------------------------------------------

def test_prints_the_logins_of_admin_billers_owners_and_staff(demo):
    for username, clinics in [("admin", "sprouts, summit, homefirst"), ("biller1", "sprouts, summit"),
                              ("biller2", "summit, homefirst"), ("owner_sprouts", "sprouts"),
                              ("owner_summit", "summit"), ("owner_homefirst", "homefirst"),
                              ("staff_summit", "summit")]:
        row = next(line for line in demo.splitlines() if username in line.split())
        assert DEMO_PASSWORD in row and row.rstrip().endswith(clinics)
    assert "Role" in demo and "Username" in demo and "Password" in demo


def test_demo_password_passes_the_validators_and_logs_in(demo):
    user_model = get_user_model()
    for username in ("admin", "biller1", "biller2", "owner_sprouts", "owner_summit", "owner_homefirst"):
        user = user_model.objects.get(username=username)
        validate_password(DEMO_PASSWORD, user)
        assert user.check_password(DEMO_PASSWORD)
    admin = user_model.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser


def test_each_user_sees_exactly_the_clinics_of_their_grants(demo):
    users = {u.username: u for u in get_user_model().objects.all()}

    def visible(username):
        return set(clinics_visible_to(users[username]).values_list("slug", flat=True))

    assert visible("admin") == set(SLUGS)
    assert visible("biller1") == {"sprouts", "summit"}
    assert visible("biller2") == {"summit", "homefirst"}
    for slug in SLUGS:
        assert visible(f"owner_{slug}") == {slug}
        assert visible(f"staff_{slug}") == {slug}
        assert set(RoleGrant.objects.filter(user=users[f"owner_{slug}"]).values_list("role", flat=True)) == {
            "clinic_owner"}
    assert not clinics_visible_to(users["owner_sprouts"], "work_claims").exists()
    assert set(clinics_visible_to(users["biller1"], "work_claims").values_list("slug", flat=True)) == {
        "sprouts", "summit"}


# --- planted problems ---------------------------------------------------------------------------------------------

def test_every_planted_problem_is_printed(demo):
    for key in PLANTED_PROBLEMS:
        row = planted_rows(demo, key)
        assert f"{key} (0)" not in row


def test_three_old_notes_are_unsigned(demo):
    old_drafts = demo_visits().filter(status=VisitStatus.DRAFT, date_of_service__lt=TODAY - timedelta(days=7))
    assert sorted(old_drafts.values_list("clinic__slug", flat=True)) == sorted(SLUGS)
    recent_drafts = demo_visits().filter(status=VisitStatus.DRAFT, date_of_service__gte=TODAY - timedelta(days=4))
    assert recent_drafts.exists()


def test_one_timed_line_has_fewer_than_8_minutes(demo):
    short = ServiceLine.objects.filter(clinic__slug__in=SLUGS, minutes__lt=8)
    assert [(s.cpt, s.minutes, s.visit.clinic.slug, s.visit.lines.count()) for s in short] == [
        ("97110", 6, "homefirst", 1)]


def test_one_session_bills_97140_and_97530_without_a_distinct_time_block(demo):
    lines = lines_by_visit()
    same_block, distinct = [], []
    for visit_id, visit_lines in lines.items():
        by_code = {ln.cpt: ln for ln in visit_lines}
        if {"97140", "97530"} <= set(by_code):
            (distinct if by_code["97530"].distinct_time_block else same_block).append(visit_id)
    assert len(same_block) == 1
    assert Visit.objects.get(pk=same_block[0]).coverage.payer.payer_id == "BCX01"
    assert distinct  # the clean ones document distinct blocks


def test_one_medicare_line_carries_gp_and_no_other_line_has_manual_modifiers(demo):
    with_modifiers = ServiceLine.objects.filter(clinic__slug__in=SLUGS).exclude(manual_modifiers=[])
    assert [(ln.manual_modifiers, ln.visit.coverage.payer.kind) for ln in with_modifiers] == [
        (["GP"], PayerKind.MEDICARE)]


def test_one_session_has_two_evaluations_on_the_same_day(demo):
    lines = lines_by_visit()
    doubled = [vid for vid, visit_lines in lines.items() if len([ln for ln in visit_lines if ln.cpt in EVALS]) > 1]
    assert len(doubled) == 1
    assert {ln.cpt for ln in lines[doubled[0]]} >= {"97166", "97167"}


def test_one_session_is_rendered_by_a_therapist_not_credentialed_with_the_payer(demo):
    credentialed = defaultdict(set)
    for provider in Provider.objects.filter(clinic__slug__in=SLUGS).prefetch_related("credentialed_payers"):
        credentialed[provider.pk] = {p.pk for p in provider.credentialed_payers.all()}
    offending = [v for v in demo_visits().select_related("coverage", "rendering_provider")
                 if v.coverage.payer_id not in credentialed[v.rendering_provider_id]]
    assert [(v.rendering_provider.last_name, v.coverage.payer.payer_id) for v in offending] == [("Raman", "UMH01")]


def test_sessions_after_coverage_end_exist_only_for_the_planted_patient(demo):
    after_end = [v for v in demo_visits().select_related("coverage", "patient")
                 if not v.coverage.is_active_on(v.date_of_service)]
    assert after_end
    assert {v.patient.mrn for v in after_end} == {after_end[0].patient.mrn}
    assert {v.coverage.payer.payer_id for v in after_end} == {"ASP01"}
    assert len(planted_rows(demo, "visit_after_coverage_end").split(";")) == len(after_end)
    # The normal switch: a sprouts patient whose Blue Cross ended and Medicaid began, sessions follow the switch.
    ended = Coverage.objects.filter(clinic__slug="sprouts", effective_to__isnull=False).get()
    assert Coverage.objects.filter(patient=ended.patient, payer__payer_id="MDCD1",
                                   effective_from=ended.effective_to + timedelta(days=1)).exists()


def test_sessions_beyond_the_plan_of_care_exist_only_for_the_planted_patient(demo):
    beyond = [v for v in demo_visits().select_related("plan_of_care", "patient", "coverage__payer")
              if not v.plan_of_care.covers(v.date_of_service)]
    assert beyond
    assert {(v.clinic.slug, v.patient.mrn, v.coverage.payer.kind) for v in beyond} == {
        ("homefirst", beyond[0].patient.mrn, PayerKind.MEDICARE)}


def test_one_session_bills_97130_without_97129(demo):
    lines = lines_by_visit()
    alone = [vid for vid, visit_lines in lines.items()
             if "97130" in {ln.cpt for ln in visit_lines} and "97129" not in {ln.cpt for ln in visit_lines}]
    assert len(alone) == 1


def test_one_medicare_session_lacks_the_required_referring_provider(demo):
    missing = demo_visits().filter(referring_provider__isnull=True)
    assert [(v.coverage.payer.referring_provider_required, v.coverage.payer.kind) for v in missing] == [
        (True, PayerKind.MEDICARE)]


def test_three_old_certifications_are_unsigned_and_one_was_signed_on_day_35(demo):
    unsigned = PlanOfCare.objects.filter(clinic__slug__in=SLUGS, certification_signed_date__isnull=True,
                                         start_date__lte=TODAY - timedelta(days=31))
    assert sorted(unsigned.values_list("clinic__slug", flat=True)) == sorted(SLUGS)
    late = [p for p in PlanOfCare.objects.filter(clinic__slug__in=SLUGS, certification_signed_date__isnull=False)
            if (p.certification_signed_date - p.start_date).days > 30]
    assert [(p.certification_signed_date - p.start_date).days for p in late] == [35]
    assert late[0].patient.coverages.filter(payer__kind=PayerKind.MEDICARE).exists()
    for poc in PlanOfCare.objects.filter(clinic__slug__in=SLUGS):
        assert (poc.certified_through - poc.start_date).days <= 89


def test_only_the_planted_patient_goes_10_treatment_days_without_a_progress_report(demo):
    lines = lines_by_visit()
    reports = set(ProgressReport.objects.filter(clinic__slug__in=SLUGS).values_list("patient_id", "report_date"))
    overdue = {}
    for patient in Patient.objects.filter(clinic__slug__in=SLUGS):
        run = 0
        for visit in patient.visits.order_by("date_of_service"):
            is_eval = any(ln.cpt in EVALS for ln in lines[visit.pk])
            run = 1 if is_eval else run + 1
            if (patient.pk, visit.date_of_service) in reports:
                run = 0
            if run >= 10:
                overdue[patient.mrn] = patient
    assert len(overdue) == 1
    patient = next(iter(overdue.values()))
    assert patient.clinic.slug == "homefirst" and not patient.progress_reports.exists()
    assert patient.coverages.filter(payer__kind=PayerKind.MEDICARE).exists()


# --- eligibility ----------------------------------------------------------------------------------------------------

def test_every_session_has_a_benefit_check_within_its_payers_window_but_the_planted_ones(demo):
    checks = defaultdict(list)
    for snapshot in BenefitSnapshot.objects.filter(clinic__slug__in=SLUGS).select_related("clinic"):
        checks[snapshot.coverage_id].append(checked_on(snapshot))
    unverified = set()
    for visit in demo_visits().select_related("coverage__payer", "patient"):
        first_day = visit.date_of_service - timedelta(days=visit.coverage.payer.eligibility_max_age_days)
        if not any(first_day <= day <= visit.date_of_service for day in checks[visit.coverage_id]):
            unverified.add((visit.patient.mrn, visit.date_of_service))
    never = planted_sessions(demo, "eligibility_never_verified")
    assert len(never) >= 2 and never <= unverified
    assert unverified - never <= planted_sessions(demo, "visit_after_coverage_end")  # checked until it ended
    unchecked = Coverage.objects.filter(clinic__slug__in=SLUGS, benefit_snapshots__isnull=True)
    assert set(unchecked.values_list("patient__mrn", flat=True)) == {planted_patient(demo,
                                                                                     "eligibility_never_verified")}


def test_benefit_checks_report_what_each_payer_would(demo):
    active = BenefitSnapshot.objects.filter(clinic__slug__in=SLUGS, is_active=True).select_related("coverage__payer")
    assert set(active.values_list("source", flat=True)) == {"271", "phone", "portal"}
    assert active.filter(source="271").count() > active.exclude(source="271").count()
    for snapshot in active:
        payer = snapshot.coverage.payer.payer_id
        assert snapshot.cost_share_known and snapshot.plan_begin == snapshot.coverage.effective_from
        if snapshot.deductible_remaining is not None:
            assert Decimal("0") <= snapshot.deductible_remaining <= snapshot.deductible_total
        if payer == "MDCR1":
            assert (snapshot.coinsurance_percent, snapshot.deductible_total) == (Decimal("20"), Decimal("283.00"))
        if payer == "MDCD1":
            assert snapshot.copay_amount == Decimal("0.00") and snapshot.deductible_total is None
        if snapshot.source == "271":
            assert snapshot.details[0]["benefit"] == "Active coverage" and snapshot.reference_number
        else:
            assert snapshot.details[0]["manual"] and snapshot.checked_by_name and snapshot.reference_number
    limits = active.filter(visits_allowed__isnull=False)
    assert set(limits.values_list("coverage__payer__kind", "coverage__priority")) == {(PayerKind.COMMERCIAL,
                                                                                         "primary")}
    assert set(limits.values_list("limit_period_start", "limit_period_end")) == {(date(2026, 1, 1),
                                                                                 date(2026, 12, 31))}
    therapy = active.filter(therapy_ytd_amount__isnull=False)
    assert set(therapy.values_list("coverage__payer__payer_id", flat=True)) == {"MDCR1"}
    reported = list(therapy.values_list("coverage_id", flat=True))
    assert len(reported) == len(set(reported))  # once a year: our own sessions are added after it


def test_sessions_of_prior_auth_payers_fall_within_an_approved_authorization_listing_their_codes(demo):
    lines = lines_by_visit()
    auths = defaultdict(list)
    for auth in PriorAuthorization.objects.filter(clinic__slug__in=SLUGS).prefetch_related("codes"):
        assert auth.status == AuthStatus.APPROVED and auth.coverage.payer.prior_auth_required
        auths[auth.coverage_id].append(auth)
    outside = set()
    for visit in demo_visits().filter(coverage__payer__prior_auth_required=True).select_related("patient"):
        covering = [a for a in auths[visit.coverage_id] if a.covers(visit.date_of_service)]
        if not covering:
            outside.add((visit.patient.mrn, visit.date_of_service))
            continue
        [auth] = covering
        listed = {code.cpt for code in auth.codes.all()}
        assert not listed or {line.cpt for line in lines[visit.pk]} <= listed
    assert outside == planted_sessions(demo, "auth_expired")
    medicaid = [a for per_coverage in auths.values() for a in per_coverage if a.coverage.payer.payer_id == "MDCD1"]
    blue_cross = [a for per_coverage in auths.values() for a in per_coverage if a.coverage.payer.payer_id == "BCX01"]
    assert medicaid and all(a.codes.exists() and a.units_authorized is None and a.visits_authorized for a in medicaid)
    assert blue_cross and all(not a.codes.exists() and a.visits_authorized for a in blue_cross)


def test_the_exhausted_authorization_is_one_visit_short_and_the_visit_limit_two(demo):
    [(mrn, last)] = planted_sessions(demo, "auth_exhausted")
    auth = PriorAuthorization.objects.get(coverage__patient__mrn=mrn, start_date__lte=last, end_date__gte=last)
    seen = demo_visits().filter(coverage=auth.coverage, date_of_service__range=(auth.start_date, auth.end_date))
    assert seen.count() == auth.visits_authorized + 1
    assert seen.order_by("date_of_service").last().date_of_service == last
    over = planted_sessions(demo, "visit_limit_reached")
    mrn = planted_patient(demo, "visit_limit_reached")
    allowed = set(BenefitSnapshot.objects.filter(coverage__patient__mrn=mrn, coverage__priority="primary")
                  .values_list("visits_allowed", flat=True))
    sessions = sorted(demo_visits().filter(patient__mrn=mrn).values_list("date_of_service", flat=True))
    assert allowed == {len(sessions) - 2}
    assert over == {(mrn, day) for day in sessions[-2:]}


def test_the_planted_inactive_answer_is_the_coverages_latest_and_holds_the_sessions_after_it(demo):
    mrn = planted_patient(demo, "eligibility_inactive")
    checks = list(BenefitSnapshot.objects.filter(coverage__patient__mrn=mrn).select_related("clinic")
                  .order_by("-checked_at"))
    assert checks[0].is_active is False and all(c.is_active for c in checks[1:])
    after = {(mrn, day) for day in demo_visits().filter(patient__mrn=mrn, date_of_service__gt=checked_on(checks[0]))
             .values_list("date_of_service", flat=True)}
    assert len(after) >= 2 and after == planted_sessions(demo, "eligibility_inactive")
    assert BenefitSnapshot.objects.filter(is_active=False).count() == 1


def test_tomorrows_eligibility_worklist_shows_the_ongoing_patients_and_flags_the_planted_coverages(demo):
    admin = get_user_model().objects.get(username="admin")
    statuses = defaultdict(set)
    for row in eligibility_worklist(admin, for_date=TODAY + timedelta(days=1)):
        statuses[row.status].add(row.patient.mrn)
    assert planted_patient(demo, "eligibility_never_verified") in statuses[WorklistStatus.UNVERIFIED]
    assert statuses[WorklistStatus.FAILED] == {planted_patient(demo, "eligibility_inactive")}
    assert planted_patient(demo, "auth_running_out") in statuses[WorklistStatus.VERIFIED]
    assert len(statuses[WorklistStatus.VERIFIED]) >= 20


# --- determinism and safety ---------------------------------------------------------------------------------------

def test_running_twice_with_the_same_seed_gives_identical_data(demo):
    first = canonical_dump()
    output = run_seed()
    assert canonical_dump() == first
    assert Clinic.objects.count() == 3 and Patient.objects.count() == 60  # replaced, not duplicated
    assert output.split("\n", 1)[1] == demo.split("\n", 1)[1]  # same printout apart from the timing line


def test_another_seed_gives_other_data(demo):
    first = canonical_dump()
    run_seed(seed=8)
    second = canonical_dump()
    assert second["patients"] != first["patients"] and second["visits"] != first["visits"]
    assert second["benefit_snapshots"] != first["benefit_snapshots"]
    assert Patient.objects.count() == 60


def test_refuses_to_wipe_a_clinic_it_did_not_create(demo):
    Clinic.objects.filter(slug="summit").update(contact_email="office@realclinic.example")
    with pytest.raises(CommandError, match="slug 'summit' exists and was not created by seed_demo"):
        run_seed()
    assert Patient.objects.filter(clinic__slug="summit").count() == 20  # nothing was removed


def test_refuses_to_take_over_a_user_it_did_not_create(demo):
    get_user_model().objects.filter(username="biller2").update(email="pat@billing.example")
    with pytest.raises(CommandError, match="User 'biller2' exists and was not created by seed_demo"):
        run_seed()


def test_refuses_a_today_in_the_future(db):
    with pytest.raises(CommandError, match="is in the future"):
        run_seed(today=date.today() + timedelta(days=2))
    with pytest.raises(CommandError, match="--today must be a date"):
        call_command("seed_demo", "--today", "20-11-2026", stdout=io.StringIO())
