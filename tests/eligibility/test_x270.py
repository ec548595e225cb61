"""The generic X12 writer and the 270 writer/reader: envelopes, delimiters, round-trip, the public 270 sample."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from eligibility.x270 import InquiryRequest, Person, Receiver, build_270, originator_id_for, read_270, write_270
from eligibility.x271 import X12ReadError, read_interchange
from otbilling.edi.tokenizer import tokenize, transaction_sets
from otbilling.edi.writer import Envelope, TransactionSet, X12WriteError, X12Writer
from otbilling.models import X12ControlCounter

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "x12-samples"
SAMPLE_270 = SAMPLES / "270_X279A1_subscriber-benefit-check_LinuxForHealth.edi"
NOW = datetime.datetime(2026, 10, 4, 18, 30, tzinfo=datetime.UTC)
DOS = datetime.date(2026, 10, 5)
RECEIVER = Receiver(name="ALDER PEDIATRIC OT", npi="1234567893", originator_id=originator_id_for("12-3456789"))
ENVELOPE = Envelope(sender_id="OTBILLING", receiver_id="CLEARINGHOUSE", functional_id="HS", version="005010X279A1")


def _requests():
    return [
        InquiryRequest(trace_number="T-ACME-1", payer_name="ACME HEALTH", payer_id="ACME1", member_id="M0001",
                       subscriber=Person("ZEBULON", "ANNA", datetime.date(1950, 3, 4), "F"), for_date=DOS),
        InquiryRequest(trace_number="T-MCR-1", payer_name="MEDICARE PART B", payer_id="MCR01", member_id="1EG4TE5MK73",
                       subscriber=Person("BIRCH", "BOB", datetime.date(1948, 1, 2), "M"), for_date=DOS),
        InquiryRequest(trace_number="T-ACME-2", payer_name="ACME HEALTH", payer_id="ACME1", member_id="M0002",
                       subscriber=Person("PARENT", "PAT", datetime.date(1980, 5, 6), "M"),
                       dependent=Person("CHILD", "CASEY", datetime.date(2016, 7, 8), "F"), for_date=DOS),
    ]


def _write(requests=None, writer_now=NOW):
    transaction = build_270(receiver=RECEIVER, requests=requests or _requests(), reference="REF1", now=writer_now)
    return X12Writer().interchange(envelope=ENVELOPE, transactions=[transaction], interchange_number=42,
                                   group_number=7, now=writer_now).text


# --- the generic writer -----------------------------------------------------------------------------------------


def test_writer_builds_a_106_character_isa_and_counts_every_envelope():
    text = X12Writer().interchange(
        envelope=ENVELOPE, transactions=[TransactionSet("270", [["BHT", "0022", "13", "R", "20261004", "1830"]])],
        interchange_number=5, group_number=9, now=NOW).text
    lines = text.splitlines()
    assert len(lines[0]) == 106
    assert lines[0].startswith("ISA*00*          *00*          *ZZ*OTBILLING      *ZZ*CLEARINGHOUSE  "
                               "*261004*1830*^*00501*")
    assert lines[0].endswith("*000000005*0*P*:~")
    assert lines[1:] == ["GS*HS*OTBILLING*CLEARINGHOUSE*20261004*1830*9*X*005010X279A1~",
                         "ST*270*0001*005010X279A1~", "BHT*0022*13*R*20261004*1830~", "SE*3*0001~",
                         "GE*1*9~", "IEA*1*000000005~"]
    _delimiters, segments = tokenize(text)
    assert len(transaction_sets(segments)) == 1


def test_writer_writes_composites_repetitions_and_decimals_and_drops_trailing_empties():
    writer = X12Writer()
    assert writer.segment(["SV1", ("HC", "97530", "GO", ""), Decimal("120.50"), "UN", 4, "", ""]) == \
        "SV1*HC:97530:GO*120.50*UN*4"
    assert writer.segment(["EQ", ["AD", "30"]]) == "EQ*AD^30"
    assert writer.segment(["NM1", "IL", "1", "DOE", None, "", "", "", "MI", "X1"]) == "NM1*IL*1*DOE*****MI*X1"


def test_writer_refuses_a_delimiter_in_data_and_names_segment_and_element():
    with pytest.raises(X12WriteError, match=r"NM103 contains '\*', reserved as an X12 delimiter; remove it from "
                                            r"'O\*BRIEN'"):
        X12Writer().segment(["NM1", "IL", "1", "O*BRIEN", "ANN"])
    with pytest.raises(X12WriteError, match=r"SV101-2 contains '~'"):
        X12Writer().segment(["SV1", ("HC", "975~30")])


def test_writer_in_strip_mode_removes_delimiters_and_control_characters():
    writer = X12Writer(on_delimiter="strip")
    assert writer.segment(["NM1", "IL", "1", "O*BRIEN~", "AN:N\n"]) == "NM1*IL*1*OBRIEN*ANN"


def test_writer_refuses_an_overlong_isa_sender_id():
    envelope = Envelope(sender_id="X" * 16, receiver_id="R", functional_id="HS", version="005010X279A1")
    with pytest.raises(X12WriteError, match="ISA06 sender id must be 1–15 characters"):
        X12Writer().interchange(envelope=envelope, transactions=[TransactionSet("270", [])], interchange_number=1,
                                group_number=1, now=NOW)


@pytest.mark.django_db
def test_control_numbers_are_unique_and_increasing_per_submitter():
    first = write_270(receiver=RECEIVER, requests=_requests(), submitter_id="SUBA", receiver_id="CH", reference="R1",
                      now=NOW)
    second = write_270(receiver=RECEIVER, requests=_requests(), submitter_id="SUBA", receiver_id="CH",
                       reference="R2", now=NOW)
    other = write_270(receiver=RECEIVER, requests=_requests(), submitter_id="SUBB", receiver_id="CH", reference="R3",
                      now=NOW)
    assert (first.interchange_control_number, second.interchange_control_number) == (1, 2)
    assert (first.group_control_number, second.group_control_number) == (1, 2)
    assert other.interchange_control_number == 1
    assert X12ControlCounter.objects.get(submitter_id="SUBA").last_interchange == 2
    assert "*000000002*0*P*:~" in second.text.splitlines()[0]


@pytest.mark.django_db
def test_bad_data_fails_before_a_control_number_is_used():
    bad = [InquiryRequest(trace_number="T1", payer_name="ACME", payer_id="A1", member_id="M*1",
                          subscriber=Person("DOE", "JO"), for_date=DOS)]
    with pytest.raises(X12WriteError, match="NM109 contains"):
        write_270(receiver=RECEIVER, requests=bad, submitter_id="SUBC", receiver_id="CH", reference="R", now=NOW)
    assert not X12ControlCounter.objects.filter(submitter_id="SUBC").exists()


# --- the 270 ----------------------------------------------------------------------------------------------------


def test_270_groups_inquiries_by_payer_under_one_transaction():
    text = _write()
    lines = text.splitlines()
    assert "ST*270*0001*005010X279A1~" in lines
    assert "BHT*0022*13*REF1*20261004*1830~" in lines
    assert [line for line in lines if line.startswith("NM1*PR")] == [
        "NM1*PR*2*ACME HEALTH*****PI*ACME1~", "NM1*PR*2*MEDICARE PART B*****PI*MCR01~"]
    assert lines.count("NM1*1P*2*ALDER PEDIATRIC OT*****XX*1234567893~") == 2
    assert [line for line in lines if line.startswith("HL")] == [
        "HL*1**20*1~", "HL*2*1*21*1~", "HL*3*2*22*0~", "HL*4*2*22*1~", "HL*5*4*23*0~",
        "HL*6**20*1~", "HL*7*6*21*1~", "HL*8*7*22*0~"]
    assert sum(1 for line in lines if line.startswith("ST*")) == 1


def test_270_subscriber_inquiry_carries_trace_name_dob_date_and_one_eq_per_service_type():
    lines = _write().splitlines()
    start = lines.index("HL*3*2*22*0~")
    assert lines[start + 1:start + 7] == [
        "TRN*1*T-ACME-1*1123456789~", "NM1*IL*1*ZEBULON*ANNA****MI*M0001~", "DMG*D8*19500304*F~",
        "DTP*291*D8*20261005~", "EQ*AD~", "EQ*30~"]


def test_270_dependent_inquiry_names_the_subscriber_without_eq_and_asks_in_2000d():
    lines = _write().splitlines()
    start = lines.index("HL*4*2*22*1~")
    assert lines[start + 1:start + 10] == [
        "NM1*IL*1*PARENT*PAT****MI*M0002~", "DMG*D8*19800506*M~", "HL*5*4*23*0~", "TRN*1*T-ACME-2*1123456789~",
        "NM1*03*1*CHILD*CASEY~", "DMG*D8*20160708*F~", "DTP*291*D8*20261005~", "EQ*AD~", "EQ*30~"]


def test_a_270_we_write_reads_back_with_the_same_inquiries_and_passes_our_checks():
    text = _write()
    read = read_270(text)
    assert read.interchange_control_number == "000000042"
    assert read.group_control_number == "7"
    assert read.reference == "REF1"
    by_trace = {inquiry.trace_number: inquiry for inquiry in read.inquiries}
    assert sorted(by_trace) == ["T-ACME-1", "T-ACME-2", "T-MCR-1"]
    for request in _requests():
        got = by_trace[request.trace_number]
        assert got.member_id == request.member_id
        assert got.payer_id == request.payer_id
        assert got.service_types == ["AD", "30"]
        assert got.for_date == DOS
        assert got.subscriber.last_name == request.subscriber.last_name
        assert got.originator_id == "1123456789"
        assert got.receiver_id == "1234567893"
    assert by_trace["T-ACME-2"].dependent.first_name == "CASEY"
    assert by_trace["T-ACME-2"].dependent.date_of_birth == datetime.date(2016, 7, 8)
    assert by_trace["T-ACME-1"].dependent is None
    assert read_interchange(text, transaction_set="270", strict=True).transactions[0].bht.get(2) == "13"


def test_the_public_270_sample_is_read():
    read = read_270(SAMPLE_270.read_text())
    assert read.interchange_control_number == "000000907"
    assert read.reference == "10001234"
    [inquiry] = read.inquiries
    assert inquiry.trace_number == "93175-012547"
    assert inquiry.originator_id == "9877281234"
    assert (inquiry.payer_name, inquiry.payer_id) == ("ABC COMPANY", "842610001")
    assert (inquiry.receiver_name, inquiry.receiver_id) == ("BONE AND JOINT CLINIC", "2000035")
    assert inquiry.member_id == "11122333301"
    assert (inquiry.subscriber.last_name, inquiry.subscriber.first_name) == ("SMITH", "ROBERT")
    assert inquiry.subscriber.date_of_birth == datetime.date(1943, 5, 19)
    assert inquiry.for_date == datetime.date(2006, 5, 1)
    assert inquiry.service_types == ["30"]
    assert inquiry.dependent is None


def test_a_271_is_not_read_as_a_270():
    text = (SAMPLES / "271_X279A1_subscriber-benefit-response_LinuxForHealth.edi").read_text()
    with pytest.raises(X12ReadError, match=r"270 segment 3 \(ST\): ST01 is '271'; expected a 270 transaction set"):
        read_270(text)


def test_a_270_inquiry_without_eq_is_refused():
    text = _write().replace("EQ*AD~\nEQ*30~\nSE*", "SE*").replace("SE*35*", "SE*33*")
    with pytest.raises(X12ReadError, match=r"270 segment \d+ \(HL\): inquiry loop HL 8 has no EQ service type"):
        read_270(text)
