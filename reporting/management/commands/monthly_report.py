"""`python manage.py monthly_report --clinic SLUG --month YYYY-MM [--out FILE.pdf] [--email]`

Generates (and stores, replacing the stored one) the clinic's monthly PDF report for any month, writes it to FILE
(default `<slug>-<YYYY-MM>-report.pdf`), prints where and the headline figures; --email also sends it to the
clinic's owners.
"""

from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from otbilling.errors import AppError
from reporting.kpis import DEFINITIONS
from reporting.pdf import BIG_KEYS, COVER_KEYS, display
from reporting.services import monthly_report_email, monthly_report_generate

from .kpis import clinic_of, month_of


class Command(BaseCommand):
    help = "Generate, store and write one clinic's monthly PDF report (and e-mail it with --email)."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="the clinic's slug")
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--out", default="", help="where to write the PDF (default <slug>-<YYYY-MM>-report.pdf)")
        parser.add_argument("--email", action="store_true", help="also e-mail it to the clinic's owners")
        parser.add_argument("--user", default="", help="username of the person acting (default: the system)")

    def handle(self, *args, clinic: str, month: str, out: str, email: bool, user: str, **options):
        found = clinic_of(clinic)
        month_start = month_of(month)
        acting_user = None
        if user:
            acting_user = get_user_model().objects.filter(username=user).first()
            if acting_user is None:
                raise CommandError(f"No user {user!r}.")
        try:
            report = monthly_report_generate(clinic=found, month=month_start, acting_user=acting_user)
            recipients = monthly_report_email(report=report, acting_user=acting_user) if email else []
        except AppError as exc:
            raise CommandError(exc.message) from exc
        path = Path(out or report.file_name)
        try:
            path.write_bytes(bytes(report.pdf))
        except OSError as exc:
            raise CommandError(f"{path}: cannot write the PDF ({exc.strerror}).") from exc
        self.stdout.write(f"Wrote {path.resolve()} ({len(report.pdf):,} bytes): {found.legal_name}, "
                          f"{month_start:%B %Y}")
        figures = report.figures
        for key in (*BIG_KEYS, *(k for k in COVER_KEYS if k not in BIG_KEYS)):
            definition = DEFINITIONS[key]
            self.stdout.write(f"  {definition.label:<26} {display(_value(figures, key), definition.kind):>14}")
        if email:
            sent = ", ".join(recipients) or "no one (no owner with an e-mail address, or e-mailing is turned off)"
            self.stdout.write(f"E-mailed to {sent}")


def _value(figures: dict, key: str):
    """A figure read back from the stored JSON (rates are numbers there, money strings)."""
    value = figures.get(key)
    return None if value is None else Decimal(str(value))
