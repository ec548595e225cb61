"""Reading 835 remittance advice files (005010X221A1) into plain values, and the balancing pyx12 does not check.

No database here: `parse_835(content)` gives one frozen `Remittance` per ST…SE transaction set, with its claims
(CLP, loop 2100), their service lines (SVC, loop 2110), every CAS adjustment and the provider-level adjustments
(PLB). Money is Decimal to the cent, dates are `datetime.date`.

Anything that is not a readable 835 raises `Era835Error` (an AppError) naming the file, the segment position in
the file (ISA is segment 1, as in pyx12's reports) and the segment id, e.g.
"era.835: segment 14 (CLP): CLP04 'abc' is not an amount". The reader checks what it needs to read the money
right; the full implementation-guide structure is pyx12's job, and `validate_835` runs both plus the balancing.
"""

import datetime
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from otbilling.edi.tokenizer import (
    Delimiters,
    Segment,
    X12SyntaxError,
    read_delimiters,
    tokenize,
    transaction_sets,
)
from otbilling.errors import AppError

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
# 4010 remittances are read too (legacy data, CAS group CR); everything else is refused.
GUIDE_PREFIXES = ("005010X221", "004010X091")
ADJUSTMENT_GROUPS = {"CO", "PR", "OA", "PI", "CR"}
CREDIT_DEBIT = {"C", "D"}
MAX_CAS_ADJUSTMENTS = 6
MAX_PLB_ADJUSTMENTS = 6
CENTS = Decimal("0.01")
NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)$")
DAY = re.compile(r"^\d{8}$")

CLAIM_STATUSES = {
    "1": "Processed as primary", "2": "Processed as secondary", "3": "Processed as tertiary", "4": "Denied",
    "19": "Processed as primary, forwarded to additional payer(s)",
    "20": "Processed as secondary, forwarded to additional payer(s)",
    "21": "Processed as tertiary, forwarded to additional payer(s)",
    "22": "Reversal of previous payment", "23": "Not our claim, forwarded to additional payer(s)",
    "25": "Predetermination pricing only - no payment",
}
PLB_REASONS = {
    "50": "Late charge", "51": "Interest penalty charge", "72": "Authorized return", "90": "Early payment allowance",
    "AP": "Acceleration of benefits", "BD": "Bad debt adjustment", "CS": "Adjustment", "CT": "Capitation payment",
    "FB": "Forward balance", "IR": "Internal Revenue Service withholding", "J1": "Nonreimbursable",
    "L3": "Penalty", "L6": "Interest owed", "LE": "Levy", "TL": "Third party liability",
    "WO": "Overpayment recovery", "WU": "Unspecified recovery",
}

# Where each segment may appear, by reading state. Header → payer/payee (1000A/B) → LX (2000) → CLP (2100)
# → SVC (2110) → PLB. Anything else is refused rather than guessed at.
ALLOWED = {
    "header": {"NTE", "TRN", "CUR", "REF", "DTM", "N1"},
    "party": {"N1", "N3", "N4", "REF", "PER", "RDM", "LX", "CLP", "PLB"},
    "batch": {"TS3", "TS2", "LX", "CLP", "PLB"},
    "claim": {"CAS", "NM1", "MIA", "MOA", "REF", "DTM", "PER", "AMT", "QTY", "SVC", "LX", "CLP", "PLB"},
    "line": {"DTM", "CAS", "REF", "AMT", "QTY", "LQ", "SVC", "LX", "CLP", "PLB"},
    "trailer": {"PLB"},
}
KNOWN_SEGMENTS = set().union(*ALLOWED.values())
CLAIM_NAMES = {"QC": "patient", "IL": "insured", "74": "corrected_insured", "82": "rendering_provider",
               "TT": "crossover_carrier", "PR": "corrected_payer", "GB": "other_subscriber"}


class Era835Error(AppError):
    """An 835 file could not be read; the message names the file, segment position and segment id."""

    def __init__(self, reason: str, *, file_name: str = "", segment_id: str = "", position: int | None = None,
                 element: str = ""):
        super().__init__(locate(file_name, segment_id, position, reason), code="era_invalid", field="file")
        self.reason = reason
        self.file_name = file_name
        self.segment_id = segment_id
        self.position = position
        self.element = element


