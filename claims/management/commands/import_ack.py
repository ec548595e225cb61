"""`python manage.py import_ack FILE` imports one 999 or 277CA and prints its summary as one JSON object
({"duplicate", "kind", "accepted", "rejected", "unmatched", "skipped", "batches", ...}); an unreadable file or one
that is neither a 999 nor a 277CA exits non-zero with the error.
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from claims.acks import MAX_FILE_BYTES, ack_import
from otbilling.errors import AppError


class Command(BaseCommand):
    help = "Import a 999 or 277CA acknowledgment: batches and claims accepted or rejected."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the 999 or 277CA file")
        parser.add_argument("--user", default="", help="username of the person acting (default: the system)")

    def handle(self, *args, file: str, user: str, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        acting_user = None
        if user:
            acting_user = get_user_model().objects.filter(username=user).first()
            if acting_user is None:
                raise CommandError(f"No user {user!r}.")
        with path.open("rb") as handle:
            content = handle.read(MAX_FILE_BYTES + 1)  # one byte over is enough for the service to refuse it
        try:
            summary = ack_import(file_name=path.name, content=content, acting_user=acting_user)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(summary))
