"""EHR visit import: CSV checks with row numbers, all-or-nothing writes, "import valid rows", duplicates,
the upload UI with its progress fragment, cross-clinic 404s and the import_visits command."""

import datetime
import json
import zoneinfo
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from clinics.models import AccessLogEntry, CoveragePriority
from clinics.services import role_revoke
from otbilling.errors import AppError
from otbilling.tenancy import Role
from tests import factories
from visits import importing
from visits.importing import visit_import_job_create, visit_import_run
from visits.models import ImportJobStatus, ServiceLine, Visit, VisitImportJob, VisitSource, VisitStatus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GOOD = (FIXTURES / "visits_good.csv").read_bytes()
MIXED = (FIXTURES / "visits_mixed.csv").read_bytes()
HEADER = ("external_visit_id,patient_mrn,date_of_service,rendering_provider_npi,diagnoses,cpt,minutes,"
          "diagnosis_pointers,signed_by_name,note_text")

MIXED_ERRORS = [
    {"row": 4, "field": "patient_mrn", "message": "No patient with MRN ZZ999 in clinic Alder Pediatric OT."},
    {"row": 5, "field": "diagnoses", "message": "M99.99 is not in the ICD-10-CM code set."},
    {"row": 6, "field": "diagnosis_pointers", "message": "Pointer 3 is out of range: the session has 1 diagnoses."},
    {"row": 7, "field": "minutes", "message": "Minutes must be between 0 and 480."},
    {"row": 8, "field": "minutes",
     "message": "'thirty' is not a whole number of minutes. Leave it blank for an untimed code."},
    {"row": 9, "field": "date_of_service", "message": "Enter the date of service (YYYY-MM-DD)."},
]


@pytest.fixture
def ehr(clinic_a, payer):
    """Clinic A's records that the fixture files name by MRN and NPI."""
    first = factories.PatientFactory(clinic=clinic_a, mrn="A1001", first_name="Ada")
    second = factories.PatientFactory(clinic=clinic_a, mrn="A1002", first_name="Ben")
    return {
        "first": first,
        "second": second,
        "coverage": factories.CoverageFactory(patient=first, payer=payer),
        "second_coverage": factories.CoverageFactory(patient=second, payer=payer),
        "provider": factories.ProviderFactory(clinic=clinic_a, npi="1000000004"),
        "referrer": factories.ReferringProviderFactory(clinic=clinic_a, npi="1000000012"),
        "plan": factories.PlanOfCareFactory(patient=first, start_date=datetime.date(2026, 10, 15),
                                            certified_through=datetime.date(2026, 12, 31)),
    }


def run_import(user, clinic, content, *, valid_rows=False, name="export.csv"):
    job = visit_import_job_create(acting_user=user, clinic=clinic, file_name=name, content_bytes=content,
                                  import_valid_rows=valid_rows, enqueue=False)
    return visit_import_run(job_id=job.pk)


def csv_bytes(*rows, header=HEADER):
    return ("\n".join([header, *rows]) + "\n").encode()


# --- the good file --------------------------------------------------------------------------------------------------