def locate(file_name: str, segment_id: str, position: int | None, message: str) -> str:
    """'<file>: segment <n> (<id>): <message>', leaving out the parts that are unknown."""
    parts = [file_name] if file_name else []
    if position is not None:
        parts.append(f"segment {position} ({segment_id})" if segment_id else f"segment {position}")
    return ": ".join([*parts, message])


# --- the values ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adjustment:
    """One CAS reason: group (CO/PR/OA/PI, CR in 4010), CARC, amount and optional quantity (units)."""

    group: str
    reason: str
    amount: Decimal
    quantity: Decimal | None = None


@dataclass(frozen=True)
class Name:
    """An NM1 name: last name (or organization name), first, middle, and its identifier."""

    last: str
    first: str = ""
    middle: str = ""
    id_qualifier: str = ""
    id: str = ""

    @property
    def display(self) -> str:
        given = " ".join(part for part in (self.first, self.middle) if part)
        return f"{self.last}, {given}" if given else self.last


@dataclass(frozen=True)
class ProviderAdjustment:
    """One PLB reason/amount pair. A positive amount reduces the payment (e.g. WO recoupment); L6 interest is
    negative because it adds to the payment."""

    provider_id: str
    fiscal_period_date: datetime.date
    reason: str
    reference: str
    amount: Decimal
    position: int = 0

    @property
    def label(self) -> str:
        return PLB_REASONS.get(self.reason, f"Provider adjustment {self.reason}")


@dataclass(frozen=True)
class RemittanceLine:
    """One SVC service line (loop 2110). `code`/`modifiers` are what the payer adjudicated; when the payer changed
    the billed code, `original_code`/`original_modifiers` (SVC06) hold what was submitted."""

    qualifier: str
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    paid: Decimal
    units_paid: Decimal = Decimal(1)
    revenue_code: str = ""
    description: str = ""
    original_qualifier: str = ""
    original_code: str = ""
    original_modifiers: tuple[str, ...] = ()
    original_units: Decimal | None = None
    service_date: datetime.date | None = None
    service_end_date: datetime.date | None = None
    line_control_number: str = ""
    allowed: Decimal | None = None
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()
    other_ids: tuple[tuple[str, str], ...] = ()
    amounts: tuple[tuple[str, Decimal], ...] = ()
    position: int = 0

    @property
    def adjustment_total(self) -> Decimal:
        return sum((adjustment.amount for adjustment in self.adjustments), Decimal("0.00"))


@dataclass(frozen=True)
class RemittanceClaim:
    """One CLP claim (loop 2100) with its claim-level adjustments and remarks and its service lines."""

    patient_control_number: str
    status_code: str
    charge: Decimal
    paid: Decimal
    patient_responsibility: Decimal  # CLP05; 0.00 when the payer left it empty
    filing_indicator: str
    payer_claim_control_number: str
    facility_code: str = ""
    frequency_code: str = ""
    patient: Name | None = None
    insured: Name | None = None
    corrected_insured: Name | None = None
    rendering_provider: Name | None = None
    crossover_carrier: Name | None = None
    corrected_payer: Name | None = None
    other_subscriber: Name | None = None
    other_ids: tuple[tuple[str, str], ...] = ()
    adjustments: tuple[Adjustment, ...] = ()
    remarks: tuple[str, ...] = ()
    statement_from: datetime.date | None = None
    statement_to: datetime.date | None = None
    received_date: datetime.date | None = None
    amounts: tuple[tuple[str, Decimal], ...] = ()
    lines: tuple[RemittanceLine, ...] = ()
    position: int = 0

    @property
    def status_label(self) -> str:
        return CLAIM_STATUSES.get(self.status_code, f"Claim status {self.status_code}")

    @property
    def is_reversal(self) -> bool:
        return self.status_code == "22"

    @property
    def all_adjustments(self) -> tuple[Adjustment, ...]:
        return self.adjustments + tuple(adj for line in self.lines for adj in line.adjustments)


