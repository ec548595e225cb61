"""Claim reads that take their scope explicitly: the user and the permission they act under (and a clinic)."""

from django.db.models import F, OuterRef, Subquery

from .models import AckFile, Claim, ClaimEvent, ClaimStatus


def rejected_claims(user, perm, clinic=None):
    """Rejected claims the user may see, newest rejection first, each with `rejected_at` (its last rejection)."""
    last_rejection = (ClaimEvent.objects.filter(claim=OuterRef("pk"), to_status=ClaimStatus.REJECTED)
                      .order_by("-at", "-pk").values("at")[:1])
    return (Claim.objects.visible_to(user, perm, clinic=clinic).filter(status=ClaimStatus.REJECTED)
            .annotate(rejected_at=Subquery(last_rejection))
            .select_related("patient", "payer", "clinic", "batch")
            .order_by(F("rejected_at").desc(nulls_last=True), "-updated_at", "-pk"))


def ack_files_visible_to(user, perm):
    """Imported 999/277CA files of the clinics where the user holds `perm`, newest first.

    A file that matched none of our batches (or several clinics') has no clinic and is not listed here.
    """
    return (AckFile.objects.visible_to(user, perm).select_related("clinic", "imported_by")
            .order_by("-imported_at", "-pk"))
