"""Eligibility services, selectors, commands and tasks on a real database: 270 batches, 271 imports, manual
checks, the worklist, and the cross-clinic cases."""

import datetime
import hashlib
import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clinics.models import PayerKind
from eligibility.models import BenefitSnapshot, Inquiry, InquiryBatch, InquiryStatus, ResponseFile
from eligibility.selectors import WorklistStatus, eligibility_worklist, latest_snapshot, scheduled_patients
from eligibility.services import inquiry_batch_create, manual_verification_record, response_file_import
from eligibility.tasks import clinic_tomorrow, collect_271, nightly_270
from eligibility.transport import FolderTransport
from eligibility.x270 import read_270
from otbilling.errors import AppError
from otbilling.models import X12ControlCounter
from tests import factories
from tests.eligibility.test_x271 import AAA_SAMPLE, BENEFIT_SAMPLE, rich_271
from visits.models import VisitStatus

DOS = datetime.date(2026, 10, 5)


def at(day: datetime.date, hour: int = 12) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, tzinfo=datetime.UTC)


@pytest.fixture
def world(clinic_a, clinic_b, payer):
    """Clinic A: Anna (draft visit on DOS), Bob (signed visit, primary+secondary, plus a tertiary and an expired
    coverage that must not be asked about), Casey (a child on a parent's plan), Dora (no visit on DOS).
    Clinic B: Erin with a visit on DOS."""
    second = factories.PayerFactory(name="Medicare Part B", payer_id="MCR01", kind=PayerKind.MEDICARE,
                                    eligibility_max_age_days=30)
    third = factories.PayerFactory(name="Other Plan", payer_id="OTH01", eligibility_max_age_days=30)
    payer.eligibility_max_age_days = 30
    payer.save(update_fields=["eligibility_max_age_days"])

    def patient(clinic, first, last):
        return factories.PatientFactory(clinic=clinic, first_name=first, last_name=last)

    anna, bob = patient(clinic_a, "Anna", "Zebulon"), patient(clinic_a, "Bob", "Birch")
    casey, dora = patient(clinic_a, "Casey", "Child"), patient(clinic_a, "Dora", "Absent")
    erin = patient(clinic_b, "Erin", "Elsewhere")
    coverages = {
        "anna": factories.CoverageFactory(patient=anna, payer=payer, member_id="M0001"),
        "bob": factories.CoverageFactory(patient=bob, payer=payer, member_id="M0009"),
        "bob_secondary": factories.CoverageFactory(patient=bob, payer=second, member_id="1EG4TE5MK73",
                                                   priority="secondary"),
        "bob_tertiary": factories.CoverageFactory(patient=bob, payer=third, member_id="T1", priority="tertiary"),
        "bob_expired": factories.CoverageFactory(patient=bob, payer=third, member_id="OLD1",
                                                 effective_to=datetime.date(2025, 12, 31)),
        "casey": factories.CoverageFactory(
            patient=casey, payer=payer, member_id="M0002", relationship="19", subscriber_first_name="Pat",
            subscriber_last_name="Parent", subscriber_date_of_birth=datetime.date(1980, 5, 6), subscriber_sex="M"),
        "dora": factories.CoverageFactory(patient=dora, payer=payer, member_id="M0004"),
        "erin": factories.CoverageFactory(patient=erin, payer=payer, member_id="M0001"),
    }
    factories.VisitFactory(patient=anna, date_of_service=DOS, status=VisitStatus.DRAFT, signed_at=None,
                           signed_by_name="")
    factories.VisitFactory(patient=bob, date_of_service=DOS)
    factories.VisitFactory(patient=casey, date_of_service=DOS)
    factories.VisitFactory(patient=dora, date_of_service=DOS - datetime.timedelta(days=2))
    factories.VisitFactory(patient=erin, date_of_service=DOS)
    return {"patients": {"anna": anna, "bob": bob, "casey": casey, "dora": dora, "erin": erin},
            "coverages": coverages, "medicare": second}


def _traces(batch) -> dict[str, str]:
    """member id of the coverage -> trace number of its inquiry."""
    return {inquiry.coverage.member_id: inquiry.trace_number for inquiry in batch.inquiries.select_related("coverage")}