@dataclass(frozen=True)
class Remittance:
    """One ST…SE 835 transaction: the payment (BPR/TRN), payer and payee, claims and provider adjustments."""

    handling_code: str
    total_paid: Decimal
    credit_debit: str
    payment_method: str
    payment_date: datetime.date | None
    trace_number: str
    trace_payer_id: str
    production_date: datetime.date | None
    payer_name: str
    payer_id: str
    payee_name: str
    payee_npi: str
    payee_tin: str
    claims: tuple[RemittanceClaim, ...] = ()
    provider_adjustments: tuple[ProviderAdjustment, ...] = ()
    control_number: str = ""
    file_name: str = ""
    position: int = 0  # of the ST segment; BPR always follows it

    @property
    def signed_total(self) -> Decimal:
        """BPR02 as money to the provider: a debit (BPR03 D) takes money back."""
        return -self.total_paid if self.credit_debit == "D" else self.total_paid


# --- reading ---------------------------------------------------------------------------------------------------


def parse_835(content: str | bytes, *, file_name: str = "") -> list[Remittance]:
    """Read every 835 transaction set of an interchange. Raises Era835Error on anything unreadable."""
    data = _as_bytes(content, file_name)
    if len(data) > MAX_FILE_BYTES:
        raise Era835Error(_too_big(data), file_name=file_name)
    text = _as_text(data)
    delimiters, segments, sets = _tokenize(text, file_name)
    reader = _Reader(file_name, delimiters)
    guides = _guides(segments)
    if not sets:
        reader.fail(segments[-1], "the interchange holds no transaction set (ST…SE); this is not an 835.")
    remittances = []
    for segs in sets:
        _check_835(reader, segs[0], guides.get(segs[0].position, ""))
        remittances.append(_SetReader(reader, segs).read())
    return remittances


def _as_bytes(content: str | bytes, file_name: str) -> bytes:
    if isinstance(content, str):
        return content.encode("utf-8", errors="replace")  # a lone surrogate must not become a 500
    if isinstance(content, bytes | bytearray | memoryview):
        return bytes(content)
    raise Era835Error(f"expected the file's text or bytes, got {type(content).__name__}.", file_name=file_name)


def _as_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte decodes; X12 data is the basic character set anyway


def _too_big(data: bytes) -> str:
    return (f"the file is {len(data) / (1024 * 1024):.1f} MB; an 835 larger than "
            f"{MAX_FILE_BYTES // (1024 * 1024)} MB is refused.")


def _tokenize(text: str, file_name: str) -> tuple[Delimiters, list[Segment], list[list[Segment]]]:
    """The shared tokenizer, with its errors turned into Era835Error pointing at a segment where possible."""
    try:
        delimiters, segments = tokenize(text)
        return delimiters, segments, transaction_sets(segments, strict=False)
    except X12SyntaxError as exc:
        message = str(exc)
        segment_id, position = _where(message)
        if "no closing IEA" in message:
            last = _last_segment(text)
            if last is not None:
                raise Era835Error("the file stops after this segment with no SE/GE/IEA to close it (truncated?).",
                                  file_name=file_name, segment_id=last.id, position=last.position) from exc
        if message.startswith("Not an X12 interchange"):
            segment_id, position = "", 1
        raise Era835Error(message, file_name=file_name, segment_id=segment_id, position=position) from exc


def _where(message: str) -> tuple[str, int | None]:
    match = re.match(r"^(\w{2,3}) (?:at )?segment (\d+)", message) or re.match(r"^()Segment (\d+)", message)
    return (match.group(1), int(match.group(2))) if match else ("", None)


def _last_segment(text: str) -> Segment | None:
    """The last segment of a file without IEA: closing it with a stand-in IEA lets the shared tokenizer count."""
    try:
        d = read_delimiters(text)
        _, segments = tokenize(text.rstrip("\r\n ") + d.segment + "IEA" + d.element + "0" + d.element + "0"
                               + d.segment)
    except X12SyntaxError:
        return None
    return segments[-2] if len(segments) > 1 else None


def _guides(segments: list[Segment]) -> dict[int, str]:
    """GS08 of the functional group each ST sits in, keyed by the ST's position."""
    guide, by_set = "", {}
    for segment in segments:
        if segment.id == "GS":
            guide = segment.get(8)
        elif segment.id == "ST":
            by_set[segment.position] = guide
    return by_set


