"""Reading 270/271 files (005010X279A1) with our own structural checks, and the 271's benefits in plain terms.

pyx12 has no 5010 map for 270/271, so this module checks what its map would: the envelope (GS/GE/IEA counts,
ST/SE counts), the HL tree (unique ids, parents that exist and sit one level up, child flags that tell the
truth), the required name segment of each loop, dates that are real dates, and numbers where numbers belong.
Every problem raises `X12ReadError` (an AppError) naming the transaction, the segment position in the file
(ISA is segment 1) and the segment id, e.g. "271 segment 14 (HL): parent 3 does not exist".

`read_271(text)` gives one `EligibilityResponse` per 2000C subscriber (or 2000D dependent) loop, plus any
rejection of the whole request at payer (2100A) or receiver (2100B) level. `EligibilityResponse.summary()` turns
the EB lines into the values of a benefit snapshot; the rules it applies are documented on `summarize`.
"""

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from otbilling.edi.tokenizer import Delimiters, Segment, X12SyntaxError, tokenize, transaction_sets
from otbilling.errors import AppError

GUIDE_PREFIX = "005010X279"
MAX_FILE_CHARS = 20 * 1024 * 1024
NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")

LEVELS = {"20": "information source", "21": "information receiver", "22": "subscriber", "23": "dependent"}
PARENT_LEVEL = {"21": "20", "22": "21", "23": "22"}
LOOP_NAMES = {"20": "2000A", "21": "2000B", "22": "2000C", "23": "2000D"}
# NM101 entity codes a loop's name segment may carry (005010X279A1).
NAME_ENTITIES = {
    "20": {"2B", "36", "GP", "P5", "PR"},
    "21": {"1P", "2B", "36", "80", "FA", "GP", "P5", "PR"},
    "22": {"IL"},
    "23": {"03"},
}
ACTIVE_CODES = {"1", "2", "3", "4", "5"}
INACTIVE_CODES = {"6", "7", "8"}

