"""Eligibility screens: worklist, manual verification, 271 upload, 270 batches and download, the patient partial.
Every object route answers 404 to another clinic's users and to users without a grant."""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.loader import render_to_string
from django.test import Client
from django.urls import include, path, reverse

from clinics.models import AccessLogEntry
from eligibility.forms import tomorrow
from eligibility.models import BenefitSnapshot, InquiryBatch, ResponseFile
from eligibility.services import inquiry_batch_create
from otbilling.urls import urlpatterns as root_urlpatterns
from tests import factories
from tests.eligibility.test_x271 import BENEFIT_SAMPLE

# The lead wires eligibility.urls into otbilling/urls.py; until then (and harmlessly after) the tests add it here.
urlpatterns = [*root_urlpatterns, path("", include("eligibility.urls"))]
pytestmark = pytest.mark.urls("tests.eligibility.test_views")

DOS = datetime.date(2026, 10, 5)
MARKER = "Zebulonquist"


@pytest.fixture
def scene(clinic_a, payer):
    patient = factories.PatientFactory(clinic=clinic_a, first_name="Anna", last_name=MARKER)
    coverage = factories.CoverageFactory(patient=patient, payer=payer, member_id="M0001")
    factories.VisitFactory(patient=patient, date_of_service=DOS)
    return {"patient": patient, "coverage": coverage}


@pytest.fixture
def client_b(user_b):
    client = Client()
    client.force_login(user_b)
    return client


@pytest.fixture
def client_none(user_no_grant):
    client = Client()
    client.force_login(user_no_grant)
    return client


def _verify_post(**overrides):
    data = {"source": "phone", "checked_at": "2026-10-04T10:30", "checked_by_name": "Fran Front",
            "reference_number": "CALL-1", "is_active": "yes", "copay_amount": "25.00", "deductible_total": "500",
            "deductible_remaining": "100", "visits_allowed": "20", "coinsurance_percent": "20"}
    data.update(overrides)
    return data


# --- worklist ---------------------------------------------------------------------------------------------------


def test_worklist_lists_the_dates_coverages_with_their_status(scene, client_a):
    response = client_a.get(reverse("eligibility-worklist"), {"date": "2026-10-05"})
    assert response.status_code == 200
    assert response.context["for_date"] == DOS
    [row] = response.context["page"].object_list
    assert (row.coverage, row.status) == (scene["coverage"], "unverified")
    assert MARKER.encode() in response.content
    assert b"Never checked." in response.content
    assert reverse("eligibility-verify", args=[scene["coverage"].public_id]).encode() in response.content
    assert AccessLogEntry.objects.filter(action="list", object_type="coverage").exists()


