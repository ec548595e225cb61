"""The payer simulator answers a real 837P (claims_build → batches_create → batch_generate) with an 835 that pyx12
accepts, that balances and that posts to the cent, and with a 999 and a 277CA that ack_import accepts.

The claim is tests/claims/conftest.py's: 97530 × 2 units (charge 120.00, expected allowed 70.00) and 97535 × 1 unit
(60.00, 35.00), for a Medicare-like payer without MPPR and no benefit check on file, so the simulated Medicare pays
allowed − 20% coinsurance − 2% sequestration of the rest: 56.00 − 1.12 = 54.88 and 28.00 − 0.56 = 27.44.
"""

import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from claims.acks import ack_import
from claims.batches import batch_generate, batches_create
from claims.ledger import claim_money
from claims.models import BatchStatus, Claim, ClaimStatus, LedgerEntry
from claims.services import claims_build
from clinics.models import ClaimFilingIndicator, CoveragePriority, PayerKind
from coding.models import Finding
from coding.services import finding_override, visit_code
from denials.models import ClaimRemittance, Denial, Underpayment, UnmatchedRemittance
from denials.posting import era_import
from denials.simulator import (
    payer_claim_control_number,
    payment_due,
    read_837,
    simulate_277ca,
    simulate_835,
    simulate_999,
)
from denials.x835 import Adjustment, balance_problems, parse_835, validate_835
from eligibility.models import BenefitSnapshot, SnapshotSource
from otbilling.edi.validation import validate_with_pyx12
from tests import factories
from tests.claims.conftest import add_visit, build_claim_scene, load_claim, make_claim, make_medicare

D = Decimal
pytestmark = pytest.mark.django_db
SENT_AT = datetime.datetime(2026, 9, 15, 22, 0, tzinfo=datetime.UTC)
TODAY = datetime.date(2026, 11, 20)
PAID_ON = datetime.date(2026, 9, 29)  # received 2026-09-15 + Medicare's 14 days


class Nowhere:
    def deliver(self, file_name, content):
        return file_name


def send(claims):
    """Batch and write the claims as the app does; returns the released batch."""
    [batch] = batches_create(claims=claims, acting_user=None, queue=False)
    batch = batch_generate(batch=batch, transport=Nowhere(), now=SENT_AT)
    assert batch.status == BatchStatus.RELEASED, batch.errors
    return batch


@pytest.fixture
def scene(clinic_a, code_sets):
    return build_claim_scene(clinic_a, make_medicare())


@pytest.fixture
def batch(scene):
    return send([make_claim(scene)])


def only_remittance(text):
    (remittance,) = parse_835(text, file_name="sim.835")
    return remittance


def test_the_835_validates_clean_in_pyx12_and_balances(batch):
    text = simulate_835(batch.content, today=TODAY)
    assert validate_835(text, file_name="sim.835") == []
    assert balance_problems(only_remittance(text)) == []


def test_medicare_pays_allowed_less_20_percent_coinsurance_and_2_percent_sequestration(batch):
    remittance = only_remittance(simulate_835(batch.content, today=TODAY))
    [claim] = remittance.claims
    assert (remittance.total_paid, remittance.payment_method, remittance.payment_date) == (D("82.32"), "ACH", PAID_ON)
    assert remittance.payee_npi == batch.clinic.billing_npi
    assert (claim.status_code, claim.charge, claim.paid, claim.patient_responsibility) == (
        "1", D("180.00"), D("82.32"), D("21.00"))
    first, second = claim.lines
    assert (first.code, first.charge, first.paid, first.allowed) == ("97530", D("120.00"), D("54.88"), D("70.00"))
    assert first.adjustments == (Adjustment("CO", "45", D("50.00")), Adjustment("CO", "253", D("1.12")),
                                 Adjustment("PR", "2", D("14.00")))
    assert (second.code, second.paid, second.allowed) == ("97535", D("27.44"), D("35.00"))
    assert second.adjustments == (Adjustment("CO", "45", D("25.00")), Adjustment("CO", "253", D("0.56")),
                                  Adjustment("PR", "2", D("7.00")))


def test_every_line_carries_its_line_control_number_back_and_the_claim_its_payer_number(batch):
    text = simulate_835(batch.content, today=TODAY)
    [claim] = only_remittance(text).claims
    ours = batch.claims.get()
    assert [line.line_control_number for line in claim.lines] == list(
        ours.lines.order_by("position").values_list("line_control_number", flat=True))
    assert claim.patient_control_number == ours.patient_control_number
    assert claim.payer_claim_control_number == payer_claim_control_number(read_837(batch.content), 1)