BENEFIT_CODES = {
    "1": "Active coverage", "2": "Active - full risk capitation", "3": "Active - services capitated",
    "4": "Active - services capitated to primary care physician", "5": "Active - pending investigation",
    "6": "Inactive", "7": "Inactive - pending eligibility update", "8": "Inactive - pending investigation",
    "A": "Co-insurance", "B": "Co-payment", "C": "Deductible", "CB": "Coverage basis", "D": "Benefit description",
    "E": "Exclusions", "F": "Limitations", "G": "Out of pocket (stop loss)", "H": "Unlimited", "I": "Non-covered",
    "J": "Cost containment", "K": "Reserve", "L": "Primary care provider", "M": "Pre-existing condition",
    "MC": "Managed care coordinator", "N": "Services restricted to following provider",
    "O": "Not deemed a medical necessity", "P": "Benefit disclaimer", "Q": "Second surgical opinion required",
    "R": "Other or additional payer", "S": "Prior year(s) history", "T": "Card(s) reported lost/stolen",
    "U": "Contact following entity for eligibility or benefit information", "V": "Cannot process",
    "W": "Other source of data", "X": "Health care facility", "Y": "Spend down",
}
COVERAGE_LEVELS = {
    "CHD": "Children only", "DEP": "Dependents only", "ECH": "Employee and children", "EMP": "Employee only",
    "ESP": "Employee and spouse", "FAM": "Family", "IND": "Individual", "SPC": "Spouse and children",
    "SPO": "Spouse only",
}
SERVICE_TYPES = {
    "1": "Medical care", "30": "Health benefit plan coverage", "33": "Chiropractic", "35": "Dental care",
    "42": "Home health care", "47": "Hospital", "48": "Hospital - inpatient", "50": "Hospital - outpatient",
    "86": "Emergency services", "88": "Pharmacy", "98": "Professional (physician) visit - office",
    "A9": "Rehabilitation", "AC": "Rehabilitation - outpatient", "AD": "Occupational therapy",
    "AE": "Physical medicine", "AF": "Speech therapy", "AL": "Vision (optometry)", "BG": "Cardiac rehabilitation",
    "MH": "Mental health", "PT": "Physical therapy", "UC": "Urgent care",
}
TIME_PERIODS = {
    "6": "Hour", "7": "Day", "13": "24 hours", "21": "Years", "22": "Service year", "23": "Calendar year",
    "24": "Year to date", "25": "Contract", "26": "Episode", "27": "Visit", "28": "Outlier", "29": "Remaining",
    "30": "Exceeded", "31": "Not exceeded", "32": "Lifetime", "33": "Lifetime remaining", "34": "Month",
    "35": "Week", "36": "Admission",
}
QUANTITY_QUALIFIERS = {
    "99": "Quantity used", "CA": "Covered - actual", "CE": "Covered - estimated", "D3": "Co-insurance days",
    "DB": "Deductible blood units", "DY": "Days", "HS": "Hours", "LA": "Lifetime reserve - actual",
    "LE": "Lifetime reserve - estimated", "M2": "Maximum", "MN": "Month", "P6": "Services or procedures (units)",
    "QA": "Quantity approved", "S7": "Age, high value", "S8": "Age, low value", "VS": "Visits", "YY": "Years",
}
DATE_QUALIFIERS = {
    "096": "Discharge", "102": "Issue", "152": "Effective date of change", "193": "Period start",
    "194": "Period end", "198": "Completion", "290": "Coordination of benefits", "291": "Plan",
    "292": "Benefit", "295": "Primary care provider", "304": "Latest visit or consultation", "307": "Eligibility",
    "318": "Added", "340": "COBRA begin", "341": "COBRA end", "342": "Premium paid to date begin",
    "343": "Premium paid to date end", "346": "Plan begin", "347": "Plan end", "348": "Benefit begin",
    "349": "Benefit end", "356": "Eligibility begin", "357": "Eligibility end", "382": "Enrollment",
    "435": "Admission", "442": "Date of death", "458": "Certification", "472": "Service",
    "539": "Policy effective", "540": "Policy expiration", "636": "Date of last update", "771": "Status",
}
# AAA03 reject reason codes of 005010X279A1, in plain words for the front desk.
AAA_REASONS = {
    "04": "Authorized quantity exceeded (too many patients in one request)",
    "15": "Required application data missing",
    "41": "Authorization or access restrictions",
    "42": "Payer unable to respond now; try again later",
    "43": "Invalid or missing provider identification (NPI)",
    "44": "Invalid or missing provider name",
    "45": "Invalid or missing provider specialty",
    "46": "Invalid or missing provider phone number",
    "47": "Invalid or missing provider state",
    "48": "Invalid or missing referring provider identification number",
    "49": "Provider is not the primary care physician",
    "50": "Provider is not eligible for eligibility inquiries",
    "51": "Provider not on file with the payer",
    "52": "Service dates not within the provider's plan enrollment",
    "53": "Inquired benefit inconsistent with provider type",
    "54": "Inappropriate product/service id qualifier",
    "55": "Inappropriate product/service id",
    "56": "Inappropriate date",
    "57": "Invalid or missing date of service",
    "58": "Invalid or missing date of birth",
    "60": "Date of birth follows the date of service",
    "61": "Date of death precedes the date of service",
    "62": "Date of service not within the allowable inquiry period",
    "63": "Date of service in the future",
    "64": "Invalid or missing patient id",
    "65": "Invalid or missing patient name",
    "66": "Invalid or missing patient gender",
    "67": "Patient not found",
    "68": "Duplicate patient id number",
    "69": "Inconsistent with the patient's age",
    "70": "Inconsistent with the patient's gender",
    "71": "Date of birth does not match the payer's records",
    "72": "Invalid or missing member id",
    "73": "Invalid or missing subscriber name",
    "74": "Invalid or missing subscriber gender",
    "75": "Subscriber not found",
    "76": "Duplicate subscriber/member id",
    "77": "Subscriber found, patient (dependent) not found",
    "78": "Subscriber not in the group/plan identified",
    "79": "Invalid participant identification",
    "80": "No response received; transaction terminated",
    "97": "Invalid or missing provider address",
    "T4": "Payer name or identifier missing",
}
AAA_FOLLOW_UP = {
    "C": "Correct and resubmit", "N": "Resubmission not allowed", "P": "Resubmit the original transaction",
    "R": "Resubmission allowed", "S": "Do not resubmit; inquiry sent to a third party",
    "W": "Wait 30 days and resubmit", "X": "Wait 10 days and resubmit",
    "Y": "Do not resubmit; the payer will respond by other means",
}


class X12ReadError(AppError):
    """A 270/271 file failed a structural check; the message names the segment and its position."""

    def __init__(self, message: str):
        super().__init__(message, code="x12_invalid", field="file")


def rejection_reason(code: str) -> str:
    return AAA_REASONS.get(code, f"Rejected with reason code {code}" if code else "Rejected (no reason code)")


# --- the generic loop reader shared by the 270 and 271 ----------------------------------------------------------


@dataclass
class Loop:
    """One HL loop: the HL segment, the segments up to the next HL, and its place in the tree."""

    hl: Segment
    segments: list[Segment]
    parent: "Loop | None" = None
    children: list["Loop"] = field(default_factory=list)

    @property
    def hl_id(self) -> str:
        return self.hl.get(1)

    @property
    def level(self) -> str:
        return self.hl.get(3)

    @property
    def name(self) -> Segment | None:
        """The loop's own NM1 (the first one outside any LS/LE 2120 block)."""
        for segment in self.outside_ls():
            if segment.id == "NM1":
                return segment
        return None

    def outside_ls(self):
        depth = 0
        for segment in self.segments:
            if segment.id == "LS":
                depth += 1
            elif segment.id == "LE":
                depth -= 1
            elif depth == 0:
                yield segment


