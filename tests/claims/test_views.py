"""Biller screens of claims: the worklist (filters, keyset pages, CSV, bulk submit and assign), the claim page with
its history and actions, batches and their download, the rejection and timeliness worklists and the ack upload.
Clinic A's claims reach clinic A's biller only; a clinic B biller gets 404 on every clinic-A object."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from claims import views
from claims.lifecycle import claim_created_event, claim_transition
from claims.models import AckFile, AckKind, BatchStatus, Claim, ClaimBatch, ClaimEvent, ClaimLine, ClaimStatus
from claims.services import claims_build, new_line_control_number, new_patient_control_number
from clinics.models import AccessAction, AccessLogEntry
from coding.services import visit_code
from otbilling.tenancy import Role
from tests import factories
from tests.coding.test_views import clean_medicare_visit, make_medicare

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.claims.urls_for_views")]

TODAY = timezone.localdate()


# --- helpers ------------------------------------------------------------------------------------------------------


class Scene:
    """One clinic's patient-independent pieces (a therapist), so many claims can share them."""

    def __init__(self, clinic, payer):
        self.clinic, self.payer = clinic, payer
        self.provider = factories.ProviderFactory(clinic=clinic)

    def claim(self, *, status=ClaimStatus.READY, charge="100.00", age_days=10, last_name="Example", first_name=None,
              payer=None, assignee=None, lines=1, **extra) -> Claim:
        """A claim with `lines` lines of 97110, its creation event, and a status reached without the lifecycle."""
        payer = payer or self.payer
        patient = factories.PatientFactory(clinic=self.clinic, last_name=last_name,
                                           **({"first_name": first_name} if first_name else {}))
        coverage = factories.CoverageFactory(patient=patient, payer=payer)
        dos = TODAY - datetime.timedelta(days=age_days)
        sent = status not in (ClaimStatus.DRAFT, ClaimStatus.READY, ClaimStatus.BATCHED)
        claim = Claim.objects.create(
            clinic=self.clinic, patient=patient, coverage=coverage, payer=payer, rendering_provider=self.provider,
            patient_control_number=new_patient_control_number(), status=status, place_of_service="11",
            service_date_from=dos, service_date_to=dos, diagnoses=["M62.81", "R26.89"], total_charge=Decimal(charge),
            assignee=assignee, submitted_at=timezone.now() - datetime.timedelta(days=1) if sent else None, **extra)
        if lines:
            visit = factories.VisitFactory(patient=patient, coverage=coverage, rendering_provider=self.provider,
                                           date_of_service=dos)
            share = (Decimal(charge) / lines).quantize(Decimal("0.01"))
            for position in range(1, lines + 1):
                ClaimLine.objects.create(
                    clinic=self.clinic, claim=claim, position=position, visit=visit, date_of_service=dos,
                    cpt="97110", modifiers=["GO"], units=2, charge=share, expected_allowed=Decimal("30.00"),
                    diagnosis_pointers=[1, 2], line_control_number=new_line_control_number(claim, position))
        claim_created_event(claim=claim, reason="made by the test")
        return claim


def submittable_claims(clinic, count, *, names=("Ashgrove", "Birchall")) -> list[Claim]:
    """Ready claims built the real way from clean, coded Medicare visits (so an 837P of them validates)."""
    clinic.contact_name, clinic.contact_phone = "Billing Office", "5035550100"  # the 837P submitter loop needs them
    clinic.save(update_fields=["contact_name", "contact_phone"])
    medicare = make_medicare()
    for number in range(count):
        visit = clean_medicare_visit(clinic, medicare, last_name=names[number % len(names)],
                                     lines=[{"cpt": "97530", "minutes": 30}])
        visit_code(visit=visit)
    return claims_build(clinic=clinic).claims


def login(client, user):
    client.force_login(user)
    return client


def pcns(response) -> list[str]:
    return [claim.patient_control_number for claim in response.context["rows"]]


@pytest.fixture
def scene_a(clinic_a, payer):
    return Scene(clinic_a, payer)


@pytest.fixture
def scene_b(clinic_b, payer):
    return Scene(clinic_b, payer)


