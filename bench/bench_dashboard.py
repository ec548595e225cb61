"""Benchmark of the dashboards' reads (reporting.kpis) on PostgreSQL at 10,000 and 200,000 claims of one clinic.

    DATABASE_URL=postgres://USER@HOST:PORT/ANY .venv/bin/python bench/bench_dashboard.py [--sizes 10000,200000]
                                                                                         [--runs 3] [--keep]

Works in a throwaway database `otb_bench_dashboard` on the server DATABASE_URL names (dropped, created and migrated
first; dropped again at the end unless --keep). It loads one big clinic with the first size of claims and a second
clinic with a few thousand (so every query is scoped by clinic among others' rows), measures, tops the big clinic
up to the next size and measures again. The rows are those the services would write, loaded with COPY straight into
the tables: claims with their visits and lines, charges on the day of service, 835 payments with CO-45 contractual
and PR transfers 2–6 weeks later (ClaimRemittance rows on EraPayment rows), about 8 % of lines denied (Denial rows),
denials paid on appeal or written off, patients paying their share (or a secondary claim billed for it), a few
reversals with their reposts, a few rejections and replacement claims, ClaimEvent rows, and some overridden scrubber
findings; the history triggers are off while loading. The services are not used: posting alone runs at about 2.9 ms
a line (bench_835.py), some 40 minutes for 200,000 claims' payments before a single claim is built.
Then, for the big clinic and the last full month, it times (median of --runs, in ms, with the SQL query count):
  - kpis.compute (every figure and tile of the dashboard),
  - the 12-month trend (compute for each month, as reporting.selectors.Report.trend does when nothing is cached),
  - the same trend read back through reporting.cache.Figures once cached (what a repeated visit costs),
  - kpis.breakdown by payer and by therapist,
  - kpis.drill_claims("denial_rate").count(),
  - the operator's view: compute over both clinics,
and prints a table per size, the slowest SQL statements of compute, and one JSON object with every figure.
Named bench_*.py so pytest never collects it.
"""

import argparse
import datetime
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "otb_bench_dashboard"
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "otbilling.settings.test")
if not os.environ.get("DATABASE_URL"):
    sys.exit(f"Set DATABASE_URL to a PostgreSQL server (any database name): the benchmark works in {BENCH_DB}.")
os.environ["DATABASE_URL"] = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{BENCH_DB}"))

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.postgres.fields import ArrayField  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.color import no_style  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from claims.models import Claim, ClaimEvent, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty  # noqa: E402
from clinics.models import Clinic, Coverage, Patient, Payer, Provider  # noqa: E402
from coding.models import Finding  # noqa: E402
from denials.models import ClaimRemittance, Denial, EraFile, EraPayment, WorkStatus  # noqa: E402
from reporting import kpis  # noqa: E402
from reporting.cache import Figures  # noqa: E402
from visits.models import Visit  # noqa: E402

D = Decimal
CENT = D("0.01")
UTC = datetime.UTC
AS_OF = datetime.date.today()  # nothing is paid after today: the last weeks' claims are still owed
MONTH = kpis.month_bounds(AS_OF.replace(day=1) - datetime.timedelta(days=1))  # the last full month
FIRST_DOS = kpis.trend_periods(MONTH[1], grain="month", count=24)[0][0]
SPAN_DAYS = (MONTH[1] - FIRST_DOS).days + 1
SECOND_CLINIC_CLAIMS = 3_000
FEES = {"97530": D("58.00"), "97535": D("52.00"), "97110": D("45.00"), "97112": D("49.00"), "97140": D("42.00"),
        "97165": D("160.00")}
# name, EDI id, kind, filing indicator, share of patients, allowed ÷ charge, patient share of allowed
PAYERS = (("Medicare Part B", "BNMEDB", "medicare", "MB", 40, D("0.55"), D("0.20")),
          ("Blue Cross PPO", "BNBCBS", "commercial", "BL", 25, D("0.70"), D("0.10")),
          ("Aetna Choice", "BNAETN", "commercial", "CI", 20, D("0.65"), D("0.15")),
          ("State Medicaid", "BNMCD1", "medicaid", "MC", 15, D("0.45"), D("0.00")))
THERAPISTS = (("Olive", "Hart", "1558598797"), ("Ruth", "Baker", "1417964588"), ("Ana", "Lopez", "1609877422"),
              ("Ben", "Cole", "1871234563"), ("Iris", "Wu", "1982736455"))
DENIALS = (("CO", "197", "authorization"), ("CO", "50", "medical_necessity"), ("CO", "16", "missing_information"),
           ("CO", "29", "timely_filing"), ("CO", "4", "coding"))
