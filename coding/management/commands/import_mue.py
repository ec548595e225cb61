import datetime
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from coding.codesets import mue_import
from otbilling.errors import AppError


class Command(BaseCommand):
    help = "Import a CMS practitioner MUE file (CSV or tab-separated) effective from the quarter's first day."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--effective", required=True, type=datetime.date.fromisoformat,
                            help="First day of the quarter the file applies to (YYYY-MM-DD)")
        parser.add_argument("--all-codes", action="store_true")

    def handle(self, *args, file: Path, effective, all_codes: bool, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            result = mue_import(text=file.read_text(errors="replace"), source=file.name, effective_from=effective,
                                all_codes=all_codes)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(result))