@pytest.fixture
def client_b(client, user_b):
    return login(client, user_b)


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 7)


# --- worklist -----------------------------------------------------------------------------------------------------


def test_worklist_shows_clinic_a_claims_to_clinic_a_and_not_to_clinic_b(client, user_a, user_b, scene_a, scene_b):
    claim_a = scene_a.claim(last_name="Applewood")
    claim_b = scene_b.claim(last_name="Birchwood")
    body_a = login(client, user_a).get(reverse("claim-list")).content.decode()
    body_b = login(client, user_b).get(reverse("claim-list")).content.decode()
    assert claim_a.patient_control_number in body_a and "Applewood" in body_a
    assert claim_b.patient_control_number not in body_a and "Birchwood" not in body_a
    assert claim_b.patient_control_number in body_b
    assert claim_a.patient_control_number not in body_b and "Applewood" not in body_b


def test_worklist_refuses_a_user_with_no_grant_and_logs_the_listing(client, user_no_grant, client_a, scene_a):
    scene_a.claim()
    client_a.get(reverse("claim-list"))
    entry = AccessLogEntry.objects.get(action=AccessAction.LIST, object_type="claim")
    assert entry.object_label == "claims worklist: 1 shown"
    client.force_login(user_no_grant)
    assert client.get(reverse("claim-list")).status_code == 403


def test_status_filter_keeps_only_claims_in_that_status(client_a, scene_a):
    ready = scene_a.claim(status=ClaimStatus.READY)
    scene_a.claim(status=ClaimStatus.SUBMITTED)
    scene_a.claim(status=ClaimStatus.DENIED)
    assert pcns(client_a.get(reverse("claim-list"), {"status": "ready"})) == [ready.patient_control_number]


def test_payer_filter_keeps_only_that_payers_claims(client_a, scene_a):
    other = factories.PayerFactory(name="Other Mutual", payer_id="OTHER1")
    scene_a.claim()
    theirs = scene_a.claim(payer=other)
    response = client_a.get(reverse("claim-list"), {"payer": str(other.public_id)})
    assert pcns(response) == [theirs.patient_control_number]


def test_amount_range_keeps_claims_between_the_bounds_inclusive(client_a, scene_a):
    scene_a.claim(charge="49.99")
    low = scene_a.claim(charge="50.00")
    high = scene_a.claim(charge="120.00")
    scene_a.claim(charge="120.01")
    response = client_a.get(reverse("claim-list"), {"amount_min": "50", "amount_max": "120", "sort": "amount"})
    assert pcns(response) == [low.patient_control_number, high.patient_control_number]


@pytest.mark.parametrize(("bucket", "ages_in"), [
    ("0-30", [0, 30]), ("31-60", [31, 60]), ("61-90", [61, 90]), ("91-120", [91, 120]), ("120+", [121, 400]),
])
def test_age_bucket_keeps_claims_whose_first_service_date_is_that_many_days_old(client_a, scene_a, bucket, ages_in):
    by_age = {age: scene_a.claim(age_days=age) for age in (0, 30, 31, 60, 61, 90, 91, 120, 121, 400)}
    response = client_a.get(reverse("claim-list"), {"age": bucket, "sort": "age"})
    assert pcns(response) == [by_age[age].patient_control_number for age in ages_in]
    assert [claim.age_days for claim in response.context["rows"]] == ages_in


def test_assignee_filter_tells_mine_from_unassigned(client_a, user_a, scene_a):
    mine = scene_a.claim(assignee=user_a)
    nobodys = scene_a.claim()
    assert pcns(client_a.get(reverse("claim-list"), {"assignee": "me"})) == [mine.patient_control_number]
    assert pcns(client_a.get(reverse("claim-list"), {"assignee": "none"})) == [nobodys.patient_control_number]


def test_a_bad_filter_is_named_and_not_applied(client_a, scene_a):
    scene_a.claim()
    response = client_a.get(reverse("claim-list"), {"amount_min": "100", "amount_max": "10"})
    assert response.status_code == 200
    assert "The upper amount is below the lower amount." in response.content.decode()
    assert len(response.context["rows"]) == 1


