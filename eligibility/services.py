"""Write services of eligibility: build a 270 batch, import a 271, record a phone/portal verification.

Keyword-only arguments, the acting user passed in (None = the system: the nightly task or an operator's command),
one transaction each: a service completes or changes nothing.
"""

import datetime
import hashlib
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinics.models import Clinic, Coverage, PayerKind, SubscriberRelationship
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, clinics_visible_to, user_has_clinic_perm

from .models import BenefitSnapshot, Inquiry, InquiryBatch, InquiryStatus, ResponseFile, SnapshotSource
from .selectors import coverages_to_verify
from .transport import Transport, get_transport
from .x270 import InquiryRequest, Person, Receiver, originator_id_for, write_270
from .x271 import EligibilityResponse, read_271

MAX_RESPONSE_BYTES = 20 * 1024 * 1024
DEFAULT_SUBMITTER_ID = "OTBILLING"
DEFAULT_RECEIVER_ID = "CLEARINGHOUSE"


def submitter_id() -> str:
    """ISA06/GS02 and the key of the control-number counter: settings.X12_SUBMITTER_ID, default OTBILLING."""
    return getattr(settings, "X12_SUBMITTER_ID", "") or DEFAULT_SUBMITTER_ID


def _require(user, clinic: Clinic, perm: str, action: str) -> None:
    if user is not None and not user_has_clinic_perm(user, clinic, perm):
        raise AppError(f"You may not {action} for {clinic}.", code="forbidden")


# --- 270 ---------------------------------------------------------------------------------------------------------


def _new_trace_number() -> str:
    # Unique across clinics and submitters (the column is unique too); short enough for any payer's TRN02.
    return "T" + uuid.uuid4().hex[:19].upper()


def _request_for(coverage: Coverage, for_date: datetime.date) -> InquiryRequest:
    patient = coverage.patient
    patient_person = Person(last_name=patient.last_name, first_name=patient.first_name,
                            date_of_birth=patient.date_of_birth, sex=patient.sex)
    if coverage.relationship == SubscriberRelationship.SELF:
        return InquiryRequest(trace_number=_new_trace_number(), payer_name=coverage.payer.name,
                              payer_id=coverage.payer.payer_id, member_id=coverage.member_id,
                              subscriber=patient_person, for_date=for_date)
    subscriber = Person(last_name=coverage.subscriber_last_name, first_name=coverage.subscriber_first_name,
                        date_of_birth=coverage.subscriber_date_of_birth, sex=coverage.subscriber_sex)
    return InquiryRequest(trace_number=_new_trace_number(), payer_name=coverage.payer.name,
                          payer_id=coverage.payer.payer_id, member_id=coverage.member_id, subscriber=subscriber,
                          dependent=patient_person, for_date=for_date)


def _coverage_problems(coverages: list[Coverage]) -> list[tuple[str, str]]:
    problems = []
    for coverage in coverages:
        where = f"coverage {coverage.member_id or coverage.public_id} of {coverage.patient}"
        if not coverage.member_id.strip():
            problems.append((where, "the member id is missing."))
        if coverage.relationship != SubscriberRelationship.SELF and not (
                coverage.subscriber_last_name and coverage.subscriber_first_name):
            problems.append((where, "the patient is not the subscriber; enter the subscriber's name."))
    return problems


@transaction.atomic
def inquiry_batch_create(*, acting_user, clinic: Clinic, for_date: datetime.date,
                         now: datetime.datetime | None = None) -> InquiryBatch:
    """One 270 file asking about every coverage of the patients scheduled on `for_date` (see
    eligibility.selectors for the rule): one inquiry per active primary and secondary coverage, service types AD
    and 30, each with its own trace number. acting_user None is the system (nightly task, operator command)."""
    _require(acting_user, clinic, EDIT_SESSIONS, "send eligibility inquiries")
    if not clinic.is_active:
        raise AppError(f"{clinic} is not active.", code="inactive_clinic")
    coverages = list(coverages_to_verify(user=acting_user, clinic=clinic, for_date=for_date, perm=EDIT_SESSIONS))
    if not coverages:
        raise AppError(f"No patient of {clinic} with an active coverage is scheduled on {for_date:%Y-%m-%d}: "
                       "there is nothing to ask.", code="no_inquiries", field="for_date")
    problems = _coverage_problems(coverages)
    if problems:
        raise AppError.from_problems(problems)
    requests = [_request_for(coverage, for_date) for coverage in coverages]
    public_id = uuid.uuid4()
    written = write_270(
        receiver=Receiver(name=clinic.legal_name, npi=clinic.billing_npi, originator_id=originator_id_for(clinic.ein)),
        requests=requests, submitter_id=submitter_id(),
        receiver_id=getattr(settings, "X12_RECEIVER_ID", "") or DEFAULT_RECEIVER_ID, reference=public_id.hex,
        now=now, usage=getattr(settings, "X12_USAGE_INDICATOR", "") or "P",
    )
    file_name = f"270_{clinic.slug}_{for_date:%Y%m%d}_{written.interchange_control_number:09d}.edi"
    batch = InquiryBatch.objects.create(
        public_id=public_id, clinic=clinic, for_date=for_date, file_name=file_name, content=written.text,
        sha256=hashlib.sha256(written.text.encode()).hexdigest(),
        interchange_control_number=written.interchange_control_number, created_by=acting_user,
    )
    Inquiry.objects.bulk_create([
        Inquiry(clinic=clinic, batch=batch, coverage=coverage, trace_number=request.trace_number,
                service_types="^".join(request.service_types))
        for coverage, request in zip(coverages, requests, strict=True)
    ])
    return batch


