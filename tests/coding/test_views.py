"""Biller screens of coding: the units calculator, the coding queue and the visit coding page with fixes,
overrides and re-scrubs. Another clinic's visit or finding is a 404; users without WORK_CLAIMS stay out."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from clinics.current import SESSION_KEY
from clinics.models import AccessAction, AccessLogEntry, ClaimFilingIndicator, PayerKind
from coding.models import CodedLine, CodingStatus, Finding, Severity, VisitCoding
from coding.scrubber import REGISTRY, Edit, Proposal
from coding.services import visit_code
from otbilling.tenancy import Role
from tests import factories
from visits.models import VisitStatus

pytestmark = pytest.mark.django_db

TEST_RULE = "TEST_OWN_TIME_BLOCK"


def make_medicare(payer_id="MEDB1"):
    """A Medicare Part B payer without the documentation rules, so a well-entered visit is clean."""
    return factories.PayerFactory(
        name="Medicare Part B", payer_id=payer_id, kind=PayerKind.MEDICARE,
        claim_filing_indicator=ClaimFilingIndicator.MEDICARE_B, go_required=True, kx_threshold_applies=False,
        applies_mppr=False, applies_assistant_reduction=True, medicare_documentation_rules=False,
    )


def clean_medicare_visit(clinic, payer, *, lines, last_name="Quill", dos=None):
    """A signed visit with nothing for the scrubber to find: active coverage, credentialed OT with a valid NPI,
    a referrer, a certified plan of care, fees for every code, valid diagnoses with pointers, a recent DOS."""
    dos = dos or timezone.localdate() - datetime.timedelta(days=3)
    patient = factories.PatientFactory(clinic=clinic, last_name=last_name)
    coverage = factories.CoverageFactory(patient=patient, payer=payer)
    provider = factories.ProviderFactory(clinic=clinic)
    provider.credentialed_payers.add(payer)
    referrer = factories.ReferringProviderFactory(clinic=clinic)
    plan = factories.PlanOfCareFactory(patient=patient, start_date=dos - datetime.timedelta(days=14),
                                       certified_through=dos + datetime.timedelta(days=60),
                                       certification_signed_date=dos - datetime.timedelta(days=12))
    for cpt in {spec["cpt"] for spec in lines}:
        if not factories.FeeScheduleEntryFactory._meta.model.objects.filter(clinic=clinic, cpt=cpt).exists():
            factories.FeeScheduleEntryFactory(clinic=clinic, cpt=cpt, charge=Decimal("60.00"),
                                              expected_allowed=Decimal("35.00"))
    visit = factories.VisitFactory(
        patient=patient, coverage=coverage, rendering_provider=provider, referring_provider=referrer,
        plan_of_care=plan, date_of_service=dos, diagnoses=["M62.81", "R26.89"],
        signed_at=timezone.now() - datetime.timedelta(days=2),
    )
    for position, spec in enumerate(lines, start=1):
        factories.ServiceLineFactory(visit=visit, position=position, diagnosis_pointers=[1, 2], **spec)
    return visit


def own_time_block_edit(context):
    """Test-only edit (the real registry is restored after each test): 97535 must be marked as its own block."""
    for line in context.lines:
        if line.cpt == "97535" and not line.distinct_time_block:
            yield Proposal(f"{context.line_label(line)} is not marked as its own time block.", line=line,
                           field="distinct_time_block", fix_code="mark_distinct_time_block",
                           fix_label="Mark as its own time block")


@pytest.fixture
def test_edit(monkeypatch):
    from coding import edits  # noqa: F401  (the real edits register first)

    monkeypatch.setitem(REGISTRY, TEST_RULE, Edit(rule_id=TEST_RULE, severity=Severity.BLOCKING,
                                                  title="Test: own time block", func=own_time_block_edit))


@pytest.fixture
def medicare(db):
    return make_medicare()


@pytest.fixture
def visit_a(clinic_a, medicare, code_sets, test_edit):
    """Clinic A's visit held by exactly one blocking finding (the test edit) with a one-click fix."""
    visit = clean_medicare_visit(clinic_a, medicare, lines=[{"cpt": "97530", "minutes": 30},
                                                           {"cpt": "97535", "minutes": 15}])
    visit_code(visit=visit)
    return visit


@pytest.fixture
def finding_a(visit_a):
    return Finding.objects.get(visit=visit_a, rule_id=TEST_RULE)