def test_the_trace_number_comes_from_the_837_interchange_and_the_payment_never_comes_after_today(batch):
    remittance = only_remittance(simulate_835(batch.content, today=TODAY))
    assert remittance.trace_number == f"260929{batch.interchange_control_number}"
    assert payment_due(batch.content) == PAID_ON
    early = only_remittance(simulate_835(batch.content, today=datetime.date(2026, 9, 20)))
    assert early.payment_date == datetime.date(2026, 9, 20)


def test_the_same_837_always_gets_the_same_answers(batch):
    assert simulate_835(batch.content, today=TODAY) == simulate_835(batch.content, today=TODAY)
    assert simulate_999(batch.content) == simulate_999(batch.content)
    assert simulate_277ca(batch.content) == simulate_277ca(batch.content)


def test_the_simulated_835_posts_and_matches_every_line_by_its_control_number(batch):
    summary = era_import(file_name="sim.835", content=simulate_835(batch.content, today=TODAY))
    claim = batch.claims.get()
    assert (summary["claims_matched"], summary["lines_posted"], summary["unmatched_claims"]) == (1, 2, 0)
    assert not UnmatchedRemittance.objects.exists()
    payments = dict(LedgerEntry.objects.filter(kind="payment").values_list("claim_line__line_control_number",
                                                                            "amount"))
    lines = dict(claim.lines.values_list("position", "line_control_number"))
    assert payments == {lines[1]: D("-54.88"), lines[2]: D("-27.44")}
    money = claim_money(claim)
    assert (money["paid"], money["adjusted"], money["patient_responsibility"]) == (D("82.32"), D("76.68"), D("21.00"))
    assert (money["payer_balance"], money["patient_balance"]) == (D("0.00"), D("21.00"))
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID
    assert claim.payer_claim_control_number == ClaimRemittance.objects.get().payer_claim_control_number
    assert not Denial.objects.exists() and not Underpayment.objects.exists()


def test_the_999_accepts_the_batch_and_the_277ca_accepts_the_claim_with_the_835s_claim_number(batch, user_a):
    assert validate_with_pyx12(simulate_999(batch.content)).ok
    assert validate_with_pyx12(simulate_277ca(batch.content)).ok
    accepted = ack_import(file_name="sim.999", content=simulate_999(batch.content), acting_user=user_a)
    batch.refresh_from_db()
    assert (accepted["kind"], accepted["accepted"], accepted["unmatched"]) == ("999", 1, [])
    assert batch.status == BatchStatus.ACCEPTED
    acknowledged = ack_import(file_name="sim.277", content=simulate_277ca(batch.content), acting_user=user_a)
    claim = batch.claims.get()
    assert (acknowledged["kind"], acknowledged["accepted"], acknowledged["unmatched"]) == ("277CA", 1, [])
    assert claim.status == ClaimStatus.ACCEPTED
    [remitted] = only_remittance(simulate_835(batch.content, today=TODAY)).claims
    assert claim.payer_claim_control_number == remitted.payer_claim_control_number


def test_a_line_billed_past_an_overridden_ncci_finding_comes_back_denied_co_236(scene, user_a):
    visit = add_visit(scene, ({"cpt": "97140", "minutes": 12}, {"cpt": "97530", "minutes": 25}))
    visit_code(visit=visit, today=datetime.date(2026, 9, 18))
    finding = Finding.objects.get(visit=visit, rule_id="NCCI_CONFLICT")
    assert finding.service_line.cpt == "97530"  # the column-2 code
    finding_override(acting_user=user_a, finding=finding, reason="Therapist says the blocks were separate.")
    [built] = claims_build(clinic=scene.clinic).claims
    batch = send([load_claim(built.pk)])
    text = simulate_835(batch.content, today=TODAY)
    assert validate_835(text) == []
    [claim] = only_remittance(text).claims
    manual, bundled = claim.lines
    assert (bundled.code, bundled.paid, bundled.adjustments) == ("97530", D("0.00"),
                                                                 (Adjustment("CO", "236", bundled.charge),))
    assert bundled.remarks == ("M80",) and manual.paid > 0 and claim.status_code == "1"
    era_import(file_name="ncci.835", content=text)
    denial = Denial.objects.get()
    assert (denial.carc, denial.category, denial.claim_line.cpt, denial.amount) == (
        "236", "bundling/NCCI", "97530", bundled.charge)