@transaction.atomic
def inquiry_batch_deliver(*, batch: InquiryBatch, transport: Transport | None = None) -> InquiryBatch:
    """Hand the batch's file to the transport (the outbox folder by default) and record where it went."""
    transport = transport or get_transport()
    batch.delivered_to = transport.deliver(batch.file_name, batch.content)[:300]
    batch.save(update_fields=["delivered_to"])
    return batch


# --- 271 ---------------------------------------------------------------------------------------------------------


def _as_text(file_name: str, content) -> str:
    if isinstance(content, bytes | bytearray):
        if len(content) > MAX_RESPONSE_BYTES:
            raise AppError(f"{file_name} is larger than 20 MB.", code="too_large", field="file")
        try:
            return content.decode("utf-8")
        except UnicodeDecodeError:
            return content.decode("latin-1")  # X12's character set is ASCII; latin-1 never fails to decode
    if not isinstance(content, str):
        raise AppError(f"{file_name}: the content must be text.", code="invalid", field="file")
    return content


def _match(response: EligibilityResponse, user) -> tuple[Inquiry | None, Coverage | None, str]:
    """(inquiry, coverage, why not) for one 2000C/2000D answer: by trace number, else by member id + payer id."""
    inquiries = Inquiry.objects.select_related("coverage__payer", "coverage__patient", "batch")
    inquiries = inquiries.visible_to(user, EDIT_SESSIONS) if user is not None else inquiries.all()
    traces = [number for _kind, number, _originator in response.trace_numbers if number]
    if traces:
        found = {inquiry.trace_number: inquiry for inquiry in inquiries.filter(trace_number__in=traces)}
        for number in [response.trace_number, *traces]:
            if number in found:
                return found[number], found[number].coverage, ""
    if not response.member_id or not response.payer_id:
        return None, None, "no trace number of ours and no member id and payer id to match on"
    coverages = Coverage.objects.select_related("payer", "patient", "clinic")
    coverages = coverages.visible_to(user, EDIT_SESSIONS) if user is not None else coverages.all()
    coverages = coverages.filter(member_id__iexact=response.member_id, payer__payer_id__iexact=response.payer_id)
    if response.receiver.id_qualifier == "XX" and response.receiver.identifier:
        coverages = coverages.filter(clinic__billing_npi=response.receiver.identifier)
    candidates = list(coverages)
    person = response.patient
    if len(candidates) > 1 and person.last_name:
        candidates = [c for c in candidates if c.patient.last_name.upper() == person.last_name.upper()
                      and (not person.first_name or c.patient.first_name.upper() == person.first_name.upper())]
    if len(candidates) > 1 and response.date_of_birth:
        candidates = [c for c in candidates if c.patient.date_of_birth == response.date_of_birth]
    if len(candidates) > 1 and response.level == "subscriber":
        candidates = [c for c in candidates if c.relationship == SubscriberRelationship.SELF]
    if len(candidates) != 1:
        why = "several coverages match" if candidates else "no inquiry with this trace number and no coverage " \
            f"with member id {response.member_id} at payer {response.payer_id}"
        return None, None, why
    coverage = candidates[0]
    inquiry = inquiries.filter(coverage=coverage).order_by(
        "-batch__created_at", "-pk").exclude(status=InquiryStatus.ANSWERED).first()
    return inquiry, coverage, ""


