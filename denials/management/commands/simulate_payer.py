"""`python manage.py simulate_payer FILE.837 --out FILE.835 [--ack-999 FILE] [--ack-277ca FILE] [--today DATE]`:
answer one of our 837P files as the demo payer would (denials.simulator) and print
{"claims": n, "paid_total": "...", "denials": n}. Nothing is imported: import_era and import_ack do that."""

import datetime
import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from denials.simulator import adjudicate, render_835, simulate_277ca, simulate_999, summary
from otbilling.errors import AppError


def _day(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--today must be a date like 2026-11-20, not {value!r}.") from exc


class Command(BaseCommand):
    help = "Write the 835 (and optionally the 999 and 277CA) a demo payer would send for an 837P file."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the 837P file")
        parser.add_argument("--out", required=True, help="where to write the 835")
        parser.add_argument("--ack-999", default="", help="also write the 999 here")
        parser.add_argument("--ack-277ca", default="", help="also write the 277CA here")
        parser.add_argument("--today", type=_day, default=None,
                            help="the payer pays no later than this day (default: today)")

    def handle(self, *args, file: str, out: str, ack_999: str, ack_277ca: str, today, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            answer = adjudicate(text, today=today)
            files = {out: render_835(answer)}
            if ack_999:
                files[ack_999] = simulate_999(text)
            if ack_277ca:
                files[ack_277ca] = simulate_277ca(text)
        except AppError as exc:
            raise CommandError(f"{path.name}: {exc.message}") from exc
        for target, content in files.items():
            Path(target).write_text(content, encoding="utf-8")
        self.stdout.write(json.dumps(summary(answer)))
