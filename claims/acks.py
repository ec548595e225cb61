"""Importing acknowledgments: the 999 that answers an 837P batch and the 277CA that answers each claim in it.

`ack_import` reads the file with our tokenizer and structural checks rather than pyx12's X12ContextReader: the
reader is silent about a truncated or disordered file (it yields what it could read), it cannot name the segment
position of a problem, and pyx12's 277CA map wrongly requires a 2200C STC, so real 277CA files would be refused.

- A 999 is matched to our batch by AK102 (the batch's GS06) and each AK2 to a transaction set of the batch's file by
  AK202 (ST02). The batch becomes accepted, partly accepted or rejected; every claim of a rejected set moves
  submitted → rejected with the 999's errors in plain words. Claims of accepted sets stay submitted until a 277CA.
- A 277CA is matched claim by claim: 2200D TRN02 is our CLM01 (Claim.patient_control_number). Categories A1/A2
  accept the claim (keeping REF*1K as the payer's claim number); A3/A4/A6/A7/A8 reject it with the reason.

Nothing found, or a claim already past the status the file would give it, is listed in the summary (unmatched,
skipped), never an error. A malformed file raises AppError naming the segment and its position and stores nothing.
The same bytes imported twice change nothing the second time (SHA-256 on AckFile).
"""

import hashlib
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from otbilling.edi.tokenizer import Delimiters, Segment, X12SyntaxError, tokenize, transaction_sets
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, clinics_visible_to

from .lifecycle import claim_transition
from .models import AckFile, AckKind, BatchStatus, Claim, ClaimBatch, ClaimStatus

MAX_FILE_BYTES = 20 * 1024 * 1024

# --- code tables (X12 005010X231A1 and the external code sources 507, 508 and 98) --------------------------------

SEGMENT_ERRORS = {  # IK304
    "1": "unrecognized segment ID", "2": "unexpected segment", "3": "required segment missing",
    "4": "loop occurs over maximum times", "5": "segment exceeds maximum use",
    "6": "segment not in defined transaction set", "7": "segment not in proper sequence",
    "8": "segment has data element errors", "I4": "segment marked 'not used' in the guide is present",
    "I6": "situational (implementation dependent) segment missing", "I7": "loop occurs under minimum times",
    "I8": "segment below minimum use", "I9": "situational segment that must not be used is present",
}
ELEMENT_ERRORS = {  # IK403
    "1": "required data element missing", "2": "conditional required data element missing",
    "3": "too many data elements", "4": "data element too short", "5": "data element too long",
    "6": "invalid character in data element", "7": "invalid code value", "8": "invalid date", "9": "invalid time",
    "10": "exclusion condition violated", "12": "too many repetitions", "13": "too many components",
    "I6": "code value not used in this implementation", "I9": "situational (implementation dependent) element missing",
    "I10": "element marked 'not used' in the guide is present", "I11": "too few repetitions",
    "I12": "value does not match the required pattern", "I13": "situational element that must not be used is present",
}
SET_RESULTS = {  # IK501
    "A": "accepted", "E": "accepted with errors noted", "M": "rejected: message authentication code failed",
    "R": "rejected", "W": "rejected: assurance failed validity tests", "X": "rejected: content could not be analyzed",
}
SET_ERRORS = {  # IK502–IK506
    "1": "transaction set not supported", "2": "transaction set trailer missing",
    "3": "control number in header and trailer do not match", "4": "number of included segments does not match count",
    "5": "one or more segments in error", "6": "missing or invalid transaction set identifier",
    "7": "missing or invalid transaction set control number", "18": "transaction set not in functional group",
    "19": "invalid implementation convention reference",
    "23": "control number not unique within the functional group", "I5": "one or more segments in error",
    "I6": "implementation convention not supported",
}
GROUP_RESULTS = dict(SET_RESULTS, P="partly accepted: at least one transaction set was rejected")  # AK901
GROUP_ERRORS = {  # AK905–AK909
    "1": "functional group not supported", "2": "functional group version not supported",
    "3": "functional group trailer missing", "4": "group control number in header and trailer do not agree",
    "5": "number of included transaction sets does not match count", "6": "group control number violates syntax",
    "19": "acknowledgment rejected: the receiver could not process it",
}
REJECTED_RESULTS = {"M", "R", "W", "X"}

