"""A payer simulator: answers one of our 837P files the way each demo payer would, with a 999, a 277CA and an 835.

The answer is computed, never drawn at random, so the same 837P (and the same `today`) always gives the same files:

- **Allowed amount** per line: the contract price our coding already computed (ClaimLine.expected_allowed, found by
  the line's REF*6R: the payer's fee schedule with MPPR and the assistant (CO) reduction where the payer applies
  them). A line we cannot find (an 837P from elsewhere) is priced from the clinic's fee schedule for the payer.
  Reductions are reported as CO-45 (contract) and CO-59 (MPPR: 50% of the practice-expense part of every unit
  after the first, as coding ranked them).
- **Patient cost share** from the coverage's latest benefit check on or before the date of service (what the 271
  said): Medicare deductible (PR-1) then 20% coinsurance (PR-2); commercial copay per visit (PR-3), or deductible
  then coinsurance; Medicaid nothing. Without a benefit check on file: Medicare 20% coinsurance, nothing else.
  The deductible left is the check's figure less what our earlier remittances (and earlier claims of the same
  file) already applied to it.
- **Sequestration**: Medicare (and Medicare Advantage) pay 2% less than the payment due (CO-253).
- **Denials** for what the scrubber found when a biller overrode the finding and billed anyway (see DENIALS):
  NCCI → CO-236, authorization → CO-197/198, eligibility → CO-27/31, timely filing → CO-29, plan of care or
  documentation → CO-50 with N473/N706... on the finding's line, or on every line of the visit.
- **Payer habits** of the demo payers (PAYER_HABITS): how many days they take to pay, and one planted fault: Aspen
  Health Plans still prices 97530 from last year's fee schedule, which opens underpayments.
- **Crossover**: Medicare forwards the claim to the patient's active secondary coverage (CLP02 19, NM1*TT).
- A secondary claim (one carrying the primary's 2430 adjudication) is paid the patient share the primary left, up
  to this payer's fee less what the primary paid (CLP02 2), with OA-23 for what the primary covered; Medicaid writes
  off what it does not pay (CO-45), another plan leaves it to the patient (PR-2).

Dates: the 837P's GS04 is the day the payer received it; the 999 answers that day, the 277CA the next day and the
835 pays `payment_lag_days` later, but never after `today`. Control numbers are derived from the 837P's ISA13 (the
835's TRN02 trace number too), so each answer is unique per file and the same on every run.
"""

import datetime
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Prefetch, Sum
from django.utils import timezone

from claims.models import Claim, ClaimLine, LedgerEntry, LedgerKind
from clinics.models import Clinic, Coverage, CoveragePriority, FeeScheduleQuery, Payer, PayerKind
from coding.models import Finding, Severity
from eligibility.models import BenefitSnapshot
from otbilling.edi.tokenizer import Segment, X12SyntaxError, tokenize, transaction_sets
from otbilling.edi.writer import DEFAULT_DELIMITERS, Envelope, X12Writer, x12_date
from otbilling.errors import AppError

from .carc import is_denial

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")
SEQUESTRATION = Decimal("0.02")
MEDICARE_COINSURANCE = Decimal("20")
GUIDE_835 = "005010X221A1"
GUIDE_837 = "005010X222A1"
GUIDE_999 = "005010X231A1"
GUIDE_277 = "005010X214"
PAID = "1"
PAID_AND_FORWARDED = "19"
PAID_AS_SECONDARY = "2"
MAX_CAS_REASONS = 6  # reason/amount/quantity triplets in one CAS segment
DENIED = "4"
# CLP06 takes the 835's claim filing codes: Blue Cross and plain commercial plans are answered as PPO (12).
FILING_835 = {"BL": "12", "CI": "12"}
FILING_835_VALID = {"12", "13", "14", "15", "16", "17", "AM", "CH", "DS", "HM", "LM", "MA", "MB", "MC", "OF", "TV",
                    "VA", "WC", "ZZ"}

