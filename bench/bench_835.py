"""Benchmark of 835 posting end to end on PostgreSQL, beside pyx12's validation alone of the same file.

    DATABASE_URL=postgres://USER@HOST:PORT/ANY .venv/bin/python bench/bench_835.py [--claims 1000] [--lines 4]
                                                                                   [--trace-memory] [--keep]

Works in a throwaway database `otb_bench` on the server DATABASE_URL names (dropped, created and migrated first;
dropped again at the end unless --keep). It bulk-creates one clinic with N submitted claims of L lines (with their
charge ledger rows), writes one balanced 835 answering every line (the string-building of
tests/denials/test_x835.py: CO-45 contractual on every line, PR-2 coinsurance on line 1 of every 5th claim, a
CO-197 denial on the last line of every 10th claim), then times in one run:
  - pyx12 validation alone (otbilling.edi.validation.validate_with_pyx12),
  - validate_835 (pyx12 + our reader + the balancing checks), the first half of era_import,
  - era_import end to end (validate, de-duplicate, match, post in one transaction),
and prints a table: seconds, SQL queries, the process's peak resident memory after the phase, and with
--trace-memory tracemalloc's peak per phase (Python allocations only; slower). It then checks the posting to the
cent. Named bench_*.py so pytest never collects it.
"""

import argparse
import datetime
import os
import resource
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DB = "otb_bench"
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "otbilling.settings.test")
if not os.environ.get("DATABASE_URL"):
    sys.exit("Set DATABASE_URL to a PostgreSQL server (any database name): the benchmark works in otb_bench.")
os.environ["DATABASE_URL"] = urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{BENCH_DB}"))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from claims.models import Claim, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty  # noqa: E402
from clinics.models import Clinic, Coverage, Patient, Payer, Provider  # noqa: E402
from denials.models import Denial  # noqa: E402
from denials.posting import era_import  # noqa: E402
from denials.x835 import validate_835  # noqa: E402
from otbilling.edi.validation import validate_with_pyx12  # noqa: E402
from tests.denials.test_x835 import interchange, transaction  # noqa: E402
from visits.models import Visit  # noqa: E402

D = Decimal
DOS = datetime.date(2026, 9, 14)
CODES = ("97530", "97535", "97110", "97112", "97140", "97760")
CHARGE, ALLOWED, CONTRACTUAL = D("120.00"), D("70.00"), D("50.00")
COINSURANCE = D("14.00")
PAYEE_NPI = "1234567893"  # the N1*PE of tests/denials/test_x835.py's HEADER


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


# --- the claims -----------------------------------------------------------------------------------------------------


def build_claims(count: int, lines_per_claim: int) -> list[Claim]:
    """N submitted claims of one clinic and payer, each with its visit, lines and charge rows (bulk inserts)."""
    clinic = Clinic.objects.create(legal_name="Alder Pediatric OT", slug="alder", billing_npi=PAYEE_NPI,
                                   ein="123456789", address_line1="100 Main St", city="Portland", state="OR",
                                   zip_code="972011234")
    payer = Payer.objects.create(name="Acme Health", payer_id="ACME1", kind="commercial",
                                 claim_filing_indicator="CI")
    provider = Provider.objects.create(clinic=clinic, first_name="Olive", last_name="Therapist", npi="1558598797")
    patients = Patient.objects.bulk_create(
        Patient(clinic=clinic, mrn=f"MRN{n:06d}", first_name=f"Pat{n}", last_name="Example",
                date_of_birth=datetime.date(1950, 3, 4), sex="F", address_line1="12 Oak St", city="Portland",
                state="OR", zip_code="97201") for n in range(count))
    coverages = Coverage.objects.bulk_create(
        Coverage(clinic=clinic, patient=patient, payer=payer, member_id=f"M{n:09d}",
                 effective_from=datetime.date(2020, 1, 1)) for n, patient in enumerate(patients))
    signed = datetime.datetime(2026, 9, 14, 18, tzinfo=datetime.UTC)
    visits = Visit.objects.bulk_create(
        Visit(clinic=clinic, patient=patient, coverage=coverage, rendering_provider=provider, date_of_service=DOS,
              diagnoses=["M62.81"], status="signed", signed_at=signed,
              signed_by_name="Olive Therapist, OTR/L")
        for patient, coverage in zip(patients, coverages, strict=True))
    claims = Claim.objects.bulk_create(
        Claim(clinic=clinic, patient=visit.patient, coverage=visit.coverage, payer=payer, rendering_provider=provider,
              patient_control_number=f"C{n:011d}", status=ClaimStatus.SUBMITTED, place_of_service="11",
              service_date_from=DOS, service_date_to=DOS, diagnoses=["M62.81"],
              total_charge=CHARGE * lines_per_claim, signed_at=signed, submitted_at=timezone.now())
        for n, visit in enumerate(visits))
    lines = ClaimLine.objects.bulk_create(
        ClaimLine(clinic=clinic, claim=claim, position=p, visit=visit, date_of_service=DOS,
                  cpt=CODES[(p - 1) % len(CODES)], modifiers=["GO"], units=2, charge=CHARGE,
                  expected_allowed=ALLOWED, diagnosis_pointers=[1],
                  line_control_number=f"{claim.patient_control_number}L{p:02d}")
        for claim, visit in zip(claims, visits, strict=True) for p in range(1, lines_per_claim + 1))
    LedgerEntry.objects.bulk_create(
        LedgerEntry(clinic=clinic, claim_id=line.claim_id, claim_line=line, kind=LedgerKind.CHARGE,
                    party=LedgerParty.PAYER, amount=line.charge, source="build", effective_date=DOS) for line in lines)
    return claims


# --- the 835 --------------------------------------------------------------------------------------------------------


