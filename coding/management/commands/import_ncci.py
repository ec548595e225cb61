import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from coding.codesets import ncci_import
from otbilling.errors import AppError


class Command(BaseCommand):
    help = "Import a CMS NCCI practitioner PTP file (tab- or comma-separated text) for the OT code set."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--all-codes", action="store_true", help="Keep pairs of codes outside the OT code set")

    def handle(self, *args, file: Path, all_codes: bool, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            result = ncci_import(text=file.read_text(errors="replace"), source=file.name, all_codes=all_codes)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(result))
