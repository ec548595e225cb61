"""Import an EHR visit export (CSV) for one clinic, synchronously, through the same service as the upload page."""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from otbilling.errors import AppError
from otbilling.tenancy import EDIT_SESSIONS, clinics_visible_to
from visits.importing import MAX_FILE_BYTES, visit_import_job_create, visit_import_run
from visits.models import ImportJobStatus


class Command(BaseCommand):
    help = ("Import sessions from an EHR CSV export into one clinic. Prints a JSON summary; exits with status 1 "
            "when the file is rejected (then nothing is imported).")

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the CSV file (UTF-8, one row per service line).")
        parser.add_argument("--clinic", required=True, help="Slug of the clinic the sessions belong to.")
        parser.add_argument("--user", required=True,
                            help="Username the import acts as; needs the edit-sessions permission on the clinic.")
        parser.add_argument("--valid-rows", action="store_true",
                            help="Import the sessions whose rows are all good even when other rows are bad.")

    def handle(self, *args, file, clinic, user, valid_rows, **options):
        # The import acts as a real user so the same permission check and audit fields apply as in the browser.
        acting = get_user_model().objects.filter(username=user, is_active=True).first()
        if acting is None:
            raise CommandError(f"No active user {user!r}.")
        found = clinics_visible_to(acting, EDIT_SESSIONS).filter(slug=clinic).first()
        if found is None:
            raise CommandError(f"{user} may not enter sessions for a clinic with slug {clinic!r} "
                               "(or it does not exist).")
        path = Path(file)
        try:
            with path.open("rb") as handle:
                content = handle.read(MAX_FILE_BYTES + 1)  # one byte more is enough to refuse a too-large file
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from exc
        try:
            job = visit_import_job_create(acting_user=acting, clinic=found, file_name=path.name,
                                          content_bytes=content, import_valid_rows=valid_rows, enqueue=False)
        except AppError as exc:
            self._summary({"status": "rejected", "job": None, "visits_created": 0,
                           "errors": [{"row": None, "field": "", "message": exc.message}]})
            raise CommandError(f"{path.name} was rejected: {exc.message}") from exc
        job = visit_import_run(job_id=job.pk)
        self._summary({"status": job.status, "job": str(job.public_id), "visits_created": job.visits_created,
                       "errors": job.errors})
        if job.status == ImportJobStatus.FAILED:
            raise CommandError(f"{path.name} was rejected with {len(job.errors)} problem(s); nothing was imported.")

    def _summary(self, data: dict) -> None:
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
