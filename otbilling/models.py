"""Platform-wide rows that belong to no business app: X12 control-number counters."""

from django.db import models, transaction


class X12ControlCounter(models.Model):
    """Last interchange (ISA13) and group (GS06) control numbers used by one submitter id.

    Numbers are unique and increasing per submitter across every transaction we write (270, 837P)."""

    submitter_id = models.CharField(max_length=15, unique=True)
    last_interchange = models.PositiveIntegerField(default=0)
    last_group = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.submitter_id}: ISA {self.last_interchange}, GS {self.last_group}"


MAX_INTERCHANGE = 999_999_999


@transaction.atomic
def next_control_numbers(submitter_id: str) -> tuple[int, int]:
    """Reserve the next (interchange, group) control numbers for a submitter; safe under concurrency."""
    X12ControlCounter.objects.get_or_create(submitter_id=submitter_id)
    counter = X12ControlCounter.objects.select_for_update().get(submitter_id=submitter_id)
    counter.last_interchange = counter.last_interchange % MAX_INTERCHANGE + 1
    counter.last_group = counter.last_group % MAX_INTERCHANGE + 1
    counter.save(update_fields=["last_interchange", "last_group"])
    return counter.last_interchange, counter.last_group