LINE_DENIAL_RATE = 0.08
REJECTION_RATE = 0.03
REVERSAL_RATE = 0.005
COINSURANCE_RATE = 0.6  # claims whose payer leaves a patient share (where the payer has one)
FINDING_RATE = 0.03
SECONDARY_RATE = 0.3  # Medicare claims with a patient share that go on to a secondary payer


# --- the throwaway database -----------------------------------------------------------------------------------------


def fresh_database() -> None:
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        cursor.execute(f'CREATE DATABASE "{BENCH_DB}"')
    call_command("migrate", verbosity=0)


def drop_database() -> None:
    connection.close()
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')


# --- COPY: rows written as PostgreSQL text format to a temporary file, then loaded in one statement ------------------


MISSING = object()


def _column_text(field):
    """A function from a Python value to this column's COPY text."""
    if isinstance(field, models.JSONField):
        return lambda value: r"\N" if value is None else json.dumps(value)
    if isinstance(field, ArrayField):  # our arrays hold codes: no quoting needed
        return lambda value: r"\N" if value is None else "{" + ",".join(str(v) for v in value) + "}"
    if isinstance(field, models.BooleanField):
        return lambda value: r"\N" if value is None else ("t" if value else "f")
    return lambda value: r"\N" if value is None else str(value)


def _column_default(field, now):
    """What a service would store when it gives no value: auto timestamps, the field's default, NULL or ''."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda: now
    if field.has_default():
        return field.default if callable(field.default) else (lambda value=field.default: value)
    if field.null:
        return lambda: None
    if isinstance(field, models.CharField | models.TextField):
        return lambda: ""
    return None


class Copier:
    """The rows of one table. Ids are given here (from the table's current maximum) so rows can point at each other
    before anything is loaded; the sequences are moved past them afterwards."""

    def __init__(self, model, workdir: str, now: datetime.datetime):
        self.model = model
        fields = model._meta.concrete_fields
        self.columns = [f.column for f in fields]
        self.attnames = [f.attname for f in fields]
        self.texts = [_column_text(f) for f in fields]
        self.defaults = [_column_default(f, now) for f in fields]
        self.file = tempfile.NamedTemporaryFile("w+", dir=workdir, suffix=".copy", encoding="utf-8")
        self.rows = 0
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{model._meta.db_table}"')
            self.next_id = cursor.fetchone()[0] + 1

    def add(self, **values) -> int:
        pk = values.setdefault("id", self.next_id)
        self.next_id = max(self.next_id, pk + 1)
        parts = []
        for attname, text, default in zip(self.attnames, self.texts, self.defaults, strict=True):
            value = values.get(attname, MISSING)
            if value is MISSING:
                if default is None:
                    raise KeyError(f"{self.model.__name__}.{attname} needs a value")
                value = default()
            parts.append(text(value))
        self.file.write("\t".join(parts) + "\n")
        self.rows += 1
        return pk

    def load(self, cursor) -> None:
        self.file.flush()
        self.file.seek(0)
        columns = ", ".join(f'"{c}"' for c in self.columns)
        cursor.copy_expert(f'COPY "{self.model._meta.db_table}" ({columns}) FROM STDIN', self.file)
        self.file.close()


LOAD_ORDER = (EraFile, EraPayment, Visit, Claim, ClaimLine, ClaimEvent, ClaimRemittance, Denial, LedgerEntry, Finding)


def copy_all(copiers: dict) -> dict:
    """Loads every table in the replica role, which turns off the history triggers (history is no part of what the
    dashboards read) and the foreign-key checks (the rows point at ids given above); moves the id sequences past
    those ids and refreshes the planner's statistics. Returns rows added per table."""
    counts = {}
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            for model in LOAD_ORDER:
                copiers[model].load(cursor)
                counts[model.__name__] = copiers[model].rows
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")
        for sql in connection.ops.sequence_reset_sql(no_style(), LOAD_ORDER):
            cursor.execute(sql)
        cursor.execute("UPDATE denials_erapayment p SET amount = s.total FROM (SELECT payment_id, SUM(paid) AS total "
                       "FROM denials_claimremittance GROUP BY payment_id) s WHERE s.payment_id = p.id")
        # Table by table (a database-wide run also takes the shared catalogs and waits behind other databases'
        # CREATE DATABASE on the same server); VACUUM as autovacuum would have by then, so index-only scans can work.
        for model in (*LOAD_ORDER, Patient, Coverage, Provider, Payer, Clinic):
            cursor.execute(f'VACUUM (ANALYZE) "{model._meta.db_table}"')
    return counts


# --- the clinics ----------------------------------------------------------------------------------------------------


def money(value: D) -> D:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def friday_on_or_after(day: datetime.date) -> datetime.date:
    return day + datetime.timedelta(days=(4 - day.weekday()) % 7)


def at(day: datetime.date, hour: float) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=UTC) + datetime.timedelta(hours=hour)


