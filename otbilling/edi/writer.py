"""A small generic X12 writer: ISA/GS/ST…SE/GE/IEA envelopes around segments we build ourselves.

Segments are lists of elements (element 0 is the segment id). An element is text, a number (int or Decimal),
None/"" (empty), a tuple (a composite element, joined with the component separator) or a list (repeated values,
joined with the repetition separator). Trailing empty elements and components are dropped, as X12 wants.

Data never carries a delimiter character: by default the writer refuses such text with an AppError that names
the segment, the element and the character (`on_delimiter="strip"` removes them instead, for free text).
Control numbers come from `otbilling.models.next_control_numbers(submitter_id)`, so they are unique and increasing
per submitter across every transaction set we write (270 now, 837P later).
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from otbilling.edi.tokenizer import Delimiters
from otbilling.errors import AppError

DEFAULT_DELIMITERS = Delimiters(element="*", component=":", segment="~", repetition="^")
ISA_ID_LENGTH = 15
CONTROL_CHARACTERS = {chr(n) for n in range(32)} | {"\x7f"}

Element = str | int | Decimal | None | tuple | list
SegmentData = Sequence[Element]


class X12WriteError(AppError):
    """Data cannot be written as X12 (a delimiter inside a value, an over-long envelope id…)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message, code="x12_write", field=field)


@dataclass(frozen=True)
class Envelope:
    """Who sends to whom: ISA05-08 and GS02-03, the functional group (GS01) and the guide (GS08)."""

    sender_id: str
    receiver_id: str
    functional_id: str  # GS01: HS = 270, HC = 837
    version: str  # GS08, e.g. 005010X279A1
    sender_qualifier: str = "ZZ"
    receiver_qualifier: str = "ZZ"
    application_sender: str = ""  # GS02; defaults to sender_id
    application_receiver: str = ""  # GS03; defaults to receiver_id
    usage: str = "P"  # ISA15: P production, T test
    acknowledgment_requested: str = "0"  # ISA14


@dataclass
class TransactionSet:
    """One ST…SE set: its id (ST01), the implementation guide (ST03) and the segments between ST and SE."""

    set_id: str
    segments: list[SegmentData] = field(default_factory=list)
    control_number: str = ""  # ST02; numbered 0001, 0002… in the group when empty
    implementation: str = ""  # ST03; the envelope's version when empty


@dataclass(frozen=True)
class WrittenInterchange:
    text: str
    interchange_control_number: int
    group_control_number: int
    transaction_control_numbers: tuple[str, ...]


