"""999 and 277CA import: the public samples mapped onto our batches and claims, our own files, duplicates,
malformed files, tenancy, and the command.

Claims are made directly (submitted, in a released batch whose 837P text carries the ST02 and CLM01 the
acknowledgment answers), so each test states exactly which control numbers it relies on.
"""

import datetime
import hashlib
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from claims import acks
from claims.acks import ack_import
from claims.models import AckFile, BatchStatus, Claim, ClaimBatch, ClaimEvent, ClaimFrequency, ClaimLine, ClaimStatus
from claims.selectors import ack_files_visible_to, rejected_claims
from claims.services import claim_mark_ready
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS
from tests import factories
from visits.models import PlaceOfService

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "x12-samples"
DOS = datetime.date(2026, 10, 5)
SENT_AT = datetime.datetime(2026, 10, 6, 18, tzinfo=datetime.UTC)


# --- helpers: X12 text, a released batch, submitted claims -------------------------------------------------------


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def interchange(gs01: str, guide: str, sets: list[tuple[str, str, list[str]]], *, group: str = "28",
                control: str = "000000042") -> str:
    """An interchange with one group; `sets` are (ST01, ST02, body segments without ST/SE)."""
    isa = "*".join(["ISA", "00", " " * 10, "00", " " * 10, "ZZ", "CLEARINGHOUSE".ljust(15), "ZZ",
                    "OTBILLING".ljust(15), "261006", "1200", "^", "00501", control, "0", "T", ":"])
    segments = [isa, f"GS*{gs01}*CLEARINGHOUSE*OTBILLING*20261006*1200*{group}*X*{guide}"]
    for set_id, st02, body in sets:
        block = [f"ST*{set_id}*{st02}*{guide}", *body]
        segments += [*block, f"SE*{len(block) + 1}*{st02}"]
    segments += [f"GE*{len(sets)}*{group}", f"IEA*1*{control}"]
    return "~\n".join(segments) + "~\n"


def batch_837(sets: dict[str, list[str]], group: str) -> str:
    """A minimal 837P text: per ST02, one CLM per patient control number (all the 999 matching reads)."""
    return interchange("HC", "005010X222A1", [
        ("837", st02, ["BHT*0019*00*B1*20261006*1200*CH",
                       *(f"CLM*{pcn}*90***11:B:1*Y*A*Y*Y" for pcn in numbers)])
        for st02, numbers in sets.items()], group=group)


def make_batch(clinic, payer, *, group: str = "28", sets: dict[str, list[str]] | None = None,
               status: str = BatchStatus.RELEASED, content: str | None = None) -> ClaimBatch:
    text = content if content is not None else batch_837(sets or {}, group)
    return ClaimBatch.objects.create(
        clinic=clinic, payer=payer, status=status, file_name=f"837P_{group}.edi", content=text,
        sha256=hashlib.sha256(text.encode()).hexdigest(), interchange_control_number="000000042",
        group_control_number=group, released_at=SENT_AT)


def make_claim(scene: dict, pcn: str, *, batch=None, status: str = ClaimStatus.SUBMITTED, **extra) -> Claim:
    visit = factories.VisitFactory(patient=scene["patient"], clinic=scene["patient"].clinic,
                                   coverage=scene["coverage"], rendering_provider=scene["provider"],
                                   date_of_service=DOS)
    claim = Claim.objects.create(
        clinic=scene["patient"].clinic, patient=scene["patient"], coverage=scene["coverage"],
        payer=scene["coverage"].payer, rendering_provider=scene["provider"], patient_control_number=pcn,
        status=status, place_of_service=PlaceOfService.OFFICE, service_date_from=DOS, service_date_to=DOS,
        diagnoses=["M62.81"], total_charge=Decimal("90.00"), batch=batch, submitted_at=SENT_AT, **extra)
    ClaimLine.objects.create(clinic=claim.clinic, claim=claim, position=1, visit=visit, date_of_service=DOS,
                             cpt="97110", modifiers=["GO"], units=2, charge=Decimal("90.00"),
                             diagnosis_pointers=[1], line_control_number=f"{pcn}L01")
    return claim