# What an overridden blocking finding turns into: (CARC, RARCs). The group is always CO: the provider billed
# past a problem the clinic knew about, so the patient cannot be billed for it.
DENIALS: dict[str, tuple[str, tuple[str, ...]]] = {
    "NCCI_CONFLICT": ("236", ("M80",)),
    "AUTH_MISSING": ("197", ()),
    "AUTH_EXPIRED": ("197", ()),
    "AUTH_NOT_YET_VALID": ("197", ()),
    "AUTH_EXHAUSTED": ("198", ("N640",)),
    "AUTH_UNITS_EXHAUSTED": ("198", ("N640",)),
    "VISIT_LIMIT_REACHED": ("119", ("N640",)),
    "ELIG_INACTIVE": ("27", ()),
    "COVERAGE_INACTIVE": ("27", ()),
    "ELIG_NOT_VERIFIED": ("31", ()),
    "TIMELY_FILING": ("29", ()),
    "POC_MISSING": ("50", ("N473",)),
    "POC_CERT_UNSIGNED": ("50", ("N473",)),
    "POC_CERT_LATE": ("50", ("N474",)),
    "PROGRESS_REPORT_DUE": ("50", ("N706",)),
    "NOTE_UNSIGNED": ("50", ("N706",)),
    "RENDERING_NOT_CREDENTIALED": ("185", ()),
    "REFERRING_MISSING": ("16", ()),
    "MOD_DISCIPLINE": ("4", ()),
    "ADDON_WITHOUT_PRIMARY": ("B15", ("N122",)),
    "DX_INVALID": ("146", ()),
    "UNITS_MINUTES": ("151", ("N430",)),
    "EVAL_TWICE": ("97", ("M86",)),
}
DEFAULT_DENIAL = ("16", ())


@dataclass(frozen=True)
class Habit:
    """How one payer pays: days from receipt to payment, whether it crosses claims over to the secondary, and
    codes it prices from last year's fee schedule (a fee update it never loaded)."""

    payment_lag_days: int = 14
    crossover: bool = False
    stale_fee_codes: frozenset[str] = frozenset()


HABITS_BY_KIND = {
    PayerKind.MEDICARE: Habit(payment_lag_days=14, crossover=True),  # the 14-day payment floor, then COBA crossover
    PayerKind.MEDICARE_ADVANTAGE: Habit(payment_lag_days=14),
    PayerKind.MEDICAID: Habit(payment_lag_days=21),
}
PAYER_HABITS = {  # the demo payers (otbilling.demo.PAYERS) by payer id
    "MDCR1": Habit(payment_lag_days=14, crossover=True),
    "MDCD1": Habit(payment_lag_days=21),
    "BCX01": Habit(payment_lag_days=12),
    "ASP01": Habit(payment_lag_days=18, stale_fee_codes=frozenset({"97530"})),
    "UMH01": Habit(payment_lag_days=10),
}


def habit_of(payer: Payer | None, payer_id: str = "") -> Habit:
    if payer_id in PAYER_HABITS:
        return PAYER_HABITS[payer_id]
    return HABITS_BY_KIND.get(payer.kind if payer else "", Habit())


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


# --- reading the 837P ----------------------------------------------------------------------------------------------


@dataclass
class BilledLine:
    code: str
    modifiers: tuple[str, ...]
    charge: Decimal
    units: Decimal
    service_date: datetime.date | None = None
    line_control_number: str = ""
    prior_paid: Decimal | None = None  # secondary claims: what the primary paid (2430 SVD02)
    prior_adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)  # and its 2430 CAS


@dataclass
class BilledClaim:
    patient_control_number: str
    charge: Decimal
    place_of_service: str
    frequency: str
    payer_name: str
    payer_id: str
    priority: str  # SBR01: P, S, T
    filing_indicator: str
    member_id: str
    subscriber: tuple[str, str]  # (last, first)
    patient: tuple[str, str]
    set_control_number: str
    lines: list[BilledLine] = field(default_factory=list)


@dataclass
class Billed837:
    """What the payer needs from one 837P interchange."""

    interchange_control_number: str
    sender_id: str
    sender_qualifier: str
    receiver_id: str
    receiver_qualifier: str
    group_control_number: str
    received: datetime.date
    reference: str  # BHT03 of the first set
    submitter_name: str
    billing_name: str
    billing_npi: str
    billing_ein: str
    set_control_numbers: list[str]
    claims: list[BilledClaim]


def read_837(text: str) -> Billed837:
    """The claims of an 837P as the payer reads them. Raises AppError for anything that is not an 837P."""
    try:
        delimiters, segments = tokenize(text)
        sets = transaction_sets(segments)
    except X12SyntaxError as exc:
        raise AppError(f"Not a readable 837P: {exc}", code="x12_invalid", field="file") from exc
    isa = segments[0]
    gs = next((s for s in segments if s.id == "GS"), None)
    if gs is None or not sets or any(st[0].get(1) != "837" for st in sets):
        raise AppError("Not an 837P: the interchange holds no 837 transaction set.", code="x12_invalid", field="file")
    billed = Billed837(
        interchange_control_number=isa.get(13).strip(), sender_id=isa.get(6).strip(),
        sender_qualifier=isa.get(5).strip(), receiver_id=isa.get(8).strip(), receiver_qualifier=isa.get(7).strip(),
        group_control_number=gs.get(6).strip(), received=_date(gs.get(4), gs), reference="", submitter_name="",
        billing_name="", billing_npi="", billing_ein="", set_control_numbers=[st[0].get(2) for st in sets], claims=[])
    for st in sets:
        _SetReader(st, billed, delimiters.component).read(st[1:-1])
    if not billed.claims:
        raise AppError("The 837P holds no claim (CLM).", code="x12_invalid", field="file")
    return billed