@pytest.fixture
def client_b(client, user_b):
    client.force_login(user_b)
    return client


def login(client, user):
    client.force_login(user)
    return client


# --- calculator ---------------------------------------------------------------------------------------------------


def calc_post(rule, *rows, **extra):
    return {"rule": rule, "code": [code for code, _ in rows], "minutes": [minutes for _, minutes in rows], **extra}


def test_calculator_page_lists_the_codes_with_descriptions_and_timed_or_untimed(client_a, code_sets):
    response = client_a.get(reverse("units-calculator"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Therapeutic exercise: strength, endurance, range of motion" in body
    assert '<option value="97110">' in body and "(timed)" in body and "(untimed)" in body
    assert body.count('name="code"') == 5


def test_calculator_without_javascript_shows_units_total_and_explanation(client_a, code_sets):
    response = client_a.post(reverse("units-calculator"), calc_post("cms", ("97110", "33"), ("97140", "7")))
    assert response.status_code == 200
    calculation = response.context["calculation"]
    assert calculation.units == {"97110": 2, "97140": 1}
    assert calculation.result.total_timed_minutes == 40
    body = response.content.decode()
    assert "Total timed minutes 40 → 3 unit(s) by the 8-minute rule." in body
    assert "<html" in body


def test_calculator_htmx_result_is_a_fragment(client_a, code_sets):
    response = client_a.post(reverse("units-calculator-result"),
                              calc_post("ama", ("97110", "33"), ("97140", "7"), ("G0283", "")),
                              HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="calculator"' in body
    assert response.context["calculation"].units == {"97110": 2, "97140": 0, "G0283": 1}
    assert "97110: 33 min → 2 unit(s) (AMA per-code)." in body


def test_calculator_shows_each_problem_beside_its_row_and_computes_nothing(client_a, code_sets):
    response = client_a.post(reverse("units-calculator-result"),
                              calc_post("cms", ("97110", "33"), ("97999", "10"), ("97140", "abc"), ("97530", "-5")))
    assert response.context["calculation"] is None
    rows = {row.number: row.errors for row in response.context["rows"]}
    assert rows[1] == []
    assert rows[2] == ["97999 is not in the loaded code set."]
    assert rows[3] == ["Minutes must be a whole number, not 'abc'."]
    assert rows[4] == ["Minutes cannot be negative (-5)."]
    body = response.content.decode()
    assert 'aria-describedby="calc-row-2-errors"' in body
    assert "97999 is not in the loaded code set." in body


def test_calculator_add_a_row_keeps_the_entries(client_a, code_sets):
    data = calc_post("ama", ("97110", "33"), ("97140", "7"), ("", ""), ("", ""), ("", ""), add_row="1")
    response = client_a.post(reverse("units-calculator"), data)
    rows = response.context["rows"]
    assert [(row.code, row.minutes) for row in rows[:2]] == [("97110", "33"), ("97140", "7")]
    assert len(rows) == 5 and response.context["calculation"] is None


def test_calculator_needs_a_grant(client, user_no_grant, code_sets):
    assert client.get(reverse("units-calculator")).status_code == 302
    login(client, user_no_grant)
    assert client.get(reverse("units-calculator")).status_code == 403
    assert client.post(reverse("units-calculator-result"), calc_post("cms", ("97110", "33"))).status_code == 403


def test_clinic_staff_may_use_the_calculator(client, make_user, clinic_a, code_sets):
    login(client, make_user("staff_a", Role.CLINIC_STAFF, clinic_a))
    assert client.get(reverse("units-calculator")).status_code == 200


# --- coding queue -------------------------------------------------------------------------------------------------


@pytest.fixture
def queue_visits(clinic_a, clinic_b, medicare, code_sets, test_edit):
    """Clinic A: one held, one billable, one never coded, one draft; clinic B: one billable."""
    commercial = factories.PayerFactory(name="Acme Health", payer_id="ACME1")
    today = timezone.localdate()
    held = clean_medicare_visit(clinic_a, medicare, last_name="Heldman", lines=[{"cpt": "97535", "minutes": 20}],
                                dos=today - datetime.timedelta(days=5))
    billable = clean_medicare_visit(clinic_a, medicare, last_name="Billwell", lines=[{"cpt": "97530", "minutes": 30}],
                                    dos=today - datetime.timedelta(days=3))
    pending = clean_medicare_visit(clinic_a, commercial, last_name="Pendleton",
                                   lines=[{"cpt": "97110", "minutes": 30}], dos=today - datetime.timedelta(days=1))
    draft = clean_medicare_visit(clinic_a, medicare, last_name="Drafton", lines=[{"cpt": "97530", "minutes": 30}])
    draft.status, draft.signed_at, draft.signed_by_name = VisitStatus.DRAFT, None, ""
    draft.save()
    other = clean_medicare_visit(clinic_b, make_medicare("MEDB2"), last_name="Birchwood",
                                 lines=[{"cpt": "97530", "minutes": 30}])
    for visit in (held, billable, other):
        visit_code(visit=visit)
    return {"held": held, "billable": billable, "pending": pending, "draft": draft, "other": other,
            "commercial": commercial}


def listed(response):
    return sorted(visit.patient.last_name for visit in response.context["page"].object_list)


def test_queue_lists_signed_visits_of_the_billers_clinic_with_status_counts(client_a, queue_visits):
    response = client_a.get(reverse("coding-queue"))
    assert response.status_code == 200
    assert listed(response) == ["Billwell", "Heldman", "Pendleton"]
    counts = {status: count for status, _label, count in response.context["status_counts"]}
    assert counts == {CodingStatus.PENDING: 1, CodingStatus.HELD: 1, CodingStatus.BILLABLE: 1}
    body = response.content.decode()
    assert "Birchwood" not in body and "Drafton" not in body
    assert TEST_RULE in body
    assert AccessLogEntry.objects.filter(action=AccessAction.LIST, object_type="visit").exists()


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "held"}, ["Heldman"]),
    ({"status": "billable"}, ["Billwell"]),
    ({"status": "pending"}, ["Pendleton"]),
    ({"severity": "blocking"}, ["Heldman"]),
    ({"severity": "warning"}, []),
    ({"rule": TEST_RULE}, ["Heldman"]),
])
def test_queue_filters_by_status_severity_and_edit(client_a, queue_visits, params, expected):
    assert listed(client_a.get(reverse("coding-queue"), params)) == expected