def test_good_file_imports_every_session_with_its_lines_and_signature(user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, GOOD)

    assert job.status == ImportJobStatus.DONE
    assert job.errors == []
    assert (job.visits_created, job.total_rows, job.processed_rows, job.percent_done) == (4, 6, 6, 100)
    visits = {v.external_id: v for v in Visit.objects.filter(clinic=clinic_a)}
    assert set(visits) == {"EHR-1001", "EHR-1002", "EHR-1003", "EHR-1004"}
    assert all(v.source == VisitSource.IMPORT and v.created_by == user_a for v in visits.values())

    first = visits["EHR-1001"]
    assert first.patient == ehr["first"] and first.rendering_provider == ehr["provider"]
    assert first.referring_provider == ehr["referrer"] and first.coverage == ehr["coverage"]
    assert first.plan_of_care == ehr["plan"]
    assert first.date_of_service == datetime.date(2026, 11, 2)
    assert first.diagnoses == ["M62.81", "R26.89"]
    assert first.status == VisitStatus.SIGNED and first.signed_by_name == "Olive Therapist, OTR/L"
    assert first.signed_at == datetime.datetime(2026, 11, 2, 17, 30, tzinfo=zoneinfo.ZoneInfo("America/Los_Angeles"))
    lines = [(line.cpt, line.minutes, line.assistant_minutes, line.diagnosis_pointers, line.manual_modifiers,
              line.distinct_time_block) for line in first.lines.order_by("position")]
    assert lines == [("97110", 23, 0, [1], [], False), ("97530", 15, 0, [1, 2], ["GO", "59"], True)]

    evaluation = visits["EHR-1002"]
    assert evaluation.status == VisitStatus.DRAFT and evaluation.place_of_service == "11"
    assert evaluation.coverage == ehr["second_coverage"]  # no payer_id: the primary coverage on the date
    assert [(line.cpt, line.minutes, line.assistant_minutes) for line in evaluation.lines.order_by("position")] == [
        ("97165", None, 0), ("97535", 30, 10)]

    home = visits["EHR-1003"]
    assert home.place_of_service == "12" and home.diagnoses == ["M62.81", "R26.89"]
    assert home.note_text == "Home visit.\nPractised transfers, then kitchen tasks."
    assert home.is_signed and home.signed_by_name == "Olive Therapist" and home.signed_at is not None
    assert list(home.lines.values_list("diagnosis_pointers", flat=True)) == [[2]]
    assert visits["EHR-1004"].diagnoses == ["F82"]
    assert ServiceLine.objects.filter(clinic=clinic_a).count() == 6


def test_running_a_finished_job_again_does_nothing(user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, GOOD)

    again = visit_import_run(job_id=job.pk)

    assert again.status == ImportJobStatus.DONE and again.visits_created == 4
    assert Visit.objects.filter(clinic=clinic_a).count() == 4


def test_reimporting_the_good_file_reports_each_session_as_duplicate_and_writes_nothing(user_a, clinic_a, ehr):
    run_import(user_a, clinic_a, GOOD)

    job = run_import(user_a, clinic_a, GOOD)

    assert job.status == ImportJobStatus.FAILED and job.visits_created == 0
    # Rows are physical lines: EHR-1003's quoted note spans lines 6-7, so EHR-1004 starts on line 8.
    assert [(e["row"], e["field"]) for e in job.errors] == [
        (2, "external_visit_id"), (4, "external_visit_id"), (6, "external_visit_id"), (8, "external_visit_id")]
    assert job.errors[0]["message"] == "A session with external id 'EHR-1001' already exists."
    assert Visit.objects.filter(clinic=clinic_a).count() == 4
    assert ServiceLine.objects.filter(clinic=clinic_a).count() == 6


# --- bad rows -------------------------------------------------------------------------------------------------------


def test_mixed_file_reports_each_bad_row_with_its_column_and_writes_nothing(user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, MIXED)

    assert job.status == ImportJobStatus.FAILED
    assert job.errors == MIXED_ERRORS
    assert job.visits_created == 0 and job.finished_at is not None and job.percent_done == 100
    assert not Visit.objects.exists()
    assert not ServiceLine.objects.exists()


def test_mixed_file_with_import_valid_rows_imports_only_the_good_sessions(user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, MIXED, valid_rows=True)

    assert job.status == ImportJobStatus.DONE
    assert job.visits_created == 2
    assert job.errors == MIXED_ERRORS
    assert set(Visit.objects.values_list("external_id", flat=True)) == {"EHR-2001", "EHR-2008"}
    assert Visit.objects.get(external_id="EHR-2001").lines.count() == 2


def test_a_session_with_one_bad_line_is_skipped_whole_with_import_valid_rows(user_a, clinic_a, ehr):
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,M62.81,97110,30,1,,",
                        "S1,A1001,2026-11-09,1000000004,M62.81,97530,15,5,,",
                        "S2,A1002,2026-11-09,1000000004,F82,97110,30,1,,")

    job = run_import(user_a, clinic_a, content, valid_rows=True)

    assert job.errors == [{"row": 3, "field": "diagnosis_pointers",
                           "message": "Pointer 5 is out of range: the session has 1 diagnoses."}]
    assert list(Visit.objects.values_list("external_id", flat=True)) == ["S2"]