def test_htmx_request_gets_only_the_table_fragment(client_a, scene_a):
    claim = scene_a.claim()
    body = client_a.get(reverse("claim-list"), HTTP_HX_REQUEST="true").content.decode()
    assert claim.patient_control_number in body
    assert "<html" not in body and 'id="claim-table"' in body


def walk_pages(client, params) -> tuple[list[str], int]:
    """Follow the Next links from the first page; returns every claim number seen and the number of pages."""
    seen, pages, after = [], 0, None
    while True:
        response = client.get(reverse("claim-list"), {**params, **({"after": after} if after else {})})
        pages += 1
        seen += pcns(response)
        after = response.context["next_cursor"]
        if after is None:
            return seen, pages
        assert 'id="claim-next"' in response.content.decode()


@pytest.mark.parametrize("sort", ["-age", "age", "amount", "-amount", "patient", "-patient", "status", "payer"])
def test_keyset_pages_cover_every_claim_once_in_order(client_a, scene_a, small_pages, sort):
    # Ties on every sort key (3 amounts, 5 dates, 4 names, 2 statuses) prove the pk tiebreak: no gap, no overlap.
    for number in range(30):
        scene_a.claim(charge=("40.00", "75.50", "120.00")[number % 3], age_days=5 + (number % 5) * 20,
                      last_name=("Ames", "Boyd", "Cruz", "Diaz")[number % 4],
                      status=(ClaimStatus.READY, ClaimStatus.SUBMITTED)[number % 2])
    seen, pages = walk_pages(client_a, {"sort": sort})
    assert pages == 5  # 7 + 7 + 7 + 7 + 2
    assert len(seen) == 30 and len(set(seen)) == 30
    key = {"age": "service_date_from", "amount": "total_charge", "patient": "patient__last_name",
           "status": "status", "payer": "payer__name"}[sort.lstrip("-")]
    values = dict(Claim.objects.values_list("patient_control_number", key))
    keys = [values[number] for number in seen]
    # Age ascending means the youngest claims first, i.e. the latest service dates.
    descending = sort.startswith("-") != (sort.lstrip("-") == "age")
    assert keys == sorted(keys, reverse=descending)


def test_a_tampered_cursor_starts_again_at_the_first_page(client_a, scene_a, small_pages):
    for _ in range(9):
        scene_a.claim()
    first = pcns(client_a.get(reverse("claim-list")))
    assert pcns(client_a.get(reverse("claim-list"), {"after": "not-a-cursor"})) == first


def test_an_edited_signed_cursor_answers_the_first_page_not_an_error(client_a, scene_a, small_pages):
    for _ in range(9):
        scene_a.claim()
    first = client_a.get(reverse("claim-list"))
    cursor = first.context["next_cursor"]
    edited = cursor[:-3] + ("xyz" if not cursor.endswith("xyz") else "abc")
    response = client_a.get(reverse("claim-list"), {"after": edited})
    assert response.status_code == 200 and response.context["paged"] is False
    assert pcns(response) == pcns(first)


def test_csv_holds_exactly_the_rows_on_screen(client_a, scene_a, small_pages):
    for number in range(10):
        scene_a.claim(charge=f"{50 + number}.25", last_name="Csvson")
    params = {"sort": "amount", "amount_min": "51"}
    first = client_a.get(reverse("claim-list"), params)
    second = client_a.get(reverse("claim-list"), {**params, "after": first.context["next_cursor"]})
    for screen, query in ((first, params), (second, {**params, "after": first.context["next_cursor"]})):
        response = client_a.get(reverse("claim-list-csv"), query)
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0][0] == "Claim"
        assert [row[0] for row in rows[1:]] == pcns(screen)
        assert [row[10] for row in rows[1:]] == [f"{c.total_charge:.2f}" for c in screen.context["rows"]]
    assert len(pcns(first)) == 7 and len(pcns(second)) == 2
    assert AccessLogEntry.objects.filter(action=AccessAction.EXPORT, object_type="claim").count() == 2


def test_csv_of_clinic_b_user_holds_no_clinic_a_claim(client_b, scene_a):
    claim = scene_a.claim()
    body = client_b.get(reverse("claim-list-csv")).content.decode()
    assert claim.patient_control_number not in body
    assert body.splitlines()[1:] == []