def our_277ca(claims: list[tuple[str, str, str]]) -> str:
    """A 277CA answering our claims: (patient control number, STC01, REF*1K or '')."""
    body = ["BHT*0085*08*B1*20261008*1200*TH", "HL*1**20*1", "NM1*PR*2*ACME HEALTH*****PI*ACME1", "TRN*1*T1",
            "DTP*050*D8*20261008", "DTP*009*D8*20261008", "HL*2*1*21*1", "NM1*41*2*OT BILLING*****46*OTB",
            "TRN*2*B1", "STC*A1:19:PR*20261008*WQ*180", "HL*3*2*19*1",
            "NM1*85*2*ALDER PEDIATRIC OT*****XX*1234567893", "TRN*1*0"]
    for index, (pcn, stc01, ref) in enumerate(claims, start=4):
        action = "WQ" if stc01.startswith(("A1", "A2")) else "U"
        body += [f"HL*{index}*3*PT", "NM1*QC*1*EXAMPLE*PAT****MI*M00000001", f"TRN*2*{pcn}",
                 f"STC*{stc01}*20261008*{action}*90", *([f"REF*1K*{ref}"] if ref else []), "DTP*472*D8*20261005"]
    return interchange("HN", "005010X214", [("277", "0001", body)], group="9")


def our_999(sets: list[tuple[str, list[str], str]], group_result: str, *, group: str = "28") -> str:
    """A 999 answering group `group`: (ST02, IK3/IK4/CTX segments, IK5 segment) per transaction set."""
    body = [f"AK1*HC*{group}*005010X222A1"]
    for st02, errors, ik5 in sets:
        body += [f"AK2*837*{st02}*005010X222A1", *errors, ik5]
    accepted = sum(1 for _st02, _errors, ik5 in sets if ik5.split("*")[1] in ("A", "E"))
    body.append(f"AK9*{group_result}*{len(sets)}*{len(sets)}*{accepted}")
    return interchange("FA", "005010X231A1", [("999", "0001", body)], group="77")


@pytest.fixture
def scene(visit_setup):
    return visit_setup


def events_of(claim: Claim) -> list[tuple[str, str]]:
    return list(ClaimEvent.objects.filter(claim=claim).values_list("from_status", "to_status"))


# --- 999 ---------------------------------------------------------------------------------------------------------


def test_999_accepted_sample_accepts_the_batch_and_leaves_its_claims_submitted(scene, clinic_a, payer, user_a):
    batch = make_batch(clinic_a, payer, group="28", sets={"0028": ["CACC00000001"]})
    claim = make_claim(scene, "CACC00000001", batch=batch)

    summary = ack_import(file_name="999_accepted.edi", content=sample("999_X231A1_accepted_Herophilus.edi"),
                         acting_user=user_a)

    batch.refresh_from_db()
    claim.refresh_from_db()
    assert (summary["duplicate"], summary["kind"], summary["accepted"], summary["rejected"]) == (False, "999", 1, 0)
    assert batch.status == BatchStatus.ACCEPTED
    assert batch.ack_note == "Accepted by 999."
    assert claim.status == ClaimStatus.SUBMITTED
    assert events_of(claim) == []
    assert AckFile.objects.get().clinic == clinic_a


def test_999_rejected_sample_rejects_the_batch_and_its_claims_with_the_error_in_words(scene, clinic_a, payer,
                                                                                      user_a):
    batch = make_batch(clinic_a, payer, group="28", sets={"0028": ["CREJ00000001", "CREJ00000002"]})
    first, second = make_claim(scene, "CREJ00000001", batch=batch), make_claim(scene, "CREJ00000002", batch=batch)

    summary = ack_import(file_name="999_rejected.edi", content=sample("999_X231A1_rejected_Herophilus.edi"),
                         acting_user=user_a)

    batch.refresh_from_db()
    first.refresh_from_db()
    assert summary["rejected"] == 2 and summary["accepted"] == 0
    assert batch.status == BatchStatus.REJECTED
    assert batch.ack_note.startswith("Rejected by 999: functional group 28 rejected (AK901 R)")
    assert first.status == ClaimStatus.REJECTED
    assert first.rejection_reason == (
        "999 for batch 837P_28.edi: transaction set 0028 rejected (IK501 R): one or more segments in error "
        "(IK502 5); NM segment 17: unrecognized segment ID (IK304 1)")
    assert events_of(first) == [(ClaimStatus.SUBMITTED, ClaimStatus.REJECTED)]
    assert list(rejected_claims(user_a, WORK_CLAIMS)) == [second, first]  # newest rejection first


