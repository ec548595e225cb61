"""The 835 reader: every shared sample with values read off the files, small synthetic 835s for each case a
therapy clinic meets, the balancing checks and malformed input. No database."""

import datetime
import os
import random
from decimal import Decimal
from pathlib import Path

import pytest

from denials import x835
from denials.x835 import Adjustment, Era835Error, balance_problems, parse_835, validate_835

REPO_ROOT = Path(__file__).resolve().parents[2]
# CI runs in a fresh clone with a copy of shared/ beside it; SHARED_DIR overrides.
SHARED = Path(os.environ.get("SHARED_DIR") or REPO_ROOT.parent / "shared")
SAMPLES = SHARED / "x12-samples"
SAMPLE_835S = sorted(SAMPLES.glob("835_*.edi")) + sorted((SAMPLES / "generated").glob("*835*.edi"))
EMEDNY = SAMPLES / "835_X221A1_emedny-professional-with-payment_Herophilus.edi"
MULT_LOOPS = SAMPLES / "835_X221A1_mult-loops_pyx12.edi"
BADX12 = SAMPLES / "835_X221A1_multiple-claims-single-check_badX12.edi"
GENERATED = SAMPLES / "generated" / "835_X221A1_OT-3claims_generated.edi"
AN_837 = SAMPLES / "837P_X222A1_commercial-health-insurance_badX12.edi"

D = Decimal
ISA = "ISA*00*          *00*          *ZZ*ACMEHEALTH     *ZZ*ALDEROT        *260120*0900*^*00501*000000101*0*T*:"
GS = "GS*HP*ACMEHEALTH*ALDEROT*20260120*0900*101*X*005010X221A1"
# ISA GS ST BPR TRN DTM N1 N3 N4 REF PER N1 REF LX: the first CLP is segment 15.
HEADER = """
ST*835*{control}
{bpr}
TRN*1*{trace}*1512345678
DTM*405*20260120
N1*PR*ACME HEALTH PLAN
N3*PO BOX 1000
N4*CHICAGO*IL*606010000
REF*2U*ACME1
PER*BL*PROVIDER SERVICES*TE*8005551212
N1*PE*ALDER PEDIATRIC OT*XX*1234567893
REF*TJ*123456789
LX*1
"""
PAID_IN_FULL = """
CLP*PCN1*1*100.00*100.00**12*ICN1*11*1
NM1*QC*1*DOE*JANE****MI*MEM1
DTM*232*20260105
SVC*HC:97110:GO*100.00*100.00**4
DTM*472*20260105
REF*6R*LINE1
AMT*B6*100.00
"""


def transaction(body: str, total: str, *, plb: str = "", trace: str = "EFT123", control: str = "0001") -> list[str]:
    if D(total) == 0:
        bpr = "BPR*H*0*C*NON************20260122"
    else:
        bpr = f"BPR*I*{total}*C*ACH*CCP*01*999999992*DA*123456*1512345678**01*999988880*DA*98765*20260122"
    text = HEADER.format(bpr=bpr, trace=trace, control=control) + body + plb
    segments = [line.strip() for line in text.splitlines() if line.strip()]
    return [*segments, f"SE*{len(segments) + 1}*{control}"]


def era(body: str, total: str, *, plb: str = "", end: str = "~\n") -> str:
    """A one-transaction 835 interchange around `body` (loop 2100 claims) with BPR02 = `total`."""
    return interchange([transaction(body, total, plb=plb)], end=end)


def interchange(sets: list[list[str]], *, end: str = "~\n") -> str:
    segments = [ISA, GS, *[s for one in sets for s in one], f"GE*{len(sets)}*101", "IEA*1*000000101"]
    return end.join(segments) + end


def only(text: str):
    (remittance,) = parse_835(text, file_name="era.835")
    return remittance


def test_the_synthetic_isa_is_106_characters():
    assert len(ISA) + 1 == 106


# --- the shared samples ------------------------------------------------------------------------------------------


def test_the_shared_835_samples_are_found():
    assert {EMEDNY, MULT_LOOPS, BADX12, GENERATED} <= set(SAMPLE_835S), f"expected the 835 samples in {SAMPLES}"


@pytest.mark.parametrize("path", SAMPLE_835S, ids=lambda p: p.name)
def test_every_shared_835_parses_balances_and_validates_clean(path):
    remittances = parse_835(path.read_bytes(), file_name=path.name)
    assert len(remittances) == 1
    assert balance_problems(remittances[0]) == []
    assert validate_835(path.read_bytes(), file_name=path.name) == []