def test_every_line_of_a_visit_sent_past_an_overridden_visit_finding_is_denied_and_the_claim_too(scene, user_a):
    claim = make_claim(scene)
    visit = claim.lines.first().visit
    Finding.objects.create(clinic=visit.clinic, visit=visit, rule_id="AUTH_EXPIRED", severity="blocking",
                           message="Authorization ended", overridden_by=user_a, override_reason="Renewal pending.")
    batch = send([claim])
    [answered] = only_remittance(simulate_835(batch.content, today=TODAY)).claims
    assert (answered.status_code, answered.paid) == ("4", D("0.00"))
    assert {line.adjustments for line in answered.lines} == {(Adjustment("CO", "197", D("120.00")),),
                                                             (Adjustment("CO", "197", D("60.00")),)}


def test_a_secondary_claim_is_paid_the_coinsurance_the_commercial_primary_left(clinic_a, code_sets):
    primary = make_medicare(payer_id="CEDAR1", name="Cedar Health", kind=PayerKind.COMMERCIAL,
                            claim_filing_indicator=ClaimFilingIndicator.COMMERCIAL)
    scene = build_claim_scene(clinic_a, primary)
    medicaid = factories.PayerFactory(name="State Medicaid", payer_id="STMCD1", kind=PayerKind.MEDICAID,
                                      claim_filing_indicator=ClaimFilingIndicator.MEDICAID)
    factories.CoverageFactory(patient=scene.patient, payer=medicaid, priority=CoveragePriority.SECONDARY,
                              member_id="MCD1234567", effective_from=datetime.date(2026, 1, 1))
    scene.provider.credentialed_payers.add(medicaid)
    BenefitSnapshot.objects.create(clinic=clinic_a, coverage=scene.coverage, source=SnapshotSource.PHONE,
                                   checked_at=datetime.datetime(2026, 9, 1, 16, tzinfo=datetime.UTC), is_active=True,
                                   coinsurance_percent=D("20"))
    first_claim = make_claim(scene)
    posted = era_import(file_name="primary.835", content=simulate_835(send([first_claim]).content, today=TODAY))
    assert (posted["paid_total"], posted["patient_responsibility_total"], posted["secondary_claims_built"]) == (
        "84.00", "21.00", 1)  # allowed 70.00 + 35.00 less 20% coinsurance
    secondary = Claim.objects.get(primary_claim=first_claim)
    text = simulate_835(send([load_claim(secondary.pk)]).content, today=TODAY)
    assert validate_835(text) == []
    [answered] = only_remittance(text).claims
    # Medicaid's fee (the clinic's 35.00 a unit) less the primary's payment leaves room for all of the coinsurance.
    assert (answered.status_code, answered.paid) == ("2", D("21.00"))
    assert [line.adjustments for line in answered.lines] == [(Adjustment("OA", "23", D("106.00")),),
                                                             (Adjustment("OA", "23", D("53.00")),)]
    era_import(file_name="secondary.835", content=text)
    assert claim_money(secondary)["balance"] == claim_money(first_claim)["balance"] == D("0.00")


def test_simulate_payer_writes_the_835_and_the_acknowledgments_and_prints_a_summary(batch, tmp_path):
    source = tmp_path / "claims.837"
    source.write_text(batch.content)
    out = io.StringIO()
    call_command("simulate_payer", str(source), "--out", str(tmp_path / "answer.835"), "--ack-999",
                 str(tmp_path / "answer.999"), "--ack-277ca", str(tmp_path / "answer.277"), "--today", "2026-11-20",
                 stdout=out)
    assert json.loads(out.getvalue()) == {"claims": 1, "paid_total": "82.32", "denials": 0}
    assert (tmp_path / "answer.835").read_text() == simulate_835(batch.content, today=TODAY)
    assert (tmp_path / "answer.999").read_text() == simulate_999(batch.content)
    assert (tmp_path / "answer.277").read_text() == simulate_277ca(batch.content)


def test_simulate_payer_refuses_a_file_that_is_not_an_837(tmp_path, db):
    source = tmp_path / "not.837"
    source.write_text("hello")
    with pytest.raises(CommandError, match="Not a readable 837P"):
        call_command("simulate_payer", str(source), "--out", str(tmp_path / "x.835"), stdout=io.StringIO())
    assert not (tmp_path / "x.835").exists()