def _check_835(reader: "_Reader", st: Segment, group_guide: str) -> None:
    if st.get(1) != "835":
        reader.fail(st, f"ST01 is {st.get(1)!r}; this is not an 835 remittance.", "ST01")
    for guide, element in ((st.get(3), "ST03"), (group_guide, "GS08")):
        if guide and not guide.startswith(GUIDE_PREFIXES):
            reader.fail(st, f"{element} implementation guide {guide!r} is not 005010X221A1 (835).", element)
    if not group_guide:
        reader.fail(st, "the transaction set is not inside a GS functional group.")


class _Reader:
    """Element readers that raise Era835Error naming the file, segment and element."""

    def __init__(self, file_name: str, delimiters: Delimiters):
        self.file_name = file_name
        self.delimiters = delimiters

    def fail(self, segment: Segment, message: str, element: str = ""):
        raise Era835Error(message, file_name=self.file_name, segment_id=segment.id, position=segment.position,
                          element=element)

    def text(self, segment: Segment, index: int, *, required: bool = False) -> str:
        value = segment.get(index).strip()
        if required and not value:
            self.fail(segment, f"{_name(segment, index)} is required but empty.", _name(segment, index))
        return value

    def number(self, segment: Segment, index: int) -> Decimal | None:
        value = segment.get(index).strip()
        if not value:
            return None
        try:
            if not NUMBER.match(value):
                raise InvalidOperation
            return Decimal(value)
        except InvalidOperation:
            self.fail(segment, f"{_name(segment, index)} {value!r} is not a number.", _name(segment, index))

    def amount(self, segment: Segment, index: int, *, required: bool = True) -> Decimal | None:
        value = segment.get(index).strip()
        element = _name(segment, index)
        if not value:
            if required:
                self.fail(segment, f"{element} (an amount) is required but empty.", element)
            return None
        if not NUMBER.match(value):
            self.fail(segment, f"{element} {value!r} is not an amount.", element)
        amount = Decimal(value)
        cents = amount.quantize(CENTS)
        if cents != amount:
            self.fail(segment, f"{element} {value!r} has more than two decimals.", element)
        return cents

    def date(self, segment: Segment, index: int, *, required: bool = True) -> datetime.date | None:
        value = segment.get(index).strip()
        element = _name(segment, index)
        if not value and not required:
            return None
        try:
            if not DAY.match(value):
                raise ValueError
            return datetime.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            self.fail(segment, f"{element} {value!r} is not a date (CCYYMMDD).", element)

    def components(self, segment: Segment, index: int) -> list[str]:
        return [part.strip() for part in segment.components(index, self.delimiters)]

    def name(self, segment: Segment) -> Name:
        return Name(last=segment.get(3).strip(), first=segment.get(4).strip(), middle=segment.get(5).strip(),
                    id_qualifier=segment.get(8).strip(), id=segment.get(9).strip())

    def adjustments(self, segment: Segment) -> list[Adjustment]:
        """CAS: a group code and up to six (reason, amount, quantity) triplets in CAS02…CAS19."""
        group = self.text(segment, 1, required=True)
        if group not in ADJUSTMENT_GROUPS:
            self.fail(segment, f"CAS01 {group!r} is not an adjustment group (CO, PR, OA, PI).", "CAS01")
        if len(segment.elements) > 2 + 3 * MAX_CAS_ADJUSTMENTS:
            self.fail(segment, f"CAS carries more than {MAX_CAS_ADJUSTMENTS} adjustments.")
        found = []
        for first in range(2, 2 + 3 * MAX_CAS_ADJUSTMENTS, 3):
            reason = segment.get(first).strip()
            amount = self.amount(segment, first + 1, required=bool(reason))
            quantity = self.number(segment, first + 2)
            if not reason:
                if amount is not None or quantity is not None:
                    self.fail(segment, f"{_name(segment, first)} (reason code) is empty but an amount follows it.",
                              _name(segment, first))
                continue
            found.append(Adjustment(group=group, reason=reason, amount=amount, quantity=quantity))
        if not found:
            self.fail(segment, "CAS02 (reason code) is required but empty.", "CAS02")
        return found

    def provider_adjustments(self, segment: Segment) -> list[ProviderAdjustment]:
        """PLB: provider id, fiscal period date, then up to six (reason:reference, amount) pairs in PLB03…PLB14."""
        provider_id = self.text(segment, 1, required=True)
        period = self.date(segment, 2)
        if len(segment.elements) > 3 + 2 * MAX_PLB_ADJUSTMENTS:
            self.fail(segment, f"PLB carries more than {MAX_PLB_ADJUSTMENTS} adjustments.")
        found = []
        for first in range(3, 3 + 2 * MAX_PLB_ADJUSTMENTS, 2):
            reason, _, reference = segment.get(first).strip().partition(self.delimiters.component)
            amount = self.amount(segment, first + 1, required=bool(reason))
            if not reason:
                if amount is not None:
                    self.fail(segment, f"{_name(segment, first)} (reason code) is empty but an amount follows it.",
                              _name(segment, first))
                continue
            found.append(ProviderAdjustment(provider_id=provider_id, fiscal_period_date=period, reason=reason,
                                            reference=reference, amount=amount, position=segment.position))
        if not found:
            self.fail(segment, "PLB03 (adjustment reason) is required but empty.", "PLB03")
        return found


