"""From the demo: build_claims, then export_837p, writes files that pyx12 accepts with zero errors."""

import io
import json
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command

from claims.checks import check_written_837p
from claims.models import BatchStatus, Claim, ClaimBatch, ClaimStatus
from coding.tasks import scrub_open_visits
from otbilling.demo import demo_seed

TODAY = date(2026, 11, 20)
SLUGS = ("sprouts", "summit", "homefirst")


@pytest.fixture(scope="module")
def exported_demo(django_db_setup, django_db_blocker, tmp_path_factory):
    from django.db import connection, transaction

    out = tmp_path_factory.mktemp("837p")
    with django_db_blocker.unblock(), transaction.atomic():
        demo_seed(seed=7, today=TODAY)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # statistics that see the seeded (uncommitted) rows: sane query plans
        scrub_open_visits(today=TODAY.isoformat())
        built, exported = {}, {}
        for slug in SLUGS:
            printed = io.StringIO()
            call_command("build_claims", "--clinic", slug, stdout=printed)
            built[slug] = json.loads(printed.getvalue())
            printed = io.StringIO()
            call_command("export_837p", "--clinic", slug, "--out", str(out / slug), stdout=printed)
            exported[slug] = json.loads(printed.getvalue())
        files = {path: Path(path).read_text() for result in exported.values() for path in result["files"]}
        yield {"built": built, "exported": exported, "files": files,
               "batch_statuses": set(ClaimBatch.objects.values_list("status", flat=True)),
               "submitted": Claim.objects.filter(status=ClaimStatus.SUBMITTED).count(),
               "claims": Claim.objects.count()}
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_every_clinic_builds_claims_and_holds_the_planted_visits(exported_demo):
    for slug in SLUGS:
        assert exported_demo["built"][slug]["claims_built"] > 50, slug
        assert exported_demo["built"][slug]["visits_held"] > 0, slug


@pytest.mark.django_db
def test_every_demo_claim_is_exported_and_no_batch_is_held(exported_demo):
    assert exported_demo["batch_statuses"] == {BatchStatus.RELEASED}
    assert exported_demo["submitted"] == exported_demo["claims"]
    assert sum(r["claims"] for r in exported_demo["exported"].values()) == exported_demo["claims"]


@pytest.mark.django_db
def test_every_demo_837p_validates_clean_in_pyx12(exported_demo):
    assert exported_demo["files"]
    for path, text in exported_demo["files"].items():
        assert check_written_837p(text) == [], path