# --- 270 batches ------------------------------------------------------------------------------------------------


def test_batch_asks_about_each_primary_and_secondary_coverage_of_patients_with_a_visit_on_the_date(world, user_a,
                                                                                                   clinic_a):
    batch = inquiry_batch_create(acting_user=user_a, clinic=clinic_a, for_date=DOS,
                                 now=at(DOS - datetime.timedelta(days=1), 20))
    covs = world["coverages"]
    assert {i.coverage for i in batch.inquiries.all()} == {covs["anna"], covs["bob"], covs["bob_secondary"],
                                                           covs["casey"]}
    assert batch.file_name == f"270_alder_20261005_{batch.interchange_control_number:09d}.edi"
    assert batch.sha256 == hashlib.sha256(batch.content.encode()).hexdigest()
    assert batch.created_by == user_a and batch.for_date == DOS
    traces = _traces(batch)
    assert len(set(traces.values())) == 4
    read = read_270(batch.content)
    assert {i.trace_number: i.member_id for i in read.inquiries} == {t: m for m, t in traces.items()}
    assert all(i.service_types == ["AD", "30"] for i in read.inquiries)
    assert all(i.originator_id == "1123456789" and i.receiver_id == clinic_a.billing_npi for i in read.inquiries)
    casey = next(i for i in read.inquiries if i.member_id == "M0002")
    assert (casey.subscriber.last_name, casey.dependent.first_name) == ("Parent", "Casey")
    assert set(batch.inquiries.values_list("status", "service_types")) == {(InquiryStatus.SENT, "AD^30")}
    assert "GS*HS*OTBILLING*CLEARINGHOUSE*20261004*2000*" in batch.content


def test_control_numbers_increase_from_one_batch_to_the_next(world, user_a, clinic_a):
    first = inquiry_batch_create(acting_user=user_a, clinic=clinic_a, for_date=DOS)
    second = inquiry_batch_create(acting_user=user_a, clinic=clinic_a, for_date=DOS)
    assert second.interchange_control_number == first.interchange_control_number + 1
    assert X12ControlCounter.objects.get(submitter_id="OTBILLING").last_interchange == \
        second.interchange_control_number
    assert not set(_traces(first).values()) & set(_traces(second).values())


def test_without_visits_on_the_date_an_active_plan_of_care_and_a_recent_visit_schedule_the_patient(clinic_a,
                                                                                                   payer):
    ongoing = factories.PatientFactory(clinic=clinic_a, last_name="Ongoing")
    lapsed = factories.PatientFactory(clinic=clinic_a, last_name="Lapsed")
    no_plan = factories.PatientFactory(clinic=clinic_a, last_name="Noplan")
    for person, days_ago in ((ongoing, 3), (lapsed, 20), (no_plan, 3)):
        factories.CoverageFactory(patient=person, payer=payer)
        factories.VisitFactory(patient=person, date_of_service=DOS - datetime.timedelta(days=days_ago))
    factories.PlanOfCareFactory(patient=ongoing)
    factories.PlanOfCareFactory(patient=lapsed)
    patients, rule = scheduled_patients(user=None, clinic=clinic_a, for_date=DOS)
    assert rule == "plan_of_care"
    assert list(patients) == [ongoing]
    batch = inquiry_batch_create(acting_user=None, clinic=clinic_a, for_date=DOS)
    assert [i.coverage.patient for i in batch.inquiries.all()] == [ongoing]
    assert batch.created_by is None


def test_nothing_scheduled_is_refused_and_writes_nothing(clinic_a, user_a):
    with pytest.raises(AppError) as caught:
        inquiry_batch_create(acting_user=user_a, clinic=clinic_a, for_date=DOS)
    assert caught.value.code == "no_inquiries"
    assert caught.value.message == ("No patient of Alder Pediatric OT with an active coverage is scheduled on "
                                    "2026-10-05: there is nothing to ask.")
    assert not InquiryBatch.objects.exists()
    assert not X12ControlCounter.objects.exists()


def test_another_clinics_user_cannot_build_a_batch(world, user_b, clinic_a):
    with pytest.raises(AppError, match="You may not send eligibility inquiries for Alder Pediatric OT."):
        inquiry_batch_create(acting_user=user_b, clinic=clinic_a, for_date=DOS)
    assert not InquiryBatch.objects.exists()


