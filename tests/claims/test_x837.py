"""The 837P writer, our own checks, batch generation (task, release, hold) and the two commands.

Golden files: every case writes a whole 837P at a fixed time with fixed control numbers, compares it with
tests/claims/golden/<case>.txt and proves pyx12 finds it clean. Regenerate after a deliberate change with
UPDATE_GOLDEN=1 (and read the diff).
"""

import datetime
import hashlib
import json
import os
import re
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from claims import x837
from claims.batches import batch_generate, batches_create
from claims.checks import check_written_837p, precheck_claims
from claims.lifecycle import claim_transition
from claims.models import BatchStatus, Claim, ClaimBatch, ClaimEvent, ClaimLine, ClaimStatus
from claims.services import claim_correct, claim_mark_ready
from claims.tasks import generate_batch
from claims.x837 import render_837p
from clinics.models import Patient, Payer, Provider
from eligibility.models import AuthorizedCode, PriorAuthorization
from otbilling.edi.tokenizer import tokenize, transaction_sets
from otbilling.edi.validation import validate_with_pyx12
from otbilling.edi.writer import X12WriteError
from otbilling.errors import AppError
from otbilling.models import X12ControlCounter
from tests import factories
from tests.claims.conftest import (
    DOS,
    add_visit,
    build_claim_scene,
    code_billable,
    dependent_of,
    load_claim,
    make_claim,
    make_medicare,
    pin_control_numbers,
)

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime.datetime(2026, 9, 18, 14, 30, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def fresh_control_numbers(db):
    """Every test starts each sender's counter at zero, so golden files carry ISA13 000000001."""
    X12ControlCounter.objects.all().delete()


@pytest.fixture
def outbox(settings, tmp_path):
    settings.EDI_OUTBOX_DIR = str(tmp_path / "outbox")
    return tmp_path / "outbox"


def scene_for(clinic, **payer_settings):
    return build_claim_scene(clinic, make_medicare(**payer_settings))


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()
    result = validate_with_pyx12(text)
    assert result.ok, [str(issue) for issue in result.issues]
    assert check_written_837p(text) == []


def written(*claims) -> str:
    return render_837p(list(claims), now=NOW).text


def segments_of(text: str, segment_id: str) -> list[str]:
    return [line.rstrip("~") for line in text.splitlines() if line.startswith(segment_id + "*")]


def advance(claim, *statuses):
    for status in statuses:
        claim_transition(claim=claim, to_status=status, reason="test")
    return claim


# --- golden files -------------------------------------------------------------------------------------------------


def test_a_patient_who_is_the_subscriber_is_written_in_2000b_only(claim_scene):
    claim = pin_control_numbers(make_claim(claim_scene), "CSELF0000001")
    text = written(claim)
    assert_golden("patient_is_subscriber", text)
    assert "SBR*P*18*******MB~" in text
    assert "HL*2*1*22*0~" in text
    assert "PAT*" not in text
    assert segments_of(text, "CLM") == ["CLM*CSELF0000001*180.00***11:B:1*Y*A*Y*Y"]


def test_a_dependent_patient_gets_a_2000c_loop_under_the_subscriber(claim_scene):
    acme = factories.PayerFactory(name="Acme Health", payer_id="ACME1", go_required=True)
    child = dependent_of(claim_scene, payer=acme)
    claim = pin_control_numbers(make_claim(child), "CDEPENDENT01")
    text = written(claim)
    assert_golden("dependent_patient", text)
    assert "SBR*P**GRP-100******CI~\nNM1*IL*1*ZEBULON*PAT****MI*XYZ123456701~" in text
    assert "HL*3*2*23*0~\nPAT*19~\nNM1*QC*1*ZEBULON*CASEY~" in text
    assert "DMG*D8*20160708*F~" in text


def test_a_line_furnished_partly_by_an_ota_carries_co_after_go(claim_scene):
    claim = pin_control_numbers(
        make_claim(claim_scene, [{"cpt": "97530", "minutes": 30, "assistant_minutes": 10}]), "COTA00000001")
    text = written(claim)
    assert_golden("ota_line_co", text)
    assert segments_of(text, "SV1") == ["SV1*HC:97530:GO:CO*120.00*UN*2***1"]


def test_a_line_past_the_therapy_threshold_carries_kx(clinic_a, code_sets):
    scene = scene_for(clinic_a, payer_id="MEDKX", name="Medicare KX", kx_threshold_applies=True)
    factories.FeeScheduleEntryFactory(clinic=scene.clinic, cpt="97112", payer=scene.payer, charge=Decimal("90.00"),
                                      expected_allowed=Decimal("2400.00"))
    make_claim(scene, [{"cpt": "97112", "minutes": 15}], date_of_service=datetime.date(2026, 3, 2))
    claim = pin_control_numbers(make_claim(scene, [{"cpt": "97530", "minutes": 45}]), "CKX000000001")
    text = written(claim)
    assert_golden("kx_line", text)
    assert segments_of(text, "SV1") == ["SV1*HC:97530:GO:KX*180.00*UN*3***1"]


def test_an_ncci_pair_in_distinct_time_blocks_puts_59_on_the_column_2_code(claim_scene):
    lines = [{"cpt": "97140", "minutes": 10}, {"cpt": "97530", "minutes": 15, "distinct_time_block": True}]
    claim = pin_control_numbers(make_claim(claim_scene, lines), "CNCCI5900001")
    text = written(claim)
    assert_golden("ncci_pair_59", text)
    assert segments_of(text, "SV1") == ["SV1*HC:97140:GO*60.00*UN*1***1", "SV1*HC:97530:GO:59*60.00*UN*1***1"]


def test_a_payer_that_wants_xs_gets_xs_instead_of_59(clinic_a, code_sets):
    scene = scene_for(clinic_a, payer_id="MEDXS", name="Medicare XS", ncci_bypass_modifier="XS")
    lines = [{"cpt": "97140", "minutes": 10}, {"cpt": "97530", "minutes": 15, "distinct_time_block": True}]
    claim = pin_control_numbers(make_claim(scene, lines), "CNCCIXS00001")
    text = written(claim)
    assert_golden("ncci_pair_xs", text)
    assert "SV1*HC:97530:GO:XS*60.00*UN*1***1~" in text


def test_prior_authorizations_are_written_at_claim_and_line_level(claim_scene):
    coverage, clinic = claim_scene.coverage, claim_scene.clinic
    PriorAuthorization.objects.create(clinic=clinic, coverage=coverage, number="AUTH-VISITS-1",
                                      start_date=datetime.date(2026, 9, 1), end_date=datetime.date(2026, 12, 31),
                                      visits_authorized=20)
    per_code = PriorAuthorization.objects.create(clinic=clinic, coverage=coverage, number="AUTH-97530",
                                                 start_date=datetime.date(2026, 8, 1),
                                                 end_date=datetime.date(2026, 12, 31))
    AuthorizedCode.objects.create(clinic=clinic, authorization=per_code, cpt="97530", units_authorized=24)
    claim = pin_control_numbers(make_claim(claim_scene), "CAUTH0000001")
    text = written(claim)
    assert_golden("prior_auth", text)
    assert "CLM*CAUTH0000001*180.00***11:B:1*Y*A*Y*Y~\nREF*G1*AUTH-VISITS-1~" in text
    assert ("SV1*HC:97530:GO*120.00*UN*2***1~\nDTP*472*D8*20260914~\nREF*G1*AUTH-97530~\n"
            "REF*6R*CAUTH0000001L01~") in text
    assert "SV1*HC:97535:GO*60.00*UN*1***1~\nDTP*472*D8*20260914~\nREF*6R*CAUTH0000001L02~" in text


def paid_claim(scene, pcn: str, icn: str = "ICN20260918001"):
    claim = pin_control_numbers(make_claim(scene), pcn)
    advance(claim, ClaimStatus.BATCHED, ClaimStatus.SUBMITTED, ClaimStatus.PAID)
    Claim.objects.filter(pk=claim.pk).update(payer_claim_control_number=icn)
    return load_claim(claim.pk)


def test_a_replacement_is_frequency_7_and_quotes_the_payer_claim_number(claim_scene):
    original = paid_claim(claim_scene, "CORIGINAL001")
    correction = claim_correct(claim=original, frequency="7", acting_user=None, reason="units corrected")
    claim_mark_ready(claim=correction, acting_user=None)
    claim = pin_control_numbers(correction, "CREPLACE0001")
    text = written(claim)
    assert_golden("replacement_7", text)
    assert "CLM*CREPLACE0001*180.00***11:B:7*Y*A*Y*Y~\nREF*F8*ICN20260918001~" in text


def test_a_void_is_frequency_8_and_quotes_the_payer_claim_number(claim_scene):
    original = paid_claim(claim_scene, "CORIGINAL002", icn="ICN20260918002")
    correction = claim_correct(claim=original, frequency="8", acting_user=None, reason="billed the wrong patient")
    claim = pin_control_numbers(correction, "CVOID0000001")
    text = written(claim)
    assert_golden("void_8", text)
    assert "CLM*CVOID0000001*180.00***11:B:8*Y*A*Y*Y~\nREF*F8*ICN20260918002~" in text


# --- writer rules -----------------------------------------------------------------------------------------------


def test_a_delimiter_in_a_name_is_refused_naming_the_segment_and_element(claim_scene):
    claim = make_claim(claim_scene)
    Patient.objects.filter(pk=claim.patient_id).update(last_name="O*BRIEN")
    claim = load_claim(claim.pk)
    with pytest.raises(X12WriteError, match=r"NM103 contains '\*', reserved as an X12 delimiter"):
        render_837p([claim], now=NOW)
    assert precheck_claims([claim]) == [{
        "claim": claim.patient_control_number, "segment": "NM1", "line": None, "field": "NM103",
        "message": "NM103 contains '*', reserved as an X12 delimiter; remove it from 'O*BRIEN'."}]
    assert not X12ControlCounter.objects.exists(), "a refused file must not use up a control number"


def test_settings_switch_the_file_to_test_usage_and_a_clearinghouse_account(claim_scene, settings):
    settings.X12_USAGE = "T"
    settings.X12_837_SENDER_ID = "BILLCO01"
    settings.X12_837_RECEIVER_ID = "CLEARHOUSE"
    text = written(make_claim(claim_scene))
    lines = text.splitlines()
    assert lines[0] == ("ISA*00*          *00*          *ZZ*BILLCO01       *ZZ*CLEARHOUSE     *260918*1430*^*00501*"
                        "000000001*0*T*:~")
    assert lines[1] == "GS*HC*BILLCO01*CLEARHOUSE*20260918*1430*1*X*005010X222A1~"
    assert "NM1*41*2*ALDER PEDIATRIC OT*****46*BILLCO01~" in text
    assert "NM1*40*2*MEDICARE PART B*****46*CLEARHOUSE~" in text
    assert X12ControlCounter.objects.get().submitter_id == "BILLCO01"


def test_claims_of_two_payers_cannot_share_a_file(claim_scene):
    acme = factories.PayerFactory(name="Acme Health", payer_id="ACME1", go_required=True)
    other = make_claim(dependent_of(claim_scene, payer=acme))
    with pytest.raises(AppError, match="one 837P file is for one clinic and one payer"):
        render_837p([make_claim(claim_scene, date_of_service=DOS - datetime.timedelta(days=1)), other], now=NOW)


def five_claims(scene) -> list[Claim]:
    return [make_claim(scene, date_of_service=DOS - datetime.timedelta(days=n)) for n in range(5)]


def test_more_claims_than_the_set_limit_are_split_into_several_sets_of_one_interchange(claim_scene, monkeypatch):
    claims = five_claims(claim_scene)
    monkeypatch.setattr(x837, "MAX_CLAIMS_PER_SET", 2)
    text = render_837p(claims, now=NOW, reference="BATCH1").text
    _delimiters, segments = tokenize(text)
    sets = transaction_sets(segments)
    assert [sum(1 for s in group if s.id == "CLM") for group in sets] == [2, 2, 1]
    assert [group[1].get(3) for group in sets] == ["BATCH1-1", "BATCH1-2", "BATCH1-3"]
    assert [group[0].get(2) for group in sets] == ["0001", "0002", "0003"]
    assert segments_of(text, "GE") == ["GE*3*1"]
    assert len(segments_of(text, "ISA")) == 1
    result = validate_with_pyx12(text)
    assert result.ok, [str(issue) for issue in result.issues]


# --- our checks -------------------------------------------------------------------------------------------------


def test_precheck_passes_a_clean_claim(claim_scene):
    assert precheck_claims([make_claim(claim_scene)]) == []


def test_precheck_catches_a_pointer_out_of_range(claim_scene):
    claim = make_claim(claim_scene)
    ClaimLine.objects.filter(claim=claim, position=2).update(diagnosis_pointers=[1, 3])
    assert precheck_claims([load_claim(claim.pk)]) == [{
        "claim": claim.patient_control_number, "segment": "SV1", "line": None,
        "field": "lines[2].diagnosis_pointers",
        "message": "Line 2 (97535) points at diagnosis 3, but the claim has 2 diagnoses."}]


def test_precheck_catches_a_bad_rendering_npi(claim_scene):
    claim = make_claim(claim_scene)
    Provider.objects.filter(pk=claim.rendering_provider_id).update(npi="1234567890")
    errors = precheck_claims([load_claim(claim.pk)])
    assert [(e["segment"], e["field"], e["message"]) for e in errors] == [
        ("NM1*82", "rendering_provider.npi", "The rendering provider NPI '1234567890' is not valid: it needs 10 digits "
                                             "starting with 1 or 2 and a correct check digit.")]


def test_precheck_catches_a_total_that_is_not_the_sum_of_the_lines(claim_scene):
    claim = make_claim(claim_scene)
    Claim.objects.filter(pk=claim.pk).update(total_charge=Decimal("180.01"))
    errors = precheck_claims([load_claim(claim.pk)])
    assert [e["message"] for e in errors] == ["The claim total $180.01 is not the sum of its line charges ($180.00)."]


def test_precheck_catches_a_billing_zip_without_plus_four_and_a_correction_without_payer_number(claim_scene):
    claim = make_claim(claim_scene)
    claim.clinic.zip_code = "97201"
    claim.frequency = "7"
    claim.payer_claim_control_number = ""
    fields = {e["field"] for e in precheck_claims([claim])}
    assert fields == {"clinic.zip_code", "payer_claim_control_number"}


def test_the_written_file_check_finds_an_unbalanced_claim_and_a_pointer_beyond_the_diagnoses(claim_scene):
    claim = make_claim(claim_scene)
    text = written(claim).replace("SV1*HC:97535:GO*60.00*UN*1***1~", "SV1*HC:97535:GO*70.00*UN*1***1:3~")
    errors = check_written_837p(text)
    pcn = claim.patient_control_number
    assert {"claim": pcn, "segment": "CLM", "line": 21, "field": "CLM02",
            "message": "CLM02 $180.00 is not the sum of the SV102 line charges ($190.00)."} in errors
    assert {"claim": pcn, "segment": "SV1", "line": 31, "field": "SV107",
            "message": "Diagnosis pointer 3 is outside the claim's 2 diagnoses."} in errors


def test_the_written_file_check_reports_pyx12_errors_with_the_claim_and_segment(claim_scene):
    claim = make_claim(claim_scene)
    text = written(claim).replace("*UN*2***1~", "*XX*2***1~")
    errors = check_written_837p(text)
    assert {"claim": claim.patient_control_number, "segment": "SV1", "line": 27, "field": "SV103",
            "message": "(XX) is not a valid code for Unit or Basis for Measurement Code (SV103)"} in errors


# --- batches ----------------------------------------------------------------------------------------------------


def batch_and_run(claims, django_capture_on_commit_callbacks, user=None) -> list[ClaimBatch]:
    with django_capture_on_commit_callbacks(execute=True):
        batches = batches_create(claims=claims, acting_user=user)
    return [ClaimBatch.objects.get(pk=b.pk) for b in batches]


def test_a_released_batch_stores_its_file_and_hash_and_submits_its_claims(
        claim_scene, outbox, django_capture_on_commit_callbacks, user_a):
    claims = [make_claim(claim_scene), make_claim(claim_scene, date_of_service=DOS - datetime.timedelta(days=2))]
    [batch] = batch_and_run(claims, django_capture_on_commit_callbacks, user_a)
    assert batch.status == BatchStatus.RELEASED
    assert batch.sha256 == hashlib.sha256(batch.content.encode()).hexdigest()
    assert batch.file_name == "837P_alder_MEDB1_000000001.txt"
    assert (batch.interchange_control_number, batch.group_control_number) == ("000000001", "1")
    assert (batch.claim_count, batch.total_charge) == (2, Decimal("360.00"))
    assert (batch.progress_done, batch.progress_total, batch.errors) == (2, 2, [])
    assert batch.released_at is not None
    assert (outbox / batch.file_name).read_text() == batch.content
    for claim in Claim.objects.filter(pk__in=[c.pk for c in claims]):
        assert (claim.status, claim.batch_id, claim.submitted_at) == (ClaimStatus.SUBMITTED, batch.pk,
                                                                     batch.released_at)
        moves = list(ClaimEvent.objects.filter(claim=claim).values_list("from_status", "to_status", "actor_name"))
        assert moves == [("", "ready", "system"), ("ready", "batched", "biller_a"), ("batched", "submitted", "system")]
        assert f"CLM*{claim.patient_control_number}*180.00***11:B:1*Y*A*Y*Y~" in batch.content


def test_a_batch_failing_the_checks_is_held_and_its_claims_go_back_to_ready(
        claim_scene, outbox, django_capture_on_commit_callbacks):
    good = make_claim(claim_scene, date_of_service=DOS - datetime.timedelta(days=1))
    bad = make_claim(claim_scene)
    ClaimLine.objects.filter(claim=bad, position=1).update(diagnosis_pointers=[5])
    [batch] = batch_and_run([good, bad], django_capture_on_commit_callbacks)
    assert batch.status == BatchStatus.HELD
    assert batch.errors == [{"claim": bad.patient_control_number, "segment": "SV1", "line": None,
                             "field": "lines[1].diagnosis_pointers",
                             "message": "Line 1 (97530) points at diagnosis 5, but the claim has 2 diagnoses."}]
    assert (batch.content, batch.sha256, batch.released_at) == ("", "", None)
    assert not outbox.exists() or not any(outbox.iterdir())
    assert not X12ControlCounter.objects.exists(), "a held batch uses no control number"
    for claim in Claim.objects.filter(pk__in=[good.pk, bad.pk]):
        assert (claim.status, claim.batch_id, claim.submitted_at) == (ClaimStatus.READY, None, None)
        last = ClaimEvent.objects.filter(claim=claim).last()
        assert (last.from_status, last.to_status) == ("batched", "ready")
    assert ClaimEvent.objects.filter(claim=bad).last().reason == (
        "batch held: Line 1 (97530) points at diagnosis 5, but the claim has 2 diagnoses.")


def test_a_batch_whose_written_file_fails_pyx12_is_held_and_gives_its_control_numbers_back(
        claim_scene, outbox, django_capture_on_commit_callbacks):
    claim = make_claim(claim_scene)
    Payer.objects.filter(pk=claim.payer_id).update(claim_filing_indicator="XX")
    [batch] = batch_and_run([claim], django_capture_on_commit_callbacks)
    assert batch.status == BatchStatus.HELD
    assert batch.errors == [{"claim": claim.patient_control_number, "segment": "SBR", "line": 15, "field": "SBR09",
                             "message": "(XX) is not a valid code for Claim Filing Indicator Code (SBR09)"}]
    assert not X12ControlCounter.objects.exists()
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.READY


def test_a_delimiter_in_a_name_holds_the_batch_with_the_claim_named(
        claim_scene, outbox, django_capture_on_commit_callbacks):
    claim = make_claim(claim_scene)
    Patient.objects.filter(pk=claim.patient_id).update(first_name="ANN~E")
    [batch] = batch_and_run([claim], django_capture_on_commit_callbacks)
    assert batch.status == BatchStatus.HELD
    assert [(e["claim"], e["field"]) for e in batch.errors] == [(claim.patient_control_number, "NM104")]


def test_control_numbers_increase_from_one_batch_to_the_next(claim_scene, outbox, django_capture_on_commit_callbacks):
    [first] = batch_and_run([make_claim(claim_scene)], django_capture_on_commit_callbacks)
    later = make_claim(claim_scene, date_of_service=DOS - datetime.timedelta(days=3))
    [second] = batch_and_run([later], django_capture_on_commit_callbacks)
    assert (first.status, second.status) == (BatchStatus.RELEASED, BatchStatus.RELEASED)
    assert int(second.interchange_control_number) == int(first.interchange_control_number) + 1
    assert int(second.group_control_number) == int(first.group_control_number) + 1
    assert "*000000002*0*P*:~" in second.content.splitlines()[0]


def test_a_released_batch_never_changes_and_the_task_leaves_it_alone(
        claim_scene, outbox, django_capture_on_commit_callbacks):
    [batch] = batch_and_run([make_claim(claim_scene)], django_capture_on_commit_callbacks)
    assert generate_batch(batch.pk) == BatchStatus.RELEASED
    with pytest.raises(AppError, match="its file can never change") as refused:
        batch_generate(batch=batch)
    assert refused.value.code == "batch_released"
    assert ClaimBatch.objects.get(pk=batch.pk).content == batch.content
    assert X12ControlCounter.objects.get().last_interchange == 1


def test_only_ready_claims_are_batched_one_batch_per_payer(claim_scene, outbox):
    acme = factories.PayerFactory(name="Acme Health", payer_id="ACME1", go_required=True)
    medicare_claim = make_claim(claim_scene)
    acme_claim = make_claim(dependent_of(claim_scene, payer=acme))
    batches = batches_create(claims=[medicare_claim, acme_claim], acting_user=None, queue=False)
    assert sorted((b.payer.payer_id, b.claim_count, b.progress_total, b.status) for b in batches) == [
        ("ACME1", 1, 1, BatchStatus.QUEUED), ("MEDB1", 1, 1, BatchStatus.QUEUED)]
    with pytest.raises(AppError, match="Only claims ready to send can be batched; not ready: ") as refused:
        batches_create(claims=[medicare_claim], acting_user=None)
    assert refused.value.code == "not_ready"


def test_a_user_of_another_clinic_cannot_batch_its_claims(claim_scene, user_b):
    claim = make_claim(claim_scene)
    with pytest.raises(AppError) as refused:
        batches_create(claims=[claim], acting_user=user_b)
    assert refused.value.code == "forbidden"
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.READY
    assert not ClaimBatch.objects.exists()


# --- commands ---------------------------------------------------------------------------------------------------


def test_build_claims_prints_the_claims_built_and_the_visits_held(claim_scene):
    code_billable(add_visit(claim_scene))
    add_visit(claim_scene, date_of_service=DOS - datetime.timedelta(days=1))  # never scrubbed: held
    out = StringIO()
    call_command("build_claims", "--clinic", "alder", stdout=out)
    assert json.loads(out.getvalue()) == {"claims_built": 1, "visits_held": 1}


def test_build_claims_refuses_an_unknown_clinic(db):
    with pytest.raises(CommandError, match="No active clinic with the slug 'nowhere'"):
        call_command("build_claims", "--clinic", "nowhere", stdout=StringIO())


def test_export_837p_writes_each_released_file_into_the_folder(claim_scene, tmp_path):
    claims = [make_claim(claim_scene), make_claim(claim_scene, date_of_service=DOS - datetime.timedelta(days=1))]
    out = StringIO()
    call_command("export_837p", "--clinic", "alder", "--out", str(tmp_path), stdout=out)
    batch = ClaimBatch.objects.get()
    path = tmp_path / "837P_alder_MEDB1_000000001.txt"
    assert json.loads(out.getvalue()) == {"files": [str(path)], "claims": 2}
    assert path.read_text() == batch.content
    assert set(Claim.objects.filter(pk__in=[c.pk for c in claims]).values_list("status", flat=True)) == {"submitted"}


def test_export_837p_reports_a_held_batch_on_stderr_and_fails(claim_scene, tmp_path):
    claim = make_claim(claim_scene)
    Provider.objects.filter(pk=claim.rendering_provider_id).update(npi="1234567890")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=r"1 batch\(es\) held"):
        call_command("export_837p", "--clinic", "alder", "--out", str(tmp_path), stdout=out, stderr=err)
    assert json.loads(out.getvalue()) == {"files": [], "claims": 0}
    assert "Batch for Medicare Part B held (1 claims back to ready):" in err.getvalue()
    assert re.search(rf"{claim.patient_control_number} NM1\*82 rendering_provider.npi: The rendering provider NPI "
                     r"'1234567890' is not valid", err.getvalue())
    assert Claim.objects.get(pk=claim.pk).status == ClaimStatus.READY
    assert list(tmp_path.iterdir()) == []


def test_export_837p_with_nothing_ready_writes_nothing(claim_scene, tmp_path):
    out = StringIO()
    call_command("export_837p", "--clinic", "alder", "--out", str(tmp_path), stdout=out)
    assert json.loads(out.getvalue()) == {"files": [], "claims": 0}