def test_emedny_sample_values():
    r = parse_835(EMEDNY.read_text(), file_name=EMEDNY.name)[0]
    assert (r.handling_code, r.total_paid, r.credit_debit, r.payment_method) == ("I", D("45.75"), "C", "ACH")
    assert (r.payment_date, r.production_date) == (datetime.date(2010, 1, 1), datetime.date(2010, 1, 1))
    assert (r.trace_number, r.trace_payer_id, r.control_number) == ("10100000000", "1000000000", "1740")
    assert (r.payer_name, r.payee_name, r.payee_npi, r.payee_tin) == (
        "NYSDOH", "MAJOR MEDICAL PROVIDER", "9999999995", "000000000")
    assert len(r.claims) == 3 and sum(len(c.lines) for c in r.claims) == 10
    assert sum(len(c.all_adjustments) for c in r.claims) == 4
    first = r.claims[0]
    assert first.patient_control_number == "PATIENT ACCOUNT NUMBER"
    assert (first.status_code, first.charge, first.paid, first.filing_indicator) == ("1", D("34.25"), D("34.25"), "MC")
    assert first.payer_claim_control_number == "1000210000000030"
    assert first.patient.display == "SUBMITTED LAST, SUBMITTED FIRST" and first.patient.id == "LL99999L"
    assert first.corrected_insured.last == "CORRECTED LAST"
    assert first.other_ids == (("EA", "PATIENT ACCOUNT NUMBER"),)
    assert first.amounts == (("AU", D("34.25")),)
    line = first.lines[0]
    assert (line.qualifier, line.code, line.modifiers) == ("HC", "V2020", ("RB",))
    assert (line.charge, line.paid, line.units_paid, line.allowed) == (D("6.00"), D("6.00"), D("1"), D("6.00"))
    assert r.claims[1].lines[0].adjustments == (Adjustment("CO", "29", D("12.00")),)
    assert r.claims[1].lines[0].units_paid == 0
    denied = r.claims[2].lines[2]
    assert (denied.code, denied.paid, denied.remarks) == ("V2700", D("0.00"), ("N206",))
    assert denied.adjustments == (Adjustment("CO", "251", D("2.75")),)
    assert r.claims[2].lines[1].service_date == datetime.date(2013, 9, 17)
    assert r.provider_adjustments == ()


def test_pyx12_sample_denied_claim_with_service_periods():
    r = parse_835(MULT_LOOPS.read_bytes())[0]
    assert (r.handling_code, r.total_paid, r.payment_method) == ("H", D("0.00"), "NON")
    assert r.payment_date == datetime.date(2004, 10, 28) and r.payee_tin == "444313000"
    (claim,) = r.claims
    assert (claim.patient_control_number, claim.status_code, claim.status_label) == ("2005555A", "4", "Denied")
    assert (claim.charge, claim.paid) == (D("915.39"), D("0.00"))
    assert claim.rendering_provider.id == "44452736"
    assert [(line.code, line.charge, line.units_paid) for line in claim.lines] == [
        ("T1005", D("500.04"), D("68")), ("T1005", D("127.80"), D("16")), ("T1005", D("287.55"), D("36"))]
    first = claim.lines[0]
    assert (first.service_date, first.service_end_date) == (datetime.date(2003, 11, 29), datetime.date(2003, 11, 29))
    assert first.adjustments == (Adjustment("CO", "16", D("500.04")),) and first.remarks == ("N14",)
    assert claim.lines[1].adjustments == (Adjustment("OA", "A7", D("127.80")),)


def test_badx12_sample_nine_claims_on_one_check():
    r = parse_835(BADX12.read_bytes())[0]
    assert (r.total_paid, r.payment_method, r.trace_number) == (D("810.80"), "CHK", "12345")
    assert r.production_date is None
    assert len(r.claims) == 9 and r.claims[0].patient_control_number == "7722337"
    assert sum(len(c.lines) for c in r.claims) == 33
    assert sum(len(c.all_adjustments) for c in r.claims) == 39
    assert sum(c.paid for c in r.claims) == D("810.80")
    third = r.claims[2]
    assert third.patient_responsibility == D("24.00")
    line = third.lines[1]
    assert (line.qualifier, line.code, line.charge, line.paid) == ("AD", "D0220", D("25.00"), D("0.00"))
    assert line.adjustments == (Adjustment("PR", "3", D("14.00")), Adjustment("CO", "131", D("11.00")))
    assert r.claims[1].insured.display == "DOE, JOHN"


