"""Write services for treatment sessions. The form, the API and the EHR import all come through here."""

from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from clinics.models import Clinic, Coverage, Patient, Provider, ProviderKind, ReferringProvider
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, user_has_clinic_perm

from .diagnoses import icd10_problem, normalize_icd10
from .models import (
    CPT_CODE,
    MAX_DIAGNOSES,
    MAX_MODIFIERS,
    MAX_POINTERS,
    MODIFIER,
    PlaceOfService,
    PlanOfCare,
    ServiceLine,
    Visit,
    VisitSource,
    VisitStatus,
)

MAX_LINES = 20
CODE_VISIT_TASK = "coding.code_visit"


def _request_coding(visit: Visit) -> None:
    """Ask for (re)coding and scrubbing once this transaction commits.

    The task is looked up by name so this app does not import coding (dependencies point one way).
    """
    from celery import current_app

    def send():
        task = current_app.tasks.get(CODE_VISIT_TASK)
        if task is not None:
            task.delay(visit.pk)

    transaction.on_commit(send)
MAX_LINE_MINUTES = 480


@dataclass
class LineInput:
    cpt: str
    minutes: int | None = None
    assistant_minutes: int = 0
    diagnosis_pointers: list[int] = field(default_factory=lambda: [1])
    modifiers: list[str] = field(default_factory=list)
    distinct_time_block: bool = False


@dataclass
class VisitInput:
    """A visit as entered: related rows already resolved through the tenancy scope by the caller."""

    patient: Patient
    rendering_provider: Provider
    date_of_service: date
    diagnoses: list[str]
    lines: list[LineInput]
    coverage: Coverage | None = None
    referring_provider: ReferringProvider | None = None
    plan_of_care: PlanOfCare | None = None
    place_of_service: str = PlaceOfService.OFFICE
    note_text: str = ""
    sign: bool = False
    signed_by_name: str = ""
    external_id: str = ""
    source: str = VisitSource.FORM


def _related_problems(clinic: Clinic, data: VisitInput) -> list[tuple[str, str]]:
    problems = []
    for name in ("patient", "rendering_provider", "coverage", "referring_provider", "plan_of_care"):
        obj = getattr(data, name)
        if obj is not None and obj.clinic_id != clinic.pk:
            problems.append((name, f"No such {name.replace('_', ' ')} in this clinic."))
    if data.coverage is not None and data.coverage.patient_id != data.patient.pk:
        problems.append(("coverage", "This coverage belongs to another patient."))
    if data.coverage is not None and not data.coverage.is_active_on(data.date_of_service):
        problems.append(("coverage", f"Coverage is not in effect on {data.date_of_service:%Y-%m-%d}."))
    if data.plan_of_care is not None and data.plan_of_care.patient_id != data.patient.pk:
        problems.append(("plan_of_care", "This plan of care belongs to another patient."))
    if not data.rendering_provider.is_active:
        problems.append(("rendering_provider", f"{data.rendering_provider} is inactive."))
    return problems


def _diagnosis_problems(diagnoses: list[str]) -> list[tuple[str, str]]:
    if not diagnoses:
        return [("diagnoses", "Enter at least one ICD-10-CM diagnosis.")]
    if len(diagnoses) > MAX_DIAGNOSES:
        return [("diagnoses", f"At most {MAX_DIAGNOSES} diagnoses fit on a claim; {len(diagnoses)} given.")]
    problems = []
    seen = set()
    for position, code in enumerate(diagnoses, start=1):
        problem = icd10_problem(code)
        if problem:
            problems.append((f"diagnoses[{position}]", problem))
        elif normalize_icd10(code) in seen:
            problems.append((f"diagnoses[{position}]", f"{normalize_icd10(code)} is listed twice."))
        seen.add(normalize_icd10(code))
    return problems