# --- 271 import -------------------------------------------------------------------------------------------------


@pytest.fixture
def sent(world, clinic_a):
    batch = inquiry_batch_create(acting_user=None, clinic=clinic_a, for_date=DOS)
    traces = _traces(batch)
    text = rich_271(trace1=traces["M0001"], trace2=traces["M0002"], trace3=traces["M0009"])
    return {"batch": batch, "traces": traces, "text": text, **world}


def test_271_import_stores_one_snapshot_per_answer_and_marks_inquiries(sent, user_a):
    summary = response_file_import(acting_user=user_a, file_name="acme.271", content=sent["text"].encode())
    assert {k: summary[k] for k in ("duplicate", "responses", "snapshots", "answered", "rejected", "unmatched")} == {
        "duplicate": False, "responses": 3, "snapshots": 3, "answered": 2, "rejected": 1, "unmatched": 0}
    covs, traces = sent["coverages"], sent["traces"]
    statuses = dict(Inquiry.objects.values_list("trace_number", "status"))
    assert statuses == {traces["M0001"]: "answered", traces["M0002"]: "answered", traces["M0009"]: "rejected",
                        traces["1EG4TE5MK73"]: "sent"}
    anna = BenefitSnapshot.objects.get(coverage=covs["anna"])
    response_file = ResponseFile.objects.get()
    assert (anna.source, anna.inquiry.trace_number, anna.reference_number, anna.response_file, anna.checked_by) == (
        "271", traces["M0001"], traces["M0001"], response_file, user_a)
    assert (anna.is_active, anna.plan_name, anna.plan_begin, anna.plan_end) == (
        True, "ACME PPO GOLD", datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))
    assert (anna.coinsurance_percent, anna.copay_amount) == (Decimal("20.00"), Decimal("25.00"))
    assert (anna.deductible_total, anna.deductible_remaining) == (Decimal("1500.00"), Decimal("400.50"))
    assert (anna.out_of_pocket_total, anna.out_of_pocket_remaining) == (Decimal("6000.00"), Decimal("5100.00"))
    assert (anna.visits_allowed, anna.limit_period_start, anna.limit_period_end) == (
        30, datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))
    assert anna.therapy_ytd_amount == Decimal("1250.75")
    assert len(anna.details) == 13 and anna.details[0]["benefit"] == "Active coverage"
    bob = BenefitSnapshot.objects.get(coverage=covs["bob"])
    assert (bob.is_active, bob.rejection_code, bob.rejection_reason) == (None, "72", "Invalid or missing member id")
    assert BenefitSnapshot.objects.get(coverage=covs["casey"]).is_active is False
    assert response_file.sha256 == hashlib.sha256(sent["text"].encode()).hexdigest()
    assert summary["rejections"][0]["reason"] == "Invalid or missing member id"


def test_the_same_271_imported_twice_is_imported_once(sent, user_a):
    response_file_import(acting_user=user_a, file_name="acme.271", content=sent["text"])
    again = response_file_import(acting_user=user_a, file_name="copy.271", content=sent["text"])
    assert again["duplicate"] is True and again["snapshots"] == 0
    assert again["message"].startswith("Already imported on ")
    assert again["message"].endswith("as acme.271; nothing was written.")
    assert ResponseFile.objects.count() == 1
    assert BenefitSnapshot.objects.count() == 3


def test_malformed_271_raises_naming_the_segment_and_stores_nothing(sent, user_a):
    broken = sent["text"].replace("EB*B*IND*AD*C1**27*25", "EB*B*IND*AD*C1**27*2X5")
    with pytest.raises(AppError) as caught:
        response_file_import(acting_user=user_a, file_name="bad.271", content=broken)
    assert caught.value.message == "271 segment 18 (EB): EB07 '2X5' is not a number."
    assert not ResponseFile.objects.exists()
    assert not BenefitSnapshot.objects.exists()
    assert set(Inquiry.objects.values_list("status", flat=True)) == {InquiryStatus.SENT}


