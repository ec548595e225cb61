"""Writing 270 eligibility inquiries (005010X279A1), and reading them back (round-trip tests, support).

One file holds many patients: one transaction set, one 2000A information-source loop per payer, our clinic as
the 2000B information receiver under each, and one 2000C subscriber loop per inquiry. When the patient is not
the subscriber, the 2000C names the subscriber (member id, no EQ) and a 2000D dependent loop carries the
patient, the trace number, the date and the EQ lines. One EQ segment per service type (AD, 30).
"""

import datetime
from dataclasses import dataclass, field
from itertools import groupby

from otbilling.edi.writer import Envelope, TransactionSet, WrittenInterchange, write_interchange, x12_date
from otbilling.errors import AppError

from .x271 import _Checker, read_interchange

GUIDE = "005010X279A1"
SERVICE_TYPES = ("AD", "30")


@dataclass(frozen=True)
class Person:
    last_name: str
    first_name: str
    date_of_birth: datetime.date | None = None
    sex: str = ""


@dataclass(frozen=True)
class InquiryRequest:
    """One subscriber or dependent inquiry: who, at which payer, for which date and service types."""

    trace_number: str
    payer_name: str
    payer_id: str
    member_id: str
    subscriber: Person
    for_date: datetime.date
    dependent: Person | None = None
    service_types: tuple[str, ...] = SERVICE_TYPES


@dataclass(frozen=True)
class Receiver:
    """The clinic asking: its legal name, billing NPI and the 10-character TRN03 originator id."""

    name: str
    npi: str
    originator_id: str


def originator_id_for(ein: str) -> str:
    """TRN03: "1" followed by the 9-digit EIN (the IG's prefix for an EIN), so each clinic's traces are its own."""
    return "1" + "".join(ch for ch in ein if ch.isdigit())[:9]


def _dmg(person: Person) -> list:
    if person.date_of_birth is None:
        return []
    return [["DMG", "D8", x12_date(person.date_of_birth), person.sex if person.sex in ("F", "M", "U") else ""]]


def build_270(*, receiver: Receiver, requests: list[InquiryRequest], reference: str,
              now: datetime.datetime) -> TransactionSet:
    """The 270 transaction set (without ST/SE, which the writer adds)."""
    segments: list[list] = [["BHT", "0022", "13", reference, x12_date(now.date()), now.strftime("%H%M")]]
    hl = 0
    ordered = sorted(requests, key=lambda r: (r.payer_id, r.payer_name))
    for (payer_id, payer_name), group in groupby(ordered, key=lambda r: (r.payer_id, r.payer_name)):
        hl += 1
        source = hl
        segments += [["HL", source, "", "20", 1], ["NM1", "PR", "2", payer_name, "", "", "", "", "PI", payer_id]]
        hl += 1
        receiver_hl = hl
        segments += [["HL", receiver_hl, source, "21", 1],
                     ["NM1", "1P", "2", receiver.name, "", "", "", "", "XX", receiver.npi]]
        for request in group:
            hl += 1
            subscriber_hl = hl
            sub = request.subscriber
            trn = ["TRN", "1", request.trace_number, receiver.originator_id]
            nm1 = ["NM1", "IL", "1", sub.last_name, sub.first_name, "", "", "", "MI", request.member_id]
            eqs = [["EQ", code] for code in request.service_types]
            dtp = ["DTP", "291", "D8", x12_date(request.for_date)]
            if request.dependent is None:
                segments += [["HL", subscriber_hl, receiver_hl, "22", 0], trn, nm1, *_dmg(sub), dtp, *eqs]
            else:
                dep = request.dependent
                hl += 1
                segments += [["HL", subscriber_hl, receiver_hl, "22", 1], nm1, *_dmg(sub),
                             ["HL", hl, subscriber_hl, "23", 0], trn,
                             ["NM1", "03", "1", dep.last_name, dep.first_name], *_dmg(dep), dtp, *eqs]
    return TransactionSet(set_id="270", segments=segments, implementation=GUIDE)