CATEGORIES = {  # STC01-1, code source 507
    "A0": "Forwarded to another entity", "A1": "Received (not yet accepted for adjudication)",
    "A2": "Accepted into adjudication", "A3": "Returned as unprocessable", "A4": "Not found",
    "A5": "Split claim", "A6": "Rejected for missing information", "A7": "Rejected for invalid information",
    "A8": "Rejected for a relational field in error",
}
ACCEPTED_CATEGORIES = {"A1", "A2"}
REJECTED_CATEGORIES = {"A3", "A4", "A6", "A7", "A8"}
STATUS_CODES = {  # STC01-2, code source 508: the ones payers use on a 277CA
    "0": "Cannot provide further status electronically", "3": "Adjudicated, awaiting payment cycle",
    "16": "Forwarded to entity", "19": "Entity acknowledges receipt of claim", "20": "Accepted for processing",
    "21": "Missing or invalid information", "23": "Returned to entity",
    "24": "Entity not approved as an electronic submitter", "25": "Entity not approved", "26": "Entity not found",
    "27": "Policy canceled", "29": "Subscriber and policy number/contract number mismatched",
    "30": "Subscriber and subscriber id mismatched", "31": "Subscriber and policyholder name mismatched",
    "32": "Subscriber and policy number/contract number not found", "33": "Subscriber and subscriber id not found",
    "34": "Subscriber and policyholder name not found", "35": "Claim not found",
    "54": "Duplicate of a previously processed claim/line", "78": "Duplicate of an existing claim/line",
    "84": "Service not authorized", "88": "Entity not eligible for benefits for submitted dates of service",
    "96": "No agreement with entity", "97": "Patient eligibility not found with entity", "109": "Entity not eligible",
    "116": "Claim submitted to incorrect payer", "121": "More service lines than the payer allows",
    "125": "Entity's name", "126": "Entity's address", "128": "Entity's tax id",
    "145": "Entity's specialty/taxonomy code", "153": "Entity's id number", "155": "Entity's relationship to patient",
    "156": "Patient relationship to subscriber", "157": "Entity's gender", "158": "Entity's date of birth",
    "163": "Entity's policy/group number", "164": "Entity's contract/member number",
    "171": "Other insurance coverage information", "178": "Submitted charges", "187": "Date(s) of service",
    "247": "Line information", "249": "Place of service", "252": "Entity's prior authorization/certification number",
    "254": "Principal diagnosis code", "255": "Diagnosis code", "400": "Claim is out of balance",
    "453": "Procedure code modifier(s)", "454": "Procedure code", "464": "Payer assigned claim control number",
    "476": "Missing or invalid units of service", "477": "Diagnosis code pointer is missing or invalid",
    "480": "Entity's claim filing indicator", "481": "Claim/submission format is invalid",
    "500": "Entity's postal/ZIP code", "503": "Entity's street address", "504": "Entity's last name",
    "505": "Entity's first name", "507": "HCPCS", "510": "Future date", "511": "Invalid character",
    "535": "Claim frequency code", "562": "Entity's National Provider Identifier (NPI)",
    "583": "Line item charge amount", "584": "Line item control number",
}
ENTITIES = {  # STC01-3, code source 98
    "03": "Dependent", "1P": "Provider", "40": "Receiver", "41": "Submitter", "71": "Attending provider",
    "77": "Service location", "82": "Rendering provider", "85": "Billing provider", "87": "Pay-to provider",
    "DK": "Ordering provider", "DN": "Referring provider", "DQ": "Supervising provider", "FA": "Facility",
    "GB": "Other insured", "IL": "Subscriber", "PR": "Payer", "QC": "Patient",
}
KNOWN_SETS = {
    "270": "270 eligibility inquiry", "271": "271 eligibility response", "276": "276 claim status inquiry",
    "277": "277 claim status response", "835": "835 remittance", "837": "837 claim",
    "997": "997 functional acknowledgment (4010)",
}


class AckReadError(AppError):
    """The file is not a readable 999 or 277CA; the message names the segment and its position."""

    def __init__(self, message: str):
        super().__init__(message, code="x12_invalid", field="file")


def _fail(where: str, segment: Segment | None, message: str):
    if segment is None:
        raise AckReadError(f"{where}: {message}")
    raise AckReadError(f"{where} segment {segment.position} ({segment.id}): {message}")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _words(table: dict, code: str, label: str) -> str:
    meaning = table.get(code)
    return f"{meaning} ({label} {code})" if meaning else f"{label} code {code}"


# --- reading: envelope and kind ----------------------------------------------------------------------------------


@dataclass
class Interchange:
    kind: str
    delimiters: Delimiters
    sets: list[tuple[Segment, list[Segment]]]  # (GS, ST…SE) in file order


def read_ack(text: str, *, file_name: str) -> Interchange:
    """Tokenize, check the envelope and tell a 999 from a 277CA; anything else is refused by name."""
    delimiters, segments = _tokenize(text, file_name)
    try:
        sets = transaction_sets(segments, strict=False)  # payers' SE02 echoes are often wrong; counts are checked
    except X12SyntaxError as exc:
        _fail(file_name, None, str(exc))
    groups = _check_envelope(file_name, segments)
    if not sets:
        found = "a TA1 interchange acknowledgment" if any(s.id == "TA1" for s in segments) else "nothing"
        _fail(file_name, segments[0], f"the interchange holds no transaction set (found {found}); expected a 999 "
                                      "or a 277CA.")
    paired = [(groups[st[0].position], st) for st in sets]
    kinds = {_kind_of(file_name, gs, st[0]) for gs, st in paired}
    if len(kinds) > 1:
        _fail(file_name, sets[0][0], "the file mixes 999 and 277CA transaction sets; import them separately.")
    return Interchange(kind=kinds.pop(), delimiters=delimiters, sets=paired)