# --- bulk actions -------------------------------------------------------------------------------------------------


def test_bulk_submit_of_two_ready_claims_makes_one_batch_holding_both(client_a, clinic_a, code_sets,
                                                                       django_capture_on_commit_callbacks):
    first, second = submittable_claims(clinic_a, 2)
    with django_capture_on_commit_callbacks(execute=True):  # the batch is generated once the request commits
        response = client_a.post(reverse("claim-bulk"), {
            "action": "submit", "claims": [str(first.public_id), str(second.public_id)]})
    assert response.status_code == 302 and response["Location"] == reverse("batch-list")
    batch = ClaimBatch.objects.get()
    assert batch.clinic == clinic_a and batch.claim_count == 2
    assert batch.total_charge == first.total_charge + second.total_charge
    for claim in (first, second):
        claim.refresh_from_db()
        assert claim.batch == batch
        assert claim.status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED)
        assert f"CLM*{claim.patient_control_number}*" in batch.content
    page = client_a.get(reverse("batch-list")).content.decode()
    assert batch.file_name in page and "2 claims put in 1 batch" in page


def test_bulk_submit_leaves_out_claims_that_are_not_ready(client_a, scene_a):
    submitted = scene_a.claim(status=ClaimStatus.SUBMITTED)
    response = client_a.post(reverse("claim-bulk"), {"action": "submit", "claims": [str(submitted.public_id)]},
                             follow=True)
    assert "None of the selected claims is ready to batch." in response.content.decode()
    assert not ClaimBatch.objects.exists()


def test_bulk_assign_to_me_then_unassign(client_a, user_a, scene_a):
    claims = [scene_a.claim(), scene_a.claim()]
    ids = [str(claim.public_id) for claim in claims]
    client_a.post(reverse("claim-bulk"), {"action": "assign_me", "claims": ids})
    assert set(Claim.objects.values_list("assignee", flat=True)) == {user_a.pk}
    client_a.post(reverse("claim-bulk"), {"action": "unassign", "claims": ids})
    assert set(Claim.objects.values_list("assignee", flat=True)) == {None}


def test_bulk_action_ignores_another_clinics_claims(client_b, scene_a):
    claim = scene_a.claim()
    client_b.post(reverse("claim-bulk"), {"action": "assign_me", "claims": [str(claim.public_id)]})
    claim.refresh_from_db()
    assert claim.assignee is None


# --- claim page ---------------------------------------------------------------------------------------------------


def test_claim_page_shows_header_lines_and_every_history_row(client_a, user_a, scene_a):
    claim = scene_a.claim(status=ClaimStatus.READY, lines=2, charge="150.00",
                          signed_at=timezone.now() - datetime.timedelta(hours=40))
    claim_transition(claim=claim, to_status=ClaimStatus.BATCHED, acting_user=user_a, reason="into batch X")
    claim_transition(claim=claim, to_status=ClaimStatus.SUBMITTED, acting_user=None, reason="released to outbox")
    response = client_a.get(reverse("claim-detail", kwargs={"public_id": claim.public_id}))
    body = response.content.decode()
    assert response.status_code == 200
    history = response.context["events"]
    assert [(e.from_status, e.to_status, e.reason) for e in history] == [
        ("", "ready", "made by the test"), ("ready", "batched", "into batch X"),
        ("batched", "submitted", "released to outbox")]
    assert body.count('<tr data-to="') == 3
    assert "into batch X" in body and "released to outbox" in body and "biller_a" in body
    assert f"{claim.patient_control_number}L01" in body and f"{claim.patient_control_number}L02" in body
    assert "$75.00" in body and "M62.81" in body
    assert response.context["lag_hours"] == pytest.approx(40, abs=0.1)  # signed 40 h ago, submitted just now
    assert "40.0 hours from signature to submission" in body
    assert AccessLogEntry.objects.filter(action=AccessAction.VIEW, object_type="claim",
                                         object_id=str(claim.public_id)).exists()