def test_999_element_errors_are_translated_into_words_with_their_codes(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer, group="1", sets={"0001": ["CELM00000001"]})
    claim = make_claim(scene, "CELM00000001", batch=batch)

    ack_import(file_name="999_generated.edi", content=sample("generated/999_X231_reject-from-pyx12_generated.edi"))

    claim.refresh_from_db()
    assert claim.rejection_reason == (
        "999 for batch 837P_1.edi: transaction set 0001 rejected (IK501 R): one or more segments in error (IK502 5); "
        "DMG segment 17: segment has data element errors (IK304 8): DMG03 invalid code value (IK403 7), value 'X'; "
        "SV1 segment 24: segment has data element errors (IK304 8): SV101-3 data element too long (IK403 5), "
        "value 'GOO'; SV104 required data element missing (IK403 1)")


def test_999_rejecting_one_set_of_two_leaves_the_batch_partly_accepted(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer, group="28", sets={"0001": ["CPAR00000001"], "0002": ["CPAR00000002"]})
    kept, refused = make_claim(scene, "CPAR00000001", batch=batch), make_claim(scene, "CPAR00000002", batch=batch)
    text = our_999([("0001", [], "IK5*A"),
                    ("0002", ["IK3*CLM*4**8", "CTX*CLM01:CPAR00000002", "IK4*2*782*1"], "IK5*R*5")], "P")

    summary = ack_import(file_name="999_partial.edi", content=text)

    batch.refresh_from_db()
    kept.refresh_from_db()
    refused.refresh_from_db()
    assert batch.status == BatchStatus.PARTIAL
    assert (kept.status, refused.status) == (ClaimStatus.SUBMITTED, ClaimStatus.REJECTED)
    assert refused.rejection_reason.endswith(
        "CLM segment 4: segment has data element errors (IK304 8) (claim CPAR00000002): CLM02 required data element "
        "missing (IK403 1)")
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert [s["result"] for s in summary["batches"][0]["sets"]] == ["A", "R"]


def test_999_rejecting_the_whole_group_rejects_even_the_sets_its_ik5_accepted(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer, group="28", sets={"0001": ["CGRP00000001"]})
    claim = make_claim(scene, "CGRP00000001", batch=batch)
    text = our_999([("0001", [], "IK5*A")], "R").replace("AK9*R*1*1*1", "AK9*R*1*1*1*5")

    ack_import(file_name="999_group.edi", content=text)

    batch.refresh_from_db()
    claim.refresh_from_db()
    assert (batch.status, claim.status) == (BatchStatus.REJECTED, ClaimStatus.REJECTED)
    assert claim.rejection_reason == ("999 for batch 837P_28.edi: functional group 28 rejected (AK901 R): number of "
                                      "included transaction sets does not match count (AK905 5)")


def test_999_matches_a_zero_padded_group_control_number(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer, group="000000028", sets={"0028": ["CPAD00000001"]})
    make_claim(scene, "CPAD00000001", batch=batch)

    ack_import(file_name="999_accepted.edi", content=sample("999_X231A1_accepted_Herophilus.edi"))

    batch.refresh_from_db()
    assert batch.status == BatchStatus.ACCEPTED


def test_999_for_a_batch_whose_file_cannot_be_read_applies_its_single_answer_to_every_claim(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer, group="28", content="837P text not kept")
    claim = make_claim(scene, "CMIN00000001", batch=batch)

    ack_import(file_name="999_rejected.edi", content=sample("999_X231A1_rejected_Herophilus.edi"))

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.REJECTED


def test_999_for_an_unknown_group_is_kept_and_listed_as_unmatched(scene, clinic_a, payer):
    make_batch(clinic_a, payer, group="29", sets={"0028": ["COTH00000001"]})
    other = make_claim(scene, "COTH00000001")

    summary = ack_import(file_name="999_rejected.edi", content=sample("999_X231A1_rejected_Herophilus.edi"))

    other.refresh_from_db()
    assert summary["unmatched"] == [{"reference": "group 28", "level": "functional group",
                                     "reason": "no batch of ours has this group control number (GS06)."}]
    assert other.status == ClaimStatus.SUBMITTED
    assert AckFile.objects.get().clinic is None


