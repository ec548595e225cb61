"""`python manage.py export_270 --clinic SLUG --date YYYY-MM-DD --out DIR` writes the clinic's 270 for that date.

Prints {"file": path, "inquiries": n}. Runs as the system unless --user names the operator acting.
"""

import datetime
import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from clinics.models import Clinic
from eligibility.services import inquiry_batch_create, inquiry_batch_deliver
from eligibility.transport import FolderTransport
from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, clinics_visible_to


class Command(BaseCommand):
    help = "Write the 270 eligibility inquiries of a clinic's patients scheduled on a date into a folder."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="clinic slug")
        parser.add_argument("--date", required=True, help="date of service asked about, YYYY-MM-DD")
        parser.add_argument("--out", required=True, help="folder to write the 270 file into")
        parser.add_argument("--user", default="", help="username of the person acting (default: the system)")

    def handle(self, *args, clinic: str, date: str, out: str, user: str, **options):
        try:
            for_date = datetime.date.fromisoformat(date)
        except ValueError as exc:
            raise CommandError(f"--date {date!r} is not a date (YYYY-MM-DD).") from exc
        acting_user = None
        clinics = Clinic.objects.filter(is_active=True)
        if user:
            acting_user = get_user_model().objects.filter(username=user).first()
            if acting_user is None:
                raise CommandError(f"No user {user!r}.")
            clinics = clinics_visible_to(acting_user, EDIT_SESSIONS)
        found = clinics.filter(slug=clinic).first()
        if found is None:
            raise CommandError(f"No active clinic {clinic!r}" + (f" that {user} may edit." if user else "."))
        try:
            batch = inquiry_batch_create(acting_user=acting_user, clinic=found, for_date=for_date)
            batch = inquiry_batch_deliver(batch=batch, transport=FolderTransport(outbox=out))
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps({"file": batch.delivered_to, "inquiries": batch.inquiries.count()}))
