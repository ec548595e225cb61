"""EHR visit import: a CSV export (one row per service line) becomes treatment sessions through visit_create.

Two services:

* `visit_import_job_create` stores the upload on a VisitImportJob (text + SHA-256) and queues the Celery task.
* `visit_import_run` runs a job in two phases. Phase 1 checks every row and every session (rows sharing an
  `external_visit_id`) and records progress on the job with short autocommitted updates, so the UI can poll
  it. Each session is tried through `visit_create` inside a transaction that is always rolled back, so the
  rules are exactly the service's. Phase 2 writes: when any row is bad and the user did not choose "import
  valid rows", the job is rejected and nothing is written; otherwise every valid session is created in ONE
  transaction.

Problems are stored as `{"row": n, "field": column, "message": text}`, where `row` is the physical line of the
file (the header is line 1) and `field` a CSV column; `row` is None for a problem with the whole file.
The column reference is in the README ("Importing sessions from an EHR (CSV)").
"""

import csv
import hashlib
import io
import logging
import os
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from clinics.models import Clinic, Coverage, CoveragePriority, Patient, Provider, ReferringProvider
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, user_has_clinic_perm

from .diagnoses import normalize_icd10
from .models import ImportJobStatus, PlanOfCare, Visit, VisitImportJob, VisitSource
from .services import LineInput, VisitInput, visit_create

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 5 * 1024 * 1024
PROGRESS_EVERY = 25  # rows between two progress updates on the job row
MAX_STORED_ERRORS = 500  # a file that is wrong everywhere still gives a readable report
EXTERNAL_ID_MAX = 64  # Visit.external_id

REQUIRED_COLUMNS = (
    "external_visit_id", "patient_mrn", "date_of_service", "rendering_provider_npi", "diagnoses", "cpt", "minutes",
)
OPTIONAL_COLUMNS = (
    "referring_provider_npi", "payer_id", "place_of_service", "assistant_minutes", "diagnosis_pointers", "modifiers",
    "distinct_time_block", "note_text", "signed_by_name", "signed_at",
)
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# Session-level columns: every row of one external_visit_id must agree on them (or leave them blank).
VISIT_COLUMNS = (
    "patient_mrn", "date_of_service", "rendering_provider_npi", "referring_provider_npi", "payer_id",
    "place_of_service", "diagnoses", "note_text", "signed_by_name", "signed_at",
)
# visit_create's field names -> the CSV column the user has to fix.
SERVICE_FIELD_COLUMNS = {
    "patient": "patient_mrn",
    "rendering_provider": "rendering_provider_npi",
    "referring_provider": "referring_provider_npi",
    "coverage": "payer_id",
    "date_of_service": "date_of_service",
    "place_of_service": "place_of_service",
    "diagnoses": "diagnoses",
    "note_text": "note_text",
    "signed_by_name": "signed_by_name",
    "external_id": "external_visit_id",
}
LINE_SERVICE_FIELDS = {"cpt", "minutes", "assistant_minutes", "diagnosis_pointers", "modifiers"}
FINISHED = (ImportJobStatus.DONE, ImportJobStatus.FAILED)

LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.(\w+)$")
DIAGNOSIS_FIELD = re.compile(r"^diagnoses\[(\d+)\]$")
LIST_SEPARATORS = re.compile(r"[;|,]")
MODIFIER_SEPARATORS = re.compile(r"[;|,\s]+")
WHOLE_NUMBER = re.compile(r"^[+-]?\d+$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
YES = {"y", "yes", "true", "1", "x"}
NO = {"", "n", "no", "false", "0"}


def _problem(row: int | None, column: str | None, message: str) -> dict:
    return {"row": row, "field": column or "", "message": message}


class _FileRejected(Exception):
    """The file as a whole cannot be read (header, CSV syntax); no row is looked at."""

    def __init__(self, problems: list[dict]):
        super().__init__(problems[0]["message"])
        self.problems = problems


class _DryRun(Exception):
    """Raised inside the phase-1 transaction so that whatever visit_create wrote is rolled back."""


# --- upload ---------------------------------------------------------------------------------------------------------


def _decode(content_bytes: bytes) -> str:
    """The file's text (UTF-8, optional BOM). Anything else is refused before a job is stored."""
    if not content_bytes.strip():
        raise AppError("The file is empty.", code="empty_file", field="file")
    if content_bytes.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AppError("The file is UTF-16 text; export or save it as “CSV UTF-8” and upload it again.",
                       code="not_utf8", field="file")
    if b"\x00" in content_bytes:
        raise AppError("This is not a CSV text file (it contains binary data, e.g. a spreadsheet or PDF); "
                       "export the sessions from the EHR as CSV.", code="not_csv", field="file")
    try:
        return content_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content_bytes[:exc.start].count(b"\n") + 1
        raise AppError(f"The file is not UTF-8 text (line {line} holds a byte that is not UTF-8); "
                       "export or save it as “CSV UTF-8” and upload it again.", code="not_utf8", field="file") from exc


@transaction.atomic
def visit_import_job_create(*, acting_user, clinic: Clinic, file_name: str, content_bytes: bytes,
                            import_valid_rows: bool = False, enqueue: bool = True) -> VisitImportJob:
    """Store an uploaded EHR export as a queued job and queue its Celery task once this transaction commits.

    `enqueue=False` is for callers that run the job themselves (the `import_visits` command).
    """
    if not user_has_clinic_perm(acting_user, clinic, EDIT_SESSIONS):
        raise AppError("You may not import sessions for this clinic.", code="forbidden", field="clinic")
    if len(content_bytes) > MAX_FILE_BYTES:
        raise AppError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB, the most one import takes; "
                       "split the export by date range.", code="file_too_large", field="file")
    text = _decode(content_bytes)
    job = VisitImportJob.objects.create(
        clinic=clinic, uploaded_by=acting_user, file_name=os.path.basename(file_name or "")[:200] or "upload.csv",
        sha256=hashlib.sha256(content_bytes).hexdigest(), content=text, import_valid_rows=import_valid_rows,
    )
    if enqueue:
        from .tasks import run_visit_import  # the task module imports this one

        transaction.on_commit(lambda: run_visit_import.delay(job.pk))
    return job


# --- reading the file -----------------------------------------------------------------------------------------------


@dataclass
class _Row:
    """One CSV record: `number` is the physical line it starts on (a quoted note may span several lines)."""

    number: int
    values: dict[str, str]
    broken: bool = False  # wrong number of values: the row is reported, its session is not imported