class Practice:
    """One clinic's reference rows (ORM and bulk_create: a few thousand) and the claims loaded for it so far."""

    def __init__(self, number: int, name: str, slug: str, npi: str, patient_count: int, payers: list, user):
        self.number, self.user = number, user
        self.clinic = Clinic.objects.create(legal_name=name, slug=slug, billing_npi=npi, ein=f"12345678{number}",
                                            address_line1="100 Main St", city="Portland", state="OR",
                                            zip_code="972011234")
        self.providers = [Provider.objects.create(clinic=self.clinic, first_name=first, last_name=last, npi=npi)
                          for first, last, npi in THERAPISTS]
        rng = random.Random(number)
        weights = [p[4] for p in PAYERS]
        patients = Patient.objects.bulk_create(
            Patient(clinic=self.clinic, mrn=f"MRN{n:06d}", first_name=f"Pat{n}", last_name="Example",
                    date_of_birth=datetime.date(1950, 3, 4), sex="F", address_line1="12 Oak St", city="Portland",
                    state="OR", zip_code="97201") for n in range(patient_count))
        plans = [rng.choices(range(len(PAYERS)), weights)[0] for _ in patients]
        coverages = Coverage.objects.bulk_create(
            Coverage(clinic=self.clinic, patient=patient, payer=payers[plan], member_id=f"M{n:09d}",
                     effective_from=datetime.date(2020, 1, 1)) for n, (patient, plan) in enumerate(zip(
                         patients, plans, strict=True)))
        self.patients = [(p.pk, c.pk, plan) for p, c, plan in zip(patients, coverages, plans, strict=True)]
        self.payers = payers
        self.loaded = 0
        self.payments: dict[tuple, int] = {}


class Loader:
    """Writes the rows of claims `start`..`stop` of a practice (each claim from its own seeded generator, so a
    top-up adds claims with the same mix)."""

    def __init__(self, workdir: str):
        self.now = datetime.datetime.now(UTC)
        self.w = {model: Copier(model, workdir, self.now) for model in LOAD_ORDER}

    def payment(self, practice: Practice, plan: int, day: datetime.date) -> int:
        key = (plan, day)
        if key not in practice.payments:
            payer = practice.payers[plan]
            trace = f"T{practice.number}{payer.pk:03d}{day:%Y%m%d}"
            era = self.w[EraFile].add(clinic_id=practice.clinic.pk, file_name=f"{trace}.835", status="posted",
                                      sha256=hashlib.sha256(trace.encode()).hexdigest(), imported_at=at(day, 20))
            practice.payments[key] = self.w[EraPayment].add(
                clinic_id=practice.clinic.pk, era_file_id=era, payer_id=payer.pk, payer_identifier=payer.payer_id,
                payer_name=payer.name, payee_identifier=practice.clinic.billing_npi, trace_number=trace,
                amount=D("0.00"), method="ACH", payment_date=day, posted_at=at(day, 20))
        return practice.payments[key]

    def claims(self, practice: Practice, count: int) -> None:
        for n in range(practice.loaded, practice.loaded + count):
            ClaimLife(self, practice, n).write()
        practice.loaded += count


