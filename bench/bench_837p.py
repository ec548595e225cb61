"""Benchmark of the 837P path: our checks, writing, pyx12 validation and our written-file checks.

    .venv/bin/python bench/bench_837p.py [--claims 5000] [--lines 4] [--trace-memory]

Claims are unsaved model instances held in memory (no database is touched: the writer is driven through
`build_transaction_sets` and `X12Writer.interchange` with fixed control numbers, which is what `render_837p` does
after reserving the numbers). Prints one table: seconds per phase and the process's peak resident memory after
it; `--trace-memory` adds tracemalloc's peak per phase (slower).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "otbilling.settings.test")
# Settings start an embedded PostgreSQL when DATABASE_URL is unset; nothing here queries a database.
os.environ.setdefault("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused")

import django  # noqa: E402

django.setup()

from claims.checks import check_written_837p, precheck_claims  # noqa: E402
from claims.models import Claim, ClaimLine  # noqa: E402
from claims.x837 import build_transaction_sets, envelope_for  # noqa: E402
from clinics.models import Clinic, Coverage, Patient, Payer, Provider, ReferringProvider  # noqa: E402
from otbilling.edi.validation import validate_with_pyx12  # noqa: E402
from otbilling.edi.writer import X12Writer  # noqa: E402

NOW = datetime.datetime(2026, 9, 18, 14, 30, tzinfo=datetime.UTC)
DOS = datetime.date(2026, 9, 14)
CODES = ("97530", "97535", "97110", "97112", "97140", "97760")


def scene():
    clinic = Clinic(pk=1, legal_name="Alder Pediatric OT", slug="alder", billing_npi="1234567893", ein="123456789",
                    taxonomy="225X00000X", address_line1="100 Main St", city="Portland", state="OR",
                    zip_code="972011234", contact_name="Billing Desk", contact_phone="5035550100")
    payer = Payer(pk=1, name="Medicare Part B", payer_id="MEDB1", kind="medicare", claim_filing_indicator="MB")
    provider = Provider(pk=1, clinic=clinic, first_name="Olive", last_name="Therapist", npi="1558598797",
                        taxonomy="225X00000X")
    referrer = ReferringProvider(pk=1, clinic=clinic, first_name="Rita", last_name="Referrer", npi="1000000020")
    return clinic, payer, provider, referrer


def make_claims(count: int, lines_per_claim: int) -> list[Claim]:
    clinic, payer, provider, referrer = scene()
    claims = []
    for n in range(1, count + 1):
        patient = Patient(pk=n, clinic=clinic, mrn=f"MRN{n:06d}", first_name=f"Pat{n}", last_name="Example",
                          date_of_birth=datetime.date(1950, 3, 4), sex="F", address_line1="12 Oak St",
                          city="Portland", state="OR", zip_code="97201")
        coverage = Coverage(pk=n, clinic=clinic, patient=patient, payer=payer, member_id=f"M{n:09d}",
                            relationship="18", priority="primary", effective_from=datetime.date(2020, 1, 1))
        pcn = f"C{n:011d}"
        claim = Claim(pk=n, clinic=clinic, patient=patient, coverage=coverage, payer=payer,
                      rendering_provider=provider, referring_provider=referrer, patient_control_number=pcn,
                      place_of_service="11", service_date_from=DOS, service_date_to=DOS,
                      diagnoses=["M62.81", "R26.89"], total_charge=Decimal("60.00") * lines_per_claim * 2)
        lines = [ClaimLine(pk=n * 100 + p, clinic=clinic, claim=claim, position=p, date_of_service=DOS,
                           cpt=CODES[(p - 1) % len(CODES)], modifiers=["GO"], units=2, charge=Decimal("120.00"),
                           diagnosis_pointers=[1, 2], line_control_number=f"{pcn}L{p:02d}")
                 for p in range(1, lines_per_claim + 1)]
        claim._prefetched_objects_cache = {"lines": lines}
        claims.append(claim)
    return claims


def write(claims) -> str:
    parties = envelope_for(claims[0].clinic, claims[0].payer)
    sets = build_transaction_sets(claims, parties=parties, now=NOW, reference="BENCH")
    return X12Writer().interchange(envelope=parties.envelope, transactions=sets, interchange_number=1,
                                   group_number=1, now=NOW).text


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def measure(label: str, func, *args, trace: bool = False):
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    result = func(*args)
    seconds = time.perf_counter() - start
    traced = ""
    if trace:
        traced = f"{tracemalloc.get_traced_memory()[1] / 1_000_000:.1f}"
        tracemalloc.stop()
    return result, (label, seconds, peak_rss_mb(), traced)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=4)
    parser.add_argument("--trace-memory", action="store_true")
    options = parser.parse_args()
    trace = options.trace_memory
    rows = [("baseline (Django and apps loaded)", 0.0, peak_rss_mb(), "")]
    claims, row = measure("build in-memory claims", make_claims, options.claims, options.lines, trace=trace)
    rows.append(row)
    problems, row = measure("precheck_claims (our checks)", precheck_claims, claims, trace=trace)
    rows.append(row)
    text, row = measure("write 837P", write, claims, trace=trace)
    rows.append(row)
    result, row = measure("pyx12 validation", validate_with_pyx12, text, trace=trace)
    rows.append(row)
    written_problems, row = measure("check_written_837p (pyx12 + ours)", check_written_837p, text, trace=trace)
    rows.append(row)
    assert not problems and result.ok and not written_problems, (problems[:3], result.issues[:3],
                                                                 written_problems[:3])
    print(f"837P: {options.claims} claims x {options.lines} lines, {len(text.encode()) / 1_000_000:.2f} MB, "
          f"{text.count('~')} segments, {text.count('ST*837*')} transaction set(s); pyx12 clean")
    header = f"{'phase':<36} {'seconds':>8} {'peak RSS MB':>12}" + (f" {'traced peak MB':>15}" if trace else "")
    print(header)
    print("-" * len(header))
    for label, seconds, rss, traced in rows:
        print(f"{label:<36} {seconds:>8.2f} {rss:>12.1f}" + (f" {traced:>15}" if trace else ""))


if __name__ == "__main__":
    main()
