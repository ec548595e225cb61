"""`python manage.py scrub [--clinic SLUG] [--today YYYY-MM-DD]` runs the nightly scrub now, in this process."""

import datetime
import json

from django.core.management.base import BaseCommand, CommandError

from clinics.models import Clinic
from coding.tasks import scrub_open_visits


def _date(value: str) -> str:
    try:
        return datetime.date.fromisoformat(value).isoformat()
    except ValueError as exc:
        raise CommandError(f"--today {value!r} is not a date in YYYY-MM-DD form.") from exc


class Command(BaseCommand):
    help = ("Code and scrub every visit of the timely-filing window again (the nightly job), synchronously; "
            'prints {"visits": n, "billable": b, "held": h}.')

    def add_arguments(self, parser):
        parser.add_argument("--clinic", metavar="SLUG", help="Only this clinic's visits.")
        parser.add_argument("--today", metavar="YYYY-MM-DD", help="Scrub as of this date (default: today).")

    def handle(self, *args, clinic=None, today=None, **options):
        clinic_id = None
        if clinic:
            found = Clinic.objects.filter(slug=clinic).first()
            if found is None:
                raise CommandError(f"No clinic with slug {clinic!r}.")
            clinic_id = found.pk
        counts = scrub_open_visits(today=_date(today) if today else None, clinic_id=clinic_id)
        self.stdout.write(json.dumps(counts))