class ClaimLife:
    """One original claim's life: signed, submitted (maybe rejected and resent), answered by an 835 (paid with CO-45
    and a PR share, or some lines denied), maybe reversed and reposted, maybe replaced after a CO-16 denial."""

    def __init__(self, loader: Loader, practice: Practice, n: int):
        self.w, self.loader, self.practice, self.n = loader.w, loader, practice, n
        self.rng = random.Random(practice.number * 1_000_003 + n)
        self.clinic_id = practice.clinic.pk

    def write(self) -> None:
        rng = self.rng
        patients = self.practice.patients
        self.patient_id, self.coverage_id, self.plan = patients[rng.randrange(len(patients))]
        self.payer = self.practice.payers[self.plan]
        self.provider_id = self.practice.providers[rng.randrange(len(THERAPISTS))].pk
        self.dos = FIRST_DOS + datetime.timedelta(days=rng.randrange(SPAN_DAYS))
        lag_days = rng.choices((0, 1, 2, 4), (85, 8, 4, 3))[0]
        self.signed_at = at(self.dos + datetime.timedelta(days=lag_days), rng.uniform(12, 20))
        lag_hours = rng.choice((rng.uniform(2, 44), rng.uniform(2, 44), rng.uniform(2, 44), rng.uniform(2, 44),
                                rng.uniform(2, 44), rng.uniform(50, 120)))
        submitted = self.signed_at + datetime.timedelta(hours=lag_hours)
        self.submitted_at = submitted if submitted.date() <= AS_OF else None
        self.pcn = f"B{self.practice.number}{self.n:09d}"
        self.visit_id = self.w[Visit].add(
            clinic_id=self.clinic_id, patient_id=self.patient_id, coverage_id=self.coverage_id,
            rendering_provider_id=self.provider_id, date_of_service=self.dos, diagnoses=["M62.81"], status="signed",
            signed_at=self.signed_at, signed_by_name="Therapist, OTR/L", created_at=self.signed_at,
            updated_at=self.signed_at)
        codes = rng.sample(sorted(FEES), rng.choices((1, 2, 3, 4), (20, 35, 30, 15))[0])
        self.lines = [(code, rng.randint(1, 4) if code != "97165" else 1) for code in codes]
        self.claim_id = self.w[Claim].next_id
        self.w[Claim].next_id += 1
        status, icn = self._adjudicate()
        self._claim_row(self.claim_id, status=status, icn=icn)
        self._finding()

    # -- rows ----------------------------------------------------------------------------------------------------

    def _claim_row(self, claim_id, *, status, icn, frequency="1", replaces=None, suffix="", submitted_at=MISSING):
        total = sum((FEES[code] * units for code, units in self.lines), D("0.00"))
        self.w[Claim].add(
            id=claim_id, clinic_id=self.clinic_id, patient_id=self.patient_id, coverage_id=self.coverage_id,
            payer_id=self.payer.pk, rendering_provider_id=self.provider_id, patient_control_number=self.pcn + suffix,
            status=status, frequency=frequency, replaces_id=replaces, payer_claim_control_number=icn,
            place_of_service="11", service_date_from=self.dos, service_date_to=self.dos, diagnoses=["M62.81"],
            total_charge=total, signed_at=self.signed_at,
            submitted_at=self.submitted_at if submitted_at is MISSING else submitted_at,
            created_at=self.signed_at, updated_at=self.signed_at)

    def _line_rows(self, claim_id, suffix="") -> list[tuple[int, int, D]]:
        """ClaimLine and charge rows; [(line id, charge row id, charge)]."""
        rows = []
        for position, (code, units) in enumerate(self.lines, start=1):
            charge = FEES[code] * units
            line = self.w[ClaimLine].add(
                clinic_id=self.clinic_id, claim_id=claim_id, position=position, visit_id=self.visit_id,
                date_of_service=self.dos, cpt=code, modifiers=["GO"], units=units, charge=charge,
                expected_allowed=money(charge * PAYERS[self.plan][5]), diagnosis_pointers=[1],
                line_control_number=f"{self.pcn}{suffix}L{position:02d}")
            entry = self._ledger(claim_id, line, LedgerKind.CHARGE, LedgerParty.PAYER, charge, self.dos,
                                 source="build", posted=self.signed_at)
            rows.append((line, entry, charge))
        return rows

    def _ledger(self, claim_id, line, kind, party, amount, day, *, group="", carc="", source="835", reverses=None,
                posted=None) -> int:
        return self.w[LedgerEntry].add(
            clinic_id=self.clinic_id, claim_id=claim_id, claim_line_id=line, kind=kind, party=party, amount=amount,
            group_code=group, carc=carc, rarcs=[], source=source, reverses_id=reverses,
            posted_at=posted or at(day, 21), effective_date=day)

    def _event(self, claim_id, from_status, to_status, when, reason="") -> None:
        self.w[ClaimEvent].add(clinic_id=self.clinic_id, claim_id=claim_id, from_status=from_status,
                               to_status=to_status, actor_name="system", reason=reason, at=when)

    # -- the claim's life ----------------------------------------------------------------------------------------

    def _adjudicate(self) -> tuple[str, str]:
        rng = self.rng
        lines = self._line_rows(self.claim_id)
        if self.submitted_at is None:
            return ClaimStatus.READY, ""
        self._event(self.claim_id, ClaimStatus.READY, ClaimStatus.SUBMITTED, self.submitted_at)
        sent = self.submitted_at
        if rng.random() < REJECTION_RATE:
            self._event(self.claim_id, ClaimStatus.SUBMITTED, ClaimStatus.REJECTED,
                        sent + datetime.timedelta(days=1), "277CA A7:562 invalid provider identifier")
            sent += datetime.timedelta(days=3)
            if sent.date() > AS_OF:
                return ClaimStatus.REJECTED, ""
            self._event(self.claim_id, ClaimStatus.REJECTED, ClaimStatus.SUBMITTED, sent)
        pay_day = friday_on_or_after(sent.date() + datetime.timedelta(days=rng.randint(14, 42)))
        if pay_day > AS_OF:
            return (ClaimStatus.ACCEPTED if rng.random() < 0.5 else ClaimStatus.SUBMITTED), ""
        icn = f"ICN{self.practice.number}{self.n:09d}"
        denied = [rng.random() < LINE_DENIAL_RATE for _ in lines]
        reason = DENIALS[rng.randrange(len(DENIALS))]
        corrected = all(denied) and reason[1] == "16" and rng.random() < 0.5 \
            and pay_day + datetime.timedelta(days=7) <= AS_OF
        payment = self.loader.payment(self.practice, self.plan, pay_day)
        rows, paid = self._post(self.claim_id, lines, denied, pay_day, payment, reason, corrected=corrected)
        status = ClaimStatus.DENIED if all(denied) else ClaimStatus.PARTIALLY_PAID if any(denied) else ClaimStatus.PAID
        self._remittance(self.claim_id, payment, "4" if all(denied) else "1", lines, paid, icn)
        self._event(self.claim_id, ClaimStatus.SUBMITTED, status, at(pay_day, 21), f"835 CLP02 paid {paid}")
        if corrected:
            return self._replace(lines, pay_day, icn), icn
        if not any(denied) and rng.random() < REVERSAL_RATE:
            self._reverse_and_repost(rows, lines, pay_day, paid, icn)
        return status, icn

    def _post(self, claim_id, lines, denied, day, payment, reason, *, corrected=False) -> tuple[list, D]:
        """The 835's ledger rows and Denial rows (and what became of them); ([(line, kind, party, amount, group,
        carc, row id)], paid)."""
        coinsured = PAYERS[self.plan][6] and self.rng.random() < COINSURANCE_RATE
        rows, paid, shares = [], D("0.00"), []
        for (line, _charge_row, charge), refused in zip(lines, denied, strict=True):
            if refused:
                self._deny(claim_id, line, charge, day, payment, reason, corrected)
                continue
            posted, patient = self._pay_line(claim_id, line, charge, day, coinsured)
            rows += posted
            paid += -posted[0][3]
            if patient:
                shares.append((line, charge, patient))
        if shares and self.plan == 0 and claim_id == self.claim_id and self.rng.random() < SECONDARY_RATE:
            self._bill_secondary(shares, day)
        elif shares:
            self._patient_pays(claim_id, sum((share[2] for share in shares), D("0.00")), day)
        return rows, paid

    def _pay_line(self, claim_id, line, charge, day, coinsured) -> tuple[list, D]:
        """Payment, CO-45 and the PR-2 pair of one line; the payment row first."""
        allowed = money(charge * PAYERS[self.plan][5])
        patient = money(allowed * PAYERS[self.plan][6]) if coinsured else D("0.00")
        entries = [(LedgerKind.PAYMENT, LedgerParty.PAYER, -(allowed - patient), "", ""),
                   (LedgerKind.ADJUSTMENT, LedgerParty.PAYER, -(charge - allowed), "CO", "45")]
        if patient:
            entries += [(LedgerKind.ADJUSTMENT, LedgerParty.PAYER, -patient, "PR", "2"),
                        (LedgerKind.TRANSFER, LedgerParty.PATIENT, patient, "PR", "2")]
        rows = []
        for kind, party, amount, group, carc in entries:
            pk = self._ledger(claim_id, line, kind, party, amount, day, group=group, carc=carc)
            rows.append((line, kind, party, amount, group, carc, pk))
        return rows, patient

    def _deny(self, claim_id, line, charge, day, payment, reason, corrected) -> None:
        """The Denial row, and its end: paid on appeal (a later 835), written off, or still open."""
        status, outcome = WorkStatus.CORRECTED, None
        if not corrected:
            choice = self.rng.random()
            outcome = ("appeal", day + datetime.timedelta(days=self.rng.randint(45, 90))) if choice < 0.55 else \
                ("write_off", day + datetime.timedelta(days=self.rng.randint(60, 120))) if choice < 0.9 else None
            if outcome is None or outcome[1] > AS_OF:
                status, outcome = WorkStatus.OPEN, None
            else:
                status = WorkStatus.RESOLVED if outcome[0] == "appeal" else WorkStatus.WRITTEN_OFF
        self.w[Denial].add(
            clinic_id=self.clinic_id, claim_id=claim_id, claim_line_id=line, payment_id=payment,
            group_code=reason[0], carc=reason[1], rarcs=[], category=reason[2], reason=f"CARC {reason[1]}",
            recommended_action="Review and appeal or correct.", amount=charge,
            appeal_deadline=day + datetime.timedelta(days=120), status=status, created_at=at(day, 21))
        if outcome and outcome[0] == "write_off":
            self.w[LedgerEntry].add(
                clinic_id=self.clinic_id, claim_id=claim_id, claim_line_id=line, kind=LedgerKind.WRITE_OFF,
                party=LedgerParty.PAYER, amount=-charge, source="writeoff", reason_code="denial", rarcs=[],
                posted_at=at(outcome[1], 15), effective_date=outcome[1])
        elif outcome:
            paid_day = friday_on_or_after(outcome[1])
            if paid_day > AS_OF:
                return
            later = self.loader.payment(self.practice, self.plan, paid_day)
            posted, _patient = self._pay_line(claim_id, line, charge, paid_day, False)
            self.w[ClaimRemittance].add(clinic_id=self.clinic_id, payment_id=later, claim_id=claim_id,
                                        status_code="1", charge=charge, paid=-posted[0][3])

    def _bill_secondary(self, shares, day) -> None:
        """The patient's share moved to a secondary claim (as denials.secondary does: the primary's balance
        transferred, the secondary line charged in full less the prior payer's part, OA-23), sent the next day and
        paid by the next payer 2–4 weeks later."""
        plan, claim_id = len(PAYERS) - 1, self.w[Claim].next_id
        self.w[Claim].next_id += 1
        sent = at(day + datetime.timedelta(days=1), 10)
        paid_lines = []
        for position, (line, charge, patient) in enumerate(shares, start=1):
            new_line = self.w[ClaimLine].add(
                clinic_id=self.clinic_id, claim_id=claim_id, position=position, visit_id=self.visit_id,
                date_of_service=self.dos, cpt="97530", modifiers=["GO"], units=1, charge=charge,
                diagnosis_pointers=[1], line_control_number=f"{self.pcn}SL{position:02d}")
            self._ledger(self.claim_id, line, LedgerKind.TRANSFER, LedgerParty.PATIENT, -patient, day,
                         source="secondary")
            self._ledger(claim_id, new_line, LedgerKind.CHARGE, LedgerParty.PAYER, charge, day, source="secondary")
            self._ledger(claim_id, new_line, LedgerKind.ADJUSTMENT, LedgerParty.PAYER, -(charge - patient), day,
                         group="OA", carc="23", source="secondary")
            paid_lines.append((new_line, patient))
        self._event(claim_id, ClaimStatus.READY, ClaimStatus.SUBMITTED, sent)
        pay_day = friday_on_or_after(sent.date() + datetime.timedelta(days=self.rng.randint(14, 28)))
        status = ClaimStatus.SUBMITTED
        if pay_day <= AS_OF:
            payment = self.loader.payment(self.practice, plan, pay_day)
            for new_line, patient in paid_lines:
                self._ledger(claim_id, new_line, LedgerKind.PAYMENT, LedgerParty.PAYER, -patient, pay_day)
            total = sum((patient for _line, patient in paid_lines), D("0.00"))
            self.w[ClaimRemittance].add(clinic_id=self.clinic_id, payment_id=payment, claim_id=claim_id,
                                        status_code="2", charge=sum((c for _l, c, _p in shares), D("0.00")),
                                        paid=total, payer_claim_control_number=f"ICN{self.pcn}S")
            self._event(claim_id, ClaimStatus.SUBMITTED, ClaimStatus.PAID, at(pay_day, 21))
            status = ClaimStatus.PAID
        self.w[Claim].add(
            id=claim_id, clinic_id=self.clinic_id, patient_id=self.patient_id, coverage_id=self.coverage_id,
            payer_id=self.practice.payers[plan].pk, rendering_provider_id=self.provider_id,
            patient_control_number=self.pcn + "S", status=status, primary_claim_id=self.claim_id,
            place_of_service="11", service_date_from=self.dos, service_date_to=self.dos, diagnoses=["M62.81"],
            total_charge=sum((c for _l, c, _p in shares), D("0.00")), signed_at=self.signed_at, submitted_at=sent,
            created_at=sent, updated_at=sent)

    def _patient_pays(self, claim_id, amount, day) -> None:
        """Most patients pay their share within two months; some small balances are written off after four."""
        choice = self.rng.random()
        if choice < 0.8:
            party_day, kind, source = day + datetime.timedelta(days=self.rng.randint(20, 60)), \
                LedgerKind.PATIENT_PAYMENT, "manual"
        elif choice < 0.95:
            party_day, kind, source = day + datetime.timedelta(days=120), LedgerKind.WRITE_OFF, "writeoff"
        else:
            return
        if party_day <= AS_OF:
            self.w[LedgerEntry].add(
                clinic_id=self.clinic_id, claim_id=claim_id, kind=kind, party=LedgerParty.PATIENT, amount=-amount,
                source=source, reason_code="small balance" if kind == LedgerKind.WRITE_OFF else "", rarcs=[],
                posted_at=at(party_day, 15), effective_date=party_day)

    def _remittance(self, claim_id, payment, code, lines, paid, icn, sign=1) -> None:
        charge = sum((charge for _line, _row, charge in lines), D("0.00"))
        self.w[ClaimRemittance].add(clinic_id=self.clinic_id, payment_id=payment, claim_id=claim_id,
                                    status_code=code, charge=sign * charge, paid=sign * paid,
                                    payer_claim_control_number=icn)

    def _reverse_and_repost(self, rows, lines, pay_day, paid, icn) -> None:
        """CLP02 22 undoing the payment on a later 835, and the corrected answer (same money) in the same file."""
        day = friday_on_or_after(pay_day + datetime.timedelta(days=self.rng.randint(14, 28)))
        if day > AS_OF:
            return
        payment = self.loader.payment(self.practice, self.plan, day)
        self._remittance(self.claim_id, payment, kpis.REVERSAL, lines, paid, icn, sign=-1)
        for line, kind, party, amount, group, carc, pk in rows:
            self._ledger(self.claim_id, line, kind, party, -amount, day, group=group, carc=carc, reverses=pk)
        for line, kind, party, amount, group, carc, _pk in rows:
            self._ledger(self.claim_id, line, kind, party, amount, day, group=group, carc=carc)
        self._remittance(self.claim_id, payment, "1", lines, paid, icn)

    def _replace(self, lines, denied_day, icn) -> str:
        """A replacement (frequency 7) a week after a CO-16 denial: the original's charges reversed on the day of
        service, the replacement charged, sent and paid in full."""
        sent = at(denied_day + datetime.timedelta(days=7), 10)
        for line, charge_row, charge in lines:
            self._ledger(self.claim_id, line, LedgerKind.CHARGE, LedgerParty.PAYER, -charge, self.dos,
                         source="correction", reverses=charge_row, posted=sent)
        self._event(self.claim_id, ClaimStatus.DENIED, ClaimStatus.REPLACED, sent, "replacement: missing information")
        replacement = self.w[Claim].next_id
        self.w[Claim].next_id += 1
        new_lines = self._line_rows(replacement, suffix="R")
        self._event(replacement, ClaimStatus.READY, ClaimStatus.SUBMITTED, sent)
        pay_day = friday_on_or_after(sent.date() + datetime.timedelta(days=self.rng.randint(14, 35)))
        status = ClaimStatus.SUBMITTED
        if pay_day <= AS_OF:
            payment = self.loader.payment(self.practice, self.plan, pay_day)
            _rows, paid = self._post(replacement, new_lines, [False] * len(new_lines), pay_day, payment, DENIALS[0])
            self._remittance(replacement, payment, "1", new_lines, paid, icn + "R")
            self._event(replacement, ClaimStatus.SUBMITTED, ClaimStatus.PAID, at(pay_day, 21))
            status = ClaimStatus.PAID
        self._claim_row(replacement, status=status, icn=icn, frequency="7", replaces=self.claim_id, suffix="R",
                        submitted_at=sent)
        return ClaimStatus.REPLACED

    def _finding(self) -> None:
        if self.rng.random() >= FINDING_RATE:
            return
        overridden = self.rng.random() < 0.67
        self.w[Finding].add(
            clinic_id=self.clinic_id, visit_id=self.visit_id, rule_id="units_8_minute_rule", severity="warning",
            message="Billed units exceed the timed minutes.", overridden_by_id=self.practice.user.pk if overridden
            else None, override_reason="Minutes documented in the note." if overridden else "",
            overridden_at=self.signed_at if overridden else None, created_at=self.signed_at)


