"""`python manage.py build_claims --clinic SLUG` builds claims from the clinic's billable visits.

Prints one JSON object {"claims_built": n, "visits_held": m}. Runs as the system.
"""

import json

from django.core.management.base import BaseCommand, CommandError

from claims.services import claims_build
from clinics.models import Clinic
from otbilling.errors import AppError


class Command(BaseCommand):
    help = "Build claims from a clinic's billable visits (visits held by the scrubber are counted, not billed)."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="clinic slug")

    def handle(self, *args, clinic: str, **options):
        found = Clinic.objects.filter(slug=clinic, is_active=True).first()
        if found is None:
            raise CommandError(f"No active clinic with the slug {clinic!r}.")
        try:
            result = claims_build(clinic=found, acting_user=None)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps(result.as_dict()))