def test_generated_ot_sample_lines_carry_line_control_numbers():
    r = parse_835(GENERATED.read_bytes())[0]
    assert (r.total_paid, r.payee_npi, r.payee_tin) == (D("402.00"), "1234567893", "123456789")
    assert [c.patient_control_number for c in r.claims] == ["PCN00000000", "PCN00000001", "PCN00000002"]
    claim = r.claims[0]
    assert (claim.patient_responsibility, claim.frequency_code) == (D("20.00"), "1")
    assert claim.statement_from == datetime.date(2026, 1, 5)
    line = claim.lines[0]
    assert (line.code, line.modifiers, line.charge, line.paid, line.units_paid) == (
        "97110", ("GO",), D("100.00"), D("50.00"), D("4"))
    assert (line.line_control_number, line.allowed) == ("LINE0000000", D("70.00"))
    assert line.adjustments == (Adjustment("CO", "45", D("30.00")), Adjustment("PR", "2", D("20.00")))


# --- synthetic 835s ----------------------------------------------------------------------------------------------


def test_paid_in_full_claim_is_clean():
    text = era(PAID_IN_FULL, "100.00")
    r = only(text)
    (claim,) = r.claims
    assert (claim.charge, claim.paid, claim.adjustments, claim.lines[0].adjustments) == (D("100"), D("100"), (), ())
    assert (r.payer_id, r.payer_name) == ("ACME1", "ACME HEALTH PLAN")
    assert validate_835(text, file_name="era.835") == []


def test_partial_payment_with_deductible_and_coinsurance_in_one_cas():
    body = """
CLP*PCN2*1*150.00*90.00*40.00*12*ICN2*11*1
NM1*QC*1*DOE*JANE****MI*MEM1
SVC*HC:97530:GO*150.00*90.00**4
DTM*472*20260105
CAS*CO*45*20.00
CAS*PR*1*30.00**2*10.00
REF*6R*LINE2
AMT*B6*130.00
"""
    text = era(body, "90.00")
    claim = only(text).claims[0]
    assert claim.patient_responsibility == D("40.00")
    assert claim.lines[0].adjustments == (
        Adjustment("CO", "45", D("20.00")), Adjustment("PR", "1", D("30.00")), Adjustment("PR", "2", D("10.00")))
    assert validate_835(text) == []


def test_denied_for_missing_authorization_with_zero_paid():
    body = """
CLP*PCN3*4*200.00*0.00**12*ICN3*11*1
NM1*QC*1*DOE*JANE****MI*MEM1
SVC*HC:97165:GO*200.00*0.00**0
DTM*472*20260105
CAS*CO*197*200.00
REF*6R*LINE3
LQ*HE*N640
"""
    text = era(body, "0")
    r = only(text)
    line = r.claims[0].lines[0]
    assert (r.handling_code, r.total_paid, r.claims[0].status_code) == ("H", D("0.00"), "4")
    assert (line.paid, line.units_paid, line.remarks) == (D("0.00"), D("0"), ("N640",))
    assert line.adjustments == (Adjustment("CO", "197", D("200.00")),)
    assert validate_835(text) == []


def test_contractual_co45_and_sequestration_co253_in_one_cas():
    body = """
CLP*PCN4*1*120.00*78.40**MB*ICN4*11*1
NM1*QC*1*DOE*JANE****MI*MEM1
SVC*HC:97110:GO*120.00*78.40**4
DTM*472*20260105
CAS*CO*45*40.00**253*1.60
REF*6R*LINE4
AMT*B6*80.00
"""
    text = era(body, "78.40")
    line = only(text).claims[0].lines[0]
    assert line.adjustments == (Adjustment("CO", "45", D("40.00")), Adjustment("CO", "253", D("1.60")))
    assert validate_835(text) == []