def load(practices_and_counts, workdir: str) -> dict:
    loader = Loader(workdir)
    for practice, count in practices_and_counts:
        loader.claims(practice, count)
    return copy_all(loader.w)


# --- measuring ------------------------------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def timed(action, runs: int) -> dict:
    """Median wall time of `runs` calls in ms, the SQL statements of one call, and the slowest of them."""
    times, statements = [], []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            action()
            times.append((time.perf_counter() - start) * 1000)
        statements = captured.captured_queries
    slowest = sorted(statements, key=lambda q: -float(q["time"]))[:5]
    return {"ms": round(statistics.median(times), 1), "runs_ms": [round(t, 1) for t in times],
            "queries": len(statements), "slowest": [(float(q["time"]) * 1000, q["sql"]) for q in slowest]}


STEPS = (
    ("compute", "`kpis.compute(scope)` (every figure, the tiles)"),
    ("trend_12_months", "12-month trend (`compute` per month)"),
    ("trend_12_months_cached", "12-month trend through `reporting.cache.Figures`, cache warm"),
    ("breakdown_payer", '`kpis.breakdown(scope, "payer")`'),
    ("breakdown_provider", '`kpis.breakdown(scope, "provider")`'),
    ("drill_denial_rate_count", '`drill_claims(scope, "denial_rate").count()`'),
    ("compute_both_clinics", "`compute` over both clinics (operator scope)"),
)