def _name(segment: Segment, index: int) -> str:
    return f"{segment.id}{index:02d}"


@dataclass
class _ClaimDraft:
    values: dict
    adjustments: list = field(default_factory=list)
    remarks: list = field(default_factory=list)
    other_ids: list = field(default_factory=list)
    amounts: list = field(default_factory=list)
    lines: list = field(default_factory=list)


@dataclass
class _LineDraft:
    values: dict
    dates: dict = field(default_factory=dict)
    adjustments: list = field(default_factory=list)
    remarks: list = field(default_factory=list)
    other_ids: list = field(default_factory=list)
    amounts: list = field(default_factory=list)


class _SetReader:
    """Reads one ST…SE set with a small state machine (see ALLOWED)."""

    def __init__(self, reader: _Reader, segments: list[Segment]):
        self.r = reader
        self.segments = segments
        self.state = "header"
        self.values: dict = {"payer_name": "", "payer_id": "", "payee_name": "", "payee_npi": "", "payee_tin": "",
                             "production_date": None}
        self.seen: set[str] = set()
        self.party = ""
        self.claims: list[RemittanceClaim] = []
        self.plb: list[ProviderAdjustment] = []
        self.claim: _ClaimDraft | None = None
        self.line: _LineDraft | None = None

    def read(self) -> Remittance:
        st, body, se = self.segments[0], self.segments[1:-1], self.segments[-1]
        if not body or body[0].id != "BPR":
            self.r.fail(body[0] if body else se, "expected BPR (financial information) right after ST.")
        self._bpr(body[0])
        for segment in body[1:]:
            self._step(segment)
        self._close_claim()
        for needed, what in (("TRN", "TRN (reassociation trace number)"), ("PR", "N1*PR (payer) loop"),
                             ("PE", "N1*PE (payee) loop")):
            if needed not in self.seen:
                self.r.fail(se, f"the transaction set has no {what}.")
        return Remittance(**self.values, claims=tuple(self.claims), provider_adjustments=tuple(self.plb),
                          control_number=st.get(2).strip(), file_name=self.r.file_name, position=st.position)

    def _step(self, segment: Segment) -> None:
        if segment.id not in KNOWN_SEGMENTS:
            self.r.fail(segment, f"{segment.id} is not a segment of an 835 remittance.")
        if segment.id == "SVC" and self.claim is None and not self.claims and self.state != "trailer":
            self.r.fail(segment, "SVC (service line) comes before any CLP claim.")
        if segment.id not in ALLOWED[self.state]:
            self.r.fail(segment, f"{segment.id} is not expected {self._where()}.")
        getattr(self, f"_{self.state}")(segment)

    def _where(self) -> str:
        pcn = self.claim.values["patient_control_number"] if self.claim else ""
        return {
            "header": "before the payer (N1*PR) and payee (N1*PE) loops",
            "party": "in the payer/payee loops",
            "batch": "right after LX, before any CLP",
            "claim": f"in claim {pcn}",
            "line": f"in a service line of claim {pcn}",
            "trailer": "after the PLB provider adjustments (PLB must come last)",
        }[self.state]

    # header (BPR … DTM*405) and the payer/payee loops -------------------------------------------------------

    def _bpr(self, segment: Segment) -> None:
        credit_debit = self.r.text(segment, 3, required=True)
        if credit_debit not in CREDIT_DEBIT:
            self.r.fail(segment, f"BPR03 {credit_debit!r} is not C (credit) or D (debit).", "BPR03")
        self.values.update(
            handling_code=self.r.text(segment, 1, required=True), total_paid=self.r.amount(segment, 2),
            credit_debit=credit_debit, payment_method=self.r.text(segment, 4, required=True),
            payment_date=self.r.date(segment, 16, required=False),
            trace_number="", trace_payer_id="",
        )

    def _header(self, segment: Segment) -> None:
        if segment.id == "TRN":
            self.values.update(trace_number=self.r.text(segment, 2, required=True),
                               trace_payer_id=self.r.text(segment, 3))
            self.seen.add("TRN")
        elif segment.id == "DTM" and segment.get(1) == "405":
            self.values["production_date"] = self.r.date(segment, 2)
        elif segment.id == "N1":
            self.state = "party"
            self._party(segment)

    def _party(self, segment: Segment) -> None:
        if segment.id == "N1":
            self._n1(segment)
        elif segment.id == "REF" and self.party == "PR" and segment.get(1) == "2U":
            self.values["payer_id"] = self.r.text(segment, 2)
        elif segment.id == "REF" and self.party == "PE" and segment.get(1) == "TJ":
            self.values["payee_tin"] = self.values["payee_tin"] or self.r.text(segment, 2)
        elif segment.id in ("LX", "CLP", "PLB"):
            self._batch(segment)

    def _n1(self, segment: Segment) -> None:
        self.party = segment.get(1)
        if self.party not in ("PR", "PE"):
            self.r.fail(segment, f"N101 {self.party!r} is not PR (payer) or PE (payee).", "N101")
        if self.party in self.seen:
            self.r.fail(segment, f"a second N1*{self.party} loop.")
        self.seen.add(self.party)
        name, qualifier, number = (self.r.text(segment, i) for i in (2, 3, 4))
        if self.party == "PR":
            self.values.update(payer_name=name, payer_id=self.values["payer_id"] or number)
        else:
            self.values["payee_name"] = name
            if qualifier == "XX":
                self.values["payee_npi"] = number
            elif qualifier == "FI":
                self.values["payee_tin"] = number

    def _batch(self, segment: Segment) -> None:
        if segment.id == "LX":
            self._close_claim()
            self.state = "batch"
        elif segment.id == "CLP":
            self._clp(segment)
        elif segment.id == "PLB":
            self._close_claim()
            self.state = "trailer"
            self._trailer(segment)

    # loop 2100 claims -----------------------------------------------------------------------------------------

    def _clp(self, segment: Segment) -> None:
        self._close_claim()
        r = self.r
        self.claim = _ClaimDraft(values={
            "patient_control_number": r.text(segment, 1, required=True),
            "status_code": r.text(segment, 2, required=True),
            "charge": r.amount(segment, 3), "paid": r.amount(segment, 4),
            "patient_responsibility": r.amount(segment, 5, required=False) or Decimal("0.00"),
            "filing_indicator": r.text(segment, 6), "payer_claim_control_number": r.text(segment, 7),
            "facility_code": r.text(segment, 8), "frequency_code": r.text(segment, 9),
            "position": segment.position,
        })
        self.state = "claim"

    def _claim(self, segment: Segment) -> None:
        claim, r = self.claim, self.r
        kind = segment.id
        if kind in ("LX", "CLP", "PLB"):
            self._batch(segment)
        elif kind == "SVC":
            self._svc(segment)
        elif kind == "CAS":
            claim.adjustments.extend(r.adjustments(segment))
        elif kind == "NM1":
            self._claim_name(segment)
        elif kind == "MOA":
            claim.remarks.extend(v for v in (r.text(segment, i) for i in range(3, 8)) if v)
        elif kind == "MIA":
            claim.remarks.extend(v for v in (r.text(segment, i) for i in (5, 20, 21, 22, 23)) if v)
        elif kind == "REF":
            claim.other_ids.append((r.text(segment, 1), r.text(segment, 2)))
        elif kind == "DTM":
            key = {"232": "statement_from", "233": "statement_to", "050": "received_date"}.get(segment.get(1))
            if key:
                claim.values[key] = r.date(segment, 2)
        elif kind == "AMT":
            claim.amounts.append((r.text(segment, 1, required=True), r.amount(segment, 2)))

    def _claim_name(self, segment: Segment) -> None:
        entity = segment.get(1)
        key = CLAIM_NAMES.get(entity)
        if key is None:
            self.r.fail(segment, f"NM101 {entity!r} is not a claim-level name (QC, IL, 74, 82, TT, PR, GB).", "NM101")
        self.claim.values[key] = self.r.name(segment)

    def _close_claim(self) -> None:
        self._close_line()
        if self.claim is None:
            return
        draft = self.claim
        self.claims.append(RemittanceClaim(
            **draft.values, adjustments=tuple(draft.adjustments), remarks=tuple(draft.remarks),
            other_ids=tuple(draft.other_ids), amounts=tuple(draft.amounts), lines=tuple(draft.lines),
        ))
        self.claim = None

    # loop 2110 service lines ----------------------------------------------------------------------------------

    def _svc(self, segment: Segment) -> None:
        self._close_line()
        r = self.r
        composite = r.components(segment, 1)
        if len(composite) < 2 or not composite[0] or not composite[1]:
            r.fail(segment, f"SVC01 {segment.get(1)!r} needs a qualifier and a procedure code (e.g. HC:97110).",
                   "SVC01")
        original = r.components(segment, 6) if segment.get(6).strip() else ["", ""]
        units = r.number(segment, 5)
        self.line = _LineDraft(values={
            "qualifier": composite[0], "code": composite[1], "modifiers": _modifiers(composite),
            "description": composite[6] if len(composite) > 6 else "",
            "charge": r.amount(segment, 2), "paid": r.amount(segment, 3), "revenue_code": r.text(segment, 4),
            "units_paid": Decimal(1) if units is None else units,
            "original_qualifier": original[0], "original_code": original[1] if len(original) > 1 else "",
            "original_modifiers": _modifiers(original), "original_units": r.number(segment, 7),
            "position": segment.position,
        })
        self.state = "line"

    def _line(self, segment: Segment) -> None:
        line, r = self.line, self.r
        kind = segment.id
        if kind in ("SVC", "LX", "CLP", "PLB"):
            self._claim(segment)
        elif kind == "CAS":
            line.adjustments.extend(r.adjustments(segment))
        elif kind == "DTM" and segment.get(1) in ("472", "150", "151"):
            line.dates[segment.get(1)] = r.date(segment, 2)
        elif kind == "REF" and segment.get(1) == "6R":
            line.values["line_control_number"] = r.text(segment, 2)
        elif kind == "REF":
            line.other_ids.append((r.text(segment, 1), r.text(segment, 2)))
        elif kind == "AMT" and segment.get(1) == "B6":
            line.values["allowed"] = r.amount(segment, 2)
        elif kind == "AMT":
            line.amounts.append((r.text(segment, 1, required=True), r.amount(segment, 2)))
        elif kind == "LQ" and segment.get(1) == "HE":
            line.remarks.append(r.text(segment, 2, required=True))

    def _close_line(self) -> None:
        if self.line is None:
            return
        draft, dates = self.line, self.line.dates
        start = dates.get("472") or dates.get("150")
        self.claim.lines.append(RemittanceLine(
            **draft.values, service_date=start, service_end_date=dates.get("151") or start,
            adjustments=tuple(draft.adjustments), remarks=tuple(draft.remarks), other_ids=tuple(draft.other_ids),
            amounts=tuple(draft.amounts),
        ))
        self.line = None
        self.state = "claim"

    # PLB ------------------------------------------------------------------------------------------------------

    def _trailer(self, segment: Segment) -> None:
        self.plb.extend(self.r.provider_adjustments(segment))