def _snapshot_from(response: EligibilityResponse, *, coverage: Coverage, inquiry: Inquiry | None, response_file,
                   acting_user, checked_at) -> BenefitSnapshot:
    reference_date = inquiry.batch.for_date if inquiry is not None else timezone.localdate()
    summary = response.summary(payer_is_medicare=coverage.payer.kind == PayerKind.MEDICARE,
                               reference_date=reference_date)
    return BenefitSnapshot.objects.create(
        clinic=coverage.clinic, coverage=coverage, source=SnapshotSource.X12_271, checked_at=checked_at,
        checked_by=acting_user, reference_number=(response.trace_number or "")[:50], inquiry=inquiry,
        response_file=response_file, is_active=summary.is_active, plan_name=summary.plan_name,
        plan_begin=summary.plan_begin, plan_end=summary.plan_end, coinsurance_percent=summary.coinsurance_percent,
        copay_amount=summary.copay_amount, deductible_total=summary.deductible_total,
        deductible_remaining=summary.deductible_remaining, out_of_pocket_total=summary.out_of_pocket_total,
        out_of_pocket_remaining=summary.out_of_pocket_remaining, visits_allowed=summary.visits_allowed,
        units_allowed=summary.units_allowed, limit_period_start=summary.limit_period_start,
        limit_period_end=summary.limit_period_end, therapy_ytd_amount=summary.therapy_ytd_amount,
        rejection_code=summary.rejection_code[:3], rejection_reason=summary.rejection_reason[:200],
        details=summary.details,
    )


def _duplicate(file_name: str, existing: ResponseFile) -> dict:
    return {"file": file_name, "duplicate": True, "responses": 0, "snapshots": 0, "answered": 0, "rejected": 0,
            "unmatched": 0, "unmatched_responses": [], "rejections": [],
            "message": f"Already imported on {existing.imported_at:%Y-%m-%d %H:%M} UTC as {existing.file_name}; "
                       "nothing was written."}


def response_file_import(*, acting_user, file_name: str, content) -> dict:
    """Import one 271: validate, refuse a file already imported (same SHA-256), match every subscriber/dependent
    answer to its inquiry, store one BenefitSnapshot per matched answer and mark the inquiry answered or rejected.

    Answers that match nothing are reported in the summary, never dropped silently. A malformed file raises
    AppError naming the segment and its position, and nothing is stored. acting_user None is the system (the
    inbox task, an operator's command) and matches across every clinic; a user matches only within the clinics
    where they may edit sessions. Returns a summary dict (see the keys of `_duplicate`).
    """
    if acting_user is not None and not clinics_visible_to(acting_user, EDIT_SESSIONS).exists():
        raise AppError("You may not import eligibility responses.", code="forbidden")
    file_name = (file_name or "271.edi").strip()[:200]
    text = _as_text(file_name, content)
    if len(text) > MAX_RESPONSE_BYTES:
        raise AppError(f"{file_name} is larger than 20 MB.", code="too_large", field="file")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    existing = ResponseFile.objects.filter(sha256=digest).first()
    if existing is not None:
        return _duplicate(file_name, existing)
    read = read_271(text, strict=False)  # payers' SE02/GE02 echoes are often wrong; counts are still checked
    summary = {"file": file_name, "duplicate": False, "responses": len(read.responses), "snapshots": 0,
               "answered": 0, "rejected": 0, "unmatched": 0, "unmatched_responses": [], "rejections": [],
               "message": ""}
    for level, party, rejection in read.source_rejections:
        summary["rejections"].append({"segment": rejection.position, "level": level, "name": party.display,
                                      "code": rejection.code, "reason": rejection.reason,
                                      "follow_up": rejection.follow_up_text})
    try:
        with transaction.atomic():
            response_file = ResponseFile.objects.create(file_name=file_name, sha256=digest, content=text,
                                                        imported_by=acting_user)
            _import_responses(read.responses, response_file=response_file, acting_user=acting_user,
                              summary=summary)
    except IntegrityError:
        existing = ResponseFile.objects.filter(sha256=digest).first()
        if existing is None:
            raise
        return _duplicate(file_name, existing)  # imported at the same moment by someone else
    summary["rejected"] = len(summary["rejections"])
    summary["message"] = (f"{summary['snapshots']} benefit snapshot(s) stored, {summary['rejected']} rejection(s), "
                          f"{summary['unmatched']} answer(s) not matched.")
    return summary


def _import_responses(responses, *, response_file, acting_user, summary: dict) -> None:
    checked_at = timezone.now()
    for response in responses:
        inquiry, coverage, why = _match(response, acting_user)
        rejection = response.rejection
        if rejection is not None:
            summary["rejections"].append({
                "segment": rejection.position, "level": response.level, "name": response.patient.display,
                "trace_number": response.trace_number, "code": rejection.code, "reason": rejection.reason,
                "follow_up": rejection.follow_up_text, "matched": coverage is not None})
        if coverage is None:
            summary["unmatched"] += 1
            summary["unmatched_responses"].append({
                "segment": response.position, "level": response.level, "trace_number": response.trace_number,
                "member_id": response.member_id, "payer_id": response.payer_id, "name": response.patient.display,
                "reason": why})
            continue
        _snapshot_from(response, coverage=coverage, inquiry=inquiry, response_file=response_file,
                       acting_user=acting_user, checked_at=checked_at)
        summary["snapshots"] += 1
        if rejection is None:
            summary["answered"] += 1
        if inquiry is not None:
            inquiry.status = InquiryStatus.REJECTED if rejection is not None else InquiryStatus.ANSWERED
            inquiry.save(update_fields=["status"])