def actions(big: Clinic, second: Clinic) -> dict:
    scope = kpis.scope_for_clinics([big], start=MONTH[0], end=MONTH[1])
    both = kpis.scope_for_clinics([big, second], start=MONTH[0], end=MONTH[1])
    months = kpis.trend_periods(scope.end, grain="month", count=12)

    def cached_trend():  # a new Figures per call, as per request: it reads the data version again
        figures = Figures()
        return [figures.compute(scope.period(start, end)) for start, end in months]

    cached_trend()  # fills the cache; the timed calls only read it
    return {
        "compute": lambda: kpis.compute(scope),
        "trend_12_months": lambda: [kpis.compute(scope.period(start, end)) for start, end in months],
        "trend_12_months_cached": cached_trend,
        "breakdown_payer": lambda: kpis.breakdown(scope, "payer"),
        "breakdown_provider": lambda: kpis.breakdown(scope, "provider"),
        "drill_denial_rate_count": lambda: kpis.drill_claims(scope, "denial_rate").count(),
        "compute_both_clinics": lambda: kpis.compute(both),
    }


def measure(big: Clinic, second: Clinic, runs: int) -> dict:
    results, todo = {}, actions(big, second)
    for key, label in STEPS:
        result = timed(todo[key], runs)
        result["peak_rss_mb"] = round(peak_rss_mb())
        results[key] = result
        print(f"  {label}: {result['ms']:,.1f} ms (runs {result['runs_ms']}), {result['queries']} queries",
              flush=True)
    return results