def test_all_problems_of_one_session_are_reported_together(user_a, clinic_a, ehr):
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,M62.81,97110,lots,1,,",
                        "S1,A1001,2026-11-09,1000000004,M62.81,97530,15,3,,",
                        "S1,A1001,2026-11-09,1000000004,M62.81,9753,15,1,,")

    job = run_import(user_a, clinic_a, content)

    assert [(e["row"], e["field"]) for e in job.errors] == [(2, "minutes"), (3, "diagnosis_pointers"), (4, "cpt")]
    assert job.errors[2]["message"] == "'9753' is not a 5-character CPT/HCPCS code."


def test_rows_of_one_session_that_disagree_are_reported_on_the_disagreeing_row(user_a, clinic_a, ehr):
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,M62.81,97110,30,1,,",
                        "S1,,2026-11-10,,,97530,15,1,,")

    job = run_import(user_a, clinic_a, content)

    assert job.errors == [{"row": 3, "field": "date_of_service", "message": (
        "Session S1 has date_of_service '2026-11-09' on row 2, this row has '2026-11-10'; rows of one session "
        "must agree (or leave it blank).")}]
    assert not Visit.objects.exists()


def test_blank_session_columns_on_later_rows_repeat_the_first_row(user_a, clinic_a, ehr):
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,m6281,97110,30,1,Olive Therapist,Exercise.",
                        "S1,,,,M62.81,97530,15,1,,")

    job = run_import(user_a, clinic_a, content)

    assert job.status == ImportJobStatus.DONE
    visit = Visit.objects.get(external_id="S1")
    assert visit.lines.count() == 2 and visit.is_signed and visit.note_text == "Exercise."


def test_unknown_provider_referrer_and_payer_are_reported_by_column(user_a, clinic_a, ehr):
    header = HEADER + ",referring_provider_npi,payer_id"
    content = csv_bytes("S1,A1001,2026-11-09,1558598797,M62.81,97110,30,1,,,,",
                        "S2,A1001,2026-11-09,1000000004,M62.81,97110,30,1,,,1234567893,",
                        "S3,A1001,2026-11-09,1000000004,M62.81,97110,30,1,,,,NOPE",
                        header=header)

    job = run_import(user_a, clinic_a, content)

    assert job.errors == [
        {"row": 2, "field": "rendering_provider_npi", "message": "No provider with NPI 1558598797 in clinic Alder "
                                                                  "Pediatric OT."},
        {"row": 3, "field": "referring_provider_npi", "message": "No referring provider with NPI 1234567893 in "
                                                                  "clinic Alder Pediatric OT."},
        {"row": 4, "field": "payer_id", "message": "Patient A1001 has no coverage with payer NOPE in effect on "
                                                   "2026-11-09."},
    ]


def test_payer_id_selects_the_coverage_with_that_payer(user_a, clinic_a, ehr):
    other = factories.PayerFactory(name="Medicare", payer_id="MCR01")
    secondary = factories.CoverageFactory(patient=ehr["first"], payer=other, priority=CoveragePriority.SECONDARY)
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,M62.81,97110,30,1,,,mcr01", header=HEADER + ",payer_id")

    run_import(user_a, clinic_a, content)

    assert Visit.objects.get(external_id="S1").coverage == secondary


def test_service_rules_come_back_on_their_column(user_a, clinic_a, ehr):
    ehr["provider"].is_active = False
    ehr["provider"].save()
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,M62.81,97110,30,1,Olive Therapist,",
                        "S1,A1001,2026-11-09,1000000004,M62.81,97530,15,1,,")

    job = run_import(user_a, clinic_a, content)

    assert [(e["row"], e["field"]) for e in job.errors] == [(2, "rendering_provider_npi"), (2, "note_text")]
    assert job.errors[1]["message"] == "A note cannot be signed empty."


def test_a_signature_time_before_the_date_of_service_is_refused(user_a, clinic_a, ehr):
    header = HEADER + ",signed_at"
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,M62.81,97110,30,1,Olive Therapist,Note.,2026-11-08 09:00",
                        header=header)

    job = run_import(user_a, clinic_a, content)

    assert job.errors == [{"row": 2, "field": "signed_at",
                           "message": "The note cannot be signed before the date of service."}]


