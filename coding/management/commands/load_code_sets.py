import json
from dataclasses import asdict

from django.core.management.base import BaseCommand

from coding.codesets import code_sets_load


class Command(BaseCommand):
    help = "Load the versioned code-set fixtures (procedure codes, modifiers, NCCI, MUE, thresholds, ICD year)."

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(asdict(code_sets_load())))