def test_answers_that_match_nothing_are_reported_not_dropped(sent, user_a):
    text = rich_271(trace1="NOT-OURS", trace2="ALSO-NOT", trace3="NOPE", member1="X1", member2="X2")
    summary = response_file_import(acting_user=user_a, file_name="stray.271", content=text)
    assert (summary["snapshots"], summary["unmatched"], summary["rejected"]) == (0, 3, 1)
    assert summary["unmatched_responses"][0] == {
        "segment": 9, "level": "subscriber", "trace_number": "NOT-OURS", "member_id": "X1", "payer_id": "ACME1",
        "name": "ZEBULON, ANNA",
        "reason": "no inquiry with this trace number and no coverage with member id X1 at payer ACME1"}
    assert ResponseFile.objects.count() == 1  # the file is kept, so it is not imported again
    assert not BenefitSnapshot.objects.exists()


def test_without_our_trace_number_the_answer_matches_by_member_id_and_payer_id(clinic_a, user_a):
    payer = factories.PayerFactory(name="ABC Company", payer_id="841610001")
    smith = factories.PatientFactory(clinic=clinic_a, first_name="John", last_name="Smith")
    coverage = factories.CoverageFactory(patient=smith, payer=payer, member_id="123456789")
    factories.VisitFactory(patient=smith, date_of_service=DOS)
    batch = inquiry_batch_create(acting_user=user_a, clinic=clinic_a, for_date=DOS)
    summary = response_file_import(acting_user=user_a, file_name=BENEFIT_SAMPLE.name,
                                   content=BENEFIT_SAMPLE.read_text())
    assert (summary["snapshots"], summary["unmatched"], summary["answered"]) == (1, 0, 1)
    snapshot = BenefitSnapshot.objects.get()
    assert snapshot.coverage == coverage and snapshot.inquiry == batch.inquiries.get()
    assert (snapshot.is_active, snapshot.plan_name, snapshot.copay_amount, snapshot.plan_begin) == (
        True, "GOLD 123 PLAN", Decimal("10.00"), datetime.date(2006, 1, 1))
    assert snapshot.reference_number == "93175-012547"
    assert batch.inquiries.get().status == InquiryStatus.ANSWERED


def test_another_clinics_user_importing_our_answers_reaches_none_of_our_data(sent, user_b):
    summary = response_file_import(acting_user=user_b, file_name="acme.271", content=sent["text"])
    assert (summary["snapshots"], summary["unmatched"]) == (0, 3)
    assert not BenefitSnapshot.objects.exists()
    assert set(Inquiry.objects.values_list("status", flat=True)) == {InquiryStatus.SENT}


def test_a_user_without_any_grant_cannot_import(user_no_grant):
    with pytest.raises(AppError, match="You may not import eligibility responses."):
        response_file_import(acting_user=user_no_grant, file_name="x.271", content=BENEFIT_SAMPLE.read_text())
    assert not ResponseFile.objects.exists()


def test_aaa_sample_reports_the_receiver_level_rejection(db):
    summary = response_file_import(acting_user=None, file_name=AAA_SAMPLE.name, content=AAA_SAMPLE.read_text())
    assert (summary["duplicate"], summary["snapshots"], summary["rejected"], summary["unmatched"]) == (False, 0, 1, 0)
    assert summary["rejections"] == [{
        "segment": 9, "level": "information receiver", "name": "BONE AND JOIN CLINIC", "code": "50",
        "reason": "Provider is not eligible for eligibility inquiries", "follow_up": "Resubmission not allowed"}]


# --- manual verification ----------------------------------------------------------------------------------------


def test_a_phone_check_becomes_a_benefit_snapshot(world, user_a):
    coverage = world["coverages"]["anna"]
    snapshot = manual_verification_record(
        acting_user=user_a, coverage=coverage, source="phone", checked_by_name="Fran Front", is_active=True,
        checked_at=at(DOS - datetime.timedelta(days=1)), reference_number="CALL-77", copay_amount=Decimal("30"),
        visits_allowed=20, deductible_total=Decimal("500"), deductible_remaining=Decimal("125.50"),
        notes="Rep: Sam")
    assert snapshot.clinic == coverage.clinic and snapshot.checked_by == user_a
    assert (snapshot.source, snapshot.reference_number, snapshot.copay_amount, snapshot.visits_allowed) == (
        "phone", "CALL-77", Decimal("30.00"), 20)
    assert snapshot.details == [{"manual": True, "source": "phone", "checked_by": "Fran Front",
                                 "reference_number": "CALL-77", "note": "Rep: Sam"}]
    assert latest_snapshot(coverage) == snapshot