def write_270(*, receiver: Receiver, requests: list[InquiryRequest], submitter_id: str, receiver_id: str,
              reference: str, now: datetime.datetime | None = None, usage: str = "P") -> WrittenInterchange:
    """The whole interchange, with the submitter's next control numbers (GS01 HS, GS08 005010X279A1)."""
    if not requests:
        raise AppError("There is nothing to ask: the 270 would hold no inquiry.", code="no_inquiries")
    now = now or datetime.datetime.now(datetime.UTC)
    envelope = Envelope(sender_id=submitter_id, receiver_id=receiver_id, functional_id="HS", version=GUIDE,
                        usage=usage)
    transaction = build_270(receiver=receiver, requests=requests, reference=reference, now=now)
    return write_interchange(envelope=envelope, transactions=[transaction], submitter_id=submitter_id, now=now)


# --- reading a 270 back -------------------------------------------------------------------------------------------


@dataclass
class Inquiry270:
    """One inquiry read from a 270."""

    trace_number: str
    originator_id: str
    payer_name: str
    payer_id: str
    receiver_name: str
    receiver_id: str
    member_id: str
    subscriber: Person
    dependent: Person | None
    for_date: datetime.date | None
    service_types: list[str] = field(default_factory=list)


@dataclass
class Read270:
    interchange_control_number: str
    group_control_number: str
    reference: str
    inquiries: list[Inquiry270]


def _person(check: _Checker, loop) -> Person:
    nm1 = loop.name
    dob, sex = None, ""
    for segment in loop.outside_ls():
        if segment.id == "DMG":
            if segment.get(1) == "D8" and segment.get(2):
                dob = check.date(segment, segment.get(2), "DMG02")
            sex = segment.get(3)
    return Person(last_name=nm1.get(3), first_name=nm1.get(4), date_of_birth=dob, sex=sex)


def read_270(text: str, *, strict: bool = True) -> Read270:
    """Every subscriber/dependent inquiry of a 270, after the same structural checks as a 271."""
    interchange = read_interchange(text, transaction_set="270", strict=strict)
    check = _Checker("270")
    inquiries = []
    for transaction in interchange.transactions:
        for loop in transaction.loops:
            if loop.level not in ("22", "23") or (loop.level == "22" and loop.children):
                continue
            subscriber_loop = loop.parent if loop.level == "23" else loop
            receiver_loop = subscriber_loop.parent
            source_loop = receiver_loop.parent
            trn = next((s for s in loop.segments if s.id == "TRN"), None)
            if trn is None:
                check.fail(loop.hl, f"inquiry loop HL {loop.hl_id} has no TRN trace number.")
            eqs = [s for s in loop.segments if s.id == "EQ"]
            if not eqs:
                check.fail(loop.hl, f"inquiry loop HL {loop.hl_id} has no EQ service type.")
            service_types = [code for eq in eqs for code in interchange.repeats(eq, 1)]
            dtp = next((s for s in loop.segments if s.id == "DTP" and s.get(1) == "291"), None)
            inquiries.append(Inquiry270(
                trace_number=trn.get(2), originator_id=trn.get(3),
                payer_name=source_loop.name.get(3), payer_id=source_loop.name.get(9),
                receiver_name=receiver_loop.name.get(3), receiver_id=receiver_loop.name.get(9),
                member_id=subscriber_loop.name.get(9), subscriber=_person(check, subscriber_loop),
                dependent=_person(check, loop) if loop.level == "23" else None,
                for_date=check.period(dtp, 2, 3)[0] if dtp else None, service_types=service_types,
            ))
    reference = interchange.transactions[0].bht.get(3) if interchange.transactions else ""
    return Read270(interchange_control_number=interchange.control_number,
                   group_control_number=interchange.groups[0].get(6), reference=reference, inquiries=inquiries)
