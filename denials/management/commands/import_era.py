"""`python manage.py import_era FILE [--dry-run]` posts an 835 and prints one JSON summary (money as strings).

Exits non-zero with the error (file, segment, position) for a file that cannot be posted; such a file is kept as
quarantined. A dry run shows what would be posted and posts nothing.
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from denials.posting import era_import
from denials.tasks import content_sha256, match_deposits_of
from otbilling.errors import AppError

KEYS = ("duplicate", "claims_matched", "lines_posted", "paid_total", "adjustment_total",
        "patient_responsibility_total", "denials_opened", "underpayments_opened", "unmatched_claims")


class Command(BaseCommand):
    help = "Post an 835 remittance file."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="show what would be posted; post nothing")
        parser.add_argument("--user", default="", help="username of the person acting (default: the system)")

    def handle(self, *args, file: str, dry_run: bool, user: str, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        acting_user = None
        if user:
            acting_user = get_user_model().objects.filter(username=user).first()
            if acting_user is None:
                raise CommandError(f"No user {user!r}.")
        try:
            summary = era_import(file_name=path.name, content=path.read_bytes(), acting_user=acting_user,
                                 dry_run=dry_run)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        if not dry_run and not summary["duplicate"]:
            match_deposits_of(content_sha256(path.read_bytes()))  # bank deposits that were waiting for this payment
        output = {key: summary[key] for key in KEYS}
        output.update({"dry_run": dry_run, "unmatched_lines": summary["unmatched_lines"],
                       "provider_adjustment_total": summary["provider_adjustment_total"]})
        if summary.get("message"):
            output["message"] = summary["message"]
        self.stdout.write(json.dumps(output))