def _read_rows(text: str) -> list[_Row]:
    """Parse the header and the records; header and CSV-syntax problems reject the whole file."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise _FileRejected([_problem(1, "", "The first line must be the header row naming the columns.")])
        names = [cell.strip().lower() for cell in header]
        _check_header(names)
        rows = []
        start = reader.line_num + 1
        for record in reader:
            number, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue  # blank lines are allowed anywhere
            values = {name: _clean(name, value) for name, value in zip(names, record, strict=False) if name}
            rows.append(_Row(number=number, values=values, broken=len(record) != len(names)))
    except csv.Error as exc:
        raise _FileRejected([_problem(reader.line_num or 1, "", f"Line {reader.line_num}: this is not valid CSV "
                                                                 f"({exc}).")]) from exc
    if not rows:
        raise _FileRejected([_problem(None, "", "The file has a header row but no sessions.")])
    return rows


def _check_header(names: list[str]) -> None:
    if len(names) == 1 and (";" in names[0] or "\t" in names[0]):
        separator = "semicolons" if ";" in names[0] else "tabs"
        raise _FileRejected([_problem(1, "", f"The columns are separated by {separator}; the import expects commas "
                                             "(export as “CSV, comma-separated”).")])
    problems = []
    named = [name for name in names if name]  # unnamed columns (trailing commas from spreadsheets) are ignored
    missing = [name for name in REQUIRED_COLUMNS if name not in named]
    if missing:
        problems.append(_problem(1, "", f"Missing required column(s): {', '.join(missing)}."))
    unknown = [name for name in named if name not in COLUMNS]
    if unknown:
        # Strict on purpose: a misspelled optional column (say "modifier") would otherwise drop billing data.
        problems.append(_problem(1, "", f"Unknown column(s): {', '.join(unknown)}. "
                                        f"The columns are: {', '.join(COLUMNS)}."))
    repeated = sorted({name for name in named if named.count(name) > 1})
    if repeated:
        problems.append(_problem(1, "", f"Column(s) named twice: {', '.join(repeated)}."))
    if problems:
        raise _FileRejected(problems)


def _clean(name: str, value: str) -> str:
    if name == "note_text":
        return value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value.strip()


# --- sessions -------------------------------------------------------------------------------------------------------


@dataclass
class _Group:
    """The rows of one session (one external_visit_id), in file order."""

    external_id: str
    rows: list[_Row] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # session-level column -> first non-blank value
    value_rows: dict[str, int] = field(default_factory=dict)  # ... and the row it came from
    lines: list[LineInput] = field(default_factory=list)
    line_rows: list[int] = field(default_factory=list)  # row of each entry in `lines`
    lines_dropped: bool = False  # some line did not parse: visit_create sees only the others
    blocked: bool = False  # a session-level problem: the session cannot even be tried
    problems: list[dict] = field(default_factory=list)
    visit_input: VisitInput | None = None
    signed_at: datetime | None = None

    @property
    def first_row(self) -> int:
        return self.rows[0].number

    def row_of(self, column: str) -> int:
        return self.value_rows.get(column, self.first_row)


def _canonical(column: str, value: str) -> str:
    """The form in which rows of one session are compared (so `m6281` and `M62.81` agree)."""
    if column == "diagnoses":
        return ";".join(normalize_icd10(code) for code in _split(value))
    if column == "place_of_service" and value.isdigit():
        return value.zfill(2)
    return value


def _split(value: str) -> list[str]:
    return [part.strip() for part in LIST_SEPARATORS.split(value) if part.strip()]


def _group_rows(rows: list[_Row]) -> tuple[list[_Group], list[dict]]:
    """Sessions in order of first appearance, plus problems of rows that belong to no session."""
    groups: dict[str, _Group] = {}
    loose = []
    for row in rows:
        external_id = row.values.get("external_visit_id", "")
        if not external_id:
            loose.append(_problem(row.number, "external_visit_id",
                                  "Enter the EHR's session id; rows of one session share it."))
            continue
        group = groups.setdefault(external_id, _Group(external_id=external_id))
        group.rows.append(row)
        if row.broken:
            group.blocked = True
            group.problems.append(_problem(row.number, "", "This row does not have one value per header column "
                                                          "(an unquoted comma in a note?); quote such values."))
            continue
        _take_visit_values(group, row)
        _take_line(group, row)
    for group in groups.values():
        if len(group.external_id) > EXTERNAL_ID_MAX:
            group.blocked = True
            group.problems.insert(0, _problem(group.first_row, "external_visit_id",
                                              f"At most {EXTERNAL_ID_MAX} characters."))
    return list(groups.values()), loose


def _take_visit_values(group: _Group, row: _Row) -> None:
    for column in VISIT_COLUMNS:
        value = _canonical(column, row.values.get(column, ""))
        if not value:
            continue  # blank on a later row means "same as above"
        if column not in group.values:
            group.values[column], group.value_rows[column] = value, row.number
        elif group.values[column] != value:
            group.blocked = True
            shown = "a different note" if column == "note_text" else f"{value!r}"
            first = "" if column == "note_text" else f" {group.values[column]!r}"
            group.problems.append(_problem(
                row.number, column,
                f"Session {group.external_id} has {column}{first} on row {group.value_rows[column]}, this row has "
                f"{shown}; rows of one session must agree (or leave it blank).",
            ))


def _whole_number(value: str, what: str) -> int:
    if not WHOLE_NUMBER.match(value):
        raise ValueError(f"{value!r} is not a whole number of {what}.")
    return int(value)


def _take_line(group: _Group, row: _Row) -> None:
    values = row.values
    problems = []
    minutes = assistant = None
    pointers: list[int] = []
    distinct = False
    try:
        minutes = _whole_number(values["minutes"], "minutes") if values.get("minutes") else None
    except ValueError as exc:
        problems.append(_problem(row.number, "minutes", f"{exc} Leave it blank for an untimed code."))
    try:
        assistant = _whole_number(values["assistant_minutes"], "minutes") if values.get("assistant_minutes") else 0
    except ValueError as exc:
        problems.append(_problem(row.number, "assistant_minutes", str(exc)))
    for part in _split(values.get("diagnosis_pointers", "")) or ["1"]:
        if part.isdigit():
            pointers.append(int(part))
        else:
            problems.append(_problem(row.number, "diagnosis_pointers",
                                     f"{part!r} is not a diagnosis pointer; use positions in diagnoses, e.g. 1;2."))
    flag = values.get("distinct_time_block", "").lower()
    if flag in YES:
        distinct = True
    elif flag not in NO:
        problems.append(_problem(row.number, "distinct_time_block", f"{flag!r} is not y or n."))
    if problems:
        group.problems += problems
        group.lines_dropped = True
        return
    modifiers = [m for m in MODIFIER_SEPARATORS.split(values.get("modifiers", "")) if m]
    group.lines.append(LineInput(cpt=values.get("cpt", ""), minutes=minutes, assistant_minutes=assistant,
                                 diagnosis_pointers=pointers, modifiers=modifiers, distinct_time_block=distinct))
    group.line_rows.append(row.number)


class _Scope:
    """Patients, providers, referrers, coverages and plans named in the file, read once through the scope."""

    def __init__(self, *, user, clinic: Clinic, groups: list[_Group]):
        self.clinic = clinic
        mrns = {g.values["patient_mrn"] for g in groups if "patient_mrn" in g.values}
        npis = {g.values[c] for g in groups for c in ("rendering_provider_npi", "referring_provider_npi")
                if c in g.values}
        self.patients = {p.mrn: p for p in
                         Patient.objects.visible_to(user, EDIT_SESSIONS, clinic=clinic).filter(mrn__in=mrns)}
        self.providers = {p.npi: p for p in
                          Provider.objects.visible_to(user, EDIT_SESSIONS, clinic=clinic).filter(npi__in=npis)}
        self.referrers = {r.npi: r for r in ReferringProvider.objects.visible_to(user, EDIT_SESSIONS, clinic=clinic)
                          .filter(npi__in=npis)}
        self.coverages: dict[int, list[Coverage]] = {}
        for coverage in (Coverage.objects.visible_to(user, EDIT_SESSIONS, clinic=clinic)
                         .filter(patient__in=self.patients.values()).select_related("payer")):
            self.coverages.setdefault(coverage.patient_id, []).append(coverage)
        self.plans: dict[int, list[PlanOfCare]] = {}
        for plan in PlanOfCare.objects.visible_to(user, EDIT_SESSIONS, clinic=clinic).filter(
                patient__in=self.patients.values()):
            self.plans.setdefault(plan.patient_id, []).append(plan)

    def coverage(self, patient: Patient, day: date, payer_id: str) -> Coverage | None:
        """The coverage with that payer in effect on the day (best priority first); else the primary one."""
        active = [c for c in self.coverages.get(patient.pk, []) if c.is_active_on(day)]
        if payer_id:
            active = [c for c in active if c.payer.payer_id.upper() == payer_id.upper()]
        else:
            active = [c for c in active if c.priority == CoveragePriority.PRIMARY]
        order = list(CoveragePriority.values)
        active.sort(key=lambda c: (order.index(c.priority), -c.effective_from.toordinal()))
        return active[0] if active else None

    def plan_of_care(self, patient: Patient, day: date) -> PlanOfCare | None:
        """The plan whose certified interval covers the day (the latest one if several do)."""
        plans = [p for p in self.plans.get(patient.pk, []) if p.covers(day)]
        return max(plans, key=lambda p: p.start_date) if plans else None


def _build_visit(group: _Group, scope: _Scope) -> None:
    """Resolve the session-level columns into a VisitInput; problems go on the group instead."""
    values, clinic = group.values, scope.clinic
    problems = []

    def need(column, what):
        if column not in values:
            problems.append(_problem(group.first_row, column, f"Enter {what}."))
        return values.get(column)

    mrn = need("patient_mrn", "the patient's MRN")
    patient = scope.patients.get(mrn) if mrn else None
    if mrn and patient is None:
        problems.append(_problem(group.row_of("patient_mrn"), "patient_mrn",
                                 f"No patient with MRN {mrn} in clinic {clinic.legal_name}."))
    raw_date = need("date_of_service", "the date of service (YYYY-MM-DD)")
    day = None
    if raw_date:
        try:
            if not ISO_DATE.match(raw_date):
                raise ValueError
            day = date.fromisoformat(raw_date)
        except ValueError:
            problems.append(_problem(group.row_of("date_of_service"), "date_of_service",
                                     f"{raw_date!r} is not a date in the form YYYY-MM-DD."))
    npi = need("rendering_provider_npi", "the rendering therapist's NPI")
    provider = scope.providers.get(npi) if npi else None
    if npi and provider is None:
        problems.append(_problem(group.row_of("rendering_provider_npi"), "rendering_provider_npi",
                                 f"No provider with NPI {npi} in clinic {clinic.legal_name}."))
    referrer = None
    if referrer_npi := values.get("referring_provider_npi"):
        referrer = scope.referrers.get(referrer_npi)
        if referrer is None:
            problems.append(_problem(group.row_of("referring_provider_npi"), "referring_provider_npi",
                                     f"No referring provider with NPI {referrer_npi} in clinic {clinic.legal_name}."))
    payer_id = values.get("payer_id", "")
    coverage = None
    if patient is not None and day is not None:
        coverage = scope.coverage(patient, day, payer_id)
        if payer_id and coverage is None:
            problems.append(_problem(group.row_of("payer_id"), "payer_id",
                                     f"Patient {mrn} has no coverage with payer {payer_id} in effect on {day}."))
    signed_by_name = values.get("signed_by_name", "")
    if raw_signed_at := values.get("signed_at"):
        group.signed_at = _signed_at(group, raw_signed_at, signed_by_name, day, clinic, problems)
    if problems:
        group.problems += problems
        return
    group.visit_input = VisitInput(
        patient=patient, rendering_provider=provider, date_of_service=day,
        diagnoses=_split(values.get("diagnoses", "")), lines=group.lines, coverage=coverage,
        referring_provider=referrer, plan_of_care=scope.plan_of_care(patient, day),
        place_of_service=values.get("place_of_service", "11"), note_text=values.get("note_text", ""),
        sign=bool(signed_by_name), signed_by_name=signed_by_name, external_id=group.external_id,
        source=VisitSource.IMPORT,
    )


def _signed_at(group, raw, signed_by_name, day, clinic, problems) -> datetime | None:
    row = group.row_of("signed_at")
    if not signed_by_name:
        problems.append(_problem(row, "signed_at", "A signature time needs signed_by_name (who signed)."))
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        problems.append(_problem(row, "signed_at", f"{raw!r} is not a date and time like 2026-11-02 17:30."))
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=zoneinfo.ZoneInfo(clinic.timezone))  # the clinic's wall clock
    if value > timezone.now():
        problems.append(_problem(row, "signed_at", "The signature time is in the future."))
    elif day is not None and value.astimezone(zoneinfo.ZoneInfo(clinic.timezone)).date() < day:
        problems.append(_problem(row, "signed_at", "The note cannot be signed before the date of service."))
    return value


def _service_problems(exc: AppError, group: _Group) -> list[dict]:
    """Put visit_create's problems ("lines[2].minutes", "diagnoses[1]") back on CSV rows and columns."""
    details = exc.details or [{"field": exc.field, "message": exc.message}]
    problems = []
    for detail in details:
        name, message = detail.get("field") or "", detail.get("message") or exc.message
        if match := LINE_FIELD.match(name):
            position, column = int(match[1]), match[2]
            row = group.line_rows[position - 1] if 1 <= position <= len(group.line_rows) else group.first_row
            problems.append(_problem(row, column if column in LINE_SERVICE_FIELDS else "", message))
        elif name == "lines":
            if not group.lines_dropped:  # else "enter at least one line" only echoes the lines reported already
                problems.append(_problem(group.first_row, "cpt", message))
        elif DIAGNOSIS_FIELD.match(name):
            problems.append(_problem(group.row_of("diagnoses"), "diagnoses", message))
        elif name in SERVICE_FIELD_COLUMNS:
            column = SERVICE_FIELD_COLUMNS[name]
            row = group.first_row if column == "external_visit_id" else group.row_of(column)
            problems.append(_problem(row, column, message))
        else:
            problems.append(_problem(group.first_row, "", message))
    return problems