def test_reversal_with_negative_amounts_and_its_re_adjudication():
    body = """
CLP*PCN5*22*-100.00*-80.00**12*ICN5*11*1
CAS*CO*45*-20.00
NM1*QC*1*DOE*JANE****MI*MEM1
CLP*PCN5*1*100.00*90.00**12*ICN6*11*1
CAS*CO*45*10.00
NM1*QC*1*DOE*JANE****MI*MEM1
"""
    text = era(body, "10.00")
    reversal, again = only(text).claims
    assert reversal.is_reversal and not again.is_reversal
    assert (reversal.charge, reversal.paid) == (D("-100.00"), D("-80.00"))
    assert reversal.adjustments == (Adjustment("CO", "45", D("-20.00")),)
    assert balance_problems(only(text)) == []
    assert validate_835(text) == []


def test_plb_interest_and_recoupment_in_one_segment_change_the_payment():
    """BPR02 = 100.00 paid + 5.00 interest (L6, negative) − 50.00 recouped (WO, positive) = 55.00."""
    plb = "PLB*1234567893*20261231*L6:PCN1*-5.00*WO:ICN999*50.00\n"
    text = era(PAID_IN_FULL, "55.00", plb=plb)
    r = only(text)
    interest, recoupment = r.provider_adjustments
    assert (interest.reason, interest.reference, interest.amount, interest.label) == (
        "L6", "PCN1", D("-5.00"), "Interest owed")
    assert (recoupment.reason, recoupment.reference, recoupment.amount) == ("WO", "ICN999", D("50.00"))
    assert recoupment.provider_id == "1234567893" and recoupment.fiscal_period_date == datetime.date(2026, 12, 31)
    assert balance_problems(r) == []
    assert validate_835(text) == []


def test_plb_with_six_pairs_and_a_second_plb_segment():
    pairs = "*".join(f"{code}*{amount}" for code, amount in
                     [("L6", "-1.00"), ("WO", "2.00"), ("FB", "3.00"), ("72", "4.00"), ("CS", "5.00"), ("J1", "6.00")])
    plb = f"PLB*1234567893*20261231*{pairs}\nPLB*1234567893*20261231*WU*9.00\n"
    r = only(era(PAID_IN_FULL, "72.00", plb=plb))
    assert [a.reason for a in r.provider_adjustments] == ["L6", "WO", "FB", "72", "CS", "J1", "WU"]
    assert [a.reference for a in r.provider_adjustments] == [""] * 7
    assert balance_problems(r) == []


def test_payer_changed_code_keeps_the_billed_one_in_svc06():
    body = """
CLP*PCN6*1*120.00*40.00**12*ICN6*11*1
NM1*QC*1*DOE*JANE****MI*MEM1
SVC*HC:97150:GO*120.00*40.00**1*HC:97530:GO*4
DTM*472*20260105
CAS*CO*45*80.00
REF*6R*LINE6
AMT*B6*40.00
"""
    text = era(body, "40.00")
    line = only(text).claims[0].lines[0]
    assert (line.code, line.modifiers, line.units_paid) == ("97150", ("GO",), D("1"))
    assert (line.original_qualifier, line.original_code, line.original_modifiers, line.original_units) == (
        "HC", "97530", ("GO",), D("4"))
    assert line.line_control_number == "LINE6"
    assert validate_835(text) == []


def test_crossover_carrier_and_claim_remarks():
    body = """
CLP*PCN7*19*100.00*60.00*20.00*MB*ICN7*11*1
CAS*CO*45*20.00
NM1*QC*1*DOE*JANE****MI*MEM1
NM1*TT*2*STATE MEDICAID*****PI*MCD01
MOA***MA01*N130
DTM*232*20260105
DTM*233*20260106
"""
    text = era(body.replace("CAS*CO*45*20.00", "CAS*CO*45*20.00\nCAS*PR*2*20.00"), "60.00")
    claim = only(text).claims[0]
    assert (claim.crossover_carrier.last, claim.crossover_carrier.id_qualifier, claim.crossover_carrier.id) == (
        "STATE MEDICAID", "PI", "MCD01")
    assert claim.remarks == ("MA01", "N130")
    assert (claim.statement_from, claim.statement_to) == (datetime.date(2026, 1, 5), datetime.date(2026, 1, 6))
    assert validate_835(text) == []


