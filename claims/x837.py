"""Writing professional claims as an 837P (005010X222A1).

One call writes one interchange for one clinic and one payer: one functional group (GS01 HC) holding one ST…SE
transaction set per `MAX_CLAIMS_PER_SET` claims (the IG's limit is 5,000 CLM per set). Every set repeats the
submitter (1000A), the receiver (1000B) and the billing provider (2000A); each claim gets its own subscriber loop
(2000B), plus a patient loop (2000C) when the patient is not the subscriber. Grouping several claims of one
subscriber under one 2000B is allowed by the IG but buys nothing here, so it is not done.

Envelope ids are settings-driven (see `envelope_for`); control numbers are reserved by
`otbilling.edi.writer.write_interchange`, unique and increasing per sender id.

Free text never carries a delimiter: the writer refuses such text with an error naming the segment and element
(the models' validators already refuse it at entry, so only data that bypassed them gets that far).

Coordination of benefits: a claim to a next payer (`Claim.primary_claim` set, `other_payer_adjudication` filled by
denials.secondary) carries the previous payer's answer in 2320/2330A/2330B and, per line, 2430; its own SBR01 comes
from its coverage's priority (S for a secondary). Which amounts go where follows the IG's balancing rule: for each
line SV102 − its 2430 CAS = SVD02, and CLM02 − every CAS of that payer = AMT*D.
"""

import datetime
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings

from otbilling.edi.writer import Envelope, TransactionSet, WrittenInterchange, write_interchange, x12_date
from otbilling.errors import AppError

GUIDE = "005010X222A1"
MAX_CLAIMS_PER_SET = 5000
SBR_PAYER_RESPONSIBILITY = {"primary": "P", "secondary": "S", "tertiary": "T"}
SELF = "18"
DIAGNOSIS_QUALIFIERS = ("ABK", "ABF")  # principal, then every other ICD-10-CM code
EIN_QUALIFIER = "30"  # ISA05/07: U.S. federal tax identification number
MUTUALLY_DEFINED = "ZZ"
CENT = Decimal("0.01")
CAS_REASONS_PER_SEGMENT = 6  # CAS02/05/08/11/14/17
COB_KEYS = ("payer", "subscriber", "paid", "adjudicated_on")


@dataclass(frozen=True)
class Parties:
    """Who the file is from and to, as written in the envelope and in loops 1000A/1000B."""

    envelope: Envelope
    submitter_id: str  # 1000A NM109 and the key of the control-number counter


def digits(value: str) -> str:
    return "".join(ch for ch in (value or "") if ch.isdigit())


def icd10(code: str) -> str:
    """HI codes are written without the dot (M62.81 → M6281)."""
    return (code or "").replace(".", "").strip().upper()


def _usage() -> str:
    # X12_USAGE is this module's setting; eligibility's X12_USAGE_INDICATOR is honoured so one switch covers both.
    value = getattr(settings, "X12_USAGE", "") or getattr(settings, "X12_USAGE_INDICATOR", "") or "P"
    return "T" if str(value).strip().upper() == "T" else "P"


def envelope_for(clinic, payer) -> Parties:
    """ISA/GS ids for a clinic's file to a payer.

    Defaults: the sender is the clinic (its EIN digits, qualifier 30) and the receiver is the payer (its EDI payer
    id, qualifier ZZ). A billing company that submits through one clearinghouse account sets X12_837_SENDER_ID
    (and X12_837_RECEIVER_ID for the clearinghouse); those ids are then mutually defined (ZZ) unless
    X12_837_SENDER_QUALIFIER / X12_837_RECEIVER_QUALIFIER say otherwise.
    """
    sender = getattr(settings, "X12_837_SENDER_ID", "") or ""
    sender_qualifier = getattr(settings, "X12_837_SENDER_QUALIFIER", "") or (MUTUALLY_DEFINED if sender else
                                                                               EIN_QUALIFIER)
    sender = sender or digits(clinic.ein)
    receiver = getattr(settings, "X12_837_RECEIVER_ID", "") or ""
    receiver_qualifier = getattr(settings, "X12_837_RECEIVER_QUALIFIER", "") or MUTUALLY_DEFINED
    receiver = receiver or payer.payer_id
    envelope = Envelope(sender_id=sender, receiver_id=receiver, functional_id="HC", version=GUIDE,
                        sender_qualifier=sender_qualifier, receiver_qualifier=receiver_qualifier, usage=_usage())
    return Parties(envelope=envelope, submitter_id=sender)