@dataclass
class TransactionRead:
    """One ST…SE set: its BHT and its HL loops in file order (roots are the 2000A loops)."""

    st: Segment
    bht: Segment
    loops: list[Loop]

    @property
    def roots(self) -> list[Loop]:
        return [loop for loop in self.loops if loop.parent is None]


@dataclass
class InterchangeRead:
    delimiters: Delimiters
    isa: Segment
    groups: list[Segment]  # the GS segments
    transactions: list[TransactionRead]

    @property
    def control_number(self) -> str:
        return self.isa.get(13)

    def components(self, segment: Segment, index: int) -> list[str]:
        return segment.components(index, self.delimiters)

    def repeats(self, segment: Segment, index: int) -> list[str]:
        value = segment.get(index)
        return [v for v in value.split(self.delimiters.repetition)] if value else []


class _Checker:
    """Raises X12ReadError with the uniform "<set> segment N (ID): …" wording."""

    def __init__(self, kind: str):
        self.kind = kind

    def fail(self, segment: Segment | None, message: str):
        if segment is None:
            raise X12ReadError(f"{self.kind}: {message}")
        raise X12ReadError(f"{self.kind} segment {segment.position} ({segment.id}): {message}")

    def date(self, segment: Segment, value: str, element: str) -> datetime.date:
        try:
            if not re.fullmatch(r"\d{8}", value):
                raise ValueError
            return datetime.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            self.fail(segment, f"{element} {value!r} is not a valid date (CCYYMMDD).")

    def period(self, segment: Segment, fmt_index: int, value_index: int) -> tuple[datetime.date, datetime.date]:
        """A D8 date or an RD8 range (CCYYMMDD-CCYYMMDD) as (start, end)."""
        fmt, value = segment.get(fmt_index), segment.get(value_index)
        label = f"{segment.id}{value_index:02d}"
        if fmt == "D8":
            day = self.date(segment, value, label)
            return day, day
        if fmt == "RD8":
            parts = value.split("-")
            if len(parts) != 2:
                self.fail(segment, f"{label} {value!r} is not a date range (CCYYMMDD-CCYYMMDD).")
            start, end = self.date(segment, parts[0], label), self.date(segment, parts[1], label)
            if end < start:
                self.fail(segment, f"{label} range {value!r} ends before it starts.")
            return start, end
        self.fail(segment, f"{segment.id}{fmt_index:02d} date format {fmt!r} is not D8 or RD8.")

    def number(self, segment: Segment, index: int) -> Decimal | None:
        value = segment.get(index).strip()
        if not value:
            return None
        if not NUMBER.match(value):
            self.fail(segment, f"{segment.id}{index:02d} {value!r} is not a number.")
        try:
            return Decimal(value)
        except InvalidOperation:
            self.fail(segment, f"{segment.id}{index:02d} {value!r} is not a number.")


def read_interchange(text: str, *, transaction_set: str, strict: bool = True) -> InterchangeRead:
    """Tokenize and structurally check a 270 or 271 interchange; nothing is interpreted yet.

    strict=False tolerates what real payers get wrong without changing the meaning: SE02/GE02/IEA02 that do not
    repeat their opening control number, and an HL04 child flag of 1 on a loop that has no children.
    """
    check = _Checker(transaction_set)
    if not isinstance(text, str):
        check.fail(None, "the file is not text.")
    if len(text) > MAX_FILE_CHARS:
        check.fail(None, f"the file is larger than {MAX_FILE_CHARS // (1024 * 1024)} MB.")
    try:
        delimiters, segments = tokenize(text)
        sets = transaction_sets(segments, strict=strict)
    except X12SyntaxError as exc:
        check.fail(None, str(exc))
    _check_envelope(check, segments, strict=strict)
    guide_by_set = _guides(segments)
    if not sets:
        check.fail(segments[0], "the interchange holds no transaction set (ST…SE).")
    transactions = []
    for segs in sets:
        st = segs[0]
        if st.get(1) != transaction_set:
            check.fail(st, f"ST01 is {st.get(1)!r}; expected a {transaction_set} transaction set.")
        guide = st.get(3) or guide_by_set.get(st.position, "")
        if not guide.startswith(GUIDE_PREFIX):
            check.fail(st, f"implementation guide {guide!r} is not 005010X279A1 (5010 eligibility).")
        transactions.append(_read_set(check, segs, strict=strict))
    groups = [segment for segment in segments if segment.id == "GS"]
    return InterchangeRead(delimiters=delimiters, isa=segments[0], groups=groups, transactions=transactions)