def test_999_for_a_batch_already_acknowledged_is_skipped(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer, group="28", sets={"0028": ["CSKP00000001"]}, status=BatchStatus.ACCEPTED)
    claim = make_claim(scene, "CSKP00000001", batch=batch)

    summary = ack_import(file_name="999_rejected.edi", content=sample("999_X231A1_rejected_Herophilus.edi"))

    batch.refresh_from_db()
    claim.refresh_from_db()
    assert (batch.status, claim.status) == (BatchStatus.ACCEPTED, ClaimStatus.SUBMITTED)
    assert summary["skipped"][0]["level"] == "batch"
    assert "accepted (999)" in summary["skipped"][0]["reason"]


# --- 277CA -------------------------------------------------------------------------------------------------------


def test_277ca_rejection_sample_rejects_the_claim_with_the_reason_in_words_and_codes(scene, clinic_a, payer,
                                                                                     user_a):
    claim = make_claim(scene, "3920394930203", batch=make_batch(clinic_a, payer))

    summary = ack_import(file_name="277CA_rejected.edi",
                         content=sample("277CA_X214_rejected-pipe-separator_Herophilus.edi"), acting_user=user_a)

    claim.refresh_from_db()
    assert (summary["kind"], summary["accepted"], summary["rejected"]) == ("277CA", 0, 1)
    assert claim.status == ClaimStatus.REJECTED
    assert claim.rejection_reason == ("277CA: Rejected for invalid information (A7): Entity's National Provider "
                                      "Identifier (NPI) (562), entity Billing provider (85)")
    assert claim.payer_claim_control_number == ""
    assert list(rejected_claims(user_a, WORK_CLAIMS)) == [claim]
    assert AckFile.objects.get().clinic == clinic_a


def test_277ca_accepted_sample_accepts_the_claim_and_keeps_the_payer_claim_number(scene, clinic_a, payer):
    claim = make_claim(scene, "5781", batch=make_batch(clinic_a, payer))

    summary = ack_import(file_name="277CA_accepted.edi", content=sample("277CA_X214_accepted_Herophilus.edi"))

    claim.refresh_from_db()
    assert summary["accepted"] == 1
    assert claim.status == ClaimStatus.ACCEPTED
    assert claim.payer_claim_control_number == "1107000000014420"
    assert events_of(claim) == [(ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED)]


def test_our_277ca_accepts_one_claim_and_rejects_another(scene, clinic_a, payer, user_a):
    batch = make_batch(clinic_a, payer)
    accepted = make_claim(scene, "COWN00000001", batch=batch)
    rejected = make_claim(scene, "COWN00000002", batch=batch)
    known = make_claim(scene, "COWN00000003", batch=batch, payer_claim_control_number="KEEP-ME")
    text = our_277ca([("COWN00000001", "A2:20", "PAYER0001"), ("COWN00000002", "A6:33:IL", ""),
                      ("COWN00000003", "A1:19:PR", "PAYER0003")])

    summary = ack_import(file_name="277CA_ours.edi", content=text, acting_user=user_a)

    for claim in (accepted, rejected, known):
        claim.refresh_from_db()
    assert (accepted.status, accepted.payer_claim_control_number) == (ClaimStatus.ACCEPTED, "PAYER0001")
    assert (known.status, known.payer_claim_control_number) == (ClaimStatus.ACCEPTED, "KEEP-ME")
    assert rejected.status == ClaimStatus.REJECTED
    assert rejected.rejection_reason == ("277CA: Rejected for missing information (A6): Subscriber and subscriber id "
                                         "not found (33), entity Subscriber (IL)")
    assert (summary["accepted"], summary["rejected"], summary["unmatched"]) == (2, 1, [])
    assert summary["batches"] == [{"batch": "837P_28.edi", "public_id": str(batch.public_id)}]


def test_277ca_multi_claim_sample_applies_what_matches_and_lists_the_rest(scene, clinic_a, payer):
    returned = make_claim(scene, "PATIENT33333")
    accepted = make_claim(scene, "JOHNSON55555")

    summary = ack_import(file_name="277CA_hdi.edi", content=sample("277CA_X214_multi-claim-mixed_HDI.edi"))

    returned.refresh_from_db()
    accepted.refresh_from_db()
    assert returned.status == ClaimStatus.REJECTED
    assert returned.rejection_reason.startswith("277CA: Returned as unprocessable (A3): Missing or invalid "
                                                "information (21); also Returned as unprocessable (A3): Date(s) "
                                                "of service (187)")
    assert (accepted.status, accepted.payer_claim_control_number) == (ClaimStatus.ACCEPTED, "2202163599926X")
    assert {row["reference"] for row in summary["unmatched"]} == {"PATIENT22222", "JONES44444", "MILSO66666",
                                                                  "PATIENT9999"}
    assert summary["notes"] == ["billing provider IVAN REED (1222334499): Returned as unprocessable (A3): Entity "
                                "not approved as an electronic submitter (24), entity Billing provider (85)"]