def _tokenize(text: str, file_name: str) -> tuple[Delimiters, list[Segment]]:
    try:
        return tokenize(text)
    except X12SyntaxError as exc:
        if "IEA" not in str(exc):
            _fail(file_name, None, str(exc))
        last = _last_segment(text)
        _fail(file_name, last, "the file ends here without SE/GE/IEA: it is truncated.")


def _last_segment(text: str) -> Segment | None:
    """The last readable piece of a file that does not end with IEA, for the error message."""
    text = text.lstrip("\ufeff\r\n ")
    terminator = text[105] if len(text) > 105 else "~"
    pieces = [p.strip("\r\n") for p in text.split(terminator) if p.strip()]
    if not pieces:
        return None
    return Segment(elements=tuple(pieces[-1].split(text[3] if len(text) > 3 else "*")), position=len(pieces))


def _check_envelope(file_name: str, segments: list[Segment]) -> dict[int, Segment]:
    """GS/GE pairs and counts, IEA's group count; returns the GS of every ST by the ST's position."""
    isa, iea = segments[0], segments[-1]
    gs, group_of, groups, sets_in_group, in_set = None, {}, 0, 0, False
    for segment in segments[1:-1]:
        if segment.id == "ST":
            if gs is None:
                _fail(file_name, segment, "ST outside a GS functional group.")
            group_of[segment.position], sets_in_group, in_set = gs, sets_in_group + 1, True
        elif segment.id == "SE":
            in_set = False
        elif in_set:
            continue
        elif segment.id == "GS":
            if gs is not None:
                _fail(file_name, segment, "GS opens before the previous group's GE.")
            gs, sets_in_group, groups = segment, 0, groups + 1
        elif segment.id == "GE":
            if gs is None:
                _fail(file_name, segment, "GE without a GS.")
            if segment.get(1) != str(sets_in_group):
                _fail(file_name, segment, f"GE01 counts {segment.get(1)} transaction sets; the group has "
                                          f"{sets_in_group}.")
            gs = None
        elif segment.id != "TA1":
            _fail(file_name, segment, "segment outside a transaction set (expected GS, ST, GE or IEA).")
    if gs is not None:
        _fail(file_name, gs, "GS has no GE: the file is truncated.")
    if iea.get(1) != str(groups):
        _fail(file_name, iea, f"IEA01 counts {iea.get(1)} functional groups; the interchange has {groups}.")
    if not isa.get(13).strip():
        _fail(file_name, isa, "ISA13 (interchange control number) is empty.")
    return group_of


def _kind_of(file_name: str, gs: Segment, st: Segment) -> str:
    set_id, guide = st.get(1), st.get(3) or gs.get(8)
    if set_id == "999":
        return AckKind.IMPLEMENTATION
    if set_id == "277" and "X214" in guide:
        return AckKind.CLAIM
    found = KNOWN_SETS.get(set_id, f"transaction set {set_id!r}")
    if set_id == "277":
        found += " (not a 277CA claim acknowledgment, which is 005010X214)"
    article = "an" if found[:1] in "8AEIOUaeiou" else "a"
    _fail(file_name, st, f"this is {article} {found}{f' ({guide})' if guide else ''}; only 999 and 277CA "
                         "acknowledgments are imported here.")


# --- reading: 999 ------------------------------------------------------------------------------------------------


@dataclass
class ElementError:
    position: str  # IK401: the element's position in the segment, "-component" when inside a composite
    reference: str
    code: str
    bad_value: str

    def words(self, segment_id: str) -> str:
        element, _, component = self.position.partition("-")
        name = f"{segment_id}{element.zfill(2)}" + (f"-{component}" if component else "")
        value = f", value {self.bad_value!r}" if self.bad_value else ""
        return f"{name} {_words(ELEMENT_ERRORS, self.code, 'IK403')}{value}"


@dataclass
class SegmentError:
    segment_id: str
    position: str
    code: str
    claim: str = ""  # CTX*CLM01: the claim the error belongs to, when the 999 says so
    elements: list[ElementError] = field(default_factory=list)

    def words(self) -> str:
        text = f"{self.segment_id} segment {self.position}"
        if self.code:
            text += f": {_words(SEGMENT_ERRORS, self.code, 'IK304')}"
        if self.claim:
            text += f" (claim {self.claim})"
        if self.elements:
            text += ": " + "; ".join(e.words(self.segment_id) for e in self.elements)
        return text