def _line_problems(lines: list[LineInput], diagnosis_count: int) -> list[tuple[str, str]]:
    if not lines:
        return [("lines", "Enter at least one service line.")]
    if len(lines) > MAX_LINES:
        return [("lines", f"At most {MAX_LINES} service lines per session.")]
    problems = []
    for number, line in enumerate(lines, start=1):
        where = f"lines[{number}]"
        cpt = (line.cpt or "").strip().upper()
        try:
            CPT_CODE(cpt)
        except ValidationError:
            problems.append((f"{where}.cpt", f"{line.cpt!r} is not a 5-character CPT/HCPCS code."))
        if line.minutes is not None and not 0 <= line.minutes <= MAX_LINE_MINUTES:
            problems.append((f"{where}.minutes", f"Minutes must be between 0 and {MAX_LINE_MINUTES}."))
        if line.assistant_minutes < 0:
            problems.append((f"{where}.assistant_minutes", "Assistant minutes cannot be negative."))
        elif line.assistant_minutes and (line.minutes is None or line.assistant_minutes > line.minutes):
            problems.append((f"{where}.assistant_minutes", "Assistant minutes cannot exceed the line's minutes."))
        if not line.diagnosis_pointers:
            problems.append((f"{where}.diagnosis_pointers", "Point to at least one diagnosis."))
        elif len(line.diagnosis_pointers) > MAX_POINTERS:
            problems.append((f"{where}.diagnosis_pointers", f"At most {MAX_POINTERS} pointers per line."))
        for pointer in line.diagnosis_pointers:
            if not 1 <= pointer <= diagnosis_count:
                problems.append((f"{where}.diagnosis_pointers",
                                 f"Pointer {pointer} is out of range: the session has {diagnosis_count} diagnoses."))
        if len(line.modifiers) > MAX_MODIFIERS:
            problems.append((f"{where}.modifiers", f"At most {MAX_MODIFIERS} modifiers per line."))
        for modifier in line.modifiers:
            try:
                MODIFIER(modifier.upper())
            except ValidationError:
                problems.append((f"{where}.modifiers", f"{modifier!r} is not a 2-character modifier."))
    return problems


def _validate(*, acting_user, clinic: Clinic, data: VisitInput) -> None:
    if not user_has_clinic_perm(acting_user, clinic, EDIT_SESSIONS):
        raise AppError("You may not enter sessions for this clinic.", code="forbidden")
    problems = _related_problems(clinic, data)
    if data.date_of_service > timezone.localdate():
        problems.append(("date_of_service", "The date of service is in the future."))
    if data.place_of_service not in PlaceOfService.values:
        problems.append(("place_of_service", f"Unknown place of service {data.place_of_service!r}."))
    if data.sign and not data.signed_by_name.strip():
        problems.append(("signed_by_name", "A signed note needs the signing therapist's name."))
    if data.sign and not data.note_text.strip():
        problems.append(("note_text", "A note cannot be signed empty."))
    problems += _diagnosis_problems(data.diagnoses)
    problems += _line_problems(data.lines, len(data.diagnoses))
    if data.rendering_provider.kind == ProviderKind.ASSISTANT:
        problems.append(("rendering_provider",
                         "An OTA cannot be the rendering provider; enter the supervising OT and the OTA's minutes."))
    if problems:
        raise AppError.from_problems(problems)


def _write_lines(visit: Visit, lines: list[LineInput]) -> None:
    visit.lines.all().delete()
    ServiceLine.objects.bulk_create([
        ServiceLine(
            clinic=visit.clinic, visit=visit, position=position, cpt=line.cpt.strip().upper(),
            minutes=line.minutes, assistant_minutes=line.assistant_minutes or 0,
            diagnosis_pointers=list(line.diagnosis_pointers),
            manual_modifiers=[m.upper() for m in line.modifiers], distinct_time_block=line.distinct_time_block,
        )
        for position, line in enumerate(lines, start=1)
    ])


def _apply(visit: Visit, data: VisitInput, acting_user) -> None:
    visit.patient = data.patient
    visit.coverage = data.coverage
    visit.rendering_provider = data.rendering_provider
    visit.referring_provider = data.referring_provider
    visit.plan_of_care = data.plan_of_care
    visit.date_of_service = data.date_of_service
    visit.place_of_service = data.place_of_service
    visit.diagnoses = [normalize_icd10(code) for code in data.diagnoses]
    visit.note_text = data.note_text
    if data.sign:
        visit.status = VisitStatus.SIGNED
        visit.signed_by = acting_user if acting_user.is_authenticated else None
        visit.signed_by_name = data.signed_by_name.strip()
        visit.signed_at = timezone.now()