def paid_claim(scene, **extra):
    return scene.claim(status=ClaimStatus.PAID, payer_claim_control_number="ICN-778899", **extra)


def test_correct_without_a_reason_shows_the_error_and_creates_nothing(client_a, scene_a):
    claim = paid_claim(scene_a)
    response = client_a.post(reverse("claim-correct", kwargs={"public_id": claim.public_id}),
                             {"frequency": "7", "reason": ""})
    assert response.status_code == 200
    assert "Say why the claim is corrected or voided." in response.content.decode()
    assert response.context["correct_form"].errors["reason"]
    assert Claim.objects.count() == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID


def test_correct_refused_by_the_service_shows_its_message_beside_the_form(client_a, scene_a):
    claim = scene_a.claim(status=ClaimStatus.PAID)  # no payer claim number yet
    response = client_a.post(reverse("claim-correct", kwargs={"public_id": claim.public_id}),
                             {"frequency": "8", "reason": "billed in error"})
    assert response.status_code == 200
    assert "has no payer claim control number" in response.content.decode()
    assert Claim.objects.count() == 1


def test_correct_with_a_reason_opens_the_replacement_which_names_the_original(client_a, scene_a):
    claim = paid_claim(scene_a)
    response = client_a.post(reverse("claim-correct", kwargs={"public_id": claim.public_id}),
                             {"frequency": "7", "reason": "wrong units on 97110"})
    replacement = Claim.objects.get(replaces=claim)
    assert response["Location"] == reverse("claim-detail", kwargs={"public_id": replacement.public_id})
    assert (replacement.frequency, replacement.status) == ("7", ClaimStatus.DRAFT)
    body = client_a.get(response["Location"]).content.decode()
    assert claim.patient_control_number in body and "ICN-778899" in body
    original = client_a.get(reverse("claim-detail", kwargs={"public_id": claim.public_id})).content.decode()
    assert replacement.patient_control_number in original and "Corrected by" in original


def test_line_of_a_draft_replacement_is_edited_and_the_total_follows(client_a, scene_a):
    claim = paid_claim(scene_a, lines=2, charge="100.00")
    client_a.post(reverse("claim-correct", kwargs={"public_id": claim.public_id}),
                  {"frequency": "7", "reason": "units"})
    draft = Claim.objects.get(replaces=claim)
    response = client_a.post(reverse("claim-line-edit", kwargs={"public_id": draft.public_id}),
                             {"position": "2", "units": "3", "modifiers": "go, 59", "charge": "75.00"})
    assert response.status_code == 302
    line = draft.lines.get(position=2)
    assert (line.units, line.modifiers, line.charge) == (3, ["GO", "59"], Decimal("75.00"))
    draft.refresh_from_db()
    assert draft.total_charge == Decimal("125.00")


def test_line_edit_with_bad_modifiers_shows_the_error_and_changes_nothing(client_a, scene_a):
    claim = paid_claim(scene_a)
    client_a.post(reverse("claim-correct", kwargs={"public_id": claim.public_id}),
                  {"frequency": "7", "reason": "units"})
    draft = Claim.objects.get(replaces=claim)
    response = client_a.post(reverse("claim-line-edit", kwargs={"public_id": draft.public_id}),
                             {"position": "1", "units": "3", "modifiers": "GOO", "charge": "75.00"})
    assert response.status_code == 200
    assert "is not a modifier" in response.content.decode()
    assert draft.lines.get(position=1).units == 2


def test_line_of_a_submitted_claim_cannot_be_edited(client_a, scene_a):
    claim = scene_a.claim(status=ClaimStatus.SUBMITTED)
    response = client_a.post(reverse("claim-line-edit", kwargs={"public_id": claim.public_id}),
                             {"position": "1", "units": "5", "modifiers": "", "charge": "10.00"})
    assert response.status_code == 200
    assert "Only the lines of a draft" in response.content.decode()
    assert claim.lines.get().units == 2