def test_cas_with_six_triplets_and_quantities():
    body = """
CLP*PCN8*1*80.00*40.00*30.00*12*ICN8*11*1
CAS*PR*1*10.00*1*2*10.00**3*10.00*1*45*5.00**253*0.80**A1*4.20
NM1*QC*1*DOE*JANE****MI*MEM1
"""
    claim = only(era(body, "40.00")).claims[0]
    assert [(a.reason, a.amount, a.quantity) for a in claim.adjustments] == [
        ("1", D("10.00"), D("1")), ("2", D("10.00"), None), ("3", D("10.00"), D("1")), ("45", D("5.00"), None),
        ("253", D("0.80"), None), ("A1", D("4.20"), None)]
    assert balance_problems(only(era(body, "40.00"))) == []


def test_two_transaction_sets_in_one_file_give_two_remittances():
    text = interchange([transaction(PAID_IN_FULL, "100.00"),
                        transaction(PAID_IN_FULL.replace("PCN1", "PCN9"), "100.00", trace="EFT999", control="0002")])
    first, second = parse_835(text)
    assert (first.trace_number, second.trace_number) == ("EFT123", "EFT999")
    assert second.claims[0].patient_control_number == "PCN9" and second.control_number == "0002"
    assert validate_835(text) == []


@pytest.mark.parametrize("end", ["~", "~\r\n", "~\n"], ids=["one-line", "crlf", "lf"])
def test_any_delimiters_with_or_without_newlines(end):
    text = era(PAID_IN_FULL, "100.00", end=end)
    piped = text.translate(str.maketrans({"*": "|", ":": ">"}))
    assert only(piped) == only(text)
    assert only(piped).claims[0].lines[0].modifiers == ("GO",)


def test_bytes_with_a_byte_order_mark_are_read():
    assert only(b"\xef\xbb\xbf" + era(PAID_IN_FULL, "100.00").encode()).total_paid == D("100.00")


# --- balancing ---------------------------------------------------------------------------------------------------


def test_payment_off_by_one_cent_is_named():
    text = era(PAID_IN_FULL, "100.01")
    assert balance_problems(only(text)) == [
        "Remittance EFT123: payment BPR02 100.01 but claims paid 100.00 − provider adjustments 0.00 = 100.00"]
    assert validate_835(text, file_name="era.835") == [{
        "segment": "BPR", "position": 4,
        "message": "era.835: segment 4 (BPR): Remittance EFT123: payment BPR02 100.01 but claims paid 100.00 "
                   "− provider adjustments 0.00 = 100.00"}]


def test_plb_left_out_of_the_payment_is_named():
    text = era(PAID_IN_FULL, "100.00", plb="PLB*1234567893*20261231*WO:ICN999*50.00\n")
    assert balance_problems(only(text)) == [
        "Remittance EFT123: payment BPR02 100.00 but claims paid 100.00 − provider adjustments 50.00 = 50.00"]


def test_claim_whose_adjustments_do_not_explain_the_difference():
    body = """
CLP*C123*1*200.00*150.00**12*ICN1*11*1
CAS*CO*45*40.00
NM1*QC*1*DOE*JANE****MI*MEM1
"""
    text = era(body, "150.00")
    assert balance_problems(only(text)) == [
        "Claim C123: charge 200.00 − paid 150.00 = 50.00 but its adjustments add up to 40.00"]
    assert validate_835(text)[0]["position"] == 15 and validate_835(text)[0]["segment"] == "CLP"


def test_line_whose_adjustments_do_not_explain_the_difference_names_code_and_control_number():
    body = """
CLP*C124*1*100.00*50.00**12*ICN1*11*1
NM1*QC*1*DOE*JANE****MI*MEM1
SVC*HC:97110:GO*60.00*30.00**2
DTM*472*20260105
CAS*CO*45*30.00
REF*6R*L1
SVC*HC:97535:GO*40.00*20.00**1
DTM*472*20260105
CAS*CO*45*19.99
"""
    assert balance_problems(only(era(body, "50.00"))) == [
        "Claim C124: charge 100.00 − paid 50.00 = 50.00 but its adjustments add up to 49.99",
        "Claim C124 line 97535 (line 2 of the claim): charge 40.00 − paid 20.00 = 20.00 "
        "but its adjustments add up to 19.99",
    ]
    named = era(body.replace("CAS*CO*45*30.00", "CAS*CO*45*29.00"), "50.00")
    assert "Claim C124 line 97110 (line control number L1): charge 60.00 − paid 30.00 = 30.00 but its " \
           "adjustments add up to 29.00" in balance_problems(only(named))