def _date(value: str, segment: Segment) -> datetime.date:
    try:
        return datetime.datetime.strptime(value, "%Y%m%d").date()
    except ValueError as exc:
        raise AppError(f"{segment}: {value!r} is not a date CCYYMMDD.", code="x12_invalid", field="file") from exc


class _SetReader:
    """Walks one ST…SE set, keeping the loop context a payer needs (2000B subscriber, 2300 claim, 2400/2430 line)."""

    def __init__(self, st: list[Segment], billed: Billed837, component: str):
        self.billed, self.control_number, self.component = billed, st[0].get(2), component
        self.claim: BilledClaim | None = None
        self.line: BilledLine | None = None
        self.in_2430 = False
        self.subscriber = {"priority": "P", "filing": "", "member": "", "subscriber": ("", ""), "patient": ("", ""),
                           "payer": ("", "")}

    def read(self, segments: list[Segment]) -> None:
        for segment in segments:
            handler = getattr(self, f"on_{segment.id.lower()}", None)
            if handler is not None:
                handler(segment)

    def on_bht(self, s):
        self.billed.reference = self.billed.reference or s.get(3)

    def on_hl(self, s):
        self.claim = self.line = None
        if s.get(3) == "22":
            self.subscriber.update(patient=("", ""))

    def on_sbr(self, s):
        if self.claim is None:  # 2000B; an SBR after CLM is the other payer's (2320)
            self.subscriber.update(priority=s.get(1) or "P", filing=s.get(9))

    def on_nm1(self, s):
        name, qualifier = (s.get(3), s.get(4)), s.get(1)
        if self.claim is not None:
            return  # 2310 providers and the 2330 other subscriber / other payer loops
        if qualifier == "41":
            self.billed.submitter_name = self.billed.submitter_name or s.get(3)
        elif qualifier == "85":
            self.billed.billing_name, self.billed.billing_npi = s.get(3), s.get(9)
        elif qualifier == "IL":
            self.subscriber.update(member=s.get(9), subscriber=name, patient=name)
        elif qualifier == "QC":
            self.subscriber.update(patient=name)
        elif qualifier == "PR":
            self.subscriber.update(payer=(s.get(3), s.get(9)))

    def on_ref(self, s):
        if s.get(1) == "EI" and self.claim is None:
            self.billed.billing_ein = s.get(2)
        elif s.get(1) == "6R" and self.line is not None:
            self.line.line_control_number = s.get(2)

    def on_clm(self, s):
        place, _, frequency = (s.get(5).split(self.component) + ["", "", ""])[:3]
        sub = self.subscriber
        self.claim = BilledClaim(
            patient_control_number=s.get(1), charge=money(s.get(2) or "0"), place_of_service=place,
            frequency=frequency or "1", payer_name=sub["payer"][0], payer_id=sub["payer"][1],
            priority=sub["priority"], filing_indicator=sub["filing"], member_id=sub["member"],
            subscriber=sub["subscriber"], patient=sub["patient"], set_control_number=self.control_number)
        self.line = None
        self.billed.claims.append(self.claim)

    def on_lx(self, s):
        self.line, self.in_2430 = None, False

    def on_sv1(self, s):
        if self.claim is None:
            return
        parts = s.get(1).split(self.component)
        self.line = BilledLine(code=parts[1] if len(parts) > 1 else "", modifiers=tuple(m for m in parts[2:6] if m),
                               charge=money(s.get(2) or "0"), units=Decimal(s.get(4) or "1"))
        self.claim.lines.append(self.line)

    def on_dtp(self, s):
        if self.line is not None and s.get(1) == "472" and not self.in_2430:
            self.line.service_date = _date(s.get(3)[:8], s)

    def on_svd(self, s):
        if self.line is not None:
            self.in_2430 = True
            self.line.prior_paid = money(s.get(2) or "0")

    def on_cas(self, s):
        if self.line is None or not self.in_2430:
            return
        for i in range(2, 19, 3):
            if s.get(i) and s.get(i + 1):
                self.line.prior_adjustments.append((s.get(1), s.get(i), money(s.get(i + 1))))


# --- adjudication --------------------------------------------------------------------------------------------------