def test_worklist_defaults_to_tomorrow_and_answers_htmx_with_the_table_only(scene, client_a):
    response = client_a.get(reverse("eligibility-worklist"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.context["for_date"] == tomorrow()
    assert b"<html" not in response.content


def test_worklist_filters_by_status(scene, client_a):
    response = client_a.get(reverse("eligibility-worklist"), {"date": "2026-10-05", "status": "verified"})
    assert list(response.context["page"].object_list) == []
    assert b"No scheduled patient" in response.content


def test_worklist_of_another_clinic_shows_nothing_of_ours(scene, client_b, client_none):
    response = client_b.get(reverse("eligibility-worklist"), {"date": "2026-10-05"})
    assert response.status_code == 200 and MARKER.encode() not in response.content
    assert client_none.get(reverse("eligibility-worklist")).status_code == 403


# --- manual verification ----------------------------------------------------------------------------------------


def test_verification_form_records_a_snapshot_and_returns_to_the_patient(scene, client_a, user_a):
    url = reverse("eligibility-verify", args=[scene["coverage"].public_id])
    assert client_a.get(url).status_code == 200
    response = client_a.post(url, _verify_post())
    assert response.status_code == 302
    assert response["Location"] == reverse("patient-detail", args=[scene["patient"].public_id])
    snapshot = BenefitSnapshot.objects.get()
    assert (snapshot.coverage, snapshot.source, snapshot.checked_by, snapshot.checked_by_name) == (
        scene["coverage"], "phone", user_a, "Fran Front")
    assert (snapshot.is_active, snapshot.copay_amount, snapshot.coinsurance_percent, snapshot.visits_allowed) == (
        True, Decimal("25.00"), Decimal("20.00"), 20)
    assert snapshot.checked_at == datetime.datetime(2026, 10, 4, 10, 30, tzinfo=datetime.UTC)


def test_verification_form_shows_a_service_refusal_beside_its_field(scene, client_a):
    url = reverse("eligibility-verify", args=[scene["coverage"].public_id])
    response = client_a.post(url, _verify_post(deductible_remaining="900"))
    assert response.status_code == 200
    assert response.context["form"].errors["deductible_remaining"] == ["The remaining deductible is more than its "
                                                                       "total."]
    assert not BenefitSnapshot.objects.exists()


def test_verification_of_another_clinics_coverage_is_a_404(scene, client_b, client_none):
    url = reverse("eligibility-verify", args=[scene["coverage"].public_id])
    for client in (client_b, client_none):
        assert client.get(url).status_code == 404
        assert client.post(url, _verify_post()).status_code == 404
    assert not BenefitSnapshot.objects.exists()


# --- 271 upload -------------------------------------------------------------------------------------------------


def test_uploading_a_271_shows_what_was_stored_and_what_matched_nothing(client_a):
    upload = SimpleUploadedFile("acme.271", BENEFIT_SAMPLE.read_bytes())
    response = client_a.post(reverse("eligibility-import"), {"file": upload})
    assert response.status_code == 200
    summary = response.context["summary"]
    assert (summary["duplicate"], summary["snapshots"], summary["unmatched"]) == (False, 0, 1)
    assert b"SMITH, JOHN" in response.content and b"123456789" in response.content
    assert ResponseFile.objects.filter(file_name="acme.271", imported_by__username="biller_a").exists()
    again = client_a.post(reverse("eligibility-import"),
                          {"file": SimpleUploadedFile("again.271", BENEFIT_SAMPLE.read_bytes())})
    assert again.context["summary"]["duplicate"] is True
    assert b"Already imported" in again.content


def test_uploading_a_malformed_271_shows_the_segment_and_stores_nothing(client_a):
    bad = BENEFIT_SAMPLE.read_text().replace("HL*3*2*22*0", "HL*3*7*22*0")
    response = client_a.post(reverse("eligibility-import"), {"file": SimpleUploadedFile("bad.271", bad.encode())})
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == ["271 segment 9 (HL): parent 7 does not exist."]
    assert not ResponseFile.objects.exists()


def test_the_upload_page_is_closed_to_users_without_a_grant(client_none):
    assert client_none.get(reverse("eligibility-import")).status_code == 403


# --- 270 batches --------------------------------------------------------------------------------------------------


def test_batches_page_builds_a_batch_into_the_outbox_and_lists_it(scene, client_a, clinic_a, settings, tmp_path):
    settings.EDI_OUTBOX_DIR = str(tmp_path)
    response = client_a.post(reverse("eligibility-batches"),
                             {"clinic": str(clinic_a.public_id), "for_date": "2026-10-05"})
    assert response.status_code == 302
    batch = InquiryBatch.objects.get()
    assert (tmp_path / batch.file_name).read_text() == batch.content
    page = client_a.get(reverse("eligibility-batches"))
    assert batch.file_name.encode() in page.content
    assert reverse("eligibility-batch-download", args=[batch.public_id]).encode() in page.content


def test_building_a_batch_with_nothing_scheduled_says_so(scene, client_a, clinic_a):
    response = client_a.post(reverse("eligibility-batches"),
                             {"clinic": str(clinic_a.public_id), "for_date": "2030-01-01"})
    assert response.status_code == 200
    assert "there is nothing to ask" in response.context["form"].errors["for_date"][0]
    assert not InquiryBatch.objects.exists()


def test_another_clinic_cannot_build_our_batch_or_see_it(scene, client_b, clinic_a):
    response = client_b.post(reverse("eligibility-batches"),
                             {"clinic": str(clinic_a.public_id), "for_date": "2026-10-05"})
    assert response.status_code == 200 and "clinic" in response.context["form"].errors
    inquiry_batch_create(acting_user=None, clinic=clinic_a, for_date=DOS)
    assert b"270_alder_" not in client_b.get(reverse("eligibility-batches")).content


def test_downloading_a_batch_returns_the_file_and_is_logged(scene, client_a, clinic_a):
    batch = inquiry_batch_create(acting_user=None, clinic=clinic_a, for_date=DOS)
    response = client_a.get(reverse("eligibility-batch-download", args=[batch.public_id]))
    assert response.status_code == 200
    assert response.content.decode() == batch.content
    assert response["Content-Disposition"] == f'attachment; filename="{batch.file_name}"'
    entry = AccessLogEntry.objects.get(action="download")
    assert (entry.object_type, entry.object_id, entry.clinic, entry.username) == (
        "inquirybatch", str(batch.public_id), clinic_a, "biller_a")


def test_downloading_another_clinics_batch_is_a_404(scene, clinic_a, client_b, client_none):
    batch = inquiry_batch_create(acting_user=None, clinic=clinic_a, for_date=DOS)
    url = reverse("eligibility-batch-download", args=[batch.public_id])
    for client in (client_b, client_none):
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    assert not AccessLogEntry.objects.filter(action="download").exists()


# --- patient page partial ---------------------------------------------------------------------------------------


def test_patient_benefits_partial_shows_the_latest_check_per_coverage(scene, payer):
    coverage = scene["coverage"]
    unchecked = factories.CoverageFactory(patient=scene["patient"], payer=factories.PayerFactory(name="Second Plan"),
                                          priority="secondary")
    for day, copay in ((1, "10.00"), (3, "35.00")):
        BenefitSnapshot.objects.create(
            clinic=coverage.clinic, coverage=coverage, source="271", is_active=True, plan_name="ACME PPO GOLD",
            checked_at=datetime.datetime(2026, 10, day, 9, tzinfo=datetime.UTC), copay_amount=Decimal(copay),
            plan_begin=datetime.date(2026, 1, 1), coinsurance_percent=Decimal("20.00"),
            deductible_total=Decimal("1500.00"), deductible_remaining=Decimal("400.50"),
            out_of_pocket_total=Decimal("6000.00"), out_of_pocket_remaining=Decimal("5100.00"), visits_allowed=30,
            therapy_ytd_amount=Decimal("1250.75"),
            details=[{"benefit": "Co-payment", "service_type_labels": ["Occupational therapy"], "amount": copay}])
    html = render_to_string("eligibility/_patient_benefits.html",
                            {"coverages": [coverage, unchecked], "can_edit": True})
    assert "$35.00" in html and "$10.00" not in html
    for text in ("ACME PPO GOLD", "2026-01-01", "20.00%", "$1500.00 · $400.50 remaining",
                 "$6000.00 · $5100.00 remaining", "30 visits", "$1250.75", "Active", "Never checked"):
        assert text in html, text
    assert reverse("eligibility-verify", args=[unchecked.public_id]) in html


def test_patient_benefits_partial_shows_the_rejection_reason(scene):
    BenefitSnapshot.objects.create(
        clinic=scene["coverage"].clinic, coverage=scene["coverage"], source="271", is_active=None,
        checked_at=datetime.datetime(2026, 10, 3, 9, tzinfo=datetime.UTC), rejection_code="72",
        rejection_reason="Invalid or missing member id")
    html = render_to_string("eligibility/_patient_benefits.html", {"coverages": [scene["coverage"]]})
    assert "Rejected" in html and "Invalid or missing member id" in html and "(AAA 72)" in html
    assert "Record a phone/portal check" not in html