def test_rows_without_a_session_id_or_with_too_many_values_are_reported(user_a, clinic_a, ehr):
    content = csv_bytes(",A1001,2026-11-09,1000000004,M62.81,97110,30,1,,",
                        "S1,A1001,2026-11-09,1000000004,M62.81,97110,30,1,,Good, then worse.")

    job = run_import(user_a, clinic_a, content)

    assert [(e["row"], e["field"]) for e in job.errors] == [(2, "external_visit_id"), (3, "")]
    assert "one value per header column" in job.errors[1]["message"]


# --- the file as a whole --------------------------------------------------------------------------------------------


def test_missing_columns_are_one_file_level_error_listing_them(user_a, clinic_a, ehr):
    content = b"external_visit_id,patient_mrn,date_of_service,diagnoses\nS1,A1001,2026-11-09,M62.81\n"

    job = run_import(user_a, clinic_a, content)

    assert job.status == ImportJobStatus.FAILED
    assert job.errors == [{"row": 1, "field": "",
                           "message": "Missing required column(s): rendering_provider_npi, cpt, minutes."}]
    assert not Visit.objects.exists()


def test_unknown_columns_are_refused_so_no_data_is_silently_dropped(user_a, clinic_a, ehr):
    content = csv_bytes("S1,A1001,2026-11-09,1000000004,M62.81,97110,30,1,,,GO", header=HEADER + ",modifier")

    job = run_import(user_a, clinic_a, content)

    assert job.errors[0]["row"] == 1
    assert job.errors[0]["message"].startswith("Unknown column(s): modifier. The columns are: external_visit_id,")


def test_semicolon_separated_file_is_explained(user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, b"external_visit_id;patient_mrn\nS1;A1001\n")

    assert job.errors == [{"row": 1, "field": "", "message": "The columns are separated by semicolons; the import "
                                                             "expects commas (export as “CSV, comma-separated”)."}]


def test_header_without_rows_is_rejected(user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, csv_bytes())

    assert job.errors == [{"row": None, "field": "", "message": "The file has a header row but no sessions."}]


def test_utf8_with_byte_order_mark_is_accepted(user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, b"\xef\xbb\xbf" + GOOD)

    assert job.status == ImportJobStatus.DONE and job.visits_created == 4


@pytest.mark.parametrize(("content", "message"), [
    ("Ïñtéřñåłø".encode("latin-1", "replace") + b"\n", "The file is not UTF-8 text (line 1 holds a byte that is "
                                                        "not UTF-8); export or save it as “CSV UTF-8” and upload it "
                                                        "again."),
    (b"PK\x03\x04\x14\x00\x06\x00", "This is not a CSV text file (it contains binary data, e.g. a spreadsheet or "
                                    "PDF); export the sessions from the EHR as CSV."),
    ("a,b\n".encode("utf-16"), "The file is UTF-16 text; export or save it as “CSV UTF-8” and upload it again."),
    (b"  \n", "The file is empty."),
])
def test_files_that_are_not_utf8_csv_are_refused_before_a_job_is_stored(user_a, clinic_a, content, message):
    with pytest.raises(AppError) as refused:
        visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="x.csv", content_bytes=content)

    assert (refused.value.field, refused.value.message) == ("file", message)
    assert not VisitImportJob.objects.exists()


def test_a_file_over_the_size_limit_is_refused(user_a, clinic_a, monkeypatch):
    monkeypatch.setattr(importing, "MAX_FILE_BYTES", 100)

    with pytest.raises(AppError) as refused:
        visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="x.csv", content_bytes=GOOD)

    assert refused.value.code == "file_too_large"
    assert not VisitImportJob.objects.exists()


def test_job_stores_the_text_and_its_sha256(user_a, clinic_a):
    job = visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="/tmp/evil/../export.csv",
                                  content_bytes=GOOD, enqueue=False)

    assert job.status == ImportJobStatus.QUEUED and job.file_name == "export.csv"
    assert job.content == GOOD.decode() and job.uploaded_by == user_a
    assert job.sha256 == __import__("hashlib").sha256(GOOD).hexdigest()