@dataclass
class PaidLine:
    billed: BilledLine
    allowed: Decimal = ZERO
    paid: Decimal = ZERO
    units_paid: Decimal = Decimal(0)
    adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (group, CARC, amount)
    remarks: tuple[str, ...] = ()
    denied: bool = False

    def adjust(self, group: str, carc: str, amount: Decimal) -> None:
        if amount:
            self.adjustments.append((group, carc, amount))

    @property
    def patient_share(self) -> Decimal:
        return sum((a for g, _c, a in self.adjustments if g == "PR"), ZERO)


@dataclass
class PaidClaim:
    billed: BilledClaim
    status: str
    payer_claim_control_number: str
    lines: list[PaidLine]
    crossover: tuple[str, str] | None = None  # (name, payer id) of the secondary it was forwarded to

    @property
    def paid(self) -> Decimal:
        return sum((line.paid for line in self.lines), ZERO)

    @property
    def patient_share(self) -> Decimal:
        return sum((line.patient_share for line in self.lines), ZERO)


@dataclass
class Answer:
    """The payer's view of one 837P: who, when, and every claim adjudicated."""

    billed: Billed837
    payer_name: str
    payer_id: str
    payment_date: datetime.date
    claims: list[PaidClaim]

    @property
    def total_paid(self) -> Decimal:
        return sum((claim.paid for claim in self.claims), ZERO)

    @property
    def trace_number(self) -> str:
        return f"{self.payment_date:%y%m%d}{int(_digits(self.billed.interchange_control_number) or 0):09d}"


def _digits(value: str) -> str:
    return "".join(ch for ch in value or "" if ch.isdigit())


def payer_claim_control_number(billed: Billed837, index: int) -> str:
    """The payer's claim number (277CA REF*1K, 835 CLP07): receipt date, sender, interchange and claim position."""
    sender = zlib.crc32(billed.sender_id.encode()) % 1000
    interchange = int(_digits(billed.interchange_control_number) or 0) % 1_000_000
    return f"{billed.received:%y%j}{sender:03d}{interchange:06d}{index:03d}"


def payment_due(text_837: str) -> datetime.date:
    """When the payer pays this 837P: its receipt date plus the payer's lag (simulate_835 never pays after today)."""
    billed = read_837(text_837)
    return _due(billed, _payer(billed))


def _payer(billed: Billed837) -> Payer | None:
    payer_id = billed.claims[0].payer_id or billed.receiver_id
    return Payer.objects.filter(payer_id=payer_id).first()


def _due(billed: Billed837, payer: Payer | None) -> datetime.date:
    return billed.received + datetime.timedelta(days=habit_of(payer, billed.claims[0].payer_id).payment_lag_days)