def _try_visit(group: _Group, *, user, clinic: Clinic) -> None:
    """Phase 1: run visit_create and roll it back, keeping only the verdict."""
    try:
        with transaction.atomic():
            visit_create(acting_user=user, clinic=clinic, data=group.visit_input)
            raise _DryRun
    except _DryRun:
        return
    except AppError as exc:
        group.problems += _service_problems(exc, group)
    except IntegrityError as exc:
        group.problems.append(_problem(group.first_row, "", f"The database refused this session: {exc}"))


# --- running a job --------------------------------------------------------------------------------------------------


def _sorted(problems: list[dict]) -> list[dict]:
    order = {name: index for index, name in enumerate(COLUMNS)}
    ordered = sorted(problems, key=lambda p: (p["row"] or 0, order.get(p["field"], -1)))
    if len(ordered) > MAX_STORED_ERRORS:
        more = len(ordered) - MAX_STORED_ERRORS
        ordered = ordered[:MAX_STORED_ERRORS] + [_problem(None, "", f"… and {more} more problems not shown.")]
    return ordered


def _finish(job_id: int, *, status: str, problems: list[dict], visits_created: int = 0) -> VisitImportJob:
    with transaction.atomic():
        job = VisitImportJob.objects.select_for_update().get(pk=job_id)
        if job.status not in FINISHED:
            _record_result(job, status=status, problems=problems, visits_created=visits_created)
        return job