def test_debit_payment_balances_against_a_negative_net():
    body = PAID_IN_FULL.replace("*1*100.00*100.00**12", "*22*-100.00*-100.00**12").replace(
        "*100.00*100.00**4", "*-100.00*-100.00**4").replace("AMT*B6*100.00", "AMT*B6*-100.00")
    text = era(body, "100.00").replace("BPR*I*100.00*C", "BPR*I*100.00*D")
    r = only(text)
    assert (r.credit_debit, r.signed_total) == ("D", D("-100.00"))
    assert balance_problems(r) == []


# --- malformed input ---------------------------------------------------------------------------------------------


def raises(text, match: str) -> Era835Error:
    with pytest.raises(Era835Error) as info:
        parse_835(text, file_name="era.835")
    assert info.value.message == match
    return info.value


def test_letters_in_clp04_name_file_segment_position_and_element():
    error = raises(era(PAID_IN_FULL.replace("*100.00*100.00**12", "*100.00*abc**12"), "100.00"),
                   "era.835: segment 15 (CLP): CLP04 'abc' is not an amount.")
    assert (error.file_name, error.segment_id, error.position, error.element) == ("era.835", "CLP", 15, "CLP04")
    assert error.code == "era_invalid"


def test_truncated_file_names_the_last_segment_read():
    text = era(PAID_IN_FULL, "100.00")
    cut = text[: text.index("DTM*472")]
    raises(cut, "era.835: segment 18 (SVC): the file stops after this segment with no SE/GE/IEA to close it "
                "(truncated?).")


def test_transaction_set_without_se_is_named():
    text = era(PAID_IN_FULL, "100.00")
    raises(text.replace("SE*20*0001~\n", ""), "era.835: segment 3 (ST): ST at segment 3 has no SE.")


def test_payer_id_falls_back_to_n104_without_ref_2u():
    text = era(PAID_IN_FULL, "100.00").replace("N1*PR*ACME HEALTH PLAN", "N1*PR*ACME HEALTH PLAN*XV*PLAN77")
    assert only(text.replace("REF*2U*ACME1~\n", "").replace("SE*20*", "SE*19*")).payer_id == "PLAN77"


def test_file_cut_in_the_isa_is_not_an_interchange():
    raises(era(PAID_IN_FULL, "100.00")[:50], "era.835: segment 1: Not an X12 interchange: the file must start "
                                              "with a 106-character ISA segment.")


def test_service_line_before_any_claim():
    body = "SVC*HC:97110:GO*100.00*100.00**4\n" + PAID_IN_FULL
    raises(era(body, "100.00"), "era.835: segment 15 (SVC): SVC (service line) comes before any CLP claim.")


def test_an_837_is_not_an_835():
    with pytest.raises(Era835Error) as info:
        parse_835(AN_837.read_text(), file_name=AN_837.name)
    assert info.value.message == f"{AN_837.name}: segment 3 (ST): ST01 is '837'; this is not an 835 remittance."


def test_a_csv_is_not_an_835():
    error = raises("patient,dos,cpt\nDOE,2026-01-05,97110\n", "era.835: segment 1: Not an X12 interchange: "
                                                              "the file must start with a 106-character ISA segment.")
    assert error.position == 1


@pytest.mark.parametrize(("old", "new", "message"), [
    ("DTM*472*20260105", "DTM*472*20260231", "segment 19 (DTM): DTM02 '20260231' is not a date (CCYYMMDD)."),
    ("SVC*HC:97110:GO", "SVC*97110", "segment 18 (SVC): SVC01 '97110' needs a qualifier and a procedure code "
                                     "(e.g. HC:97110)."),
    ("REF*6R*LINE1", "CAS*XX*45*1.00", "segment 20 (CAS): CAS01 'XX' is not an adjustment group (CO, PR, OA, PI)."),
    ("REF*6R*LINE1", "CAS*CO**1.00", "segment 20 (CAS): CAS02 (reason code) is empty but an amount follows it."),
    ("REF*6R*LINE1", "CAS*CO*45", "segment 20 (CAS): CAS03 (an amount) is required but empty."),
    ("REF*6R*LINE1", "CAS*CO*45*1.005", "segment 20 (CAS): CAS03 '1.005' has more than two decimals."),
    ("REF*6R*LINE1", "HI*ABK:M62.81", "segment 20 (HI): HI is not a segment of an 835 remittance."),
    ("REF*6R*LINE1", "MOA***MA01", "segment 20 (MOA): MOA is not expected in a service line of claim PCN1."),
    ("NM1*QC*1", "NM1*85*1", "segment 16 (NM1): NM101 '85' is not a claim-level name (QC, IL, 74, 82, TT, PR, GB)."),
])
def test_bad_elements_are_named(old, new, message):
    raises(era(PAID_IN_FULL.replace(old, new), "100.00"), f"era.835: {message}")


