"""Shared claim fixtures: a deterministic scene (one clinic, a Medicare-like payer, a patient who is the
subscriber, a credentialed OT with a valid NPI, a referrer, fees) and `make_claim`, which signs, codes and scrubs a
visit (it must come out BILLABLE) and builds its claim through claims.services.claims_build.

Every name and number of the scene is fixed (no factory sequences), so a written 837P is the same on every run.
"""

import datetime
from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from claims.models import Claim, ClaimLine
from claims.services import claims_build
from clinics.models import ClaimFilingIndicator, PayerKind
from coding.models import CodingStatus, Finding
from coding.services import visit_code
from tests import factories

DOS = datetime.date(2026, 9, 14)  # inside the loaded ICD-10-CM FY2026 code set
TODAY = datetime.date(2026, 9, 18)
FEE = Decimal("60.00")
FEE_CODES = ("97110", "97112", "97129", "97130", "97140", "97150", "97165", "97166", "97167", "97168", "97530",
             "97535", "97760", "G0283")
DEFAULT_LINES = ({"cpt": "97530", "minutes": 30}, {"cpt": "97535", "minutes": 15})
CLAIM_RELATIONS = ("clinic", "payer", "patient", "coverage", "rendering_provider", "referring_provider")


@dataclass
class ClaimScene:
    clinic: object
    payer: object
    patient: object
    coverage: object
    provider: object
    referrer: object


def make_medicare(payer_id="MEDB1", name="Medicare Part B", **overrides):
    """A Medicare-like payer whose rules let a plain OT visit through the scrubber (GO required)."""
    values = {"name": name, "payer_id": payer_id, "kind": PayerKind.MEDICARE,
              "claim_filing_indicator": ClaimFilingIndicator.MEDICARE_B, "go_required": True,
              "kx_threshold_applies": False, "applies_mppr": False, "applies_assistant_reduction": True,
              "medicare_documentation_rules": False, "prior_auth_required": False,
              "referring_provider_required": False, **overrides}
    return factories.PayerFactory(**values)


def add_fees(clinic, charge: Decimal = FEE) -> None:
    model = factories.FeeScheduleEntryFactory._meta.model
    for cpt in FEE_CODES:
        if not model.objects.filter(clinic=clinic, cpt=cpt, payer__isnull=True).exists():
            factories.FeeScheduleEntryFactory(clinic=clinic, cpt=cpt, charge=charge, expected_allowed=Decimal("35.00"))


def add_patient(scene: ClaimScene, *, mrn: str, first_name: str, last_name: str, payer=None, member_id: str,
                **coverage_fields) -> ClaimScene:
    """Another patient of the scene's clinic with a coverage; a scene for that patient is returned."""
    patient = factories.PatientFactory(
        clinic=scene.clinic, mrn=mrn, first_name=first_name, last_name=last_name,
        date_of_birth=coverage_fields.pop("date_of_birth", datetime.date(1950, 3, 4)),
        sex=coverage_fields.pop("sex", "F"), address_line1="12 Oak St", city="Portland", state="OR",
        zip_code="97201")
    coverage = factories.CoverageFactory(patient=patient, payer=payer or scene.payer, member_id=member_id,
                                         **coverage_fields)
    if payer is not None and scene.provider is not None:
        scene.provider.credentialed_payers.add(payer)
    return replace(scene, patient=patient, coverage=coverage, payer=payer or scene.payer)


def build_claim_scene(clinic, payer) -> ClaimScene:
    clinic.contact_name = "Billing Desk"
    clinic.contact_phone = "503-555-0100"
    clinic.contact_email = "billing@alder.example"
    clinic.save()
    add_fees(clinic)
    provider = factories.ProviderFactory(clinic=clinic, first_name="Olive", last_name="Therapist",
                                         npi="1558598797", taxonomy="225X00000X")
    provider.credentialed_payers.add(payer)
    referrer = factories.ReferringProviderFactory(clinic=clinic, first_name="Rita", last_name="Referrer",
                                                  npi="1000000020")
    scene = ClaimScene(clinic=clinic, payer=payer, patient=None, coverage=None, provider=provider, referrer=referrer)
    return add_patient(scene, mrn="MRN-0001", first_name="Anna", last_name="Zebulon", member_id="1EG4TE5MK73")


@pytest.fixture
def claim_scene(clinic_a, code_sets) -> ClaimScene:
    return build_claim_scene(clinic_a, make_medicare())


def add_visit(scene: ClaimScene, lines=DEFAULT_LINES, **visit_kwargs):
    """A signed visit of the scene's patient; each line spec goes to ServiceLineFactory (pointers [1])."""
    values = {"patient": scene.patient, "coverage": scene.coverage, "rendering_provider": scene.provider,
              "referring_provider": scene.referrer, "date_of_service": DOS, **visit_kwargs}
    visit = factories.VisitFactory(**values)
    for position, spec in enumerate(lines, start=1):
        factories.ServiceLineFactory(visit=visit, position=position, **spec)
    return visit


def code_billable(visit, today=TODAY):
    """Code and scrub the visit; fail loudly (with the findings) when the scrubber holds it."""
    coding = visit_code(visit=visit, today=today)
    if coding.status != CodingStatus.BILLABLE:
        findings = list(Finding.objects.filter(visit=visit).values_list("rule_id", "message"))
        raise AssertionError(f"visit is {coding.status}, not billable: {findings}")
    return coding


def load_claim(pk) -> Claim:
    """A claim with everything the 837P writer reads, loaded."""
    return Claim.objects.select_related(*CLAIM_RELATIONS).prefetch_related("lines").get(pk=pk)


def make_claim(scene: ClaimScene, lines=DEFAULT_LINES, *, today=TODAY, **visit_kwargs) -> Claim:
    """Sign, code and scrub a visit, then build claims for the clinic; returns the (ready) claim of that visit."""
    visit = add_visit(scene, lines, **visit_kwargs)
    code_billable(visit, today=today)
    claims_build(clinic=scene.clinic, acting_user=None)
    line = ClaimLine.objects.filter(visit=visit).select_related("claim").first()
    assert line is not None, "claims_build built no claim for the visit"
    return load_claim(line.claim_id)


def pin_control_numbers(claim: Claim, pcn: str) -> Claim:
    """Give a claim a fixed patient control number (and line control numbers after it), for golden files."""
    Claim.objects.filter(pk=claim.pk).update(patient_control_number=pcn)
    for line in ClaimLine.objects.filter(claim=claim):
        ClaimLine.objects.filter(pk=line.pk).update(line_control_number=f"{pcn}L{line.position:02d}")
    return load_claim(claim.pk)


def dependent_of(scene: ClaimScene, **fields) -> ClaimScene:
    """A child patient covered as a dependent (relationship 19) of a parent subscriber."""
    values = {"mrn": "MRN-0002", "first_name": "Casey", "last_name": "Zebulon", "member_id": "XYZ123456701",
              "group_number": "GRP-100", "relationship": "19", "subscriber_first_name": "Pat",
              "subscriber_last_name": "Zebulon", "subscriber_date_of_birth": datetime.date(1980, 5, 6),
              "subscriber_sex": "M", "date_of_birth": datetime.date(2016, 7, 8), **fields}
    return add_patient(scene, **values)

