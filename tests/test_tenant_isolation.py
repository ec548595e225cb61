"""The cross-clinic matrix: every URL pattern and API route × every role × own clinic / other clinic / no grant.

Routes are discovered from the URL resolver, so a new route is covered the moment it exists. For a route with
object ids, the test finds the clinic-A object that opens it for clinic A's operator admin; if none does, the
route is reported as uncovered (add its object to `clinic_a_world`). Everyone without a grant on clinic A must
then get 404 for it (GET and POST). For a route without ids, clinic A's marker text must not appear in the
response of anyone without a grant on clinic A.
"""

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from claims.models import BatchStatus, Claim, ClaimBatch, ClaimLine, ClaimStatus, LedgerEntry
from clinics.services import access_log_record, api_token_create, role_grant  # noqa: F401
from coding.services import visit_code
from denials.models import Appeal, BankDeposit, Denial, EraFile, EraPayment, Underpayment, UnmatchedRemittance
from eligibility.models import InquiryBatch, PriorAuthorization
from otbilling.tenancy import Role
from reporting.models import MonthlyReport
from tests import factories
from visits.models import ProgressReport, VisitImportJob

MARKER = "Zebulonquist"  # clinic A's patient surname: must never reach anyone without a grant on clinic A

# Routes that hold no clinic data, with the reason.
PUBLIC = {
    "login": "log-in form",
    "logout": "log-out",
    "healthz": "health check, no data",
    "api-schema": "OpenAPI schema: structure only",
    "api-docs": "Swagger UI: structure only",
    "api:api-root": "router index: links only",
    "api:payer-list": "payers: global reference data",
    "api:payer-detail": "payers: global reference data",
}
# Django admin requires is_staff and registers no PHI models (clinics/admin.py); its own tests cover it.
EXCLUDED_PREFIXES = ("admin:",)
ID_KWARGS = {"public_id", "pk", "id", "uuid"}
# Route kwargs that name a kind of page, not an object (the dashboards' CSV tables).
SAMPLE_KWARGS = {"table": "open_items"}