@transaction.atomic
def visit_create(*, acting_user, clinic: Clinic, data: VisitInput, request_coding: bool = True) -> Visit:
    """Create a session with its lines (and sign it when asked). All or nothing.

    Bulk loaders pass request_coding=False and scrub everything once at the end instead of per visit.
    """
    _validate(acting_user=acting_user, clinic=clinic, data=data)
    if data.external_id and Visit.objects.filter(clinic=clinic, external_id=data.external_id).exists():
        raise AppError(f"A session with external id {data.external_id!r} already exists.", code="duplicate",
                       field="external_id")
    visit = Visit(clinic=clinic, created_by=acting_user, source=data.source, external_id=data.external_id)
    _apply(visit, data, acting_user)
    visit.save()
    _write_lines(visit, data.lines)
    if request_coding:
        _request_coding(visit)
    return visit


@transaction.atomic
def visit_update(*, acting_user, visit: Visit, data: VisitInput) -> Visit:
    """Replace a draft session's details and lines. Signed sessions are locked."""
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if visit.is_signed:
        raise AppError("This session is signed and can no longer be edited.", code="signed")
    _validate(acting_user=acting_user, clinic=visit.clinic, data=data)
    _apply(visit, data, acting_user)
    visit.save()
    _write_lines(visit, data.lines)
    _request_coding(visit)
    return visit


@transaction.atomic
def visit_sign(*, acting_user, visit: Visit, signed_by_name: str) -> Visit:
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if not user_has_clinic_perm(acting_user, visit.clinic, EDIT_SESSIONS):
        raise AppError("You may not sign sessions for this clinic.", code="forbidden")
    if visit.is_signed:
        raise AppError("This session is already signed.", code="signed")
    if not signed_by_name.strip():
        raise AppError("Enter the signing therapist's name.", code="required", field="signed_by_name")
    if not visit.note_text.strip():
        raise AppError("Write the note before signing.", code="required", field="note_text")
    visit.status = VisitStatus.SIGNED
    visit.signed_by = acting_user
    visit.signed_by_name = signed_by_name.strip()
    visit.signed_at = timezone.now()
    visit.save(update_fields=["status", "signed_by", "signed_by_name", "signed_at", "updated_at"])
    _request_coding(visit)
    return visit


BILLING_FIELDS = ("cpt", "manual_modifiers", "distinct_time_block")


@transaction.atomic
def service_line_recode(*, acting_user, line: ServiceLine, reason: str, **changes) -> ServiceLine:
    """Change a line's billing fields (code, modifiers, distinct-time flag), also on a signed session.

    Billers correct coding without touching the clinical note; the change is kept in the line's history.
    """
    unknown = set(changes) - set(BILLING_FIELDS)
    if unknown:
        raise AppError(f"Only {', '.join(BILLING_FIELDS)} can be recoded, not {', '.join(sorted(unknown))}.",
                       code="not_recodable")
    if not reason.strip():
        raise AppError("Say why the line is recoded.", code="required", field="reason")
    if not user_has_clinic_perm(acting_user, line.clinic, EDIT_SESSIONS):
        raise AppError("You may not recode sessions of this clinic.", code="forbidden")
    line = ServiceLine.objects.select_for_update().get(pk=line.pk)
    if "manual_modifiers" in changes:
        modifiers = [m.upper() for m in changes["manual_modifiers"]]
        if len(modifiers) > MAX_MODIFIERS:
            raise AppError(f"At most {MAX_MODIFIERS} modifiers per line.", code="invalid", field="manual_modifiers")
        changes["manual_modifiers"] = modifiers
    for name, value in changes.items():
        setattr(line, name, value)
    line.full_clean()
    line.save()
    return line  # the caller (coding) codes the visit again in the same transaction