def _record_result(job: VisitImportJob, *, status: str, problems: list[dict], visits_created: int) -> None:
    job.status = status
    job.errors = _sorted(problems)
    job.visits_created = visits_created
    job.processed_rows = job.total_rows
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "errors", "visits_created", "processed_rows", "finished_at"])


def _progress(job_id: int, processed: int) -> None:
    # Autocommitted one-column update: the progress bar sees it while the job keeps running.
    VisitImportJob.objects.filter(pk=job_id).exclude(status__in=FINISHED).update(processed_rows=processed)


class _Abort(Exception):
    def __init__(self, problems: list[dict]):
        super().__init__("import aborted")
        self.problems = problems


def visit_import_run(*, job_id: int) -> VisitImportJob | None:
    """Validate every row, then write all sessions in one transaction (or nothing). Idempotent.

    A finished job (imported or rejected) is returned untouched, so a redelivered task does nothing; the
    write phase re-checks the status under a row lock, so two runs of one job never both write.
    """
    job = VisitImportJob.objects.select_related("clinic", "uploaded_by").filter(pk=job_id).first()
    if job is None:
        log.warning("Visit import job %s does not exist; nothing to run.", job_id)
        return None
    if job.status in FINISHED:
        return job
    user, clinic = job.uploaded_by, job.clinic
    if user is None or not user_has_clinic_perm(user, clinic, EDIT_SESSIONS):
        return _finish(job.pk, status=ImportJobStatus.FAILED, problems=[_problem(
            None, "", "The uploader may no longer enter sessions for this clinic; nothing was imported.")])
    try:
        rows = _read_rows(job.content)
    except _FileRejected as exc:
        return _finish(job.pk, status=ImportJobStatus.FAILED, problems=exc.problems)
    VisitImportJob.objects.filter(pk=job.pk).exclude(status__in=FINISHED).update(
        status=ImportJobStatus.RUNNING, total_rows=len(rows), processed_rows=0)

    # Phase 1: check everything, writing nothing.
    groups, problems = _group_rows(rows)
    scope = _Scope(user=user, clinic=clinic, groups=groups)
    processed = reported = len(rows) - sum(len(g.rows) for g in groups)  # rows without a session id
    for group in groups:
        if not group.blocked:  # lines that did not parse are reported; the others are still tried
            _build_visit(group, scope)
            if group.visit_input is not None:
                _try_visit(group, user=user, clinic=clinic)
        problems += group.problems
        processed += len(group.rows)
        if processed - reported >= PROGRESS_EVERY:
            _progress(job.pk, processed)
            reported = processed
    _progress(job.pk, processed)

    valid = [g for g in groups if not g.problems and g.visit_input is not None]
    if problems and (not job.import_valid_rows or not valid):
        return _finish(job.pk, status=ImportJobStatus.FAILED, problems=problems)

    # Phase 2: one transaction for every valid session.
    try:
        with transaction.atomic():
            job = VisitImportJob.objects.select_for_update().get(pk=job.pk)
            if job.status in FINISHED:
                return job
            created, late = _create_all(valid, user=user, clinic=clinic, keep_going=job.import_valid_rows)
            if late and (not job.import_valid_rows or not created):
                raise _Abort(late)
            _record_result(job, status=ImportJobStatus.DONE, problems=problems + late, visits_created=created)
            return job
    except _Abort as exc:
        return _finish(job.pk, status=ImportJobStatus.FAILED, problems=problems + exc.problems)


def _create_all(groups: list[_Group], *, user, clinic: Clinic, keep_going: bool) -> tuple[int, list[dict]]:
    """Create the sessions. Problems found only now (another import won a race) skip or abort."""
    created, late = 0, []
    for group in groups:
        try:
            with transaction.atomic():
                visit = visit_create(acting_user=user, clinic=clinic, data=group.visit_input)
                if group.signed_at is not None:
                    # visit_create stamps the signature "now"; an import keeps the EHR's signature time.
                    Visit.objects.filter(pk=visit.pk).update(signed_at=group.signed_at)
        except AppError as exc:
            late += _service_problems(exc, group)
        except IntegrityError as exc:
            late.append(_problem(group.first_row, "", f"The database refused this session: {exc}"))
        else:
            created += 1
            continue
        if not keep_going:
            break
    return created, late