@dataclass
class SetAck:
    control_number: str
    result: str
    set_errors: list[str] = field(default_factory=list)
    errors: list[SegmentError] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.result in REJECTED_RESULTS

    def words(self, claim: str = "") -> str:
        text = f"transaction set {self.control_number} {_words(SET_RESULTS, self.result, 'IK501')}"
        if self.set_errors:
            text += ": " + ", ".join(_words(SET_ERRORS, code, "IK502") for code in self.set_errors)
        errors = [e for e in self.errors if e.claim == claim] if claim else []
        errors = errors or self.errors
        return "; ".join([text, *(e.words() for e in errors)])


@dataclass
class GroupAck:
    ak1: Segment
    functional_id: str
    group_control_number: str
    sets: list[SetAck]
    result: str = ""
    group_errors: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        return self.result in REJECTED_RESULTS

    def words(self) -> str:
        text = f"functional group {self.group_control_number} {_words(GROUP_RESULTS, self.result, 'AK901')}"
        if self.group_errors:
            text += ": " + ", ".join(_words(GROUP_ERRORS, code, "AK905") for code in self.group_errors)
        return text


def read_999(segs: list[Segment], delimiters: Delimiters, *, file_name: str) -> GroupAck:
    """One 999 transaction set: AK1, then AK2 (IK3 (CTX) (IK4 (CTX)))… IK5 per set, then AK9."""
    where = f"{file_name}: 999"
    body = segs[1:-1]
    if not body or body[0].id != "AK1":
        _fail(where, body[0] if body else segs[-1], "expected AK1 right after ST.")
    ak1 = body[0]
    if not ak1.get(2).strip():
        _fail(where, ak1, "AK102 (the group control number it answers) is empty.")
    group = GroupAck(ak1=ak1, functional_id=ak1.get(1), group_control_number=ak1.get(2).strip(), sets=[])
    current, closed = None, False
    for segment in body[1:]:
        if closed:
            _fail(where, segment, "unexpected segment after AK9.")
        if segment.id == "AK2":
            current = _open_set(where, segment, current, group)
        elif segment.id in ("IK3", "IK4", "CTX"):
            _add_error(where, segment, current, delimiters)
        elif segment.id == "IK5":
            current = _close_set(where, segment, current)
        elif segment.id == "AK9":
            _read_ak9(where, segment, current, group)
            closed = True
        else:
            _fail(where, segment, "unexpected segment in a 999 (expected AK2, IK3, IK4, CTX, IK5 or AK9).")
    if not closed:
        _fail(where, segs[-1], "the 999 has no AK9 (functional group result).")
    return group


def _open_set(where: str, segment: Segment, current: SetAck | None, group: GroupAck) -> SetAck:
    if current is not None:
        _fail(where, segment, f"AK2 opens before transaction set {current.control_number} was closed by IK5.")
    if not segment.get(2).strip():
        _fail(where, segment, "AK202 (the transaction set control number it answers) is empty.")
    ack = SetAck(control_number=segment.get(2).strip(), result="")
    group.sets.append(ack)
    return ack


def _add_error(where: str, segment: Segment, current: SetAck | None, delimiters: Delimiters) -> None:
    if current is None:
        _fail(where, segment, f"{segment.id} outside an AK2 transaction set response.")
    if segment.id == "IK3":
        current.errors.append(SegmentError(segment_id=segment.get(1), position=segment.get(2), code=segment.get(4)))
        return
    if not current.errors:
        _fail(where, segment, f"{segment.id} before any IK3 segment error.")
    last = current.errors[-1]
    if segment.id == "IK4":
        last.elements.append(ElementError(position=segment.get(1).replace(delimiters.component, "-"),
                                          reference=segment.get(2), code=segment.get(3), bad_value=segment.get(4)))
    else:
        name, _, value = segment.get(1).partition(delimiters.component)
        if name == "CLM01" and value:
            last.claim = value


def _close_set(where: str, segment: Segment, current: SetAck | None) -> None:
    """IK5 ends the set's response; the caller's current set becomes None."""
    if current is None:
        _fail(where, segment, "IK5 without an AK2.")
    if segment.get(1) not in SET_RESULTS:
        _fail(where, segment, f"IK501 {segment.get(1)!r} is not A, E, M, R, W or X.")
    current.result = segment.get(1)
    current.set_errors = [segment.get(i) for i in range(2, 7) if segment.get(i)]


def _read_ak9(where: str, segment: Segment, current: SetAck | None, group: GroupAck) -> None:
    if current is not None:
        _fail(where, segment, f"AK9 before transaction set {current.control_number} was closed by IK5.")
    if segment.get(1) not in GROUP_RESULTS:
        _fail(where, segment, f"AK901 {segment.get(1)!r} is not A, E, M, P, R, W or X.")
    group.result = segment.get(1)
    group.group_errors = [segment.get(i) for i in range(5, 10) if segment.get(i)]