def _walk(resolver, prefix="", route=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _walk(entry, namespace, route + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield (f"{prefix}{entry.name}" if entry.name else None), entry, route + str(entry.pattern)


def discovered_routes():
    """name -> set of URL kwargs, for every named route that may hold clinic data."""
    routes = {}
    for name, pattern, full in _walk(get_resolver()):
        if full.startswith("admin/") or (name and name.startswith(EXCLUDED_PREFIXES)):
            continue
        assert name, f"every route needs a name: {full}"
        if name in PUBLIC or "format" in pattern.pattern.regex.groupindex:
            continue
        routes.setdefault(name, set(pattern.pattern.regex.groupindex))
    return routes


@pytest.fixture
def clinic_a_world(clinic_a, clinic_b, payer, make_user, code_sets):
    """One of every clinic-owned object in clinic A, and users holding each role on A or on B."""
    admin_a = make_user("admin_a", Role.OPERATOR_ADMIN, clinic_a, staff=False)
    patient = factories.PatientFactory(clinic=clinic_a, last_name=MARKER, mrn="A-SECRET-1")
    coverage = factories.CoverageFactory(patient=patient, payer=payer)
    provider = factories.ProviderFactory(clinic=clinic_a, last_name=MARKER + "OT")
    referrer = factories.ReferringProviderFactory(clinic=clinic_a, last_name=MARKER + "MD")
    plan = factories.PlanOfCareFactory(patient=patient, goals=f"{MARKER} goals")
    visit = factories.VisitFactory(patient=patient, coverage=coverage, rendering_provider=provider,
                                   referring_provider=referrer, plan_of_care=plan,
                                   date_of_service=datetime.date(2026, 10, 5), note_text=f"{MARKER} note")
    factories.ServiceLineFactory(visit=visit, position=1, cpt="97530", minutes=30, manual_modifiers=["GP"])
    visit_code(visit=visit)
    report = ProgressReport.objects.create(clinic=clinic_a, patient=patient, plan_of_care=plan,
                                           report_date=datetime.date(2026, 10, 5), author=provider,
                                           summary=f"{MARKER} progress")
    job = VisitImportJob.objects.create(clinic=clinic_a, file_name=f"{MARKER}.csv", sha256="0" * 64,
                                        content=f"{MARKER}\n", uploaded_by=admin_a)
    token, _raw = api_token_create(clinic=clinic_a, name=f"{MARKER} EHR", acting_user=admin_a)
    auth = PriorAuthorization.objects.create(clinic=clinic_a, coverage=coverage, number=f"{MARKER}-PA",
                                             start_date=datetime.date(2026, 10, 1),
                                             end_date=datetime.date(2026, 12, 31), visits_authorized=12)
    inquiry_batch = InquiryBatch.objects.create(clinic=clinic_a, for_date=datetime.date(2026, 10, 6),
                                                file_name=f"{MARKER}.270", content=f"ISA*{MARKER}~", sha256="1" * 64,
                                                interchange_control_number=1)
    batch = ClaimBatch.objects.create(clinic=clinic_a, payer=payer, status=BatchStatus.RELEASED,
                                      file_name=f"{MARKER}.txt", content=f"ISA*{MARKER}~", sha256="c" * 64)
    claim = Claim.objects.create(
        clinic=clinic_a, patient=patient, coverage=coverage, payer=payer, rendering_provider=provider,
        patient_control_number="CMATRIXA0001", status=ClaimStatus.SUBMITTED, place_of_service="11",
        service_date_from=visit.date_of_service, service_date_to=visit.date_of_service,
        diagnoses=list(visit.diagnoses), total_charge=Decimal("100.00"), batch=batch,
        signed_at=visit.signed_at, submitted_at=visit.signed_at)
    era_file = EraFile.objects.create(clinic=clinic_a, file_name=f"{MARKER}.835", sha256="e" * 64,
                                      content=f"ISA*{MARKER}~", status="posted")
    era_payment = EraPayment.objects.create(clinic=clinic_a, era_file=era_file, payer_identifier="ACME1",
                                            payee_identifier="1234567893", trace_number=f"{MARKER}-TRN",
                                            amount=Decimal("100.00"))
    claim_line = ClaimLine.objects.create(clinic=clinic_a, claim=claim, position=1, visit=visit,
                                          date_of_service=visit.date_of_service, cpt="97530", units=1,
                                          charge=Decimal("100.00"), line_control_number="CMATRIXA0001L01")
    LedgerEntry.objects.create(clinic=clinic_a, claim=claim, claim_line=claim_line, kind="charge", party="payer",
                               amount=Decimal("100.00"), source="build")
    denial = Denial.objects.create(clinic=clinic_a, claim=claim, claim_line=claim_line, payment=era_payment,
                                   group_code="CO", carc="197", category="authorization", reason=f"{MARKER} denial",
                                   recommended_action="Appeal", amount=Decimal("100.00"),
                                   appeal_deadline=datetime.date(2099, 1, 1))
    appeal = Appeal.objects.create(clinic=clinic_a, denial=denial, claim=claim, argument=f"{MARKER} argument",
                                   letter_pdf=b"%PDF-1.7 matrix", letter_sha256="f" * 64)
    underpayment = Underpayment.objects.create(clinic=clinic_a, claim=claim, claim_line=claim_line,
                                               payment=era_payment, expected=Decimal("35.00"),
                                               allowed=Decimal("30.00"), paid=Decimal("30.00"))
    unmatched = UnmatchedRemittance.objects.create(
        clinic=clinic_a, payment=era_payment, patient_control_number="CNOTOURS0001",
        description=f"{MARKER} unmatched", data={"paid": "100.00", "lines": []})
    BankDeposit.objects.create(clinic=clinic_a, deposit_date=datetime.date(2026, 10, 6), amount=Decimal("5.00"),
                               trace_number=f"{MARKER}-DEP")
    monthly = MonthlyReport.objects.create(clinic=clinic_a, month=datetime.date(2026, 10, 1), pdf=b"%PDF-1.7 matrix")
    objects = [patient, coverage, provider, referrer, plan, visit, report, job, token, auth, inquiry_batch, claim,
               batch, era_file, unmatched, denial, appeal, underpayment, *visit.findings.all(), clinic_a, monthly]
    outsiders = {"no grant": make_user("outsider_none")}
    insiders = {}
    for role in Role:
        outsiders[f"{role.label} of B"] = make_user(f"b_{role.value}", role, clinic_b)
        insiders[f"{role.label} of A"] = make_user(f"a_{role.value}", role, clinic_a)
    return {"admin_a": admin_a, "objects": objects, "outsiders": outsiders, "insiders": insiders}


def _client(user):
    client = Client(HTTP_USER_AGENT="matrix")
    client.force_login(user)
    return client


def _url_for(name, kwargs_names, obj):
    value = getattr(obj, "public_id", None)
    if value is None:
        return None
    return reverse(name, kwargs={k: value for k in kwargs_names})


def _object_url(admin_client, name, kwargs_names, objects):
    """The URL of the clinic-A object that this route opens for clinic A's operator admin."""
    for obj in objects:
        url = _url_for(name, kwargs_names, obj)
        if url is None:
            continue
        status = admin_client.get(url).status_code
        if status in (200, 302, 405):
            return url
    return None


def test_every_route_is_covered_and_clinic_a_data_stays_in_clinic_a(clinic_a_world):
    world = clinic_a_world
    admin = _client(world["admin_a"])
    outsiders = {label: _client(user) for label, user in world["outsiders"].items()}
    insiders = {label: _client(user) for label, user in world["insiders"].items()}
    uncovered, leaks, crashes = [], [], []
    routes = discovered_routes()
    assert len(routes) > 10
    for name, kwargs_names in sorted(routes.items()):
        id_kwargs = kwargs_names & ID_KWARGS
        if kwargs_names - ID_KWARGS - SAMPLE_KWARGS.keys():
            uncovered.append(f"{name}: kwargs {sorted(kwargs_names)} unknown to the matrix")
            continue
        if id_kwargs:
            url = _object_url(admin, name, id_kwargs, world["objects"])
            if url is None:
                uncovered.append(f"{name}: no clinic-A object opens it")
                continue
            for label, client in outsiders.items():
                for method in ("get", "post"):
                    status = getattr(client, method)(url).status_code
                    if status not in (404, 405):
                        leaks.append(f"{label} {method.upper()} {url} → {status}")
        else:
            url = reverse(name, kwargs={key: SAMPLE_KWARGS[key] for key in kwargs_names})
            for label, client in outsiders.items():
                response = client.get(url)
                if response.status_code >= 500:
                    crashes.append(f"{label} GET {url} → {response.status_code}")
                elif MARKER.encode() in response.content:
                    leaks.append(f"{label} GET {url} shows clinic A's data")
        for label, client in insiders.items():
            status = client.get(url).status_code
            if status >= 500:
                crashes.append(f"{label} GET {url} → {status}")
    assert not uncovered, "routes missing from the cross-clinic matrix:\n" + "\n".join(uncovered)
    assert not crashes, "\n".join(crashes)
    assert not leaks, "clinic A's data reached users without a grant on clinic A:\n" + "\n".join(leaks)


def test_own_clinic_users_see_their_patient_and_outsiders_do_not(clinic_a_world):
    url = reverse("api:patient-list") if "api:patient-list" in discovered_routes() else None
    if url is None:
        pytest.fail("api:patient-list route is missing")
    for label, user in clinic_a_world["insiders"].items():
        assert MARKER in _client(user).get(url).content.decode(), label
    for label, user in clinic_a_world["outsiders"].items():
        assert MARKER not in _client(user).get(url).content.decode(), label


def test_anonymous_visitors_get_no_clinic_data(clinic_a_world):
    client = Client()
    for name, kwargs_names in discovered_routes().items():
        if kwargs_names:
            continue
        response = client.get(reverse(name))
        assert response.status_code in (302, 401, 403, 404, 405), (name, response.status_code)
        assert MARKER.encode() not in response.content