def test_progress_is_recorded_on_the_job_while_rows_are_checked(user_a, clinic_a, ehr, monkeypatch):
    seen = []
    original = importing._progress
    monkeypatch.setattr(importing, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(importing, "_progress", lambda job_id, n: (seen.append(n), original(job_id, n)))

    run_import(user_a, clinic_a, GOOD)

    assert seen == [2, 4, 6, 6]


# --- permissions ----------------------------------------------------------------------------------------------------


def test_user_of_clinic_b_cannot_import_into_clinic_a(user_b, clinic_a):
    with pytest.raises(AppError) as refused:
        visit_import_job_create(acting_user=user_b, clinic=clinic_a, file_name="x.csv", content_bytes=GOOD)

    assert refused.value.code == "forbidden"
    assert not VisitImportJob.objects.exists()


def test_a_job_whose_uploader_lost_the_grant_imports_nothing(user_a, clinic_a, ehr):
    job = visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="x.csv", content_bytes=GOOD,
                                  enqueue=False)
    role_revoke(clinic=clinic_a, user=user_a, role=Role.BILLER, acting_user=None)

    job = visit_import_run(job_id=job.pk)

    assert job.status == ImportJobStatus.FAILED
    assert job.errors[0]["message"].startswith("The uploader may no longer enter sessions")
    assert not Visit.objects.exists()


def test_patients_of_another_clinic_are_unknown(user_a, clinic_a, clinic_b, ehr):
    factories.PatientFactory(clinic=clinic_b, mrn="B7")
    content = csv_bytes("S1,B7,2026-11-09,1000000004,M62.81,97110,30,1,,")

    job = run_import(user_a, clinic_a, content)

    assert job.errors == [{"row": 2, "field": "patient_mrn",
                           "message": "No patient with MRN B7 in clinic Alder Pediatric OT."}]


# --- UI -------------------------------------------------------------------------------------------------------------


def upload(client, clinic, content, **extra):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"clinic": str(clinic.public_id), "file": SimpleUploadedFile("export.csv", content, "text/csv"), **extra}
    return client.post(reverse("visit-import"), data)


def test_upload_page_offers_the_users_clinics(client_a, clinic_a, clinic_b):
    response = client_a.get(reverse("visit-import"))

    assert response.status_code == 200
    html = response.content.decode()
    assert str(clinic_a.public_id) in html and str(clinic_b.public_id) not in html
    assert 'enctype="multipart/form-data"' in html and "Import valid rows" in html


def test_uploading_queues_the_job_and_shows_its_page(client_a, clinic_a, ehr, django_capture_on_commit_callbacks):
    # The task is queued when the job commits (and runs eagerly in tests).
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client_a, clinic_a, GOOD)

    job = VisitImportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("visit-import-job", args=[job.public_id])
    job.refresh_from_db()
    assert job.status == ImportJobStatus.DONE and job.visits_created == 4
    page = client_a.get(response.url)
    assert page.status_code == 200
    assert "Imported 4 sessions." in page.content.decode()
    assert AccessLogEntry.objects.filter(object_type="visitimportjob", object_id=str(job.public_id)).exists()


def test_uploading_a_non_utf8_file_shows_the_problem_beside_the_file(client_a, clinic_a):
    response = upload(client_a, clinic_a, "café".encode("latin-1"))

    assert response.status_code == 200
    assert "The file is not UTF-8 text" in response.content.decode()
    assert not VisitImportJob.objects.exists()


def test_user_b_cannot_upload_into_clinic_a(client, user_b, clinic_a):
    client.force_login(user_b)

    response = upload(client, clinic_a, GOOD)

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not VisitImportJob.objects.exists()


def test_user_without_grant_sees_no_upload_form(client, user_no_grant):
    client.force_login(user_no_grant)

    response = client.get(reverse("visit-import"))

    assert response.status_code == 200
    assert "You may not enter sessions for any clinic" in response.content.decode()


def test_job_page_lists_each_bad_row(client_a, user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, MIXED)

    html = client_a.get(reverse("visit-import-job", args=[job.public_id])).content.decode()

    assert "The file was rejected: nothing was imported." in html
    assert "No patient with MRN ZZ999 in clinic Alder Pediatric OT." in html
    assert html.count('class="row-error"') == 6
    assert "hx-trigger" not in html