# --- reading: 277CA ----------------------------------------------------------------------------------------------

LEVELS = {"20": "information source", "21": "information receiver", "19": "billing provider", "PT": "patient"}
PARENT_LEVEL = {"21": "20", "19": "21", "PT": "19"}


@dataclass
class Status:
    category: str
    code: str
    entity: str
    extra: list[tuple[str, str, str]] = field(default_factory=list)  # STC10/STC11 composites

    def words(self) -> str:
        text = f"{CATEGORIES.get(self.category, 'Status category')} ({self.category})"
        parts = [self._code_words(self.code, self.entity)]
        text = f"{text}: {parts[0]}" if parts[0] else text
        for category, code, entity in self.extra:
            more = f"{CATEGORIES.get(category, 'status category')} ({category})"
            text += f"; also {more}: {self._code_words(code, entity)}" if code else f"; also {more}"
        return text

    @staticmethod
    def _code_words(code: str, entity: str) -> str:
        if not code:
            return ""
        text = f"{STATUS_CODES[code]} ({code})" if code in STATUS_CODES else f"status code {code}"
        if entity:
            text += f", entity {ENTITIES[entity]} ({entity})" if entity in ENTITIES else f", entity {entity}"
        return text


@dataclass
class ClaimAck:
    """One 2000D loop: our CLM01, the claim-level statuses, the payer's claim number and line statuses."""

    hl: Segment
    patient_control_number: str
    statuses: list[Status]
    payer_claim_control_number: str = ""
    line_statuses: list[tuple[str, Status]] = field(default_factory=list)  # (procedure or line number, status)

    @property
    def outcome(self) -> str:
        categories = {s.category for s in self.statuses}
        if categories & REJECTED_CATEGORIES:
            return "rejected"
        if categories & ACCEPTED_CATEGORIES:
            return "accepted"
        return "other"

    def reason(self) -> str:
        rejected = self.outcome == "rejected"
        parts = [s.words() for s in self.statuses if not rejected or s.category in REJECTED_CATEGORIES]
        parts += [f"line {ref}: {s.words()}" for ref, s in self.line_statuses if s.category in REJECTED_CATEGORIES]
        return "277CA: " + "; ".join(parts)


@dataclass
class Read277:
    claims: list[ClaimAck]
    notes: list[str]  # rejections at receiver or provider level, which name no claim of ours


def read_277ca(segs: list[Segment], delimiters: Delimiters, *, file_name: str) -> Read277:
    where = f"{file_name}: 277CA"
    body = segs[1:-1]
    if not body or body[0].id != "BHT":
        _fail(where, body[0] if body else segs[-1], "expected BHT right after ST.")
    loops: list[tuple[Segment, list[Segment]]] = []
    level_of: dict[str, str] = {}
    for segment in body[1:]:
        if segment.id == "HL":
            _check_hl(where, segment, level_of)
            level_of[segment.get(1)] = segment.get(3)
            loops.append((segment, []))
        elif not loops:
            _fail(where, segment, "expected HL (loop 2000A) after BHT.")
        else:
            loops[-1][1].append(segment)
    read = Read277(claims=[], notes=[])
    for hl, loop in loops:
        if hl.get(3) == "PT":
            read.claims.append(_read_claim(where, hl, loop, delimiters))
        elif hl.get(3) in ("21", "19"):
            read.notes += _level_notes(where, hl, loop, delimiters)
    return read


def _check_hl(where: str, hl: Segment, level_of: dict[str, str]) -> None:
    # HL ids are not checked for uniqueness: real files repeat them (the parent is the latest HL with that id).
    level, parent = hl.get(3), hl.get(2)
    if not hl.get(1):
        _fail(where, hl, "HL01 (hierarchical id) is empty.")
    if level not in LEVELS:
        _fail(where, hl, f"HL03 level {level!r} is not 20, 21, 19 or PT.")
    if level == "20":
        return
    if parent not in level_of:
        _fail(where, hl, f"parent {parent!r} does not exist.")
    if level_of[parent] != PARENT_LEVEL[level]:
        _fail(where, hl, f"a {LEVELS[level]} loop must sit under a {LEVELS[PARENT_LEVEL[level]]} loop; "
                         f"parent {parent} is level {level_of[parent]}.")


def _status(where: str, stc: Segment, delimiters: Delimiters) -> Status:
    category, code, entity = (stc.components(1, delimiters) + ["", "", ""])[:3]
    if not category:
        _fail(where, stc, "STC01 has no claim status category code.")
    extra = []
    for index in (10, 11):
        if stc.get(index):
            c, s, e = (stc.components(index, delimiters) + ["", "", ""])[:3]
            extra.append((c, s, e))
    return Status(category=category, code=code, entity=entity, extra=extra)