class _Adjudicator:
    """Prices and adjudicates the claims of one 837P against our database (clinic by billing NPI). What it needs
    about our claims is read once per file, not per claim."""

    def __init__(self, billed: Billed837, today):
        self.billed = billed
        self.clinic = Clinic.objects.filter(billing_npi=billed.billing_npi).first()
        if self.clinic is None:
            raise AppError(f"The billing provider NPI {billed.billing_npi!r} of the 837P is none of our clinics.",
                           code="unknown_clinic", field="file")
        self.payer = _payer(billed)
        self.habit = habit_of(self.payer, billed.claims[0].payer_id)
        self.kind = self.payer.kind if self.payer else PayerKind.COMMERCIAL
        self.payment_date = min(_due(billed, self.payer), today or timezone.localdate())
        self.deductible_used: dict[int, Decimal] = defaultdict(lambda: ZERO)  # coverage pk → PR-1 in this file
        self.ours = _our_claims(self.clinic, [c.patient_control_number for c in billed.claims])
        self.refused = _refusals(list(self.ours.values()))
        coverages = {claim.coverage_id for claim in self.ours.values()}
        self.checks: dict[int, list[BenefitSnapshot]] = defaultdict(list)
        for check in (BenefitSnapshot.objects.filter(coverage_id__in=coverages, is_active=True)
                      .order_by("-checked_at", "-pk")):
            self.checks[check.coverage_id].append(check)
        self.secondaries: dict[int, list[Coverage]] = defaultdict(list)
        for coverage in (Coverage.objects.filter(patient_id__in={c.patient_id for c in self.ours.values()},
                                                 priority=CoveragePriority.SECONDARY)
                         .select_related("payer").order_by("pk")):
            self.secondaries[coverage.patient_id].append(coverage)

    def answer(self) -> Answer:
        claims = [self.claim(billed, index) for index, billed in enumerate(self.billed.claims, start=1)]
        first = self.billed.claims[0]
        name = self.payer.name if self.payer else first.payer_name
        return Answer(billed=self.billed, payer_name=name, payer_id=first.payer_id or self.billed.receiver_id,
                      payment_date=self.payment_date, claims=claims)

    def claim(self, billed: BilledClaim, index: int) -> PaidClaim:
        ours = self.ours.get(billed.patient_control_number)
        lines = {ln.line_control_number: ln for ln in ours.lines.all()} if ours else {}
        secondary = any(line.prior_paid is not None for line in billed.lines)
        paid = []
        for line in billed.lines:
            claim_line = lines.get(line.line_control_number)
            refusal = self.refused.get(claim_line.pk) if claim_line else None
            if refusal:
                paid.append(_denied(line, *refusal))
            elif secondary:
                paid.append(self.pay_secondary(line))
            else:
                paid.append(self.price(line, claim_line))
        live = [p for p in paid if not p.denied]
        if not secondary:
            self.cost_share(live, ours)
        icn = payer_claim_control_number(self.billed, index)
        if not live:
            return PaidClaim(billed=billed, status=DENIED, payer_claim_control_number=icn, lines=paid)
        if secondary:
            return PaidClaim(billed=billed, status=PAID_AS_SECONDARY, payer_claim_control_number=icn, lines=paid)
        crossover = self.crossover_to(ours)
        return PaidClaim(billed=billed, status=PAID_AND_FORWARDED if crossover else PAID,
                         payer_claim_control_number=icn, lines=paid, crossover=crossover)

    # -- allowed amounts -----------------------------------------------------------------------------------------
    def price(self, line: BilledLine, claim_line: ClaimLine | None) -> PaidLine:
        day = line.service_date or self.billed.received
        mppr = ZERO
        if claim_line is not None:
            allowed = claim_line.expected_allowed
            coded = getattr(claim_line.service_line, "coded", None) if claim_line.service_line_id else None
            if coded is not None and self.payer is not None and self.payer.applies_mppr:
                mppr = coded.mppr_reduction
        else:
            allowed = self.fee(line)
        if line.code in self.habit.stale_fee_codes:
            allowed = self.stale(allowed, line.code, day)
        allowed = min(allowed, line.charge)
        paid = PaidLine(billed=line, allowed=allowed, units_paid=line.units)
        mppr = min(mppr, line.charge - allowed)
        paid.adjust("CO", "45", line.charge - allowed - mppr)
        paid.adjust("CO", "59", mppr)
        paid.paid = allowed
        return paid

    def fee(self, line: BilledLine) -> Decimal:
        """This payer's fee-schedule amount for the line (the billed charge when the clinic has none)."""
        fee = FeeScheduleQuery.fee_for(clinic=self.clinic, payer=self.payer, cpt=line.code,
                                       on_date=line.service_date or self.billed.received)
        return money(fee.expected_allowed * line.units) if fee else line.charge

    def pay_secondary(self, line: BilledLine) -> PaidLine:
        """The next payer pays the patient share the primary left, up to its own allowed amount less what the
        primary paid. What stays unpaid of that share: Medicaid writes it off (CO-45, the patient cannot be billed),
        another plan leaves it to the patient (PR-2). A part the primary denied is denied again for the same reason.
        OA-23 carries the rest of the charge (what the primary paid or adjusted)."""
        patient = sum((a for g, _c, a in line.prior_adjustments if g == "PR"), ZERO)
        refused = [(c, a) for g, c, a in line.prior_adjustments if g != "PR" and is_denial(g, c)]
        pays = max(ZERO, min(patient, self.fee(line) - (line.prior_paid or ZERO)))
        paid = PaidLine(billed=line, allowed=pays, paid=pays, units_paid=line.units)
        paid.adjust("OA", "23", line.charge - patient - sum((a for _c, a in refused), ZERO))
        unpaid_group, unpaid_carc = ("CO", "45") if self.kind == PayerKind.MEDICAID else ("PR", "2")
        paid.adjust(unpaid_group, unpaid_carc, patient - pays)
        for carc, amount in refused:
            paid.adjust("CO", carc, amount)
        return paid

    def stale(self, allowed: Decimal, code: str, day: datetime.date) -> Decimal:
        """The payer still uses last year's rate for this code: scale our contract price by the two years' fees."""
        current = FeeScheduleQuery.fee_for(clinic=self.clinic, payer=self.payer, cpt=code, on_date=day)
        last_year = FeeScheduleQuery.fee_for(clinic=self.clinic, payer=self.payer, cpt=code,
                                             on_date=day.replace(year=day.year - 1, day=min(day.day, 28)))
        if not current or not last_year or not current.expected_allowed:
            return allowed
        return money(allowed * last_year.expected_allowed / current.expected_allowed)

    # -- cost share ----------------------------------------------------------------------------------------------
    def cost_share(self, lines: list[PaidLine], ours: Claim | None) -> None:
        medicare = self.kind in (PayerKind.MEDICARE, PayerKind.MEDICARE_ADVANTAGE)
        if self.kind == PayerKind.MEDICAID or not lines:
            return
        snapshot = self.benefits(ours, lines)
        copay = snapshot.copay_amount if snapshot else None
        coinsurance = snapshot.coinsurance_percent if snapshot else None
        if coinsurance is None and medicare:
            coinsurance = MEDICARE_COINSURANCE
        if copay and not medicare:
            self.copay(lines, copay)
        else:
            self.deductible(lines, ours, snapshot)
            if coinsurance:
                for line in lines:
                    share = money((line.paid * coinsurance) / HUNDRED)
                    line.adjust("PR", "2", share)
                    line.paid -= share
        if medicare:
            for line in lines:
                cut = money(line.paid * SEQUESTRATION)
                line.adjust("CO", "253", cut)
                line.paid -= cut

    def benefits(self, ours: Claim | None, lines: list[PaidLine]) -> BenefitSnapshot | None:
        """The coverage's latest active benefit check on or before the first date of service."""
        if ours is None:
            return None
        day = min((line.billed.service_date for line in lines if line.billed.service_date), default=None)
        for check in self.checks[ours.coverage_id]:
            if day is None or timezone.localtime(check.checked_at).date() <= day:
                return check
        return None

    def copay(self, lines: list[PaidLine], copay: Decimal) -> None:
        """One copay per date of service, taken from the lines of that day in order."""
        left: dict = defaultdict(lambda: copay)
        for line in lines:
            day = line.billed.service_date
            share = min(left[day], line.paid)
            left[day] -= share
            line.adjust("PR", "3", share)
            line.paid -= share

    def deductible(self, lines: list[PaidLine], ours: Claim | None, snapshot: BenefitSnapshot | None) -> None:
        if ours is None or snapshot is None or not snapshot.deductible_remaining:
            return
        checked = timezone.localtime(snapshot.checked_at).date()
        posted = (LedgerEntry.objects.filter(claim__coverage_id=ours.coverage_id, kind=LedgerKind.ADJUSTMENT,
                                             group_code="PR", carc="1", claim__service_date_from__gte=checked,
                                             claim__service_date_from__year=checked.year)
                  .exclude(claim=ours).aggregate(total=Sum("amount"))["total"] or ZERO)
        left = snapshot.deductible_remaining + posted - self.deductible_used[ours.coverage_id]  # posted is negative
        for line in lines:
            share = max(ZERO, min(left, line.paid))
            left -= share
            self.deductible_used[ours.coverage_id] += share
            line.adjust("PR", "1", share)
            line.paid -= share

    # -- crossover -----------------------------------------------------------------------------------------------
    def crossover_to(self, ours: Claim | None) -> tuple[str, str] | None:
        if not self.habit.crossover or ours is None:
            return None
        day = ours.service_date_from
        found = next((c for c in self.secondaries[ours.patient_id] if c.is_active_on(day)), None)
        return (found.payer.name, found.payer.payer_id) if found else None


