"""`python manage.py import_271 FILE` imports one 271 and prints
{"duplicate": bool, "snapshots": n, "rejected": n, "unmatched": n}; a malformed file exits non-zero with the error.
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from eligibility.services import response_file_import
from otbilling.errors import AppError


class Command(BaseCommand):
    help = "Import a 271 eligibility response file: benefit snapshots for every answer matched to an inquiry."

    def add_arguments(self, parser):
        parser.add_argument("file", help="path of the 271 file")
        parser.add_argument("--user", default="", help="username of the person acting (default: the system)")
        parser.add_argument("--verbose-summary", action="store_true",
                            help="also print the unmatched answers and the rejections")

    def handle(self, *args, file: str, user: str, verbose_summary: bool, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        acting_user = None
        if user:
            acting_user = get_user_model().objects.filter(username=user).first()
            if acting_user is None:
                raise CommandError(f"No user {user!r}.")
        try:
            summary = response_file_import(acting_user=acting_user, file_name=path.name, content=path.read_bytes())
        except AppError as exc:
            raise CommandError(f"{path.name}: {exc.message}") from exc
        keys = ["duplicate", "snapshots", "rejected", "unmatched"]
        if verbose_summary:
            keys += ["unmatched_responses", "rejections", "message"]
        self.stdout.write(json.dumps({key: summary[key] for key in keys}))