# --- manual verification -----------------------------------------------------------------------------------------

MONEY_FIELDS = ("copay_amount", "deductible_total", "deductible_remaining", "out_of_pocket_total",
                "out_of_pocket_remaining", "therapy_ytd_amount")
PAIRS = (("deductible_remaining", "deductible_total", "deductible"),
         ("out_of_pocket_remaining", "out_of_pocket_total", "out-of-pocket maximum"))


def _manual_problems(values: dict, *, checked_at, source: str, checked_by_name: str) -> list[tuple[str, str]]:
    problems = []
    if source not in (SnapshotSource.PHONE, SnapshotSource.PORTAL):
        problems.append(("source", "Choose phone or portal."))
    if not checked_by_name.strip():
        problems.append(("checked_by_name", "Enter who called or looked."))
    if checked_at > timezone.now() + datetime.timedelta(minutes=5):
        problems.append(("checked_at", "The check cannot be in the future."))
    if values["is_active"] is None:
        problems.append(("is_active", "Say whether the coverage is active."))
    percent = values["coinsurance_percent"]
    if percent is not None and not Decimal("0") <= percent <= Decimal("100"):
        problems.append(("coinsurance_percent", "Coinsurance is a percentage from 0 to 100."))
    for name in MONEY_FIELDS:
        if values[name] is not None and values[name] < 0:
            problems.append((name, "The amount cannot be negative."))
    for remaining, total, label in PAIRS:
        if values[remaining] is not None and values[total] is not None and values[remaining] > values[total]:
            problems.append((remaining, f"The remaining {label} is more than its total."))
    for start, end in (("plan_begin", "plan_end"), ("limit_period_start", "limit_period_end")):
        if values[start] and values[end] and values[end] < values[start]:
            problems.append((end, "The end date is before the start date."))
    for name in ("visits_allowed", "units_allowed"):
        if values[name] is not None and values[name] < 0:
            problems.append((name, "The limit cannot be negative."))
    return problems


@transaction.atomic
def manual_verification_record(*, acting_user, coverage: Coverage, source: str, checked_by_name: str,
                               is_active: bool | None, checked_at: datetime.datetime | None = None,
                               reference_number: str = "", plan_name: str = "", plan_begin=None, plan_end=None,
                               coinsurance_percent=None, copay_amount=None, deductible_total=None,
                               deductible_remaining=None, out_of_pocket_total=None, out_of_pocket_remaining=None,
                               visits_allowed=None, units_allowed=None, limit_period_start=None,
                               limit_period_end=None, therapy_ytd_amount=None, notes: str = "") -> BenefitSnapshot:
    """A phone or portal check (who, when, reference number, benefits found) as a benefit snapshot."""
    _require(acting_user, coverage.clinic, EDIT_SESSIONS, "record eligibility checks")
    checked_at = checked_at or timezone.now()
    values = {
        "is_active": is_active, "plan_name": (plan_name or "").strip(), "plan_begin": plan_begin,
        "plan_end": plan_end, "coinsurance_percent": coinsurance_percent, "copay_amount": copay_amount,
        "deductible_total": deductible_total, "deductible_remaining": deductible_remaining,
        "out_of_pocket_total": out_of_pocket_total, "out_of_pocket_remaining": out_of_pocket_remaining,
        "visits_allowed": visits_allowed, "units_allowed": units_allowed, "limit_period_start": limit_period_start,
        "limit_period_end": limit_period_end, "therapy_ytd_amount": therapy_ytd_amount,
    }
    problems = _manual_problems(values, checked_at=checked_at, source=source, checked_by_name=checked_by_name)
    if problems:
        raise AppError.from_problems(problems)
    detail = {"manual": True, "source": source, "checked_by": checked_by_name.strip(),
              "reference_number": reference_number.strip(), "note": (notes or "").strip()}
    snapshot = BenefitSnapshot(
        clinic=coverage.clinic, coverage=coverage, source=source, checked_at=checked_at, checked_by=acting_user,
        checked_by_name=checked_by_name.strip()[:80], reference_number=reference_number.strip()[:50],
        details=[detail], **values,
    )
    snapshot.full_clean()
    snapshot.save()
    return snapshot