def test_mark_ready_moves_a_draft_replacement_to_ready(client_a, scene_a):
    claim = paid_claim(scene_a)
    client_a.post(reverse("claim-correct", kwargs={"public_id": claim.public_id}), {"frequency": "7", "reason": "x"})
    draft = Claim.objects.get(replaces=claim)
    client_a.post(reverse("claim-mark-ready", kwargs={"public_id": draft.public_id}))
    draft.refresh_from_db()
    assert draft.status == ClaimStatus.READY
    assert draft.events.last().to_status == ClaimStatus.READY


def test_assign_gives_the_claim_to_a_biller_of_its_clinic_only(client_a, make_user, clinic_a, scene_a, user_b):
    colleague = make_user("colleague_a", Role.BILLER, clinic_a)
    claim = scene_a.claim()
    url = reverse("claim-assign", kwargs={"public_id": claim.public_id})
    client_a.post(url, {"assignee": colleague.username})
    claim.refresh_from_db()
    assert claim.assignee == colleague
    response = client_a.post(url, {"assignee": user_b.username})
    assert response.status_code == 200 and response.context["assign_form"].errors
    claim.refresh_from_db()
    assert claim.assignee == colleague


def test_a_reader_who_may_not_work_claims_sees_no_actions_and_gets_404_on_them(client, make_user, clinic_a, scene_a):
    owner = make_user("owner_a", Role.CLINIC_OWNER, clinic_a)
    claim = paid_claim(scene_a)
    login(client, owner)
    response = client.get(reverse("claim-detail", kwargs={"public_id": claim.public_id}))
    assert response.status_code == 200
    assert 'id="correct-form"' not in response.content.decode()
    response = client.post(reverse("claim-correct", kwargs={"public_id": claim.public_id}),
                           {"frequency": "8", "reason": "x"})
    assert response.status_code == 404
    assert Claim.objects.count() == 1


# --- another clinic -----------------------------------------------------------------------------------------------


CLAIM_ACTIONS = ["claim-correct", "claim-mark-ready", "claim-line-edit", "claim-assign"]


def test_clinic_b_user_gets_404_on_clinic_a_claim_batch_download_and_every_action(client_b, clinic_a, scene_a):
    claim = paid_claim(scene_a)
    batch = ClaimBatch.objects.create(clinic=clinic_a, payer=claim.payer, status=BatchStatus.RELEASED,
                                      file_name="A.837", content="ISA*secret~", sha256="a" * 64)
    for name in ("claim-detail", "batch-detail", "batch-progress", "batch-download"):
        obj = claim if name.startswith("claim") else batch
        assert client_b.get(reverse(name, kwargs={"public_id": obj.public_id})).status_code == 404, name
    for name in CLAIM_ACTIONS:
        response = client_b.post(reverse(name, kwargs={"public_id": claim.public_id}),
                                 {"frequency": "8", "reason": "x", "position": "1", "units": "1", "charge": "1",
                                  "assignee": ""})
        assert response.status_code == 404, name
    assert Claim.objects.count() == 1
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID


# --- batches ------------------------------------------------------------------------------------------------------


def test_batch_download_returns_the_stored_bytes_and_is_logged_as_an_export(client_a, clinic_a, payer):
    content = "ISA*00*          *00*          *ZZ*SENDER~GS*HC~ST*837*0001~CLM*C123*100***11:B:1~SE*3*0001~"
    batch = ClaimBatch.objects.create(clinic=clinic_a, payer=payer, status=BatchStatus.RELEASED,
                                      file_name="837P-alder-0001.txt", content=content, sha256="b" * 64)
    response = client_a.get(reverse("batch-download", kwargs={"public_id": batch.public_id}))
    assert response.status_code == 200
    assert response.content == content.encode()
    assert response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"] == 'attachment; filename="837P-alder-0001.txt"'
    assert AccessLogEntry.objects.filter(action=AccessAction.EXPORT, object_type="claimbatch",
                                         object_id=str(batch.public_id)).exists()


