"""The 271 reader: the public samples with their exact values, a rich synthetic 271, and malformed files."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from eligibility.x271 import AAA_REASONS, X12ReadError, read_271, rejection_reason

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "x12-samples"
BENEFIT_SAMPLE = SAMPLES / "271_X279A1_subscriber-benefit-response_LinuxForHealth.edi"
AAA_SAMPLE = SAMPLES / "271_X279A1_subscriber-AAA-error_LinuxForHealth.edi"

ISA = "ISA*00*          *00*          *ZZ*ACMEHEALTH     *ZZ*OTBILLING      *261004*1900*^*00501*000000123*0*P*:~"

# A 271 answering three subscribers (one rich, one rejected) and one dependent of clinic "Alder".
RICH_BODY = """BHT*0022*11*R1*20261004*1900
HL*1**20*1
NM1*PR*2*ACME HEALTH*****PI*ACME1
HL*2*1*21*1
NM1*1P*2*ALDER PEDIATRIC OT*****XX*1234567893
HL*3*2*22*0
TRN*2*{trace1}*1123456789
NM1*IL*1*ZEBULON*ANNA****MI*{member1}
DMG*D8*19500304*F
DTP*346*D8*20260101
DTP*347*D8*20261231
EB*1*IND*30^AD*C1*ACME PPO GOLD
EB*A*IND*AD*C1****.2****Y
EB*A*IND*AD*C1****.4****N
EB*B*IND*AD*C1**27*25*****Y
EB*C*IND*30*C1**23*1500*****Y
EB*C*IND*30*C1**29*400.5*****Y
EB*C*FAM*30*C1**23*3000*****Y
EB*G*IND*30*C1**23*6000*****Y
EB*G*IND*30*C1**29*5100*****Y
EB*F*IND*AD*C1**23***VS*30**Y
MSG*COMBINED PT/OT/ST VISITS
EB*F*IND*AD*C1**29***VS*12
EB*F*IND*AD*C1**24*1250.75
EB*L
LS*2120
NM1*P3*1*JONES*MARCUS****XX*1558598797
LE*2120
HL*4*2*22*0
TRN*2*{trace3}*1123456789
NM1*IL*1*DOE*JANE****MI*BAD1
AAA*Y**72*C
HL*5*2*22*1
NM1*IL*1*PARENT*PAT****MI*{member2}
HL*6*5*23*0
TRN*2*{trace2}*1123456789
NM1*03*1*CHILD*CASEY
DMG*D8*20160708*F
DTP*291*RD8*20260101-20261231
EB*6**30"""


def envelope(body: str, *, isa: str = ISA, guide: str = "005010X279A1") -> str:
    """Wrap body segments (one per line, no terminators) in ISA/GS/ST…SE/GE/IEA with correct counts."""
    segments = [line.strip() for line in body.strip().splitlines() if line.strip()]
    st = f"ST*271*0001*{guide}"
    se = f"SE*{len(segments) + 2}*0001"
    lines = [isa, f"GS*HB*ACMEHEALTH*OTBILLING*20261004*1900*55*X*{guide}~",
             *(s + "~" for s in [st, *segments, se]), "GE*1*55~", "IEA*1*000000123~"]
    return "\n".join(lines) + "\n"


def rich_271(trace1="T-ACME-1", trace2="T-ACME-2", trace3="T-ACME-3", member1="M0001", member2="M0002") -> str:
    return envelope(RICH_BODY.format(trace1=trace1, trace2=trace2, trace3=trace3, member1=member1,
                                     member2=member2))


# --- the public samples -----------------------------------------------------------------------------------------


def test_benefit_sample_reads_the_subscriber_and_every_benefit():
    read = read_271(BENEFIT_SAMPLE.read_text())
    assert read.interchange_control_number == "000000907"
    assert read.source_rejections == []
    [response] = read.responses
    assert response.level == "subscriber"
    assert response.trace_number == "93175-012547"
    assert response.trace_numbers == [("2", "93175-012547", "9877281234")]
    assert (response.patient.last_name, response.patient.first_name) == ("SMITH", "JOHN")
    assert response.member_id == "123456789"
    assert (response.payer.last_name, response.payer_id) == ("ABC COMPANY", "841610001")
    assert (response.receiver.last_name, response.receiver.identifier) == ("BONE AND JOIN CLINIC", "2000035")
    assert response.date_of_birth == datetime.date(1963, 5, 19)
    assert response.sex == "M"
    assert response.dates == {"346": (datetime.date(2006, 1, 1), datetime.date(2006, 1, 1))}
    assert [line.code for line in response.benefits] == ["1", "L", "1", "B", "B"]
    assert response.benefits[2].service_types == ["1", "33", "35", "47", "86", "88", "98", "AL", "MH", "UC"]
    assert [(b.amount, b.time_period, b.in_network, b.insurance_type) for b in response.benefits[3:]] == [
        (Decimal("10.00"), "27", "Y", "HM"), (Decimal("30.00"), "27", "N", "HM")]
    assert [(p.entity, p.display, p.identifier) for p in response.benefits[1].entities] == [
        ("P3", "JONES, MARCUS", "0202034")]


def test_benefit_sample_summary_gives_the_snapshot_values():
    summary = read_271(BENEFIT_SAMPLE.read_text()).responses[0].summary()
    assert summary.is_active is True
    assert summary.plan_name == "GOLD 123 PLAN"
    assert summary.plan_begin == datetime.date(2006, 1, 1)
    assert summary.plan_end is None
    assert summary.copay_amount == Decimal("10.00")  # in-network (EB12 Y) beats out-of-network 30.00
    assert summary.coinsurance_percent is None
    assert summary.deductible_total is None and summary.out_of_pocket_total is None
    assert summary.visits_allowed is None and summary.therapy_ytd_amount is None
    assert summary.rejection_code == ""
    assert len(summary.details) == 5
    assert summary.details[3] == {
        "segment": 22, "code": "B", "benefit": "Co-payment", "coverage_level": "", "coverage_level_label": "",
        "service_types": ["1", "33", "35", "47", "86", "88", "98", "AL", "MH", "UC"],
        "service_type_labels": ["Medical care", "Chiropractic", "Dental care", "Hospital", "Emergency services",
                                "Pharmacy", "Professional (physician) visit - office", "Vision (optometry)",
                                "Mental health", "Urgent care"],
        "insurance_type": "HM", "plan_name": "GOLD 123 PLAN", "time_period": "27", "time_period_label": "Visit",
        "amount": "10.00", "percent": None, "quantity_qualifier": "", "quantity_label": "", "quantity": None,
        "authorization_required": "", "in_network": "yes", "procedure": "", "dates": [], "messages": [],
        "entities": [], "rejections": [],
    }
    assert summary.details[1]["entities"] == [{"entity": "P3", "name": "JONES, MARCUS", "id": "0202034"}]


def test_aaa_sample_is_refused_when_strict_because_se02_differs_from_st02():
    with pytest.raises(X12ReadError, match=r"^271: SE02 at segment 10 does not match ST02 4321\.$"):
        read_271(AAA_SAMPLE.read_text())


def test_aaa_sample_read_leniently_gives_the_receiver_level_rejection_in_plain_words():
    read = read_271(AAA_SAMPLE.read_text(), strict=False)
    assert read.responses == []
    [(level, party, rejection)] = read.source_rejections
    assert level == "information receiver"
    assert (party.entity, party.last_name, party.identifier) == ("1P", "BONE AND JOIN CLINIC", "2000035")
    assert (rejection.code, rejection.follow_up, rejection.valid_request) == ("50", "N", "Y")
    assert rejection.reason == "Provider is not eligible for eligibility inquiries"
    assert rejection.follow_up_text == "Resubmission not allowed"
    assert (rejection.loop, rejection.position) == ("2100B", 9)


# --- a rich 271 -------------------------------------------------------------------------------------------------


def test_rich_271_gives_one_response_per_subscriber_and_dependent():
    read = read_271(rich_271())
    assert [(r.level, r.trace_number, r.member_id, r.patient.display) for r in read.responses] == [
        ("subscriber", "T-ACME-1", "M0001", "ZEBULON, ANNA"),
        ("subscriber", "T-ACME-3", "BAD1", "DOE, JANE"),
        ("dependent", "T-ACME-2", "M0002", "CHILD, CASEY"),
    ]
    assert read.responses[2].subscriber.display == "PARENT, PAT"


def test_rich_271_summary_reads_cost_share_limits_and_therapy_ytd():
    response = read_271(rich_271()).responses[0]
    summary = response.summary(reference_date=datetime.date(2026, 10, 5))
    assert summary.is_active is True
    assert summary.plan_name == "ACME PPO GOLD"
    assert (summary.plan_begin, summary.plan_end) == (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))
    assert summary.coinsurance_percent == Decimal("20.00")
    assert summary.copay_amount == Decimal("25.00")
    assert (summary.deductible_total, summary.deductible_remaining) == (Decimal("1500.00"), Decimal("400.50"))
    assert (summary.out_of_pocket_total, summary.out_of_pocket_remaining) == (Decimal("6000.00"), Decimal("5100.00"))
    assert summary.visits_allowed == 30
    assert summary.units_allowed is None
    assert (summary.limit_period_start, summary.limit_period_end) == (datetime.date(2026, 1, 1),
                                                                      datetime.date(2026, 12, 31))
    assert summary.therapy_ytd_amount == Decimal("1250.75")
    assert len(summary.details) == 13
    assert summary.details[9]["messages"] == ["COMBINED PT/OT/ST VISITS"]
    assert summary.details[10]["quantity"] == "12" and summary.details[10]["time_period_label"] == "Remaining"
    assert [(d["code"], d["in_network"], d["percent"], d["amount"]) for d in summary.details[1:9]] == [
        ("A", "yes", "20.00", None), ("A", "no", "40.00", None), ("B", "yes", None, "25.00"),
        ("C", "yes", None, "1500.00"), ("C", "yes", None, "400.50"), ("C", "yes", None, "3000.00"),
        ("G", "yes", None, "6000.00"), ("G", "yes", None, "5100.00")]
    assert summary.details[9]["quantity_label"] == "Visits" and summary.details[9]["in_network"] == "yes"


def test_therapy_ytd_needs_service_type_ad_unless_the_payer_is_medicare():
    body = RICH_BODY.replace("EB*F*IND*AD*C1**24*1250.75", "EB*F*IND*30*C1**24*1250.75")
    response = read_271(envelope(body.format(trace1="A", trace2="B", trace3="C", member1="M1", member2="M2"))
                        ).responses[0]
    assert response.summary().therapy_ytd_amount is None
    assert response.summary(payer_is_medicare=True).therapy_ytd_amount == Decimal("1250.75")


def test_deductible_remaining_is_total_minus_met_when_only_those_are_reported():
    body = """BHT*0022*11*R1*20261004*1900
