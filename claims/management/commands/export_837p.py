"""`python manage.py export_837p --clinic SLUG --out DIR` batches every ready claim of the clinic, writes each
batch's 837P in this process (no Celery) and puts every released file into DIR.

Prints {"files": [paths], "claims": n} (n = claims released). A held batch is reported on stderr with its
problems and makes the command exit non-zero; its claims are back to ready.
"""

import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from claims.batches import batch_generate, batches_create
from claims.models import BatchStatus, Claim, ClaimStatus
from clinics.models import Clinic
from eligibility.transport import FolderTransport
from otbilling.errors import AppError
from otbilling.tenancy import WORK_CLAIMS, clinics_visible_to


class Command(BaseCommand):
    help = "Write the 837P files of a clinic's ready claims into a folder."

    def add_arguments(self, parser):
        parser.add_argument("--clinic", required=True, help="clinic slug")
        parser.add_argument("--out", required=True, help="folder to write the 837P files into")
        parser.add_argument("--user", default="", help="username of the person acting (default: the system)")

    def handle(self, *args, clinic: str, out: str, user: str, **options):
        acting_user, found = self._clinic(clinic, user)
        ready = list(Claim.objects.filter(clinic=found, status=ClaimStatus.READY).order_by("pk"))
        files, released, held = [], 0, []
        if ready:
            transport = FolderTransport(outbox=out)
            try:
                batches = batches_create(claims=ready, acting_user=acting_user, queue=False)
                for batch in batches:
                    batch = batch_generate(batch=batch, transport=transport)
                    if batch.status == BatchStatus.RELEASED:
                        files.append(str(Path(out) / batch.file_name))
                        released += batch.claim_count
                    else:
                        held.append(batch)
            except AppError as exc:
                raise CommandError(exc.message) from exc
        self.stdout.write(json.dumps({"files": files, "claims": released}))
        if held:
            for batch in held:
                self.stderr.write(f"Batch for {batch.payer.name} held ({batch.claim_count} claims back to ready):")
                for error in batch.errors:
                    where = " ".join(str(part) for part in (error.get("claim"), error.get("segment"),
                                                            error.get("field")) if part)
                    self.stderr.write(f"  {where}: {error.get('message')}")
            raise CommandError(f"{len(held)} batch(es) held; fix the claims and export again.")

    def _clinic(self, slug: str, username: str):
        acting_user = None
        clinics = Clinic.objects.filter(is_active=True)
        if username:
            acting_user = get_user_model().objects.filter(username=username).first()
            if acting_user is None:
                raise CommandError(f"No user {username!r}.")
            clinics = clinics_visible_to(acting_user, WORK_CLAIMS)
        found = clinics.filter(slug=slug).first()
        if found is None:
            raise CommandError(f"No active clinic with the slug {slug!r}"
                               + (f" whose claims {username} may work." if username else "."))
        return acting_user, found