def _our_claims(clinic: Clinic, numbers: list[str]) -> dict[str, Claim]:
    lines = ClaimLine.objects.select_related("service_line__coded").order_by("position")
    claims = (Claim.objects.filter(clinic=clinic, patient_control_number__in=numbers)
              .prefetch_related(Prefetch("lines", queryset=lines)))
    return {claim.patient_control_number: claim for claim in claims}


def _refusals(claims: list[Claim]) -> dict[int, tuple[str, tuple[str, ...]]]:
    """ClaimLine pk → (CARC, RARCs) for every line a biller sent past a blocking finding."""
    lines_of_visit: dict[int, list[ClaimLine]] = defaultdict(list)
    for claim in claims:
        for line in claim.lines.all():
            lines_of_visit[line.visit_id].append(line)
    found = (Finding.objects.filter(visit_id__in=list(lines_of_visit), severity=Severity.BLOCKING,
                                    overridden_by__isnull=False).order_by("pk"))
    refused: dict[int, tuple[str, tuple[str, ...]]] = {}
    for finding in found:
        reason = DENIALS.get(finding.rule_id, DEFAULT_DENIAL)
        for line in lines_of_visit[finding.visit_id]:
            if finding.service_line_id is None or line.service_line_id == finding.service_line_id:
                refused.setdefault(line.pk, reason)
    return refused