def _check_envelope(check: _Checker, segments: list[Segment], *, strict: bool) -> None:
    isa, iea = segments[0], segments[-1]
    groups = 0
    gs: Segment | None = None
    sets_in_group = 0
    in_set = False
    for segment in segments[1:-1]:
        if segment.id == "ISA":
            check.fail(segment, "a second ISA inside the interchange.")
        if segment.id == "ST":
            if gs is None:
                check.fail(segment, "ST outside a GS functional group.")
            in_set, sets_in_group = True, sets_in_group + 1
        elif segment.id == "SE":
            in_set = False
        elif in_set:
            continue
        elif segment.id == "GS":
            if gs is not None:
                check.fail(segment, "GS opens before the previous group's GE.")
            gs, sets_in_group, groups = segment, 0, groups + 1
        elif segment.id == "GE":
            if gs is None:
                check.fail(segment, "GE without a GS.")
            if segment.get(1) != str(sets_in_group):
                check.fail(segment, f"GE01 counts {segment.get(1)} transaction sets; the group has {sets_in_group}.")
            if strict and segment.get(2) != gs.get(6):
                check.fail(segment, f"GE02 {segment.get(2)!r} does not match GS06 {gs.get(6)!r}.")
            gs = None
        else:
            check.fail(segment, "segment outside a transaction set (expected GS, ST, GE or IEA).")
    if gs is not None:
        check.fail(gs, "GS has no GE (file truncated?).")
    if iea.get(1) != str(groups):
        check.fail(iea, f"IEA01 counts {iea.get(1)} functional groups; the interchange has {groups}.")
    if strict and iea.get(2) != isa.get(13):
        check.fail(iea, f"IEA02 {iea.get(2)!r} does not match ISA13 {isa.get(13)!r}.")


def _guides(segments: list[Segment]) -> dict[int, str]:
    """GS08 of the group each ST sits in, keyed by the ST's position."""
    guide, by_set = "", {}
    for segment in segments:
        if segment.id == "GS":
            guide = segment.get(8)
        elif segment.id == "ST":
            by_set[segment.position] = guide
    return by_set


def _read_set(check: _Checker, segs: list[Segment], *, strict: bool) -> TransactionRead:
    st, body = segs[0], segs[1:-1]
    if not body or body[0].id != "BHT":
        check.fail(body[0] if body else segs[-1], "expected BHT right after ST.")
    bht = body[0]
    check.date(bht, bht.get(4), "BHT04")
    loops: list[Loop] = []
    by_id: dict[str, Loop] = {}
    for segment in body[1:]:
        if segment.id == "HL":
            loop = _open_loop(check, segment, by_id)
            loops.append(loop)
            by_id[loop.hl_id] = loop
        elif not loops:
            check.fail(segment, "expected HL (loop 2000A) after BHT.")
        else:
            loops[-1].segments.append(segment)
    if not loops:
        check.fail(segs[-1], "the transaction set has no HL loops.")
    for loop in loops:
        _check_loop(check, loop, strict=strict)
    return TransactionRead(st=st, bht=bht, loops=loops)


def _open_loop(check: _Checker, hl: Segment, by_id: dict[str, "Loop"]) -> Loop:
    hl_id, parent_id, level = hl.get(1), hl.get(2), hl.get(3)
    if not hl_id:
        check.fail(hl, "HL01 (hierarchical id) is missing.")
    if hl_id in by_id:
        check.fail(hl, f"HL id {hl_id} is used twice.")
    if level not in LEVELS:
        check.fail(hl, f"HL03 level {level!r} is not 20, 21, 22 or 23.")
    if level == "20":
        if parent_id:
            check.fail(hl, f"information source HL {hl_id} must not have a parent (HL02 is {parent_id}).")
        return Loop(hl=hl, segments=[])
    if not parent_id:
        check.fail(hl, f"HL {hl_id} ({LEVELS[level]}) has no parent (HL02 is empty).")
    parent = by_id.get(parent_id)
    if parent is None:
        check.fail(hl, f"parent {parent_id} does not exist.")
    expected = PARENT_LEVEL[level]
    if parent.level != expected:
        check.fail(hl, f"HL {hl_id} ({LEVELS[level]}) has parent {parent_id} of level {parent.level} "
                       f"({LEVELS[parent.level]}); expected level {expected} ({LEVELS[expected]}).")
    if parent.hl.get(4) == "0":
        check.fail(hl, f"parent {parent_id} says it has no children (HL04 0) but HL {hl_id} names it.")
    loop = Loop(hl=hl, segments=[], parent=parent)
    parent.children.append(loop)
    return loop