def _read_claim(where: str, hl: Segment, loop: list[Segment], delimiters: Delimiters) -> ClaimAck:
    trn = next((s for s in loop if s.id == "TRN"), None)
    if trn is None or not trn.get(2).strip():
        _fail(where, trn or hl, "the patient loop (2200D) has no TRN02, our claim's patient control number.")
    claim = ClaimAck(hl=hl, patient_control_number=trn.get(2).strip(), statuses=[])
    line_ref = None
    for segment in loop:
        if segment.id == "SVC":
            procedure = (segment.components(1, delimiters) + [""])[1]
            line_ref = procedure or f"at segment {segment.position}"
        elif segment.id == "STC":
            status = _status(where, segment, delimiters)
            if line_ref is None:
                claim.statuses.append(status)
            else:
                claim.line_statuses.append((line_ref, status))
        elif segment.id == "REF" and segment.get(1) == "1K" and line_ref is None:
            claim.payer_claim_control_number = segment.get(2).strip()
    if not claim.statuses:
        _fail(where, trn, f"claim {claim.patient_control_number} (2200D) has no STC status.")
    return claim


def _level_notes(where: str, hl: Segment, loop: list[Segment], delimiters: Delimiters) -> list[str]:
    name = next((s for s in loop if s.id == "NM1"), None)
    who = LEVELS[hl.get(3)]
    if name is not None:
        who += " " + " ".join(p for p in (name.get(4), name.get(3)) if p)
        if name.get(9):
            who += f" ({name.get(9)})"
    statuses = [_status(where, s, delimiters) for s in loop if s.id == "STC"]
    return [f"{who}: {s.words()}" for s in statuses if s.category in REJECTED_CATEGORIES]


# --- the import service ------------------------------------------------------------------------------------------


def ack_import(*, file_name: str, content: bytes | str, acting_user=None) -> dict:
    """Import one 999 or 277CA and apply it to our batches and claims, in one transaction.

    Returns {"duplicate", "kind", "file", "ack_file", "accepted", "rejected", "claims", "unmatched", "skipped",
    "batches", "notes", "message"}. For a 999, "accepted" counts the claims of accepted transaction sets (they stay
    submitted until a 277CA) and "rejected" the claims moved to rejected. acting_user None is the system (the inbox
    task, an operator's command) and matches across every clinic; a user matches only within the clinics where
    they may work claims.
    """
    if acting_user is not None and not clinics_visible_to(acting_user, WORK_CLAIMS).exists():
        raise AppError("You may not import acknowledgments.", code="forbidden")
    file_name = (file_name or "ack.edi").strip()[:200]
    text = _as_text(file_name, content)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    existing = _existing_ack(digest)
    if existing is not None:
        return _duplicate(file_name, existing)
    interchange = read_ack(text, file_name=file_name)
    try:
        with transaction.atomic():
            return _store_and_apply(interchange, file_name=file_name, text=text, digest=digest,
                                    acting_user=acting_user)
    except IntegrityError:
        existing = _existing_ack(digest)
        if existing is None:
            raise
        return _duplicate(file_name, existing)  # imported at the same moment by someone else


def _as_text(file_name: str, content) -> str:
    if isinstance(content, bytes | bytearray):
        if len(content) > MAX_FILE_BYTES:
            raise AppError(f"{file_name} is larger than 20 MB.", code="too_large", field="file")
        try:
            return bytes(content).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(content).decode("latin-1")  # X12 is ASCII; latin-1 never fails
    if not isinstance(content, str):
        raise AppError(f"{file_name}: the content must be text.", code="invalid", field="file")
    if len(content) > MAX_FILE_BYTES:
        raise AppError(f"{file_name} is larger than 20 MB.", code="too_large", field="file")
    return content


def _existing_ack(digest: str) -> AckFile | None:
    return AckFile.objects.filter(sha256=digest).first()


def _duplicate(file_name: str, existing: AckFile) -> dict:
    return {"duplicate": True, "kind": existing.kind, "file": file_name, "ack_file": str(existing.public_id),
            "accepted": 0, "rejected": 0, "claims": [], "unmatched": [], "skipped": [], "batches": [], "notes": [],
            "message": f"Already imported on {existing.imported_at:%Y-%m-%d %H:%M} UTC as {existing.file_name}; "
                       "nothing was changed."}


@dataclass
class _Run:
    """What one import found and did; becomes the summary."""

    acting_user: object
    summary: dict
    clinic_ids: set = field(default_factory=set)

    def claims(self):
        if self.acting_user is None:
            return Claim.objects.all()
        return Claim.objects.visible_to(self.acting_user, WORK_CLAIMS)

    def batches(self):
        if self.acting_user is None:
            return ClaimBatch.objects.all()
        return ClaimBatch.objects.visible_to(self.acting_user, WORK_CLAIMS)

    def unmatched(self, reference: str, level: str, reason: str) -> None:
        self.summary["unmatched"].append({"reference": reference, "level": level, "reason": reason})

    def skipped(self, reference: str, level: str, reason: str) -> None:
        self.summary["skipped"].append({"reference": reference, "level": level, "reason": reason})


