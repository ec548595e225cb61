"""`python manage.py units --rule cms 97110=33 97140=7` prints {"97110": 2, "97140": 1}."""

import json
import re

from django.core.management.base import BaseCommand, CommandError

from coding.forms import calculate_units, parse_minutes
from coding.units import AMA, CMS
from otbilling.errors import AppError

ARGUMENT = re.compile(r"^(?P<code>[^=\s]+)=(?P<minutes>.*)$")
LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.\w+$")


class Command(BaseCommand):
    help = ("Billable units of CODE=MINUTES pairs by the CMS total-time or AMA per-code rule; prints one JSON object "
            "of the codes that earn units. Repeated codes are summed; untimed codes earn 1 unit.")

    def add_arguments(self, parser):
        parser.add_argument("--rule", required=True, choices=[CMS, AMA],
                            help="cms = CMS total-time (8-minute rule); ama = AMA per-code")
        parser.add_argument("pairs", nargs="+", metavar="CODE=MINUTES", help="e.g. 97110=33 97140=7")

    def handle(self, *args, rule: str, pairs: list[str], **options):
        lines = []
        for pair in pairs:
            match = ARGUMENT.match(pair.strip())
            if match is None:
                raise CommandError(f"{pair!r} is not CODE=MINUTES, e.g. 97110=33.")
            _minutes, problem = parse_minutes(match["minutes"])
            if problem:  # before touching the database: a typo fails fast and the same way everywhere
                raise CommandError(f"{pair}: {problem}")
            lines.append((match["code"], match["minutes"]))
        try:
            calculation = calculate_units(rule=rule, lines=lines)
        except AppError as exc:
            raise CommandError(_message(exc, pairs)) from exc
        self.stdout.write(json.dumps(calculation.result.nonzero()))


def _message(exc: AppError, pairs: list[str]) -> str:
    """Name the argument at fault ("97999=10: 97999 is not in the loaded code set.") rather than lines[N]."""
    if not exc.details:
        return exc.message
    parts = []
    for detail in exc.details:
        match = LINE_FIELD.match(detail.get("field") or "")
        where = pairs[int(match[1]) - 1] if match else detail.get("field") or ""
        parts.append(f"{where}: {detail['message']}" if where else detail["message"])
    return "; ".join(parts)