def test_a_manual_check_with_impossible_values_is_refused_field_by_field(world, user_a):
    with pytest.raises(AppError) as caught:
        manual_verification_record(
            acting_user=user_a, coverage=world["coverages"]["anna"], source="fax", checked_by_name=" ",
            is_active=None, coinsurance_percent=Decimal("120"), deductible_total=Decimal("100"),
            deductible_remaining=Decimal("200"), plan_begin=DOS, plan_end=DOS - datetime.timedelta(days=1))
    assert [d["field"] for d in caught.value.details] == [
        "source", "checked_by_name", "is_active", "coinsurance_percent", "deductible_remaining", "plan_end"]
    assert "deductible_remaining: The remaining deductible is more than its total." in caught.value.message
    assert not BenefitSnapshot.objects.exists()


def test_another_clinics_user_cannot_record_a_check(world, user_b):
    with pytest.raises(AppError, match="You may not record eligibility checks"):
        manual_verification_record(acting_user=user_b, coverage=world["coverages"]["anna"], source="portal",
                                   checked_by_name="B", is_active=True)
    assert not BenefitSnapshot.objects.exists()


# --- selectors --------------------------------------------------------------------------------------------------


def _snap(coverage, days_before, **values):
    return BenefitSnapshot.objects.create(clinic=coverage.clinic, coverage=coverage, source="portal",
                                          checked_at=at(DOS - datetime.timedelta(days=days_before)), **values)


def test_worklist_says_who_is_unverified_failed_changed_or_verified(world, user_a):
    covs = world["coverages"]
    _snap(covs["bob"], 5, is_active=True, copay_amount=Decimal("20"))
    _snap(covs["bob_secondary"], 40, is_active=True)
    _snap(covs["casey"], 9, is_active=True, copay_amount=Decimal("20"))
    _snap(covs["casey"], 2, is_active=True, copay_amount=Decimal("30"))
    _snap(covs["anna"], 3, is_active=None, rejection_code="75", rejection_reason="Subscriber not found")
    _snap(covs["anna"], -1, is_active=True)  # checked after the date: not part of that day's picture
    rows = eligibility_worklist(user_a, for_date=DOS)
    assert [(r.patient.first_name, r.coverage.priority, r.status, r.reasons) for r in rows] == [
        ("Bob", "secondary", WorklistStatus.UNVERIFIED,
         ["Last checked 40 days before the date; Medicare Part B wants a check within 30 days."]),
        ("Anna", "primary", WorklistStatus.FAILED, ["Rejected: Subscriber not found."]),
        ("Casey", "primary", WorklistStatus.CHANGED, ["copay: 20.00 → 30.00"]),
        ("Bob", "primary", WorklistStatus.VERIFIED, []),
    ]
    assert rows[3].last_checked == at(DOS - datetime.timedelta(days=5))
    assert [r.patient.first_name for r in eligibility_worklist(user_a, for_date=DOS, status="changed")] == ["Casey"]
    assert [r.coverage for r in eligibility_worklist(user_a, for_date=DOS, payer=world["medicare"])] == [
        covs["bob_secondary"]]


def test_worklist_never_shows_another_clinics_coverages(world, user_b, clinic_a):
    rows = eligibility_worklist(user_b, for_date=DOS)
    assert [r.patient.first_name for r in rows] == ["Erin"]
    assert eligibility_worklist(user_b, clinic_a, for_date=DOS) == []


def test_latest_snapshot_can_look_back_to_a_date(world):
    coverage = world["coverages"]["anna"]
    old = _snap(coverage, 10, is_active=True)
    new = _snap(coverage, 1, is_active=False)
    assert latest_snapshot(coverage) == new
    assert latest_snapshot(coverage, on_or_before=DOS - datetime.timedelta(days=5)) == old
    assert latest_snapshot(world["coverages"]["bob"]) is None


