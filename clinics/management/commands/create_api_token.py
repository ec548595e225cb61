"""Create a per-clinic API token from the command line; prints the raw key (shown only this once)."""

from django.core.management.base import BaseCommand, CommandError

from clinics.models import Clinic
from clinics.services import api_token_create
from otbilling.errors import AppError


class Command(BaseCommand):
    help = "Create an API token for one clinic and print its key (only the key on stdout, for scripts)."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="Slug of the clinic the token acts for.")
        parser.add_argument("--name", required=True, help="What will use the token, e.g. the EHR's name.")

    def handle(self, *args, clinic, name, **options):
        # An operator at the shell acts for no particular user: no scope applies, and the token's
        # `created_by` stays empty.
        found = Clinic.objects.filter(slug=clinic).first()
        if found is None:
            raise CommandError(f"No clinic with slug {clinic!r}.")
        if not found.is_active:
            raise CommandError(f"Clinic {clinic!r} is inactive; its tokens would be refused.")
        try:
            token, raw_key = api_token_create(clinic=found, name=name, acting_user=None)
        except AppError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"Created API token “{token.name}” for {found} (key starts otb_{token.prefix}). "
                          "Store the key now; it cannot be shown again.")
        self.stdout.write(raw_key)