# --- loops ------------------------------------------------------------------------------------------------------


def _text(value) -> str:
    """Names and addresses are sent upper-case, as payers' matching expects."""
    return (value or "").strip().upper()


def _address(obj) -> list[list]:
    n3 = ["N3", _text(obj.address_line1)]
    if obj.address_line2:
        n3.append(_text(obj.address_line2))
    return [n3, ["N4", _text(obj.city), _text(obj.state), digits(obj.zip_code)]]


def _per(clinic) -> list:
    per = ["PER", "IC", _text(clinic.contact_name) or _text(clinic.legal_name)]
    if clinic.contact_phone:
        per += ["TE", digits(clinic.contact_phone)]
    if clinic.contact_email:
        per += ["EM", clinic.contact_email.strip()]
    return per


def _header(clinic, payer, parties: Parties, *, reference: str, now: datetime.datetime) -> list[list]:
    return [
        ["BHT", "0019", "00", reference, x12_date(now.date()), now.strftime("%H%M"), "CH"],
        ["NM1", "41", "2", _text(clinic.legal_name), "", "", "", "", "46", parties.submitter_id],
        _per(clinic),
        ["NM1", "40", "2", _text(payer.name), "", "", "", "", "46", parties.envelope.receiver_id],
        ["HL", 1, "", "20", 1],
        ["PRV", "BI", "PXC", clinic.taxonomy],
        ["NM1", "85", "2", _text(clinic.legal_name), "", "", "", "", "XX", clinic.billing_npi],
        *_address(clinic),
        ["REF", "EI", digits(clinic.ein)],
    ]


def _dmg(date_of_birth, sex) -> list:
    return ["DMG", "D8", x12_date(date_of_birth), sex if sex in ("F", "M", "U") else "U"]


def _subscriber_loops(claim, hl: int) -> tuple[list[list], int]:
    """2000B (+ 2000C when the patient is a dependent) for one claim; returns the segments and the last HL id."""
    coverage, patient, payer = claim.coverage, claim.patient, claim.payer
    is_self = coverage.relationship == SELF
    sbr = ["SBR", SBR_PAYER_RESPONSIBILITY.get(coverage.priority, "P"), SELF if is_self else "",
           _text(coverage.group_number), "", "", "", "", "", payer.claim_filing_indicator]
    subscriber_hl = hl + 1
    segments = [["HL", subscriber_hl, 1, "22", 0 if is_self else 1], sbr]
    if is_self:
        segments += [["NM1", "IL", "1", _text(patient.last_name), _text(patient.first_name), "", "", "", "MI",
                      coverage.member_id.strip()],
                     *_address(patient), _dmg(patient.date_of_birth, patient.sex)]
    else:
        # The subscriber lives with the patient as far as we know; the IG sends the subscriber's DMG only when
        # the patient is the subscriber ("if not required, do not send"), so the dependent's DMG goes in 2010CA.
        segments += [["NM1", "IL", "1", _text(coverage.subscriber_last_name), _text(coverage.subscriber_first_name),
                      "", "", "", "MI", coverage.member_id.strip()],
                     *_address(patient)]
    segments.append(["NM1", "PR", "2", _text(payer.name), "", "", "", "", "PI", payer.payer_id])
    if is_self:
        return segments, subscriber_hl
    patient_hl = subscriber_hl + 1
    segments += [["HL", patient_hl, subscriber_hl, "23", 0], ["PAT", coverage.relationship],
                 ["NM1", "QC", "1", _text(patient.last_name), _text(patient.first_name)],
                 *_address(patient), _dmg(patient.date_of_birth, patient.sex)]
    return segments, patient_hl


def claim_lines(claim) -> list:
    """The claim's lines in position order (uses prefetched lines when the caller loaded them)."""
    return sorted(claim.lines.all(), key=lambda line: line.position)