def _modifiers(composite: list[str]) -> tuple[str, ...]:
    return tuple(modifier for modifier in composite[2:6] if modifier)


# --- balancing -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Finding:
    segment_id: str
    position: int
    message: str


def balance_problems(remittance: Remittance) -> list[str]:
    """The money checks pyx12 does not make, each named by claim (CLP01) or line (code + line control number):
    BPR02 = sum(CLP04) − sum(PLB amounts); per claim CLP03 − CLP04 = all its CAS (claim and line level);
    per line SVC02 − SVC03 = its CAS. An empty list means the remittance balances."""
    return [finding.message for finding in _balance_findings(remittance)]


def _balance_findings(remittance: Remittance) -> list[_Finding]:
    findings = []
    claims_paid = sum((claim.paid for claim in remittance.claims), Decimal("0.00"))
    plb = sum((adjustment.amount for adjustment in remittance.provider_adjustments), Decimal("0.00"))
    expected = claims_paid - plb
    if remittance.signed_total != expected:
        debit = " (debit)" if remittance.credit_debit == "D" else ""
        findings.append(_Finding("BPR", remittance.position + 1, (
            f"Remittance {remittance.trace_number}: payment BPR02 {_money(remittance.signed_total)}{debit} but "
            f"claims paid {_money(claims_paid)} − provider adjustments {_money(plb)} = {_money(expected)}"
        )))
    for claim in remittance.claims:
        findings.extend(_claim_findings(claim))
    return findings