def figures(big: Clinic) -> dict:
    """A few of the month's figures, to see the data is believable."""
    data = kpis.as_json(kpis.compute(kpis.scope_for_clinics([big], start=MONTH[0], end=MONTH[1])))
    keep = ("clean_claim_rate", "first_pass_yield", "denial_rate", "denial_rate_dollars", "days_in_ar",
            "net_collection_rate", "ar_over_90", "submitted_within_48h", "revenue", "charges", "ar_total")
    return {key: data[key] for key in keep}


def server() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('server_version'), current_setting('jit'), "
                       "current_setting('work_mem'), current_setting('shared_buffers')")
        version, jit, work_mem, shared_buffers = cursor.fetchone()
    return {"postgresql": version, "jit": jit, "work_mem": work_mem, "shared_buffers": shared_buffers,
            "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}


def print_table(sizes: list[int], results: dict) -> None:
    print("| step | " + " | ".join(f"{n:,} claims: ms (queries)" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for key, label in STEPS:
        cells = [f"{results[n]['steps'][key]['ms']:,.1f} ({results[n]['steps'][key]['queries']})" for n in sizes]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print("| peak RSS after (MB) | " + " | ".join(f"{results[n]['peak_rss_mb']}" for n in sizes) + " |")


def print_slowest(size: int, result: dict) -> None:
    print(f"Slowest SQL of compute at {size:,} claims:")
    for ms, sql in result["slowest"]:
        print(f"  {ms:8.1f} ms  {sql[:300]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,200000", help="claims of the big clinic, ascending")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    started = time.perf_counter()
    fresh_database()
    print(f"{BENCH_DB} created and migrated in {time.perf_counter() - started:.1f} s; month {MONTH[0]:%Y-%m}, data "
          f"from {FIRST_DOS} to {AS_OF}; baseline peak RSS {peak_rss_mb():.0f} MB", flush=True)
    results: dict = {"month": f"{MONTH[0]:%Y-%m}", "as_of": AS_OF.isoformat(), "server": server(), "sizes": {}}
    try:
        user = get_user_model().objects.create(username="reviewer", email="reviewer@example.com")
        payers = [Payer.objects.create(name=p[0], payer_id=p[1], kind=p[2], claim_filing_indicator=p[3])
                  for p in PAYERS]
        big = Practice(1, "Alder Pediatric OT", "alder", "1234567893", max(sizes) // 25, payers, user)
        second = Practice(2, "Birch Hand Therapy", "birch", "1245319599", 600, payers, user)
        with tempfile.TemporaryDirectory() as workdir:
            for size in sizes:
                start = time.perf_counter()
                batch = [(big, size - big.loaded)] + ([(second, SECOND_CLINIC_CLAIMS)] if not second.loaded else [])
                counts = load(batch, workdir)
                seconds = time.perf_counter() - start
                print(f"{size:,} claims: loaded in {seconds:.1f} s (rows added: {counts})", flush=True)
                totals = {m.__name__: m.objects.count() for m in (Claim, ClaimLine, LedgerEntry, ClaimRemittance,
                                                                  Denial, ClaimEvent)}
                measured = measure(big.clinic, second.clinic, args.runs)
                print_slowest(size, measured["compute"])
                results["sizes"][size] = {"load_seconds": round(seconds, 1), "rows": totals,
                                          "steps": measured, "peak_rss_mb": round(peak_rss_mb()),
                                          "figures": figures(big.clinic)}
        print_table(sizes, results["sizes"])
        for data in results["sizes"].values():
            for step in data["steps"].values():
                step.pop("slowest")
        print(json.dumps(results, default=str))
    finally:
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()