# --- commands, transport and tasks -----------------------------------------------------------------------------


def test_export_270_command_writes_the_file_and_prints_json(world, tmp_path):
    out = StringIO()
    call_command("export_270", "--clinic", "alder", "--date", "2026-10-05", "--out", str(tmp_path), stdout=out)
    result = json.loads(out.getvalue())
    batch = InquiryBatch.objects.get()
    assert result == {"file": str(tmp_path / batch.file_name), "inquiries": 4}
    assert Path(result["file"]).read_text() == batch.content


def test_export_270_command_refuses_an_unknown_clinic_or_date(world, tmp_path):
    with pytest.raises(CommandError, match="No active clinic 'nowhere'."):
        call_command("export_270", "--clinic", "nowhere", "--date", "2026-10-05", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="--date '10/05/2026' is not a date"):
        call_command("export_270", "--clinic", "alder", "--date", "10/05/2026", "--out", str(tmp_path))
    with pytest.raises(CommandError, match="there is nothing to ask"):
        call_command("export_270", "--clinic", "alder", "--date", "2030-01-01", "--out", str(tmp_path))


def test_import_271_command_prints_the_summary_and_fails_on_a_malformed_file(sent, tmp_path):
    good = tmp_path / "acme.271"
    good.write_text(sent["text"])
    out = StringIO()
    call_command("import_271", str(good), stdout=out)
    assert json.loads(out.getvalue()) == {"duplicate": False, "snapshots": 3, "rejected": 1, "unmatched": 0}
    out = StringIO()
    call_command("import_271", str(good), stdout=out)
    assert json.loads(out.getvalue())["duplicate"] is True
    bad = tmp_path / "bad.271"
    bad.write_text(sent["text"][:500])
    with pytest.raises(CommandError, match=r"^bad.271: 271: The interchange has no closing IEA segment"):
        call_command("import_271", str(bad))


def test_folder_transport_delivers_collects_and_archives(tmp_path):
    transport = FolderTransport(outbox=tmp_path / "out", inbox=tmp_path / "in")
    assert transport.collect() == []
    where = transport.deliver("a.edi", "ISA~")
    assert Path(where).read_text() == "ISA~" and where == str(tmp_path / "out" / "a.edi")
    with pytest.raises(AppError, match="is not a plain file name"):
        transport.deliver("../escape.edi", "x")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.271").write_text("content")
    assert transport.collect() == [("r.271", "content")]
    transport.archive("r.271")
    assert transport.collect() == [] and (tmp_path / "in" / "done" / "r.271").exists()


def test_nightly_270_builds_and_delivers_tomorrows_batch_once(world, settings, tmp_path):
    settings.EDI_OUTBOX_DIR = str(tmp_path)
    result = nightly_270.delay("2026-10-05").get()
    assert result == {"batches": 2, "inquiries": 5, "skipped": 0, "failed": 0}
    files = sorted(p.name for p in tmp_path.iterdir())
    assert [b.file_name for b in InquiryBatch.objects.order_by("file_name")] == files
    assert all(b.delivered_to.startswith(str(tmp_path)) for b in InquiryBatch.objects.all())
    assert nightly_270("2026-10-05") == {"batches": 0, "inquiries": 0, "skipped": 2, "failed": 0}
    assert InquiryBatch.objects.count() == 2


def test_tomorrow_is_the_clinics_tomorrow(clinic_a):
    late_evening_utc = datetime.datetime(2026, 10, 5, 3, 0, tzinfo=datetime.UTC)  # 20:00 on the 4th in Portland
    assert clinic_tomorrow(clinic_a, late_evening_utc) == datetime.date(2026, 10, 5)


def test_collect_271_imports_the_inbox_and_sets_aside_bad_files(sent, settings, tmp_path):
    settings.EDI_INBOX_DIR = str(tmp_path)
    (tmp_path / "good.271").write_text(sent["text"])
    (tmp_path / "bad.271").write_text("not x12")
    assert collect_271() == {"files": 1, "snapshots": 3, "duplicates": 0, "failed": 1}
    assert (tmp_path / "done" / "good.271").exists() and (tmp_path / "failed" / "bad.271").exists()