def test_277ca_skips_a_claim_already_past_submitted(scene):
    paid = make_claim(scene, "3920394930203", status=ClaimStatus.PAID)

    summary = ack_import(file_name="277CA_rejected.edi",
                         content=sample("277CA_X214_rejected-pipe-separator_Herophilus.edi"))

    paid.refresh_from_db()
    assert paid.status == ClaimStatus.PAID
    assert summary["skipped"] == [{"reference": "3920394930203", "level": "claim",
                                   "reason": "claim is paid; not moved to rejected."}]
    assert summary["rejected"] == 0


# --- duplicates, malformed files, tenancy --------------------------------------------------------------------------


def test_importing_the_same_file_twice_changes_nothing_the_second_time(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer)
    claims = [make_claim(scene, "CDUP00000001", batch=batch), make_claim(scene, "CDUP00000002", batch=batch)]
    text = our_277ca([("CDUP00000001", "A2:20", "P1"), ("CDUP00000002", "A7:562:85", "")])

    first = ack_import(file_name="277CA.edi", content=text)
    second = ack_import(file_name="277CA-again.edi", content=text.encode())

    assert first["duplicate"] is False and second["duplicate"] is True
    assert (second["accepted"], second["rejected"], second["kind"]) == (0, 0, "277CA")
    assert AckFile.objects.count() == 1
    assert [ClaimEvent.objects.filter(claim=c).count() for c in claims] == [1, 1]


def test_a_file_imported_by_someone_else_at_the_same_moment_answers_duplicate(scene, monkeypatch):
    make_claim(scene, "5781")
    text = sample("277CA_X214_accepted_Herophilus.edi")
    ack_import(file_name="first.edi", content=text)
    real = acks._existing_ack
    calls = []

    def not_yet_visible(digest):
        calls.append(digest)
        return None if len(calls) == 1 else real(digest)

    monkeypatch.setattr(acks, "_existing_ack", not_yet_visible)

    summary = ack_import(file_name="second.edi", content=text)

    assert summary["duplicate"] is True
    assert len(calls) == 2
    assert AckFile.objects.count() == 1


def test_a_truncated_file_is_refused_naming_the_segment_and_stores_nothing(scene):
    claim = make_claim(scene, "3920394930203")
    text = sample("277CA_X214_rejected-pipe-separator_Herophilus.edi")[:600]

    with pytest.raises(AppError) as refused:
        ack_import(file_name="cut.edi", content=text)

    claim.refresh_from_db()
    assert refused.value.message == "cut.edi segment 22 (STC): the file ends here without SE/GE/IEA: it is truncated."
    assert refused.value.code == "x12_invalid"
    assert AckFile.objects.count() == 0
    assert claim.status == ClaimStatus.SUBMITTED


def test_a_999_set_without_ik5_is_refused_naming_the_segment(scene, clinic_a, payer):
    batch = make_batch(clinic_a, payer, group="28", sets={"0028": ["CBAD00000001"]})
    claim = make_claim(scene, "CBAD00000001", batch=batch)
    text = our_999([("0028", ["IK3*NM1*17**8"], "IK4*3*66*7")], "R")

    with pytest.raises(AppError) as refused:
        ack_import(file_name="bad999.edi", content=text)

    claim.refresh_from_db()
    assert refused.value.message == ("bad999.edi: 999 segment 8 (AK9): AK9 before transaction set 0028 was closed "
                                     "by IK5.")
    assert (claim.status, AckFile.objects.count()) == (ClaimStatus.SUBMITTED, 0)


def test_a_277ca_claim_without_a_status_is_refused_naming_the_segment(scene):
    text = our_277ca([("CNOS00000001", "A2:20", "")])
    count = int(re.search(r"SE\*(\d+)\*0001", text).group(1))
    text = text.replace("STC*A2:20*20261008*WQ*90~\n", "").replace(f"SE*{count}*0001", f"SE*{count - 1}*0001")

    with pytest.raises(AppError) as refused:
        ack_import(file_name="nostc.edi", content=text)

    assert refused.value.message == "nostc.edi: 277CA segment 19 (TRN): claim CNOS00000001 (2200D) has no STC status."