def test_queue_filters_by_payer_and_date_range(client_a, queue_visits):
    commercial = queue_visits["commercial"]
    assert listed(client_a.get(reverse("coding-queue"), {"payer": commercial.public_id})) == ["Pendleton"]
    day = queue_visits["billable"].date_of_service.isoformat()
    assert listed(client_a.get(reverse("coding-queue"), {"date_from": day, "date_to": day})) == ["Billwell"]
    response = client_a.get(reverse("coding-queue"), {"date_from": day, "date_to": "2000-01-01"})
    assert "The end date is before the start date." in response.content.decode()


def test_queue_sorts_by_date_both_ways(client_a, queue_visits):
    newest = client_a.get(reverse("coding-queue"))
    assert [v.patient.last_name for v in newest.context["page"].object_list] == ["Pendleton", "Billwell", "Heldman"]
    oldest = client_a.get(reverse("coding-queue"), {"sort": "date"})
    assert [v.patient.last_name for v in oldest.context["page"].object_list] == ["Heldman", "Billwell", "Pendleton"]


def test_queue_answers_htmx_with_the_table_fragment(client_a, queue_visits):
    response = client_a.get(reverse("coding-queue"), {"status": "held"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Heldman" in body and "<html" not in body and 'id="queue-table"' in body


def test_queue_clinic_filter_and_switcher_for_a_biller_of_two_clinics(client, make_user, clinic_a, clinic_b,
                                                                      queue_visits):
    login(client, make_user("biller_ab", Role.BILLER, clinic_a, Role.BILLER, clinic_b))
    assert listed(client.get(reverse("coding-queue"))) == ["Billwell", "Birchwood", "Heldman", "Pendleton"]
    assert listed(client.get(reverse("coding-queue"), {"clinic": clinic_b.public_id})) == ["Birchwood"]
    session = client.session
    session[SESSION_KEY] = str(clinic_b.public_id)
    session.save()
    assert listed(client.get(reverse("coding-queue"))) == ["Birchwood"]
    assert listed(client.get(reverse("coding-queue"), {"clinic": ""})) == ["Billwell", "Birchwood", "Heldman",
                                                                            "Pendleton"]


def test_queue_clinic_choices_are_the_users_work_claims_clinics(client_a, clinic_b, queue_visits):
    response = client_a.get(reverse("coding-queue"), {"clinic": clinic_b.public_id})
    assert "Select a valid choice" in response.content.decode()
    assert "Birchwood" not in response.content.decode()


def test_queue_refuses_users_without_work_claims(client, make_user, clinic_a, user_no_grant, queue_visits):
    login(client, make_user("staff_a", Role.CLINIC_STAFF, clinic_a))
    assert client.get(reverse("coding-queue")).status_code == 403
    login(client, make_user("owner_a", Role.CLINIC_OWNER, clinic_a))
    assert client.get(reverse("coding-queue")).status_code == 403
    login(client, user_no_grant)
    assert client.get(reverse("coding-queue")).status_code == 403


def test_biller_of_clinic_b_sees_only_clinic_b_in_the_queue(client_b, queue_visits):
    response = client_b.get(reverse("coding-queue"))
    assert listed(response) == ["Birchwood"]
    assert "Heldman" not in response.content.decode()


# --- visit coding page --------------------------------------------------------------------------------------------


def test_visit_coding_page_shows_status_units_modifiers_reasons_and_findings(client_a, visit_a, finding_a):
    response = client_a.get(reverse("visit-coding", args=[visit_a.public_id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Held: 1 blocking finding" in body
    assert "Payer requires the OT discipline modifier on every therapy line." in body
    assert "CMS total-time (8-minute rule)" in body
    assert "Total timed minutes 45 → 3 unit(s) by the 8-minute rule." in body
    assert finding_a.message in body
    assert reverse("finding-fix", args=[finding_a.public_id]) in body
    assert reverse("finding-override", args=[finding_a.public_id]) in body
    assert "Fix: Mark as its own time block" in body
    lines = {line.service_line.cpt: line for line in response.context["lines"]}
    assert (lines["97530"].units, lines["97535"].units) == (2, 1)
    assert lines["97530"].modifier_list[0][0] == "GO"


def test_visit_coding_page_records_the_phi_access(client_a, user_a, visit_a):
    client_a.get(reverse("visit-coding", args=[visit_a.public_id]))
    entry = AccessLogEntry.objects.get(action=AccessAction.VIEW, object_id=str(visit_a.public_id))
    assert entry.user == user_a and entry.object_type == "visit"


def test_a_visit_not_yet_coded_is_coded_on_first_view(client_a, clinic_a, medicare, code_sets):
    visit = clean_medicare_visit(clinic_a, medicare, lines=[{"cpt": "97530", "minutes": 30}])
    assert not VisitCoding.objects.filter(visit=visit).exists()
    response = client_a.get(reverse("visit-coding", args=[visit.public_id]))
    assert response.status_code == 200
    assert VisitCoding.objects.get(visit=visit).status == CodingStatus.BILLABLE
    assert CodedLine.objects.get(coding__visit=visit).units == 2
    assert "Billable" in response.content.decode()


@pytest.mark.parametrize("who", ["biller of B", "no grant", "clinic staff of A", "clinic owner of A"])
def test_visit_coding_page_is_404_for_users_without_work_claims_on_the_clinic(client, make_user, user_b,
                                                                             user_no_grant, clinic_a, visit_a,
                                                                             who):
    users = {"biller of B": lambda: user_b, "no grant": lambda: user_no_grant,
             "clinic staff of A": lambda: make_user("staff_a", Role.CLINIC_STAFF, clinic_a),
             "clinic owner of A": lambda: make_user("owner_a", Role.CLINIC_OWNER, clinic_a)}
    login(client, users[who]())
    assert client.get(reverse("visit-coding", args=[visit_a.public_id])).status_code == 404


def test_fix_applies_the_one_click_fix_and_the_visit_becomes_billable(client_a, visit_a, finding_a):
    response = client_a.post(reverse("finding-fix", args=[finding_a.public_id]))
    assert response.status_code == 302
    assert response["Location"] == reverse("visit-coding", args=[visit_a.public_id])
    line = visit_a.lines.get(cpt="97535")
    assert line.distinct_time_block is True
    assert not Finding.objects.filter(visit=visit_a, rule_id=TEST_RULE).exists()
    assert VisitCoding.objects.get(visit=visit_a).status == CodingStatus.BILLABLE
    page = client_a.get(response["Location"]).content.decode()
    assert "Mark as its own time block. The visit is now billable." in page
    assert "Held:" not in page


def test_fix_of_another_clinics_finding_is_404_and_changes_nothing(client_b, visit_a, finding_a):
    assert client_b.post(reverse("finding-fix", args=[finding_a.public_id])).status_code == 404
    assert visit_a.lines.get(cpt="97535").distinct_time_block is False
    assert Finding.objects.filter(pk=finding_a.pk).exists()


def test_fix_refused_by_the_service_is_shown_as_a_message(client_a, visit_a):
    broken = Finding.objects.create(clinic=visit_a.clinic, visit=visit_a, service_line=visit_a.lines.first(),
                                    rule_id="BROKEN", severity=Severity.WARNING, message="Broken fix.",
                                    fix_code="no_such_fix")
    response = client_a.post(reverse("finding-fix", args=[broken.public_id]), follow=True)
    assert "Unknown fix &#x27;no_such_fix&#x27;." in response.content.decode()


def test_override_with_a_reason_accepts_the_finding(client_a, user_a, visit_a, finding_a):
    reason = "Documented as a separate block in the note addendum."
    response = client_a.post(reverse("finding-override", args=[finding_a.public_id]), {"reason": reason})
    assert response.status_code == 302
    finding = Finding.objects.get(visit=visit_a, rule_id=TEST_RULE)
    assert (finding.overridden_by, finding.override_reason) == (user_a, reason)
    assert VisitCoding.objects.get(visit=visit_a).status == CodingStatus.BILLABLE
    page = client_a.get(response["Location"]).content.decode()
    assert reason in page and "Overridden" in page


def test_override_without_a_reason_shows_the_error_and_changes_nothing(client_a, visit_a, finding_a):
    response = client_a.post(reverse("finding-override", args=[finding_a.public_id]), {"reason": "  "})
    assert response.status_code == 200
    assert "Give the reason for overriding this finding." in response.content.decode()
    finding_a.refresh_from_db()
    assert finding_a.overridden_by is None and finding_a.override_reason == ""
    assert VisitCoding.objects.get(visit=visit_a).status == CodingStatus.HELD


def test_override_with_too_short_a_reason_shows_the_services_message(client_a, visit_a, finding_a):
    response = client_a.post(reverse("finding-override", args=[finding_a.public_id]), {"reason": "ok"})
    assert "Give a reason of at least a few words for the override." in response.content.decode()
    finding_a.refresh_from_db()
    assert finding_a.overridden_by is None


def test_override_of_another_clinics_finding_is_404_and_changes_nothing(client_b, visit_a, finding_a):
    response = client_b.post(reverse("finding-override", args=[finding_a.public_id]),
                             {"reason": "Trying to override another clinic's finding."})
    assert response.status_code == 404
    finding_a.refresh_from_db()
    assert finding_a.overridden_by is None


def test_rescrub_codes_the_visit_again(client_a, visit_a):
    coding = VisitCoding.objects.get(visit=visit_a)
    before = coding.scrubbed_at
    line = visit_a.lines.get(cpt="97535")
    line.distinct_time_block = True  # e.g. corrected elsewhere; the stored coding is stale until re-scrubbed
    line.save()
    response = client_a.post(reverse("visit-rescrub", args=[visit_a.public_id]), follow=True)
    coding.refresh_from_db()
    assert coding.scrubbed_at > before
    assert coding.status == CodingStatus.BILLABLE
    assert "Re-scrubbed: billable." in response.content.decode()


def test_rescrub_of_another_clinics_visit_is_404(client_b, visit_a):
    before = VisitCoding.objects.get(visit=visit_a).scrubbed_at
    assert client_b.post(reverse("visit-rescrub", args=[visit_a.public_id])).status_code == 404
    assert VisitCoding.objects.get(visit=visit_a).scrubbed_at == before


def test_post_only_routes_refuse_get(client_a, visit_a, finding_a):
    assert client_a.get(reverse("finding-fix", args=[finding_a.public_id])).status_code == 405
    assert client_a.get(reverse("finding-override", args=[finding_a.public_id])).status_code == 405
    assert client_a.get(reverse("visit-rescrub", args=[visit_a.public_id])).status_code == 405


def test_calculator_says_how_to_load_missing_code_sets(client_a):
    from coding.models import ProcedureCode

    ProcedureCode.objects.all().delete()  # rolled back with the test
    response = client_a.post(reverse("units-calculator"), calc_post("cms", ("97110", "33")))
    assert "Code sets not loaded: run python manage.py load_code_sets" in response.content.decode()
    assert response.context["calculation"] is None