def test_batch_page_polls_while_generating_and_stops_when_done(client_a, clinic_a, payer):
    batch = ClaimBatch.objects.create(clinic=clinic_a, payer=payer, status=BatchStatus.GENERATING,
                                      progress_done=3, progress_total=4)
    progress = reverse("batch-progress", kwargs={"public_id": batch.public_id})
    page = client_a.get(reverse("batch-detail", kwargs={"public_id": batch.public_id})).content.decode()
    assert f'hx-get="{progress}"' in page and 'hx-trigger="every 1s"' in page and "3 of 4 claims" in page
    batch.status = BatchStatus.HELD
    batch.errors = [{"segment": "NM1", "line": 12, "field": "NM109", "message": "Billing NPI fails its check digit"}]
    batch.save()
    fragment = client_a.get(progress).content.decode()
    assert "hx-trigger" not in fragment
    assert "Billing NPI fails its check digit" in fragment and "NM109" in fragment


def test_batch_list_shows_only_the_users_clinics(client_a, clinic_a, clinic_b, payer):
    ClaimBatch.objects.create(clinic=clinic_a, payer=payer, file_name="mine.837")
    ClaimBatch.objects.create(clinic=clinic_b, payer=payer, file_name="theirs.837")
    body = client_a.get(reverse("batch-list")).content.decode()
    assert "mine.837" in body and "theirs.837" not in body


# --- rejections and timeliness ------------------------------------------------------------------------------------


def rejected(scene, reason, **extra):
    claim = scene.claim(status=ClaimStatus.SUBMITTED, **extra)
    claim_transition(claim=claim, to_status=ClaimStatus.REJECTED, reason=reason)
    return claim


def test_rejection_worklist_lists_rejected_claims_with_the_reason_and_resends_one(client_a, scene_a, scene_b):
    first = rejected(scene_a, "277CA A7:164 member id invalid")
    second = rejected(scene_a, "999 R: segment NM1 invalid")
    scene_a.claim(status=ClaimStatus.SUBMITTED)
    rejected(scene_b, "not for A")
    response = client_a.get(reverse("claim-rejections"))
    body = response.content.decode()
    assert [c.patient_control_number for c in response.context["page"].object_list] == [
        first.patient_control_number, second.patient_control_number]
    assert "277CA A7:164 member id invalid" in body and "not for A" not in body
    back = reverse("claim-rejections")
    response = client_a.post(reverse("claim-mark-ready", kwargs={"public_id": first.public_id}), {"next": back})
    assert response["Location"] == back
    first.refresh_from_db()
    assert first.status == ClaimStatus.READY and first.batch is None
    remaining = client_a.get(back).context["page"].object_list
    assert [c.patient_control_number for c in remaining] == [second.patient_control_number]


def test_unsubmitted_worklist_lists_visits_signed_over_24_hours_ago_oldest_first(client_a, clinic_a, clinic_b,
                                                                               payer, scene_a):
    now = timezone.now()

    def signed_visit(clinic, hours, last_name):
        patient = factories.PatientFactory(clinic=clinic, last_name=last_name)
        coverage = factories.CoverageFactory(patient=patient, payer=payer)
        return factories.VisitFactory(patient=patient, coverage=coverage,
                                      signed_at=now - datetime.timedelta(hours=hours))

    late = signed_visit(clinic_a, 30, "Latecomer")
    later = signed_visit(clinic_a, 75, "Laggard")
    signed_visit(clinic_a, 5, "Freshly")
    signed_visit(clinic_b, 50, "Otherclinic")
    submitted = signed_visit(clinic_a, 60, "Submittedsen")
    claim = scene_a.claim(status=ClaimStatus.SUBMITTED, lines=0)
    ClaimLine.objects.create(clinic=clinic_a, claim=claim, position=1, visit=submitted,
                             date_of_service=submitted.date_of_service, cpt="97110", units=1, charge=Decimal("10"),
                             line_control_number=new_line_control_number(claim, 1), diagnosis_pointers=[1])
    response = client_a.get(reverse("claim-unsubmitted"))
    rows = list(response.context["page"].object_list)
    assert [visit.pk for visit in rows] == [later.pk, late.pk]
    assert [visit.hours_since_signature for visit in rows] == [75, 30]
    body = response.content.decode()
    assert "Freshly" not in body and "Otherclinic" not in body and "Submittedsen" not in body
    other = factories.PayerFactory(name="Other Mutual", payer_id="OTHER1")
    filtered = client_a.get(reverse("claim-unsubmitted"), {"payer": str(other.public_id)})
    assert list(filtered.context["page"].object_list) == []