def test_bpr_must_open_the_transaction():
    text = era(PAID_IN_FULL, "100.00")
    bpr = next(line for line in text.split("~\n") if line.startswith("BPR"))
    raises(text.replace(bpr + "~\n", "").replace("SE*20*", "SE*19*"),
           "era.835: segment 4 (TRN): expected BPR (financial information) right after ST.")


def test_claim_after_plb_is_refused():
    text = era(PAID_IN_FULL, "100.00", plb="PLB*1234567893*20261231*L6*-1.00\nCLP*PCN9*1*1.00*1.00**12*ICN9")
    raises(text, "era.835: segment 23 (CLP): CLP is not expected after the PLB provider adjustments "
                 "(PLB must come last).")


def test_missing_payee_loop_is_refused():
    text = era(PAID_IN_FULL, "100.00").replace("N1*PE*ALDER PEDIATRIC OT*XX*1234567893~\nREF*TJ*123456789~\n", "")
    raises(text.replace("SE*20*", "SE*18*"), "era.835: segment 20 (SE): the transaction set has no N1*PE (payee) loop.")


def test_wrong_implementation_guide_is_refused():
    raises(era(PAID_IN_FULL, "100.00").replace("005010X221A1", "005010X222A1"),
           "era.835: segment 3 (ST): GS08 implementation guide '005010X222A1' is not 005010X221A1 (835).")


def test_oversized_file_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(x835, "MAX_FILE_BYTES", 100)
    text = era(PAID_IN_FULL, "100.00")
    message = f"era.835: the file is {len(text.encode()) / 2 ** 20:.1f} MB; an 835 larger than 0 MB is refused."
    raises(text, message)
    assert validate_835(text, file_name="era.835") == [{"segment": "", "position": None, "message": message}]


def test_validate_reports_pyx12_and_the_reader_without_raising():
    text = era(PAID_IN_FULL.replace("*100.00*100.00**12", "*100.00*abc**12"), "100.00")
    issues = validate_835(text, file_name="era.835")
    assert issues[0]["segment"] == "CLP" and issues[0]["position"] == 15
    assert "CLP04" in issues[0]["message"] and issues[0]["message"].startswith("era.835: segment 15 (CLP): ")
    assert issues[-1] == {"segment": "CLP", "position": 15,
                          "message": "era.835: segment 15 (CLP): CLP04 'abc' is not an amount."}


def test_validate_turns_a_pyx12_crash_into_one_issue(monkeypatch):
    def explode(content):
        raise AttributeError("'NoneType' object has no attribute 'get_child_node_by_idx'")

    monkeypatch.setattr("otbilling.edi.validation.validate_with_pyx12", explode)
    issues = validate_835(era(PAID_IN_FULL, "100.00"), file_name="era.835")
    assert issues == [{"segment": "", "position": None, "message": (
        "era.835: the implementation-guide check failed: AttributeError: "
        "'NoneType' object has no attribute 'get_child_node_by_idx'")}]


def test_validate_of_garbage_never_raises():
    issues = validate_835(b"\x00\xff not x12 at all", file_name="junk.bin")
    assert issues[-1]["message"] == ("junk.bin: segment 1: Not an X12 interchange: the file must start with a "
                                     "106-character ISA segment.")


def test_mutated_samples_raise_only_era835error():
    """A few hundred random byte edits of a real file: each one is read or refused with Era835Error, never a crash."""
    rng = random.Random(835)
    original = GENERATED.read_text()
    for _ in range(400):
        chars = list(original)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(chars))
            chars[position:position + rng.randint(0, 1)] = rng.choice(["*", ":", "~", "-", ".", "9", "X", "", "\n"])
        try:
            for remittance in parse_835("".join(chars)):
                balance_problems(remittance)
        except Era835Error:
            pass


def test_lone_surrogate_in_text_is_refused_cleanly():
    with pytest.raises(Era835Error):
        parse_835("ISA\ud800")