def _check_loop(check: _Checker, loop: Loop, *, strict: bool) -> None:
    hl, level = loop.hl, loop.level
    if hl.get(4) not in ("", "0", "1"):
        check.fail(hl, f"HL04 child code {hl.get(4)!r} is not 0 or 1.")
    if strict and hl.get(4) == "1" and not loop.children:
        check.fail(hl, f"HL {loop.hl_id} says it has children (HL04 1) but none follow.")
    name = loop.name
    loop_name = LOOP_NAMES[level]
    if name is None:
        check.fail(hl, f"loop {loop_name} ({LEVELS[level]}) has no NM1 name segment.")
    if name.get(1) not in NAME_ENTITIES[level]:
        allowed = ", ".join(sorted(NAME_ENTITIES[level]))
        check.fail(name, f"NM101 {name.get(1)!r} is not allowed in loop 2100{loop_name[-1]} "
                         f"({LEVELS[level]}); expected {allowed}.")
    if not name.get(3):
        check.fail(name, f"NM103 ({LEVELS[level]} last or organization name) is missing.")
    depth = 0
    for segment in loop.segments:
        if segment.id == "LS":
            depth += 1
        elif segment.id == "LE":
            depth -= 1
            if depth < 0:
                check.fail(segment, "LE without a matching LS.")
        elif segment.id == "DMG" and segment.get(1) == "D8" and segment.get(2):
            check.date(segment, segment.get(2), "DMG02")
        elif segment.id == "DTP":
            check.period(segment, 2, 3)
        elif segment.id == "TRN" and not segment.get(2):
            check.fail(segment, "TRN02 (trace number) is missing.")
        elif segment.id == "EB":
            if not segment.get(1):
                check.fail(segment, "EB01 (eligibility or benefit code) is missing.")
            for index in (7, 8, 10):
                check.number(segment, index)
        elif segment.id == "AAA" and not segment.get(3):
            check.fail(segment, "AAA03 (reject reason code) is missing.")
    if depth:
        check.fail(loop.segments[-1], "LS has no matching LE.")


# --- what a 271 says -----------------------------------------------------------------------------------------


@dataclass
class Party:
    """An NM1: entity code, names and identifier."""

    entity: str
    last_name: str
    first_name: str = ""
    id_qualifier: str = ""
    identifier: str = ""

    @classmethod
    def from_nm1(cls, nm1: Segment | None) -> "Party":
        if nm1 is None:
            return cls(entity="", last_name="")
        return cls(entity=nm1.get(1), last_name=nm1.get(3), first_name=nm1.get(4), id_qualifier=nm1.get(8),
                   identifier=nm1.get(9))

    @property
    def display(self) -> str:
        return f"{self.last_name}, {self.first_name}" if self.first_name else self.last_name


@dataclass
class Rejection:
    """An AAA segment: the payer refused (part of) the request."""

    code: str
    follow_up: str
    valid_request: str
    loop: str
    position: int

    @property
    def reason(self) -> str:
        return rejection_reason(self.code)

    @property
    def follow_up_text(self) -> str:
        return AAA_FOLLOW_UP.get(self.follow_up, self.follow_up)

    def as_dict(self) -> dict:
        return {"code": self.code, "reason": self.reason, "follow_up": self.follow_up,
                "follow_up_text": self.follow_up_text, "loop": self.loop, "segment": self.position}