def _denied(line: BilledLine, carc: str, remarks: tuple[str, ...]) -> PaidLine:
    paid = PaidLine(billed=line, denied=True, remarks=remarks)
    paid.adjust("CO", carc, line.charge)
    return paid


def adjudicate(text_837: str, *, today: datetime.date | None = None) -> Answer:
    """Every claim of an 837P adjudicated as its payer would (see the module docstring)."""
    return _Adjudicator(read_837(text_837), today).answer()


# --- writing the answers -------------------------------------------------------------------------------------------


def _envelope(billed: Billed837, *, functional_id: str, version: str) -> Envelope:
    """From the payer (the 837's receiver) back to the sender."""
    return Envelope(sender_id=billed.receiver_id, receiver_id=billed.sender_id, functional_id=functional_id,
                    version=version, sender_qualifier=billed.receiver_qualifier or "ZZ",
                    receiver_qualifier=billed.sender_qualifier or "ZZ")


def _interchange(envelope: Envelope, set_id: str, st03: str, body: list[list], *, control: int,
                 now: datetime.datetime) -> str:
    """One interchange, one group, one transaction set (ST03 only where the guide uses it: not in the 835)."""
    writer = X12Writer()
    lines = [writer.isa(envelope, control, now)]
    lines.append(writer.segment(["GS", envelope.functional_id, envelope.sender_id, envelope.receiver_id,
                                 now.strftime("%Y%m%d"), now.strftime("%H%M"), control, "X", envelope.version]))
    block = [writer.segment(["ST", set_id, "0001", st03])]
    block += [writer.segment(segment) for segment in body]
    block.append(writer.segment(["SE", len(block) + 1, "0001"]))
    lines += block
    lines += [writer.segment(["GE", 1, control]), writer.segment(["IEA", 1, f"{control:09d}"])]
    return "".join(line + DEFAULT_DELIMITERS.segment + "\n" for line in lines)


def _control(billed: Billed837) -> int:
    return int(_digits(billed.interchange_control_number) or 1) % 1_000_000_000 or 1


def _at(day: datetime.date, hour: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour, 0), tzinfo=datetime.UTC)


def _tin(payer_id: str) -> str:
    """A stable 10-character originating company id ('1' + a 9-digit TIN) for the payer."""
    return f"1{zlib.crc32(payer_id.encode()) % 1_000_000_000:09d}"


def simulate_999(text_837: str) -> str:
    """The 999 that accepts the 837P's functional group and every transaction set in it."""
    billed = read_837(text_837)
    body: list[list] = [["AK1", "HC", billed.group_control_number, GUIDE_837]]
    for st02 in billed.set_control_numbers:
        body += [["AK2", "837", st02, GUIDE_837], ["IK5", "A"]]
    count = len(billed.set_control_numbers)
    body.append(["AK9", "A", count, count, count])
    return _interchange(_envelope(billed, functional_id="FA", version=GUIDE_999), "999", GUIDE_999, body,
                        control=_control(billed), now=_at(billed.received, 18))


def simulate_277ca(text_837: str) -> str:
    """The 277CA, the day after receipt, accepting every claim (STC A2:20) with the payer's claim number."""
    billed = read_837(text_837)
    day = billed.received + datetime.timedelta(days=1)
    payer_name, payer_id = billed.claims[0].payer_name, billed.claims[0].payer_id or billed.receiver_id
    total = sum((c.charge for c in billed.claims), ZERO)
    body: list[list] = [
        ["BHT", "0085", "08", f"{_control(billed)}", x12_date(day), "1200", "TH"],
        ["HL", 1, "", "20", 1], ["NM1", "PR", "2", payer_name, "", "", "", "", "PI", payer_id],
        ["TRN", "1", f"{_control(billed)}"], ["DTP", "050", "D8", x12_date(day)], ["DTP", "009", "D8", x12_date(day)],
        ["HL", 2, 1, "21", 1],
        ["NM1", "41", "2", billed.submitter_name or billed.billing_name, "", "", "", "", "46", billed.sender_id],
        ["TRN", "2", billed.reference or billed.interchange_control_number],
        ["STC", ("A1", "19", "PR"), x12_date(day), "WQ", total],
        ["QTY", "90", len(billed.claims)], ["AMT", "YU", total],
        ["HL", 3, 2, "19", 1], ["NM1", "85", "2", billed.billing_name, "", "", "", "", "XX", billed.billing_npi],
        ["TRN", "1", "0"], ["STC", ("A1", "19", "85"), "", "WQ", total],  # STC02 is not used at this level
    ]
    for index, claim in enumerate(billed.claims, start=1):
        dates = [line.service_date for line in claim.lines if line.service_date]
        body += [
            ["HL", 3 + index, 3, "PT"],
            ["NM1", "QC", "1", claim.patient[0], claim.patient[1], "", "", "", "MI", claim.member_id],
            ["TRN", "2", claim.patient_control_number],
            ["STC", ("A2", "20"), x12_date(day), "WQ", claim.charge],
            ["REF", "1K", payer_claim_control_number(billed, index)],
        ]
        if dates and min(dates) == max(dates):
            body.append(["DTP", "472", "D8", x12_date(min(dates))])
        elif dates:
            body.append(["DTP", "472", "RD8", f"{x12_date(min(dates))}-{x12_date(max(dates))}"])
    return _interchange(_envelope(billed, functional_id="HN", version=GUIDE_277), "277", GUIDE_277, body,
                        control=_control(billed), now=_at(day, 12))