def _claim_findings(claim: RemittanceClaim) -> list[_Finding]:
    findings = []
    adjusted = sum((adjustment.amount for adjustment in claim.all_adjustments), Decimal("0.00"))
    if claim.charge - claim.paid != adjusted:
        findings.append(_Finding("CLP", claim.position, (
            f"Claim {claim.patient_control_number}: " + _difference(claim.charge, claim.paid, adjusted))))
    for number, line in enumerate(claim.lines, start=1):
        if line.charge - line.paid != line.adjustment_total:
            which = (f"line control number {line.line_control_number}" if line.line_control_number
                     else f"line {number} of the claim")
            findings.append(_Finding("SVC", line.position, (
                f"Claim {claim.patient_control_number} line {line.code} ({which}): "
                + _difference(line.charge, line.paid, line.adjustment_total))))
    return findings


def _difference(charge: Decimal, paid: Decimal, adjusted: Decimal) -> str:
    return (f"charge {_money(charge)} − paid {_money(paid)} = {_money(charge - paid)} "
            f"but its adjustments add up to {_money(adjusted)}")


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}" if amount else "0.00"  # never "-0.00"


# --- validation ------------------------------------------------------------------------------------------------


def validate_835(content: str | bytes, *, file_name: str = "") -> list[dict]:
    """Every problem of an 835 as {"segment", "position", "message"}: pyx12's implementation-guide findings,
    then the reader's Era835Error, then the balancing. An empty list means the file is clean. Never raises for
    bad content."""
    try:
        data = _as_bytes(content, file_name)
    except Era835Error as exc:
        return [_issue("", None, exc.message)]
    if len(data) > MAX_FILE_BYTES:
        return [_issue("", None, locate(file_name, "", None, _too_big(data)))]
    issues = _pyx12_issues(data, file_name)
    try:
        remittances = parse_835(data, file_name=file_name)
    except Era835Error as exc:
        return [*issues, _issue(exc.segment_id, exc.position, exc.message)]
    for remittance in remittances:
        issues.extend(_issue(f.segment_id, f.position, locate(file_name, f.segment_id, f.position, f.message))
                      for f in _balance_findings(remittance))
    return issues


def _pyx12_issues(data: bytes, file_name: str) -> list[dict]:
    from otbilling.edi.validation import validate_with_pyx12

    try:
        result = validate_with_pyx12(data)
    except Exception as exc:  # the wrapper should not raise, but an upload must never become a 500
        log.warning("pyx12 validation raised %s", exc.__class__.__name__, exc_info=True)
        reason = f"the implementation-guide check failed: {exc.__class__.__name__}: {exc}"
        return [_issue("", None, locate(file_name, "", None, reason))]
    return [_issue(issue.segment, issue.line, locate(file_name, issue.segment, issue.line, issue.message))
            for issue in result.issues]


def _issue(segment_id: str, position: int | None, message: str) -> dict:
    return {"segment": segment_id, "position": position, "message": message}