def test_a_file_that_is_not_an_acknowledgment_is_refused_by_name(db):
    with pytest.raises(AppError) as refused:
        ack_import(file_name="remit.edi", content=sample("835_X221A1_mult-loops_pyx12.edi"))

    assert refused.value.message == ("remit.edi segment 3 (ST): this is an 835 remittance (005010X221A1); only 999 "
                                     "and 277CA acknowledgments are imported here.")
    assert AckFile.objects.count() == 0


def test_a_277_claim_status_response_is_not_taken_for_a_277ca(db):
    text = our_277ca([("CX", "A2:20", "")]).replace("005010X214", "005010X212")

    with pytest.raises(AppError, match=r"277 claim status response \(not a 277CA"):
        ack_import(file_name="277.edi", content=text)


def test_a_rejected_claim_can_be_marked_ready_again_and_is_resent_as_a_new_original(scene, clinic_a, payer, user_a):
    claim = make_claim(scene, "3920394930203", batch=make_batch(clinic_a, payer))
    ack_import(file_name="277CA_rejected.edi", content=sample("277CA_X214_rejected-pipe-separator_Herophilus.edi"))
    claim.refresh_from_db()

    claim_mark_ready(claim=claim, acting_user=user_a, reason="billing NPI corrected")

    claim.refresh_from_db()
    assert (claim.status, claim.frequency, claim.batch_id) == (ClaimStatus.READY, ClaimFrequency.ORIGINAL, None)
    assert list(rejected_claims(user_a, WORK_CLAIMS)) == []


def test_another_clinics_biller_matches_none_of_our_claims(scene, clinic_a, payer, user_a, user_b):
    claim = make_claim(scene, "3920394930203", batch=make_batch(clinic_a, payer))

    summary = ack_import(file_name="277CA_rejected.edi",
                         content=sample("277CA_X214_rejected-pipe-separator_Herophilus.edi"), acting_user=user_b)

    claim.refresh_from_db()
    assert claim.status == ClaimStatus.SUBMITTED
    assert [row["reference"] for row in summary["unmatched"]] == ["3920394930203"]
    assert AckFile.objects.get().clinic is None
    assert list(ack_files_visible_to(user_a, WORK_CLAIMS)) == []


def test_ack_files_are_visible_to_their_clinic_only(scene, clinic_a, payer, user_a, user_b):
    make_claim(scene, "5781", batch=make_batch(clinic_a, payer))
    ack_import(file_name="277CA_accepted.edi", content=sample("277CA_X214_accepted_Herophilus.edi"),
               acting_user=user_a)

    assert [a.file_name for a in ack_files_visible_to(user_a, WORK_CLAIMS)] == ["277CA_accepted.edi"]
    assert list(ack_files_visible_to(user_b, WORK_CLAIMS)) == []
    assert list(rejected_claims(user_b, WORK_CLAIMS)) == []


def test_a_user_who_may_not_work_claims_cannot_import(user_no_grant):
    with pytest.raises(AppError) as refused:
        ack_import(file_name="999.edi", content=sample("999_X231A1_accepted_Herophilus.edi"),
                   acting_user=user_no_grant)

    assert refused.value.code == "forbidden"
    assert AckFile.objects.count() == 0


# --- the command -------------------------------------------------------------------------------------------------


def test_import_ack_command_prints_the_summary_as_one_json_object(scene, clinic_a, payer, tmp_path):
    claim = make_claim(scene, "3920394930203", batch=make_batch(clinic_a, payer))
    path = tmp_path / "277CA_rejected.edi"
    path.write_text(sample("277CA_X214_rejected-pipe-separator_Herophilus.edi"))
    out = io.StringIO()

    call_command("import_ack", str(path), stdout=out)

    summary = json.loads(out.getvalue())
    claim.refresh_from_db()
    assert (summary["duplicate"], summary["kind"], summary["rejected"]) == (False, "277CA", 1)
    assert claim.status == ClaimStatus.REJECTED


def test_import_ack_command_fails_with_the_error_on_an_invalid_file(db, tmp_path):
    path = tmp_path / "cut.edi"
    path.write_text(sample("999_X231A1_accepted_Herophilus.edi")[:150])

    with pytest.raises(CommandError, match=r"cut\.edi segment 2 \(GS\): the file ends here"):
        call_command("import_ack", str(path), stdout=io.StringIO())

    assert AckFile.objects.count() == 0