def answer_line(claim: Claim, n: int, position: int, lines_per_claim: int) -> tuple[str, D, D]:
    """The SVC loop of one line, its paid amount and its patient share."""
    code = CODES[(position - 1) % len(CODES)]
    if n % 10 == 0 and position == lines_per_claim:
        paid, patient, cas = D("0.00"), D("0.00"), [f"CAS*CO*197*{CHARGE}"]
    elif n % 5 == 0 and position == 1:
        paid, patient = ALLOWED - COINSURANCE, COINSURANCE
        cas = [f"CAS*CO*45*{CONTRACTUAL}", f"CAS*PR*2*{COINSURANCE}"]
    else:
        paid, patient, cas = ALLOWED, D("0.00"), [f"CAS*CO*45*{CONTRACTUAL}"]
    segments = [f"SVC*HC:{code}:GO*{CHARGE}*{paid}**2", "DTM*472*20260914", *cas,
                f"REF*6R*{claim.patient_control_number}L{position:02d}"]
    if paid:
        segments.append(f"AMT*B6*{ALLOWED}")
    return "\n".join(segments) + "\n", paid, patient


def write_835(claims: list[Claim], lines_per_claim: int) -> tuple[str, D]:
    body, total = [], D("0.00")
    for n, claim in enumerate(claims):
        answers = [answer_line(claim, n, p, lines_per_claim) for p in range(1, lines_per_claim + 1)]
        paid = sum((a[1] for a in answers), D("0.00"))
        patient = sum((a[2] for a in answers), D("0.00"))
        body.append(f"CLP*{claim.patient_control_number}*1*{claim.total_charge}*{paid}*{patient or ''}*12*"
                    f"ICN{n:08d}*11*1\nNM1*QC*1*EXAMPLE*PAT{n}****MI*M{n:09d}\n")
        body.extend(a[0] for a in answers)
        total += paid
    return interchange([transaction("".join(body), str(total), trace="BENCH0001")]), total


# --- measuring ------------------------------------------------------------------------------------------------------


class QueryCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure(rows: list, label: str, trace: bool, action):
    counter = QueryCounter()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    with connection.execute_wrapper(counter):
        result = action()
    seconds = time.perf_counter() - start
    traced = None
    if trace:
        traced = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
        tracemalloc.stop()
    rows.append((label, seconds, counter.count, peak_rss_mb(), traced))
    return result


def print_table(rows, trace: bool) -> None:
    header = "| phase | seconds | SQL queries | peak RSS after (MB) |" + (" tracemalloc peak (MB) |" if trace else "")
    print(header)
    print("|---|---|---|---|" + ("---|" if trace else ""))
    for label, seconds, queries, rss, traced in rows:
        line = f"| {label} | {seconds:.2f} | {queries:,} | {rss:.0f} |"
        if trace:
            line += f" {traced:.1f} |"
        print(line)


def check_posting(summary: dict, claims: int, lines: int, total: D) -> None:
    denied = claims // 10 + (1 if claims % 10 else 0)
    coinsured = claims // 5 + (1 if claims % 5 else 0)
    expected = {"claims_matched": claims, "lines_posted": claims * lines, "paid_total": str(total),
                "denials_opened": denied, "unmatched_claims": 0, "unmatched_lines": 0,
                "patient_responsibility_total": str(COINSURANCE * coinsured)}
    wrong = {key: (summary[key], value) for key, value in expected.items() if summary[key] != value}
    payer_owes = LedgerEntry.objects.filter(party=LedgerParty.PAYER).aggregate(total=Sum("amount"))["total"]
    if payer_owes != CHARGE * denied:  # only the denied lines stay owed: nothing is written off
        wrong["payer balance"] = (payer_owes, CHARGE * denied)
    if Denial.objects.count() != denied:
        wrong["denial rows"] = (Denial.objects.count(), denied)
    if wrong:
        sys.exit(f"posting is wrong (got, expected): {wrong}")
    print(f"Checked: {claims:,} claims and {claims * lines:,} lines posted, paid {total}, "
          f"{denied} denials open for {CHARGE * denied}, patient responsibility {COINSURANCE * coinsured}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=4)
    parser.add_argument("--trace-memory", action="store_true", help="add tracemalloc's peak per phase (slower)")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DB} database afterwards")
    args = parser.parse_args()
    started = time.perf_counter()
    fresh_database()
    print(f"{BENCH_DB} created and migrated in {time.perf_counter() - started:.1f} s; baseline peak RSS "
          f"{peak_rss_mb():.0f} MB")
    rows: list = []
    try:
        claims = measure(rows, f"build {args.claims:,} claims × {args.lines} lines (bulk)", args.trace_memory,
                         lambda: build_claims(args.claims, args.lines))
        text, total = measure(rows, "write the 835", args.trace_memory, lambda: write_835(claims, args.lines))
        print(f"835: {len(text.encode()) / (1024 * 1024):.2f} MB, {text.count('~'):,} segments, BPR02 {total}")
        pyx12 = measure(rows, "pyx12 validation alone (`validate_with_pyx12`)", args.trace_memory,
                        lambda: validate_with_pyx12(text))
        issues = measure(rows, "`validate_835` (pyx12 + reader + balancing)", args.trace_memory,
                         lambda: validate_835(text, file_name="bench.835"))
        if not pyx12.ok or issues:
            sys.exit(f"the 835 is not clean: {[str(i) for i in pyx12.issues[:3]]} {issues[:3]}")
        summary = measure(rows, "`era_import` end to end (validate, match, post)", args.trace_memory,
                          lambda: era_import(file_name="bench.835", content=text))
        print_table(rows, args.trace_memory)
        check_posting(summary, args.claims, args.lines, total)
    finally:
        if not args.keep:
            drop_database()


if __name__ == "__main__":
    main()
