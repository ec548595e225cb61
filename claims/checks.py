"""Our own checks on 837P claims: before writing (`precheck_claims`) and on the written file (`check_written_837p`).

pyx12 proves the file follows the implementation guide, but it does not balance a claim, check a diagnosis
pointer against the diagnoses, or check an NPI's check digit (x12-notes, "What it misses"), so those are ours.

Every problem is a dict {"claim": patient control number or "", "segment": "SV1", "line": segment number in the
written file (None before writing), "field": what to fix, "message": plain words}.
"""

import re
from decimal import Decimal, InvalidOperation

from clinics.validators import npi_is_valid
from otbilling.edi.tokenizer import Segment, X12SyntaxError, tokenize
from otbilling.edi.validation import validate_with_pyx12
from otbilling.edi.writer import X12WriteError, X12Writer

from .x837 import claim_lines, claim_segments

MAX_LINES = 50
MAX_DIAGNOSES = 12
MAX_POINTERS = 4
CENT = Decimal("0.01")
ELEMENT_IN_MESSAGE = re.compile(r"\(([A-Z][A-Z0-9]{1,2}\d{2}(?:-\d+)?)\)")  # pyx12 names the element: "(SV103)"


def problem(claim: str, segment: str, field: str, message: str, line: int | None = None) -> dict:
    return {"claim": claim, "segment": segment, "line": line, "field": field, "message": message}


# --- before writing -----------------------------------------------------------------------------------------------


def _npi_problems(claim) -> list[dict]:
    pcn = claim.patient_control_number
    found = []
    people = [("billing provider", "NM1*85", "clinic.billing_npi", claim.clinic.billing_npi),
              ("rendering provider", "NM1*82", "rendering_provider.npi", claim.rendering_provider.npi)]
    if claim.referring_provider is not None:
        people.append(("referring provider", "NM1*DN", "referring_provider.npi", claim.referring_provider.npi))
    for who, segment, field, npi in people:
        if not npi_is_valid(npi):
            found.append(problem(pcn, segment, field, f"The {who} NPI {npi!r} is not valid: it needs 10 digits "
                                                      "starting with 1 or 2 and a correct check digit."))
    return found


def _clinic_problems(claim) -> list[dict]:
    clinic, pcn = claim.clinic, claim.patient_control_number
    found = []
    if not re.fullmatch(r"\d{9}", (clinic.zip_code or "").replace("-", "")):
        found.append(problem(pcn, "N4", "clinic.zip_code", f"The billing provider ZIP {clinic.zip_code!r} must have "
                                                           "9 digits (ZIP+4)."))
    if not re.fullmatch(r"\d{9}", (clinic.ein or "").replace("-", "")):
        found.append(problem(pcn, "REF", "clinic.ein", f"The clinic's EIN {clinic.ein!r} must have 9 digits."))
    if not (clinic.contact_phone or clinic.contact_email):
        found.append(problem(pcn, "PER", "clinic.contact_phone", "The clinic has no billing contact phone or email; "
                                                                 "the submitter loop needs one."))
    return found


def _line_problems(claim, lines) -> list[dict]:
    pcn = claim.patient_control_number
    count = len(claim.diagnoses)
    found = []
    for line in lines:
        field = f"lines[{line.position}].diagnosis_pointers"
        label = f"Line {line.position} ({line.cpt})"
        pointers = list(line.diagnosis_pointers)
        if not pointers:
            found.append(problem(pcn, "SV1", field, f"{label} points at no diagnosis."))
        if len(pointers) > MAX_POINTERS:
            found.append(problem(pcn, "SV1", field, f"{label} has {len(pointers)} diagnosis pointers; at most "
                                                    f"{MAX_POINTERS} are allowed."))
        for pointer in pointers:
            if not 1 <= pointer <= count:
                found.append(problem(pcn, "SV1", field, f"{label} points at diagnosis {pointer}, but the claim has "
                                                        f"{count} diagnos{'i' if count == 1 else 'e'}s."))
    return found


def _writable_problems(claim) -> list[dict]:
    """Text the writer would refuse (a delimiter in a name or address that slipped past the form validators)."""
    writer = X12Writer()
    found = []
    for segment in claim_segments(claim):
        try:
            writer.segment(segment)
        except X12WriteError as exc:
            found.append(problem(claim.patient_control_number, segment[0], exc.field or "", exc.message))
    return found