def simulate_835(text_837: str, *, today: datetime.date | None = None) -> str:
    """The 835 that pays (or denies) every claim of the 837P; it balances and validates in pyx12."""
    return render_835(adjudicate(text_837, today=today))


def render_835(answer: Answer) -> str:
    billed, day = answer.billed, answer.payment_date
    tin = _tin(answer.payer_id)
    total = answer.total_paid
    if total:
        bpr = ["BPR", "I", total, "C", "ACH", "CCP", "01", "999999992", "DA", "123456", tin, "", "01", "999988880",
               "DA", "98765", x12_date(day)]
    else:
        bpr = ["BPR", "H", ZERO, "C", "NON", "", "", "", "", "", "", "", "", "", "", "", x12_date(day)]
    body: list[list] = [
        bpr, ["TRN", "1", answer.trace_number, tin], ["DTM", "405", x12_date(day)],
        ["N1", "PR", answer.payer_name], ["N3", "PO BOX 1000"], ["N4", "PORTLAND", "OR", "972070000"],
        ["PER", "BL", "PROVIDER SERVICES", "TE", "8005550100"],
        ["N1", "PE", billed.billing_name, "XX", billed.billing_npi],
    ]
    if billed.billing_ein:
        body.append(["REF", "TJ", billed.billing_ein])
    body.append(["LX", 1])
    for claim in answer.claims:
        body += _claim_segments(claim, billed)
    return _interchange(_envelope(billed, functional_id="HP", version=GUIDE_835), "835", "", body,
                        control=_control(billed), now=_at(day, 9))


def _claim_segments(claim: PaidClaim, billed: Billed837) -> list[list]:
    b = claim.billed
    filing = FILING_835.get(b.filing_indicator, b.filing_indicator)
    filing = filing if filing in FILING_835_VALID else "ZZ"
    patient_share = claim.patient_share
    segments: list[list] = [
        ["CLP", b.patient_control_number, claim.status, b.charge, claim.paid, patient_share or "", filing,
         claim.payer_claim_control_number, b.place_of_service or "11", b.frequency or "1"],
        ["NM1", "QC", "1", b.patient[0], b.patient[1], "", "", "", "MI", b.member_id],
    ]
    if claim.crossover:
        segments.append(["NM1", "TT", "2", claim.crossover[0], "", "", "", "", "PI", claim.crossover[1]])
    segments.append(["DTM", "050", x12_date(billed.received)])
    for line in claim.lines:
        segments += _line_segments(line)
    return segments


def _line_segments(line: PaidLine) -> list[list]:
    b = line.billed
    segments: list[list] = [["SVC", ("HC", b.code, *b.modifiers), b.charge, line.paid, "", line.units_paid]]
    if b.service_date:
        segments.append(["DTM", "472", x12_date(b.service_date)])
    by_group: dict[str, list] = {}
    for group, carc, amount in line.adjustments:
        by_group.setdefault(group, []).append((carc, amount))
    for group, reasons in by_group.items():
        for start in range(0, len(reasons), MAX_CAS_REASONS):
            segments.append(["CAS", group, *(value for carc, amount in reasons[start:start + MAX_CAS_REASONS]
                                             for value in (carc, amount, ""))])
    if b.line_control_number:
        segments.append(["REF", "6R", b.line_control_number])
    if not line.denied:
        segments.append(["AMT", "B6", line.allowed])
    segments += [["LQ", "HE", remark] for remark in line.remarks]
    return segments


def summary(answer: Answer) -> dict:
    """What the simulate_payer command prints."""
    denials = sum(1 for claim in answer.claims for line in claim.lines if line.denied)
    return {"claims": len(answer.claims), "paid_total": f"{answer.total_paid:.2f}", "denials": denials}