def test_progress_fragment_shows_the_percent_and_polls_while_running(client_a, user_a, clinic_a):
    job = visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="x.csv", content_bytes=GOOD,
                                  enqueue=False)
    VisitImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING, total_rows=8, processed_rows=2)

    response = client_a.get(reverse("visit-import-progress", args=[job.public_id]), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<progress max="100" value="25"' in html and "25%" in html and "2 of 8 rows checked" in html
    assert 'hx-trigger="every 1s"' in html
    assert reverse("visit-import-progress", args=[job.public_id]) in html


def test_progress_fragment_stops_polling_once_the_job_is_finished(client_a, user_a, clinic_a, ehr):
    job = run_import(user_a, clinic_a, GOOD)

    html = client_a.get(reverse("visit-import-progress", args=[job.public_id])).content.decode()

    assert 'value="100"' in html and "Imported 4 sessions." in html
    assert "hx-trigger" not in html and "hx-get" not in html


@pytest.mark.parametrize("route", ["visit-import-job", "visit-import-progress"])
def test_another_clinics_job_is_a_404(client, user_a, user_b, user_no_grant, clinic_a, route):
    job = visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="x.csv", content_bytes=GOOD,
                                  enqueue=False)
    for outsider in (user_b, user_no_grant):
        client.force_login(outsider)
        assert client.get(reverse(route, args=[job.public_id])).status_code == 404


def test_recent_jobs_list_shows_only_the_users_clinics(client, user_a, user_b, clinic_a):
    visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="alder-october.csv", content_bytes=GOOD,
                            enqueue=False)

    client.force_login(user_b)
    assert "alder-october.csv" not in client.get(reverse("visit-import")).content.decode()
    client.force_login(user_a)
    assert "alder-october.csv" in client.get(reverse("visit-import")).content.decode()


def test_import_pages_need_a_login(client, user_a, clinic_a):
    job = visit_import_job_create(acting_user=user_a, clinic=clinic_a, file_name="x.csv", content_bytes=GOOD,
                                  enqueue=False)

    for url in (reverse("visit-import"), reverse("visit-import-job", args=[job.public_id])):
        assert client.get(url).status_code == 302


# --- command --------------------------------------------------------------------------------------------------------


def test_command_imports_the_good_file_and_prints_json(user_a, clinic_a, ehr, capsys):
    call_command("import_visits", str(FIXTURES / "visits_good.csv"), "--clinic", "alder", "--user", "biller_a")

    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "done" and summary["visits_created"] == 4 and summary["errors"] == []
    assert Visit.objects.filter(clinic=clinic_a).count() == 4


def test_command_prints_the_errors_and_exits_nonzero_for_the_mixed_file(user_a, clinic_a, ehr, capsys):
    with pytest.raises(CommandError, match="rejected with 6 problem"):
        call_command("import_visits", str(FIXTURES / "visits_mixed.csv"), "--clinic", "alder", "--user", "biller_a")

    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "failed" and summary["visits_created"] == 0
    assert summary["errors"] == MIXED_ERRORS
    assert not Visit.objects.exists()


def test_command_with_valid_rows_imports_the_good_sessions(user_a, clinic_a, ehr, capsys):
    call_command("import_visits", str(FIXTURES / "visits_mixed.csv"), "--clinic", "alder", "--user", "biller_a",
                 "--valid-rows")

    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "done" and summary["visits_created"] == 2 and len(summary["errors"]) == 6


def test_command_refuses_a_user_without_a_grant_on_the_clinic(user_b, clinic_a):
    with pytest.raises(CommandError, match="biller_b may not enter sessions for a clinic with slug 'alder'"):
        call_command("import_visits", str(FIXTURES / "visits_good.csv"), "--clinic", "alder", "--user", "biller_b")

    assert not VisitImportJob.objects.exists()


def test_command_reports_a_file_that_is_not_utf8(user_a, clinic_a, tmp_path, capsys):
    path = tmp_path / "export.csv"
    path.write_bytes("café".encode("latin-1"))

    with pytest.raises(CommandError, match="export.csv was rejected: The file is not UTF-8 text"):
        call_command("import_visits", str(path), "--clinic", "alder", "--user", "biller_a")

    assert json.loads(capsys.readouterr().out)["status"] == "rejected"