def _store_and_apply(interchange: Interchange, *, file_name: str, text: str, digest: str, acting_user) -> dict:
    user = acting_user if getattr(acting_user, "is_authenticated", False) else None
    ack = AckFile.objects.create(kind=interchange.kind, file_name=file_name, sha256=digest, content=text,
                                 imported_by=user)
    run = _Run(acting_user=acting_user, summary={
        "duplicate": False, "kind": str(interchange.kind), "file": file_name, "ack_file": str(ack.public_id),
        "accepted": 0, "rejected": 0, "claims": [], "unmatched": [], "skipped": [], "batches": [], "notes": [],
        "message": ""})
    for _gs, segs in interchange.sets:
        if interchange.kind == AckKind.IMPLEMENTATION:
            _apply_999(read_999(segs, interchange.delimiters, file_name=file_name), run)
        else:
            _apply_277ca(read_277ca(segs, interchange.delimiters, file_name=file_name), run)
    summary = run.summary
    summary["message"] = (f"{summary['accepted']} claim(s) accepted, {summary['rejected']} rejected, "
                          f"{len(summary['unmatched'])} not matched, {len(summary['skipped'])} skipped.")
    ack.clinic_id = run.clinic_ids.pop() if len(run.clinic_ids) == 1 else None
    ack.summary = summary
    ack.save(update_fields=["clinic", "summary"])
    return summary


# --- applying a 999 ----------------------------------------------------------------------------------------------


def _control_variants(number: str) -> set[str]:
    """GS06 is numeric: '28', '000000028' and '0028' are the same group."""
    bare = number.lstrip("0") or "0"
    return {number, bare, bare.zfill(9)}


def _batch_file_sets(batch: ClaimBatch) -> dict[str, list[str]] | None:
    """ST02 → the CLM01s of that transaction set in the batch's file; None when the file cannot be read."""
    try:
        _delimiters, segments = tokenize(batch.content or "")
        sets = transaction_sets(segments, strict=False)
    except X12SyntaxError:
        return None
    return {st[0].get(2): [s.get(1) for s in st if s.id == "CLM"] for st in sets}


def _find_batch(group: GroupAck, run: _Run) -> ClaimBatch | None:
    reference = f"group {group.group_control_number}"
    if group.functional_id != "HC":
        run.unmatched(reference, "functional group",
                      f"answers a functional group of kind {group.functional_id!r}, not an 837 claim batch (HC).")
        return None
    candidates = list(run.batches().filter(group_control_number__in=_control_variants(group.group_control_number)))
    answered = {s.control_number for s in group.sets}
    if len(candidates) > 1 and answered:
        readable = [(b, _batch_file_sets(b)) for b in candidates]
        candidates = [b for b, sets in readable if sets is not None and answered <= set(sets)] or candidates
    if len(candidates) > 1:
        candidates = [b for b in candidates if b.status == BatchStatus.RELEASED] or candidates
    if len(candidates) == 1:
        return ClaimBatch.objects.select_for_update().get(pk=candidates[0].pk)
    why = "no batch of ours has this group control number (GS06)" if not candidates else \
        f"{len(candidates)} batches have this group control number and the transaction sets do not tell them apart"
    run.unmatched(reference, "functional group", why + ".")
    return None


def _apply_999(group: GroupAck, run: _Run) -> None:
    batch = _find_batch(group, run)
    if batch is None:
        return
    run.clinic_ids.add(batch.clinic_id)
    if batch.status != BatchStatus.RELEASED:
        run.skipped(batch.file_name or str(batch.public_id), "batch",
                    f"batch is {batch.get_status_display().lower()}; a 999 applies only to a released batch.")
        return
    entry = {"batch": str(batch), "public_id": str(batch.public_id), "group_control_number": batch.group_control_number,
             "sets": []}
    rejected_sets = _apply_sets(group, batch, run, entry)
    if group.rejected or (group.sets and rejected_sets == len(group.sets)):
        batch.status = BatchStatus.REJECTED
    elif rejected_sets:
        batch.status = BatchStatus.PARTIAL
    else:
        batch.status = BatchStatus.ACCEPTED
    batch.ack_note = _clip(_batch_note(group, batch), 300)
    batch.save(update_fields=["status", "ack_note"])
    entry.update(status=batch.status, note=batch.ack_note)
    run.summary["batches"].append(entry)


def _batch_note(group: GroupAck, batch: ClaimBatch) -> str:
    label = {BatchStatus.ACCEPTED: "Accepted", BatchStatus.PARTIAL: "Partly accepted",
             BatchStatus.REJECTED: "Rejected"}[batch.status]
    details = [group.words()] if group.rejected or group.group_errors else []
    details += [s.words() for s in group.sets if s.rejected or s.errors]
    return f"{label} by 999" + (": " + "; ".join(details) if details else ".")