def _claim_loop(claim) -> list[list]:
    """2300 with 2310A/B and its 2400 lines."""
    segments: list[list] = [["CLM", claim.patient_control_number, claim.total_charge, "", "",
                             (claim.place_of_service, "B", claim.frequency), "Y", "A", "Y", "Y"]]
    if claim.prior_auth_number:
        segments.append(["REF", "G1", claim.prior_auth_number.strip()])
    if claim.frequency in ("7", "8"):
        segments.append(["REF", "F8", claim.payer_claim_control_number.strip()])
    codes = [icd10(code) for code in claim.diagnoses]
    segments.append(["HI", *[(DIAGNOSIS_QUALIFIERS[0 if n == 0 else 1], code) for n, code in enumerate(codes)]])
    referrer = claim.referring_provider
    if referrer is not None:
        segments.append(["NM1", "DN", "1", _text(referrer.last_name), _text(referrer.first_name), "", "", "", "XX",
                         referrer.npi])
    rendering = claim.rendering_provider
    segments += [["NM1", "82", "1", _text(rendering.last_name), _text(rendering.first_name), "", "", "", "XX",
                  rendering.npi],
                 ["PRV", "PE", "PXC", rendering.taxonomy]]
    # 2310C (service facility) is needed only when the service was not at the billing provider's address. The
    # data model has no separate facility yet, so it is never written.
    cob = _cob(claim)
    if cob:
        segments += _other_payer_loops(claim, cob)
    for number, line in enumerate(claim_lines(claim), start=1):
        segments += _line_loop(number, line) + _line_adjudication(line, cob)
    return segments


def _line_loop(number: int, line) -> list[list]:
    segments = [
        ["LX", number],
        ["SV1", ("HC", line.cpt, *line.modifiers), line.charge, "UN", line.units, "", "",
         tuple(line.diagnosis_pointers)],
        ["DTP", "472", "D8", x12_date(line.date_of_service)],
    ]
    if line.auth_number:
        segments.append(["REF", "G1", line.auth_number.strip()])
    segments.append(["REF", "6R", line.line_control_number])
    return segments


# --- coordination of benefits: the previous payer's answer on a claim to the next payer -------------------------


def _cob(claim) -> dict | None:
    """The previous payer's adjudication when this claim goes to a next payer; refused when it lacks what the
    loops need (written by hand or by an older version), naming the claim and the missing keys."""
    cob = claim.other_payer_adjudication if getattr(claim, "primary_claim_id", None) else None
    if not cob:
        return None
    missing = [key for key in COB_KEYS if cob.get(key) in (None, "", {})]
    if missing:
        raise AppError(f"Claim {claim.patient_control_number} goes to a next payer but its other payer's "
                       f"adjudication lacks {', '.join(missing)}; rebuild the secondary claim.",
                       code="cob_incomplete", field="other_payer_adjudication")
    return cob


def _amount(value) -> Decimal:
    try:
        return Decimal(str(value)).quantize(CENT)
    except InvalidOperation as exc:
        raise AppError(f"The other payer's amount {value!r} is not an amount.", code="cob_incomplete",
                       field="other_payer_adjudication") from exc


def _adjudication_date(cob: dict) -> str:
    return x12_date(datetime.date.fromisoformat(cob["adjudicated_on"]))


def _cas_segments(adjustments: Iterable[dict]) -> list[list]:
    """One CAS per group code (six reasons per segment at most); the IG sends non-zero adjustments only."""
    by_group: dict[str, list] = {}
    for adjustment in adjustments:
        amount = _amount(adjustment["amount"])
        if amount:
            by_group.setdefault(adjustment["group"], []).append((adjustment["carc"], amount))
    segments = []
    for group, reasons in by_group.items():
        for start in range(0, len(reasons), CAS_REASONS_PER_SEGMENT):
            cas: list = ["CAS", group]
            for carc, amount in reasons[start:start + CAS_REASONS_PER_SEGMENT]:
                cas += [carc, amount, ""]
            segments.append(cas)
    return segments


def _other_payer_loops(claim, cob: dict) -> list[list]:
    """2320 (the other payer's coverage and claim-level answer), 2330A (its subscriber), 2330B (the payer)."""
    payer, subscriber = cob["payer"], cob["subscriber"]
    line_level = bool(cob.get("lines"))
    segments = [["SBR", payer["responsibility"], subscriber["relationship"], _text(subscriber.get("group_number")),
                 "", "", "", "", "", payer["claim_filing_indicator"]],
                *_cas_segments(cob.get("claim_adjustments", ())),
                ["AMT", "D", _amount(cob["paid"])]]
    if not line_level:
        # Remaining patient liability goes in 2320 only when the payer answered at claim level; with line answers
        # it goes in each 2430, never in both (X12 RFIs 1391 and 1515).
        segments.append(["AMT", "EAF", _amount(cob.get("patient_responsibility", "0"))])
    # OI03/OI06 repeat what CLM08/CLM09 say: benefits assigned, release of information on file.
    segments.append(["OI", "", "", "Y", "", "", "Y"])
    return segments + _other_subscriber(claim, subscriber) + _other_payer(cob, line_level)