@dataclass
class BenefitLine:
    """One EB segment with the 2110 segments that qualify it (dates, messages, related entities, AAA)."""

    position: int
    code: str
    coverage_level: str = ""
    service_types: list[str] = field(default_factory=list)
    insurance_type: str = ""
    plan_name: str = ""
    time_period: str = ""
    amount: Decimal | None = None
    percent: Decimal | None = None
    quantity_qualifier: str = ""
    quantity: Decimal | None = None
    authorization_required: str = ""
    in_network: str = ""
    procedure: list[str] = field(default_factory=list)
    dates: dict[str, tuple[datetime.date, datetime.date]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    entities: list[Party] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def percent_value(self) -> Decimal | None:
        """EB08 as a percentage: X12 sends a fraction (.2 = 20%); a value above 1 is taken as already a percent."""
        if self.percent is None:
            return None
        value = self.percent * 100 if self.percent <= 1 else self.percent
        return value.quantize(Decimal("0.01"))

    @property
    def money(self) -> Decimal | None:
        return None if self.amount is None else self.amount.quantize(Decimal("0.01"))

    def as_dict(self) -> dict:
        """A readable, JSON-safe description of the line (stored in BenefitSnapshot.details)."""
        return {
            "segment": self.position,
            "code": self.code, "benefit": BENEFIT_CODES.get(self.code, self.code),
            "coverage_level": self.coverage_level, "coverage_level_label": COVERAGE_LEVELS.get(self.coverage_level, ""),
            "service_types": self.service_types,
            "service_type_labels": [SERVICE_TYPES.get(code, code) for code in self.service_types],
            "insurance_type": self.insurance_type, "plan_name": self.plan_name,
            "time_period": self.time_period, "time_period_label": TIME_PERIODS.get(self.time_period, ""),
            "amount": None if self.money is None else str(self.money),
            "percent": None if self.percent_value is None else str(self.percent_value),
            "quantity_qualifier": self.quantity_qualifier,
            "quantity_label": QUANTITY_QUALIFIERS.get(self.quantity_qualifier, ""),
            "quantity": None if self.quantity is None else str(self.quantity.normalize()),
            "authorization_required": self.authorization_required,
            "in_network": {"Y": "yes", "N": "no"}.get(self.in_network, self.in_network),
            "procedure": ":".join(self.procedure),
            "dates": [{"qualifier": q, "label": DATE_QUALIFIERS.get(q, q), "start": s.isoformat(),
                       "end": e.isoformat()} for q, (s, e) in self.dates.items()],
            "messages": self.messages,
            "entities": [{"entity": p.entity, "name": p.display, "id": p.identifier} for p in self.entities],
            "rejections": [r.as_dict() for r in self.rejections],
        }


@dataclass
class BenefitSummary:
    """The values of a BenefitSnapshot, derived from one response's EB lines."""

    is_active: bool | None = None
    plan_name: str = ""
    plan_begin: datetime.date | None = None
    plan_end: datetime.date | None = None
    coinsurance_percent: Decimal | None = None
    copay_amount: Decimal | None = None
    deductible_total: Decimal | None = None
    deductible_remaining: Decimal | None = None
    out_of_pocket_total: Decimal | None = None
    out_of_pocket_remaining: Decimal | None = None
    visits_allowed: int | None = None
    units_allowed: int | None = None
    limit_period_start: datetime.date | None = None
    limit_period_end: datetime.date | None = None
    therapy_ytd_amount: Decimal | None = None
    rejection_code: str = ""
    rejection_reason: str = ""
    details: list[dict] = field(default_factory=list)


@dataclass
class EligibilityResponse:
    """The payer's answer about one person: a 2000C subscriber loop, or a 2000D dependent loop."""

    level: str  # "subscriber" or "dependent"
    position: int  # of the HL segment
    hl_id: str
    payer: Party
    receiver: Party
    subscriber: Party
    patient: Party  # the person the answer is about (the subscriber, or the dependent)
    trace_numbers: list[tuple[str, str, str]] = field(default_factory=list)  # (TRN01, TRN02, TRN03)
    date_of_birth: datetime.date | None = None
    sex: str = ""
    dates: dict[str, tuple[datetime.date, datetime.date]] = field(default_factory=dict)
    benefits: list[BenefitLine] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def member_id(self) -> str:
        return self.subscriber.identifier

    @property
    def payer_id(self) -> str:
        return self.payer.identifier

    @property
    def trace_number(self) -> str:
        """Our trace number echoed back (TRN01 = 2, referenced transaction), else the first trace number."""
        for kind, number, _originator in self.trace_numbers:
            if kind == "2":
                return number
        return self.trace_numbers[0][1] if self.trace_numbers else ""

    @property
    def rejection(self) -> Rejection | None:
        return self.rejections[0] if self.rejections else None

    def summary(self, *, payer_is_medicare: bool = False, reference_date: datetime.date | None = None):
        return summarize(self, payer_is_medicare=payer_is_medicare, reference_date=reference_date)


@dataclass
class Read271:
    interchange_control_number: str
    responses: list[EligibilityResponse]
    source_rejections: list[tuple[str, Party, Rejection]]  # (level, who, rejection) for 2100A/2100B AAA


def read_271(text: str, *, strict: bool = True) -> Read271:
    """Read every subscriber/dependent answer of a 271; structural problems raise X12ReadError."""
    interchange = read_interchange(text, transaction_set="271", strict=strict)
    check = _Checker("271")
    responses: list[EligibilityResponse] = []
    source_rejections: list[tuple[str, Party, Rejection]] = []
    for transaction in interchange.transactions:
        for loop in transaction.loops:
            if loop.level in ("20", "21"):
                for rejection in _rejections(loop, loop_id="2100A" if loop.level == "20" else "2100B"):
                    source_rejections.append((LEVELS[loop.level], Party.from_nm1(loop.name), rejection))
                continue
            if loop.level == "22" and loop.children and not _has_answer(loop):
                continue  # the subscriber only carries its dependents' answers
            responses.append(_response(check, interchange, loop))
    return Read271(interchange_control_number=interchange.control_number, responses=responses,
                   source_rejections=source_rejections)


def _has_answer(loop: Loop) -> bool:
    return any(segment.id in ("EB", "AAA", "TRN") for segment in loop.segments)


def _rejections(loop: Loop, *, loop_id: str) -> list[Rejection]:
    return [Rejection(code=s.get(3), follow_up=s.get(4), valid_request=s.get(1), loop=loop_id, position=s.position)
            for s in loop.outside_ls() if s.id == "AAA"]


def _response(check: _Checker, interchange: InterchangeRead, loop: Loop) -> EligibilityResponse:
    dependent = loop.level == "23"
    subscriber_loop = loop.parent if dependent else loop
    receiver_loop = subscriber_loop.parent
    source_loop = receiver_loop.parent
    response = EligibilityResponse(
        level="dependent" if dependent else "subscriber", position=loop.hl.position, hl_id=loop.hl_id,
        payer=Party.from_nm1(source_loop.name), receiver=Party.from_nm1(receiver_loop.name),
        subscriber=Party.from_nm1(subscriber_loop.name), patient=Party.from_nm1(loop.name),
    )
    suffix = "D" if dependent else "C"
    if dependent:
        # A subscriber-level refusal (e.g. 75 subscriber not found) answers the dependent too.
        response.rejections += [r for r in _rejections(subscriber_loop, loop_id="2100C")
                                if not _in_benefit(subscriber_loop, r.position)]
    current: BenefitLine | None = None
    depth = 0
    for segment in loop.segments:
        if segment.id == "LS":
            depth += 1
            continue
        if segment.id == "LE":
            depth -= 1
            continue
        if depth and segment.id == "NM1" and current is not None:
            current.entities.append(Party.from_nm1(segment))
            continue
        if depth:
            continue
        if segment.id == "EB":
            current = _benefit(check, interchange, segment)
            response.benefits.append(current)
        elif segment.id == "TRN" and current is None:
            response.trace_numbers.append((segment.get(1), segment.get(2), segment.get(3)))
        elif segment.id == "DMG" and current is None:
            if segment.get(1) == "D8" and segment.get(2):
                response.date_of_birth = check.date(segment, segment.get(2), "DMG02")
            response.sex = segment.get(3)
        elif segment.id == "DTP":
            target = current.dates if current is not None else response.dates
            target[segment.get(1)] = check.period(segment, 2, 3)
        elif segment.id == "MSG" and current is not None:
            current.messages.append(segment.get(1))
        elif segment.id == "AAA":
            rejection = Rejection(code=segment.get(3), follow_up=segment.get(4), valid_request=segment.get(1),
                                  loop=f"2110{suffix}" if current is not None else f"2100{suffix}",
                                  position=segment.position)
            if current is not None:
                current.rejections.append(rejection)
            response.rejections.append(rejection)
    return response


def _in_benefit(loop: Loop, position: int) -> bool:
    first_eb = next((s.position for s in loop.segments if s.id == "EB"), None)
    return first_eb is not None and position > first_eb


def _benefit(check: _Checker, interchange: InterchangeRead, eb: Segment) -> BenefitLine:
    quantity = check.number(eb, 10)
    return BenefitLine(
        position=eb.position, code=eb.get(1), coverage_level=eb.get(2), service_types=interchange.repeats(eb, 3),
        insurance_type=eb.get(4), plan_name=eb.get(5), time_period=eb.get(6), amount=check.number(eb, 7),
        percent=check.number(eb, 8), quantity_qualifier=eb.get(9), quantity=quantity,
        authorization_required=eb.get(11), in_network=eb.get(12),
        procedure=interchange.components(eb, 13) if eb.get(13) else [],
    )


# --- from EB lines to snapshot values ------------------------------------------------------------------------


def _rank(line: BenefitLine) -> tuple[int, int, int, int]:
    """Which of several lines answers for outpatient OT: lower sorts first."""
    types = line.service_types
    service = 0 if "AD" in types else 1 if "30" in types else 2 if not types else 3 if "1" in types else 4
    network = {"Y": 0, "N": 2}.get(line.in_network, 1)
    level = 0 if line.coverage_level in ("", "IND", "EMP") else 1
    return service, network, level, line.position


def _best(lines):
    lines = list(lines)
    return min(lines, key=_rank) if lines else None


def _period(day: datetime.date, start: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The yearly period beginning on start's month/day that contains `day`."""
    def anniversary(year):
        try:
            return start.replace(year=year)
        except ValueError:  # 29 February
            return datetime.date(year, 3, 1)

    begin = anniversary(day.year)
    if begin > day:
        begin = anniversary(day.year - 1)
    return begin, anniversary(begin.year + 1) - datetime.timedelta(days=1)


def summarize(response: EligibilityResponse, *, payer_is_medicare: bool = False,
              reference_date: datetime.date | None = None) -> BenefitSummary:
    """The snapshot values of one response. Rules (documented in the README as well):

    - When several EB lines could answer, the one for service type AD (occupational therapy) wins, then 30 (plan
      coverage), then lines without a service type, then 1 (medical care), then any other; in-network (EB12 Y)
      beats unspecified beats out-of-network (N); individual beats family; then file order.
    - Active: EB01 1-5 is active, 6-8 inactive, judged on the best such line. A subscriber-level AAA leaves it
      unknown and fills the rejection code and reason.
    - Plan dates: DTP 346/347 (plan begin/end), else 291 plan, 307 eligibility, 356/357 eligibility begin/end.
    - Coinsurance EB01 A (EB08 as percent); copay B (EB07); deductible C and out-of-pocket G: EB06 29 (remaining)
      gives the remaining amount, 24 (year to date) the amount met, anything else (23 calendar year, 22 service
      year, blank…) the total; remaining = total - met when only those two are reported.
    - Limits: EB01 F with EB09 VS gives visits allowed and with P6 (services/procedures) units allowed, from EB10;
      lines for what is used (EB09 99, EB06 24) or remaining (EB06 29) are kept in details only. The period is
      the line's DTP 292/348/349, else the calendar year (EB06 23) or the service year from the plan begin (22)
      that contains the reference date.
    - Therapy YTD: EB01 F with EB06 24 (year to date) and an amount in EB07, when the line's service types include
      AD or the payer is Medicare. MSG free text is never parsed.
    """
    reference_date = reference_date or response.dates.get("291", (None,))[0] or datetime.date.today()
    summary = BenefitSummary(details=[line.as_dict() for line in response.benefits])
    lines = response.benefits
    if response.rejection is not None:
        summary.rejection_code = response.rejection.code
        summary.rejection_reason = response.rejection.reason
    status = _best(line for line in lines if line.code in ACTIVE_CODES | INACTIVE_CODES)
    if status is not None and response.rejection is None:
        summary.is_active = status.code in ACTIVE_CODES
    named = _best(line for line in lines if line.plan_name and line.code in ACTIVE_CODES | INACTIVE_CODES)
    named = named or _best(line for line in lines if line.plan_name)
    summary.plan_name = named.plan_name[:80] if named else ""
    summary.plan_begin, summary.plan_end = _plan_dates(response.dates)

    coinsurance = _best(line for line in lines if line.code == "A" and line.percent is not None)
    summary.coinsurance_percent = coinsurance.percent_value if coinsurance else None
    copay = _best(line for line in lines if line.code == "B" and line.amount is not None)
    summary.copay_amount = copay.money if copay else None
    summary.deductible_total, summary.deductible_remaining = _total_and_remaining(lines, "C")
    summary.out_of_pocket_total, summary.out_of_pocket_remaining = _total_and_remaining(lines, "G")

    limits = [line for line in lines if line.code == "F" and line.quantity is not None
              and line.time_period not in ("24", "29") and line.quantity_qualifier != "99"]
    visits = _best(line for line in limits if line.quantity_qualifier == "VS")
    units = _best(line for line in limits if line.quantity_qualifier == "P6")
    summary.visits_allowed = int(visits.quantity) if visits else None
    summary.units_allowed = int(units.quantity) if units else None
    limit = visits or units
    if limit is not None:
        summary.limit_period_start, summary.limit_period_end = _limit_period(limit, summary, reference_date)

    ytd = _best(line for line in lines if line.code == "F" and line.time_period == "24" and line.amount is not None
                and ("AD" in line.service_types or payer_is_medicare))
    summary.therapy_ytd_amount = ytd.money if ytd else None
    return summary


def _plan_dates(dates: dict) -> tuple[datetime.date | None, datetime.date | None]:
    begin = end = None
    for qualifier in ("346", "291", "307", "356"):
        if qualifier in dates:
            begin = dates[qualifier][0]
            break
    if "347" in dates:
        end = dates["347"][1]
    else:
        for qualifier in ("291", "307"):
            if qualifier in dates and dates[qualifier][1] != dates[qualifier][0]:
                end = dates[qualifier][1]
                break
        if end is None and "357" in dates:
            end = dates["357"][1]
    return begin, end


def _total_and_remaining(lines: list[BenefitLine], code: str) -> tuple[Decimal | None, Decimal | None]:
    with_amount = [line for line in lines if line.code == code and line.amount is not None]
    remaining = _best(line for line in with_amount if line.time_period == "29")
    met = _best(line for line in with_amount if line.time_period == "24")
    total = _best(line for line in with_amount if line.time_period not in ("24", "29", "33"))
    total_value = total.money if total else None
    remaining_value = remaining.money if remaining else None
    if remaining_value is None and total_value is not None and met is not None:
        remaining_value = max(total_value - met.money, Decimal("0.00"))
    return total_value, remaining_value


def _limit_period(line: BenefitLine, summary: BenefitSummary, reference_date: datetime.date):
    if "292" in line.dates:
        return line.dates["292"]
    if "348" in line.dates or "349" in line.dates:
        return line.dates.get("348", (None,))[0], line.dates.get("349", (None, None))[1]
    if line.time_period == "23":
        return datetime.date(reference_date.year, 1, 1), datetime.date(reference_date.year, 12, 31)
    if line.time_period == "22" and summary.plan_begin:
        return _period(reference_date, summary.plan_begin)
    return None, None