def _apply_sets(group: GroupAck, batch: ClaimBatch, run: _Run, entry: dict) -> int:
    """Reject the claims of every rejected set; returns how many sets were rejected."""
    file_sets = _batch_file_sets(batch)
    acks = group.sets or [SetAck(control_number="", result=group.result)]  # no AK2: the group result covers all
    rejected = 0
    for ack in acks:
        is_rejected = group.rejected or ack.rejected
        rejected += is_rejected
        claims = _claims_of_set(ack, batch, file_sets, single=len(acks) == 1, run=run)
        entry["sets"].append({"control_number": ack.control_number, "result": ack.result or group.result,
                              "words": ack.words() if ack.control_number else group.words(),
                              "claims": len(claims or [])})
        if claims is None:
            continue
        if not is_rejected:
            run.summary["accepted"] += len(claims)
            continue
        for claim in claims:
            # A rejected group rejects even the sets its IK5 accepted: then the group's words are the reason.
            words = ack.words(claim.patient_control_number) if ack.rejected and ack.control_number else group.words()
            reason = f"999 for batch {batch}: {words}"
            _move(claim, ClaimStatus.REJECTED, reason, run, allowed_from=(ClaimStatus.SUBMITTED,))
    return rejected


def _claims_of_set(ack: SetAck, batch: ClaimBatch, file_sets, *, single: bool, run: _Run) -> list[Claim] | None:
    in_batch = run.claims().filter(batch=batch).order_by("patient_control_number")
    if file_sets is not None and ack.control_number in file_sets:
        numbers = file_sets[ack.control_number]
        found = list(in_batch.filter(patient_control_number__in=numbers))
        for missing in sorted(set(numbers) - {c.patient_control_number for c in found}):
            run.unmatched(missing, "claim", f"in transaction set {ack.control_number} of batch {batch}, but no "
                                            "claim of ours in that batch has this patient control number.")
        return found
    if single and (file_sets is None or not ack.control_number):
        return list(in_batch)  # one answer for the whole batch: it covers every claim in it
    run.unmatched(ack.control_number, "transaction set", f"batch {batch}'s file has no transaction set with this "
                                                         "control number (ST02).")
    return None


def _move(claim: Claim, to_status: str, reason: str, run: _Run, *, allowed_from) -> bool:
    run.clinic_ids.add(claim.clinic_id)
    if claim.status not in allowed_from:
        run.skipped(claim.patient_control_number, "claim",
                    f"claim is {claim.get_status_display().lower()}; not moved to {to_status}.")
        return False
    reason = _clip(reason, 400)
    claim_transition(claim=claim, to_status=to_status, acting_user=run.acting_user, reason=reason)
    run.summary[to_status] += 1
    run.summary["claims"].append({"patient_control_number": claim.patient_control_number, "status": to_status,
                                  "reason": reason})
    return True


# --- applying a 277CA --------------------------------------------------------------------------------------------


def _apply_277ca(read: Read277, run: _Run) -> None:
    run.summary["notes"] += read.notes
    numbers = [c.patient_control_number for c in read.claims]
    found = {c.patient_control_number: c for c in run.claims().filter(patient_control_number__in=numbers)
             .select_related("batch")}
    batches = {}
    for ack in read.claims:
        claim = found.get(ack.patient_control_number)
        if claim is None:
            run.unmatched(ack.patient_control_number, "claim",
                          f"no claim of ours has this patient control number ({ack.reason()}).")
            continue
        if claim.batch_id:
            batches[claim.batch_id] = {"batch": str(claim.batch), "public_id": str(claim.batch.public_id)}
        _apply_claim_ack(ack, claim, run)
    run.summary["batches"] += list(batches.values())


def _apply_claim_ack(ack: ClaimAck, claim: Claim, run: _Run) -> None:
    if ack.outcome == "rejected":
        _move(claim, ClaimStatus.REJECTED, ack.reason(), run,
              allowed_from=(ClaimStatus.SUBMITTED, ClaimStatus.ACCEPTED))
        return
    if ack.outcome == "other":
        run.clinic_ids.add(claim.clinic_id)
        run.skipped(claim.patient_control_number, "claim", f"{ack.reason()}: neither an acceptance nor a "
                                                           "rejection; the claim is unchanged.")
        return
    if _move(claim, ClaimStatus.ACCEPTED, ack.reason(), run, allowed_from=(ClaimStatus.SUBMITTED,)) \
            and ack.payer_claim_control_number and not claim.payer_claim_control_number:
        claim.payer_claim_control_number = ack.payer_claim_control_number[:50]
        claim.save(update_fields=["payer_claim_control_number", "updated_at"])