# --- acknowledgments ----------------------------------------------------------------------------------------------


def test_ack_upload_of_a_non_x12_file_shows_the_problem_beside_the_field(client_a, scene_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("ack.txt", b"hello, this is not X12")
    response = client_a.post(reverse("ack-upload"), {"file": upload})
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert not AckFile.objects.exists()


def test_ack_page_lists_only_the_acknowledgments_of_the_users_clinics(client_a, clinic_a, clinic_b, user_b):
    AckFile.objects.create(clinic=clinic_a, kind=AckKind.IMPLEMENTATION, file_name="mine.999", sha256="1" * 64,
                           content="x")
    AckFile.objects.create(clinic=clinic_b, kind=AckKind.CLAIM, file_name="theirs.277", sha256="2" * 64, content="x")
    AckFile.objects.create(clinic=None, kind=AckKind.CLAIM, file_name="orphan.277", sha256="3" * 64, content="x",
                           imported_by=user_b)
    body = client_a.get(reverse("ack-upload")).content.decode()
    assert "mine.999" in body and "theirs.277" not in body and "orphan.277" not in body


def test_ack_upload_is_refused_to_a_reader_who_may_not_work_claims(client, make_user, clinic_a):
    login(client, make_user("staff_a", Role.CLINIC_STAFF, clinic_a))
    assert client.get(reverse("ack-upload")).status_code == 403


def test_ack_upload_of_a_277ca_rejects_the_named_claim(client_a, scene_a):
    from django.core.files.uploadedfile import SimpleUploadedFile

    claim = scene_a.claim(status=ClaimStatus.SUBMITTED)
    upload = SimpleUploadedFile("reject.277", x277ca(claim.patient_control_number).encode())
    response = client_a.post(reverse("ack-upload"), {"file": upload})
    assert response.status_code == 200, response.context["form"].errors
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED
    body = response.content.decode()
    assert claim.patient_control_number in body and 'id="ack-rejected">1<' in body
    assert ClaimEvent.objects.filter(claim=claim, to_status=ClaimStatus.REJECTED).exists()


def x277ca(pcn: str) -> str:
    """A minimal 277CA rejecting one claim (category A7, status 164: member id invalid)."""
    segments = [
        "ISA*00*          *00*          *ZZ*CLEARINGHOUSE  *ZZ*SENDER         *261020*1200*^*00501*000000901*0*P*:",
        "GS*HN*CLEARINGHOUSE*SENDER*20261020*1200*901*X*005010X214",
        "ST*277*0001*005010X214",
        "BHT*0085*08*ACK1*20261020*1200*TH",
        "HL*1**20*1", "NM1*PR*2*ACME HEALTH*****PI*ACME1", "TRN*1*ACK1", "DTP*050*D8*20261020",
        "DTP*009*D8*20261020",
        "HL*2*1*21*1", "NM1*41*2*ALDER PEDIATRIC OT*****46*SENDER", "TRN*2*BATCH1", "STC*A1:19*20261020*WQ*100",
        "QTY*AA*1", "AMT*YY*100",
        "HL*3*2*19*1", "NM1*85*2*ALDER PEDIATRIC OT*****XX*1234567893",
        "HL*4*3*PT", "NM1*QC*1*EXAMPLE*PAT****MI*M00000001", f"TRN*2*{pcn}", "STC*A7:164:IL*20261020*U*100",
        "DTP*472*D8*20261010",
        "SE*21*0001", "GE*1*901", "IEA*1*000000901",
    ]
    return "~".join(segments) + "~"


def test_the_worklist_answers_a_fragment_to_htmx_and_the_whole_page_to_a_history_restore(client_a):
    url = reverse("claim-list")
    fragment = client_a.get(url, headers={"HX-Request": "true"})
    restored = client_a.get(url, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    page = client_a.get(url)
    assert b"<html" not in fragment.content and b"<html" in restored.content and b"<html" in page.content
    for response in (fragment, restored, page):
        assert "HX-Request" in response["Vary"]  # the back button never gets a cached fragment