def precheck_one(claim) -> list[dict]:
    """Every problem of one claim (its clinic, providers, lines and rendering provider loaded or loadable)."""
    pcn = claim.patient_control_number
    lines = claim_lines(claim)
    found = []
    if not lines:
        found.append(problem(pcn, "LX", "lines", "The claim has no line."))
    if len(lines) > MAX_LINES:
        found.append(problem(pcn, "LX", "lines", f"The claim has {len(lines)} lines; a professional claim holds at "
                                                 f"most {MAX_LINES}."))
    total = sum((line.charge for line in lines), Decimal("0.00"))
    if total != claim.total_charge:
        found.append(problem(pcn, "CLM", "total_charge", f"The claim total ${claim.total_charge} is not the sum of "
                                                         f"its line charges (${total})."))
    if not claim.diagnoses:
        found.append(problem(pcn, "HI", "diagnoses", "The claim has no diagnosis."))
    elif len(claim.diagnoses) > MAX_DIAGNOSES:
        found.append(problem(pcn, "HI", "diagnoses", f"The claim has {len(claim.diagnoses)} diagnoses; at most "
                                                     f"{MAX_DIAGNOSES} fit on a claim."))
    if claim.frequency in ("7", "8") and not claim.payer_claim_control_number.strip():
        kind = "replacement" if claim.frequency == "7" else "void"
        found.append(problem(pcn, "REF", "payer_claim_control_number",
                             f"A {kind} (frequency {claim.frequency}) must quote the payer's claim control number "
                             "(REF*F8)."))
    found += _line_problems(claim, lines)
    found += _npi_problems(claim)
    found += _clinic_problems(claim)
    found += _writable_problems(claim)
    return found


def precheck_claims(claims) -> list[dict]:
    """Our checks before writing, for every claim; an empty list means nothing blocks the file."""
    found = []
    for claim in claims:
        found += precheck_one(claim)
    return found


# --- on the written file ------------------------------------------------------------------------------------------


def _claim_of_segments(segments: list[Segment]) -> dict[int, str]:
    """Segment position → the patient control number of the claim whose subscriber loop holds it."""
    owners: dict[int, str] = {}
    block: list[int] = []
    pcn = ""

    def close():
        for position in block:
            owners[position] = pcn

    for segment in segments:
        if (segment.id == "HL" and segment.get(3) == "22") or segment.id in ("SE", "ST"):
            close()
            block, pcn = [], ""
        if segment.id == "CLM":
            pcn = segment.get(1)
        block.append(segment.position)
    close()
    return owners


def _money(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


class _ClaimTally:
    """What one CLM says, and what its lines add up to."""

    def __init__(self, clm: Segment):
        self.clm = clm
        self.pcn = clm.get(1)
        self.total = _money(clm.get(2))
        self.lines = Decimal("0.00")
        self.diagnoses = 0

    def finish(self) -> list[dict]:
        if self.total is None:
            return [problem(self.pcn, "CLM", "CLM02", f"CLM02 {self.clm.get(2)!r} is not an amount.",
                            self.clm.position)]
        if self.total.quantize(CENT) != self.lines.quantize(CENT):
            return [problem(self.pcn, "CLM", "CLM02", f"CLM02 ${self.total} is not the sum of the SV102 line "
                                                      f"charges (${self.lines}).", self.clm.position)]
        return []


def _balance_and_pointers(segments: list[Segment], component: str) -> list[dict]:
    found: list[dict] = []
    tally: _ClaimTally | None = None
    for segment in segments:
        if segment.id in ("CLM", "HL", "SE") and tally is not None:
            found += tally.finish()
            tally = None
        if segment.id == "CLM":
            tally = _ClaimTally(segment)
        elif tally is not None and segment.id == "HI":
            tally.diagnoses += sum(1 for value in segment.elements[1:] if value)
        elif tally is not None and segment.id == "SV1":
            found += _sv1_problems(segment, tally, component)
    return found


def _sv1_problems(segment: Segment, tally: _ClaimTally, component: str) -> list[dict]:
    found = []
    charge = _money(segment.get(2))
    if charge is None:
        found.append(problem(tally.pcn, "SV1", "SV102", f"SV102 {segment.get(2)!r} is not an amount.",
                             segment.position))
    else:
        tally.lines += charge
    pointers = [p for p in segment.get(7).split(component) if p]
    if not pointers:
        found.append(problem(tally.pcn, "SV1", "SV107", "The line points at no diagnosis.", segment.position))
    if len(pointers) > MAX_POINTERS:
        found.append(problem(tally.pcn, "SV1", "SV107", f"The line has {len(pointers)} diagnosis pointers; at most "
                                                        f"{MAX_POINTERS} are allowed.", segment.position))
    for pointer in pointers:
        if not pointer.isdigit() or not 1 <= int(pointer) <= tally.diagnoses:
            found.append(problem(tally.pcn, "SV1", "SV107", f"Diagnosis pointer {pointer} is outside the claim's "
                                                            f"{tally.diagnoses} diagnoses.", segment.position))
    return found


def check_written_837p(text: str) -> list[dict]:
    """pyx12's implementation-guide validation plus our balancing and pointer checks on the written file."""
    try:
        delimiters, segments = tokenize(text)
    except X12SyntaxError as exc:
        return [problem("", "", "file", str(exc))]
    owners = _claim_of_segments(segments)
    found = []
    for issue in validate_with_pyx12(text).issues:
        named = ELEMENT_IN_MESSAGE.search(issue.message)
        found.append(problem(owners.get(issue.line or 0, ""), issue.segment, named.group(1) if named else "",
                             issue.message, issue.line))
    found += _balance_and_pointers(segments, delimiters.component)
    return found