HL*1**20*1
NM1*PR*2*ACME HEALTH*****PI*ACME1
HL*2*1*21*1
NM1*1P*2*ALDER PEDIATRIC OT*****XX*1234567893
HL*3*2*22*0
NM1*IL*1*ZEBULON*ANNA****MI*M1
EB*1**30
EB*C*IND*30***23*1000
EB*C*IND*30***24*250.25
EB*F*IND*AD***22***P6*40
EB*F*IND*AD***23***VS*20
DTP*292*RD8*20260301-20270228"""
    response = read_271(envelope(body)).responses[0]
    summary = response.summary(reference_date=datetime.date(2026, 10, 5))
    assert (summary.deductible_total, summary.deductible_remaining) == (Decimal("1000.00"), Decimal("749.75"))
    assert summary.units_allowed == 40
    assert summary.visits_allowed == 20
    assert (summary.limit_period_start, summary.limit_period_end) == (datetime.date(2026, 3, 1),
                                                                      datetime.date(2027, 2, 28))


def test_subscriber_rejection_leaves_activity_unknown_and_names_the_reason():
    response = read_271(rich_271()).responses[1]
    summary = response.summary()
    assert summary.is_active is None
    assert (summary.rejection_code, summary.rejection_reason) == ("72", "Invalid or missing member id")
    assert response.rejection.loop == "2100C"
    assert response.rejection.follow_up_text == "Correct and resubmit"


def test_dependent_answer_reads_inactive_coverage_and_its_plan_range():
    summary = read_271(rich_271()).responses[2].summary()
    assert summary.is_active is False
    assert (summary.plan_begin, summary.plan_end) == (datetime.date(2026, 1, 1), datetime.date(2026, 12, 31))


def test_aaa_reasons_are_in_plain_words():
    assert {code: AAA_REASONS[code] for code in ("72", "73", "75", "76", "15", "42", "43", "58", "71", "04")} == {
        "72": "Invalid or missing member id",
        "73": "Invalid or missing subscriber name",
        "75": "Subscriber not found",
        "76": "Duplicate subscriber/member id",
        "15": "Required application data missing",
        "42": "Payer unable to respond now; try again later",
        "43": "Invalid or missing provider identification (NPI)",
        "58": "Invalid or missing date of birth",
        "71": "Date of birth does not match the payer's records",
        "04": "Authorized quantity exceeded (too many patients in one request)",
    }
    assert rejection_reason("ZZ") == "Rejected with reason code ZZ"


# --- malformed input --------------------------------------------------------------------------------------------


def _sample_with(old: str, new: str) -> str:
    text = BENEFIT_SAMPLE.read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(("text", "message"), [
    (BENEFIT_SAMPLE.read_text()[:700], "271: The interchange has no closing IEA segment (file truncated?)."),
    (_sample_with("SE*22*4321", "SE*21*4321"), "271: SE at segment 24 counts 21 segments; the set has 22."),
    (_sample_with("HL*3*2*22*0", "HL*3*7*22*0"), "271 segment 9 (HL): parent 7 does not exist."),
    ("patient,dos\n1,2026-01-01\n",
     "271: Not an X12 interchange: the file must start with a 106-character ISA segment."),
    (_sample_with("*27*10.00*", "*27*TEN*"), "271 segment 22 (EB): EB07 'TEN' is not a number."),
    (_sample_with("DTP*346*D8*20060101", "DTP*346*D8*20060231"),
     "271 segment 15 (DTP): DTP03 '20060231' is not a valid date (CCYYMMDD)."),
    (_sample_with("HL*2*1*21*1", "HL*2*1*21*0"),
     "271 segment 9 (HL): parent 2 says it has no children (HL04 0) but HL 3 names it."),
    (_sample_with("HL*3*2*22*0", "HL*3*1*22*0"),
     "271 segment 9 (HL): HL 3 (subscriber) has parent 1 of level 20 (information source); expected level 21 "
     "(information receiver)."),
    (_sample_with("NM1*IL*1*SMITH*JOHN****MI*123456789", "REF*SY*123456789"),
     "271 segment 9 (HL): loop 2000C (subscriber) has no NM1 name segment."),
    (_sample_with("GE*1*1", "GE*2*1"), "271 segment 25 (GE): GE01 counts 2 transaction sets; the group has 1."),
    (_sample_with("*X*005010X279A1", "*X*004010X092A1").replace("ST*271*4321*005010X279A1", "ST*271*4321"),
     "271 segment 3 (ST): implementation guide '004010X092A1' is not 005010X279A1 (5010 eligibility)."),
    (_sample_with("ST*271*4321*005010X279A1", "ST*270*4321*005010X279A1"),
     "271 segment 3 (ST): ST01 is '270'; expected a 271 transaction set."),
], ids=["truncated", "wrong-se-count", "hl-parent-missing", "not-x12", "eb-amount-not-numeric", "invalid-date",
        "hl04-says-no-children", "hl-wrong-level", "no-subscriber-name", "ge-count", "4010-guide", "wrong-set"])
def test_malformed_271_names_the_segment_and_position(text, message):
    with pytest.raises(X12ReadError) as caught:
        read_271(text)
    assert caught.value.message == message
    assert caught.value.code == "x12_invalid"


def test_hl_parent_error_reads_as_in_the_brief():
    body = RICH_BODY.format(trace1="A", trace2="B", trace3="C", member1="M1", member2="M2").replace(
        "HL*4*2*22*0", "HL*4*3*22*0", 1)
    # HL 4 is segment 32 of the file; its parent 3 exists but is a subscriber, so the level check names it.
    with pytest.raises(X12ReadError, match=r"^271 segment 32 \(HL\): HL 4 \(subscriber\) has parent 3 of level 22"):
        read_271(envelope(body))
    text = envelope(body.replace("HL*4*3*22*0", "HL*4*9*22*0"))
    with pytest.raises(X12ReadError, match=r"^271 segment 32 \(HL\): parent 9 does not exist\.$"):
        read_271(text)


def test_hl04_claiming_children_that_do_not_follow_is_only_refused_when_strict():
    text = _sample_with("HL*3*2*22*0", "HL*3*2*22*1")
    with pytest.raises(X12ReadError, match=r"271 segment 9 \(HL\): HL 3 says it has children"):
        read_271(text)
    assert len(read_271(text, strict=False).responses) == 1