class X12Writer:
    """Turns segment lists into X12 text with one set of delimiters."""

    def __init__(self, delimiters: Delimiters = DEFAULT_DELIMITERS, *, on_delimiter: str = "refuse",
                 newline: str = "\n"):
        if on_delimiter not in ("refuse", "strip"):
            raise ValueError("on_delimiter is 'refuse' or 'strip'")
        self.delimiters = delimiters
        self.on_delimiter = on_delimiter
        self.newline = newline
        self.reserved = {delimiters.element, delimiters.component, delimiters.segment, delimiters.repetition}

    # --- values -------------------------------------------------------------------------------------------------

    def clean(self, value, *, where: str) -> str:
        """One simple value as text, with delimiters refused (or stripped) and control characters removed."""
        if value is None:
            return ""
        if isinstance(value, bool):
            raise X12WriteError(f"{where}: a yes/no value must be written as a code, not {value!r}.", field=where)
        if isinstance(value, Decimal):
            text = format(value, "f")
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, (datetime.date, datetime.datetime)):
            raise X12WriteError(f"{where}: format dates before writing (got {value!r}).", field=where)
        else:
            text = str(value)
        text = "".join(" " if ch in CONTROL_CHARACTERS else ch for ch in text).strip()
        found = sorted({ch for ch in text if ch in self.reserved})
        if found:
            if self.on_delimiter == "refuse":
                shown = " ".join(repr(ch) for ch in found)
                raise X12WriteError(
                    f"{where} contains {shown}, reserved as an X12 delimiter; remove it from {text!r}.", field=where)
            text = "".join(ch for ch in text if ch not in self.reserved).strip()
        return text

    def element(self, value: Element, *, where: str) -> str:
        if isinstance(value, tuple):
            parts = [self.clean(part, where=f"{where}-{n}") for n, part in enumerate(value, start=1)]
            return self.delimiters.component.join(_trim(parts))
        if isinstance(value, list):
            parts = [self.element(part, where=where) for part in value]
            return self.delimiters.repetition.join(p for p in parts if p)
        return self.clean(value, where=where)

    def segment(self, elements: SegmentData) -> str:
        """One segment as text (without the terminator)."""
        if not elements or not isinstance(elements[0], str) or not elements[0].isalnum():
            raise X12WriteError(f"A segment must start with its id, got {list(elements)[:1]!r}.")
        seg_id = elements[0]
        values = [seg_id] + [self.element(value, where=f"{seg_id}{n:02d}")
                             for n, value in enumerate(elements[1:], start=1)]
        return self.delimiters.element.join(_trim(values))

    # --- envelopes ----------------------------------------------------------------------------------------------

    def isa(self, envelope: Envelope, control_number: int, now: datetime.datetime) -> str:
        d = self.delimiters
        sender = _isa_id(envelope.sender_id, "ISA06 sender id")
        receiver = _isa_id(envelope.receiver_id, "ISA08 receiver id")
        fields = ["ISA", "00", " " * 10, "00", " " * 10, envelope.sender_qualifier.ljust(2)[:2], sender,
                  envelope.receiver_qualifier.ljust(2)[:2], receiver, now.strftime("%y%m%d"), now.strftime("%H%M"),
                  d.repetition, "00501", f"{control_number:09d}", envelope.acknowledgment_requested, envelope.usage,
                  d.component]
        return d.element.join(fields)

    def interchange(self, *, envelope: Envelope, transactions: Sequence[TransactionSet], interchange_number: int,
                    group_number: int, now: datetime.datetime) -> WrittenInterchange:
        """A whole interchange with one functional group holding `transactions`."""
        if not transactions:
            raise X12WriteError("An interchange needs at least one transaction set.")
        for value, label in ((interchange_number, "interchange"), (group_number, "group")):
            if not 0 < value <= 999_999_999:
                raise X12WriteError(f"The {label} control number {value} is outside 1–999999999.")
        lines = [self.isa(envelope, interchange_number, now)]
        lines.append(self.segment(["GS", envelope.functional_id, envelope.application_sender or envelope.sender_id,
                                   envelope.application_receiver or envelope.receiver_id, now.strftime("%Y%m%d"),
                                   now.strftime("%H%M"), group_number, "X", envelope.version]))
        st_numbers = []
        for index, transaction in enumerate(transactions, start=1):
            st02 = transaction.control_number or f"{index:04d}"
            st_numbers.append(st02)
            body = [self.segment(["ST", transaction.set_id, st02, transaction.implementation or envelope.version])]
            body += [self.segment(segment) for segment in transaction.segments]
            body.append(self.segment(["SE", len(body) + 1, st02]))
            lines += body
        lines.append(self.segment(["GE", len(transactions), group_number]))
        lines.append(self.segment(["IEA", 1, f"{interchange_number:09d}"]))
        text = "".join(line + self.delimiters.segment + self.newline for line in lines)
        return WrittenInterchange(text=text, interchange_control_number=interchange_number,
                                  group_control_number=group_number, transaction_control_numbers=tuple(st_numbers))


def write_interchange(*, envelope: Envelope, transactions: Sequence[TransactionSet], submitter_id: str,
                      now: datetime.datetime | None = None, writer: X12Writer | None = None) -> WrittenInterchange:
    """Reserve the submitter's next control numbers and write the interchange (call inside the caller's
    transaction, so a failure later in the caller gives the numbers back)."""
    from otbilling.models import next_control_numbers

    writer = writer or X12Writer()
    now = now or datetime.datetime.now(datetime.UTC)
    # Build once with placeholder numbers first so bad data fails before a control number is used up.
    writer.interchange(envelope=envelope, transactions=transactions, interchange_number=1, group_number=1, now=now)
    interchange_number, group_number = next_control_numbers(submitter_id)
    return writer.interchange(envelope=envelope, transactions=transactions, interchange_number=interchange_number,
                              group_number=group_number, now=now)


def x12_date(day: datetime.date) -> str:
    return day.strftime("%Y%m%d")


def _isa_id(value: str, label: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > ISA_ID_LENGTH:
        raise X12WriteError(f"{label} must be 1–{ISA_ID_LENGTH} characters, got {value!r}.")
    if any(ch in "*~:^|>`" for ch in value):
        raise X12WriteError(f"{label} {value!r} contains a delimiter character.")
    return value.ljust(ISA_ID_LENGTH)


def _trim(values: list[str]) -> list[str]:
    while len(values) > 1 and values[-1] == "":
        values.pop()
    return values