def _other_subscriber(claim, subscriber: dict) -> list[list]:
    """2330A: the subscriber of the other coverage (the patient lives with them as far as we know, as in 2010BA)."""
    return [["NM1", "IL", "1", _text(subscriber["last_name"]), _text(subscriber.get("first_name")), "", "", "", "MI",
             subscriber["member_id"].strip()],
            *_address(claim.patient)]


def _other_payer(cob: dict, line_level: bool) -> list[list]:
    """2330B: the other payer; its adjudication date here only when no 2430 carries it, and its claim number."""
    payer = cob["payer"]
    segments = [["NM1", "PR", "2", _text(payer["name"]), "", "", "", "", "PI", payer["payer_id"]]]
    if not line_level:
        segments.append(["DTP", "573", "D8", _adjudication_date(cob)])
    if cob.get("payer_claim_control_number"):
        segments.append(["REF", "F8", cob["payer_claim_control_number"].strip()])
    return segments


def _line_adjudication(line, cob: dict | None) -> list[list]:
    """2430: how the other payer answered this line (SVD01 must equal the 2330B payer id)."""
    answer = (cob or {}).get("lines", {}).get(str(line.position))
    if answer is None:
        return []
    return [["SVD", cob["payer"]["payer_id"], _amount(answer["paid"]), ("HC", line.cpt, *line.modifiers), "",
             line.units],
            *_cas_segments(answer.get("adjustments", ())),
            ["DTP", "573", "D8", _adjudication_date(cob)],
            ["AMT", "EAF", _amount(answer.get("patient_responsibility", "0"))]]


def claim_segments(claim, hl: int = 1) -> list[list]:
    """One claim's loops (2000B, 2000C, 2300, 2400) as they are written after a 2000A numbered `hl`."""
    segments, _last = _subscriber_loops(claim, hl)
    return segments + _claim_loop(claim)


# --- the whole file ---------------------------------------------------------------------------------------------


def _chunks(items: Sequence, size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _one_clinic_and_payer(claims: Sequence):
    if not claims:
        raise AppError("There is no claim to write.", code="no_claims")
    first = claims[0]
    for claim in claims:
        if claim.clinic_id != first.clinic_id or claim.payer_id != first.payer_id:
            raise AppError(f"Claim {claim.patient_control_number} belongs to another clinic or payer than "
                           f"{first.patient_control_number}: one 837P file is for one clinic and one payer.",
                           code="mixed_batch")
    return first.clinic, first.payer


def build_transaction_sets(claims: Sequence, *, parties: Parties, now: datetime.datetime,
                           reference: str) -> list[TransactionSet]:
    """The 837P transaction sets (without ST/SE, which the writer adds): one per MAX_CLAIMS_PER_SET claims."""
    clinic, payer = _one_clinic_and_payer(claims)
    chunks = list(_chunks(list(claims), MAX_CLAIMS_PER_SET))
    sets = []
    for index, chunk in enumerate(chunks, start=1):
        set_reference = reference if len(chunks) == 1 else f"{reference}-{index}"
        segments = _header(clinic, payer, parties, reference=set_reference, now=now)
        hl = 1
        for claim in chunk:
            loops, hl = _subscriber_loops(claim, hl)
            segments += loops + _claim_loop(claim)
        sets.append(TransactionSet(set_id="837", segments=segments, implementation=GUIDE))
    return sets


def render_837p(claims: Sequence, *, now: datetime.datetime | None = None,
                reference: str = "") -> WrittenInterchange:
    """The 837P interchange for claims of one clinic and one payer, with the sender's next control numbers.

    `reference` is BHT03 (the batch's id; the first claim's control number when empty). Call inside the caller's
    transaction so that a later failure gives the control numbers back.
    """
    clinic, payer = _one_clinic_and_payer(claims)
    now = now or datetime.datetime.now(datetime.UTC)
    parties = envelope_for(clinic, payer)
    reference = re.sub(r"[^A-Za-z0-9-]", "", reference or claims[0].patient_control_number)[:50]
    transactions = build_transaction_sets(claims, parties=parties, now=now, reference=reference)
    return write_interchange(envelope=parties.envelope, transactions=transactions,
                             submitter_id=parties.submitter_id, now=now)
