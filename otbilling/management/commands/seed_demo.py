"""`manage.py seed_demo [--seed N] [--today YYYY-MM-DD] [--no-scrub] [--no-history]`: (re)build the demo clinics,
code and scrub their sessions, bill the older ones through the real pipeline, and print the logins."""

import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from coding.codesets import code_sets_load
from coding.tasks import scrub_open_visits
from otbilling.demo import PLANTED_PROBLEMS, UNBILLED_DAYS, demo_seed
from otbilling.errors import AppError


def _parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--today must be a date like 2026-11-20, not {value!r}.") from exc


class Command(BaseCommand):
    help = ("Remove the demo clinics (sprouts, summit, homefirst) and build them again: payers, fee schedules, "
            "providers, ~60 patients, plans of care and three months of sessions before --today, coded and "
            "scrubbed; the sessions more than a week old are billed, acknowledged and paid by the simulated payers "
            "(claims, payments, denials, underpayments). The same --seed and --today always give the same data.")

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument("--no-scrub", action="store_true",
                            help="Skip coding and scrubbing the sessions after building them (faster; implies "
                                 "--no-history).")
        parser.add_argument("--no-history", action="store_true",
                            help="Leave every session unbilled: no claims, 837P files, acknowledgments or 835s.")
        parser.add_argument("--today", type=_parse_day, default=None,
                            help="Anchor date YYYY-MM-DD; sessions fall in the 13 weeks before it (default: today).")

    def handle(self, *args, seed: int, today: date | None, no_scrub: bool = False, no_history: bool = False,
               **options):
        real_today = timezone.localdate()
        today = today or real_today
        if today > real_today:
            raise CommandError(f"--today {today:%Y-%m-%d} is in the future: sessions cannot be dated after "
                               f"{real_today:%Y-%m-%d}.")
        history = not (no_scrub or no_history)
        started = time.monotonic()
        code_sets_load()
        try:
            result = demo_seed(seed=seed, today=today, history=history)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        elapsed = time.monotonic() - started
        self._print(result, elapsed)
        counts = result.scrub
        if counts is None and not no_scrub:
            counts = scrub_open_visits(today=today.isoformat())
        if counts is not None:
            self.stdout.write(f"Coded and scrubbed {counts['visits']} sessions: {counts['billable']} billable, "
                              f"{counts['held']} held by findings (see the coding queue).")
        if result.history is not None:
            self._print_history(result.history)

    def _print(self, result, elapsed: float) -> None:
        out = self.stdout
        out.write(self.style.SUCCESS(f"Demo data built (seed {result.seed}, today {result.today:%Y-%m-%d}) "
                                     f"in {elapsed:.1f} s."))
        counts = result.counts
        out.write(f"{counts['clinics']} clinics, {counts['payers']} payers, {counts['patients']} patients "
                  f"({counts['secondary_coverages']} with secondary coverage), {counts['plans_of_care']} plans of "
                  f"care, {counts['visits']} visits, {counts['service_lines']} service lines, "
                  f"{counts['progress_reports']} progress reports.")
        out.write("")
        rows = [("Role", "Username", "Password", "Clinics")]
        rows += [(role, username, result.password, ", ".join(clinics)) for role, username, clinics in result.logins]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        for number, row in enumerate(rows):
            out.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
            if number == 0:
                out.write("  ".join("-" * width for width in widths))
        out.write("")
        out.write(f"Planted problems ({len(result.planted)} rows; see otbilling/demo.py PLANTED_PROBLEMS):")
        for key in PLANTED_PROBLEMS:
            hits = [p for p in result.planted if p.key == key]
            where = "; ".join(f"{p.clinic} {p.mrn}" + (f" {p.date_of_service:%Y-%m-%d}" if p.date_of_service else "")
                              for p in hits)
            out.write(f"  {key} ({len(hits)}): {where}")

    def _print_history(self, h: dict) -> None:
        self.stdout.write(
            f"History: {h['claims']} claims of the sessions more than {UNBILLED_DAYS} days old and "
            f"{h['secondary_claims']} secondary claims sent in {h['batches']} 837P batches ({h['held_batches']} held), "
            "accepted by 999 and 277CA; "
            f"{h['remittances']} 835s posted for {h['claims_paid']} claims: ${h['paid_total']:.2f} paid, "
            f"${h['patient_responsibility_total']:.2f} patient responsibility (patients paid "
            f"${h['patient_paid_total']:.2f} on {h['patient_payments']} claims), {h['denials']} denials and "
            f"{h['underpayments']} underpayments opened ({h['overridden_sessions']} sessions were sent past an "
            f"overridden finding). {h['awaiting_payment']} claims await payment and {h['ready_to_send']} are ready for "
            f"the next submission; {h['unbilled_sessions']} signed sessions of the last {UNBILLED_DAYS} days are "
            "left unbilled.")
