"""The reporting screens on real claims and posted 835s: the dashboard shows exactly what reporting.kpis computes,
every number opens the claims behind it, every table exports as CSV, filters narrow and bad filters are explained,
and an owner never sees another clinic's numbers.

The scene (October 2026): clinic A billed two claims of 180.00 on 2026-09-14 (two patients, two therapists) and one
835 paid on 2026-10-20 answered both: Anna Zebulon's claim paid 105.00 with 75.00 contractual, Ben Yarrow's claim
denied CO-197 for 180.00. So in October A collected 105.00, its denial rate is 1 of 2 = 50.0 %, it is owed 180.00
(31–60 days old at the month's end) against 360.00 of charges in the last 90 days: 45.0 days in A/R. Clinic B
billed one claim to another payer, paid 123.45 (56.55 contractual) on the same day.
"""

import csv
import datetime
import io
import types
from decimal import Decimal

import pytest
from django.urls import reverse

from claims.lifecycle import claim_transition
from claims.models import ClaimStatus
from clinics.models import AccessLogEntry
from denials.posting import era_import
from otbilling.tenancy import Role
from reporting import kpis as K
from reporting.models import MonthlyReport, ReportSettings
from tests import factories
from tests.claims.conftest import add_patient, build_claim_scene, make_claim, make_medicare
from tests.denials.test_posting import clp, paid_with_contractual, svc
from tests.denials.test_x835 import interchange, transaction

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.reporting.urls_for_views")]

OCTOBER = (datetime.date(2026, 10, 1), datetime.date(2026, 10, 31))
SENT = datetime.datetime(2026, 9, 15, 17, 0, tzinfo=datetime.UTC)
PAYMENT_DAY = "20261020"
TABLE_NAMES = ("kpis", "aging", "denial_reasons", "payer_mix", "by_payer", "by_therapist", "open_items", "clinics")


def remittance(clinic, body: str, total: str, *, trace: str, payer_id: str = "ACME1") -> str:
    """An 835 paid on 2026-10-20 to `clinic` (its billing NPI as the payee) from `payer_id`."""
    text = interchange([transaction(body, total, trace=trace)])
    return (text.replace("XX*1234567893", f"XX*{clinic.billing_npi}").replace("20260122", PAYMENT_DAY)
            .replace("REF*2U*ACME1", f"REF*2U*{payer_id}"))


def submitted(scene, **visit):
    claim = make_claim(scene, **visit)
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=claim, to_status=status, reason="test", at=SENT)
    claim.refresh_from_db()
    return claim


def denied_body(claim) -> str:
    return (clp(claim, "4", "180.00", "0.00", icn="ICN197")
            + svc(claim, 1, "97530", "120.00", "0.00", 2, ("CO", "197", "120.00"), remarks=("N640",))
            + svc(claim, 2, "97535", "60.00", "0.00", 1, ("CO", "197", "60.00")))


def paid_body(claim, paid: str, contractual: str) -> str:
    return (clp(claim, "1", "180.00", paid, icn="ICNB")
            + svc(claim, 1, "97530", "120.00", str(D("120.00") - D(contractual)), 2, ("CO", "45", contractual))
            + svc(claim, 2, "97535", "60.00", "60.00", 1))


def clinic_a_ledger(clinic_a) -> types.SimpleNamespace:
    """Clinic A's October: one claim paid 105.00, one denied CO-197 (by a second therapist), one 835."""
    acme = make_medicare(payer_id="ACME1")
    scene_a = build_claim_scene(clinic_a, acme)
    paid = submitted(scene_a)
    second = factories.ProviderFactory(clinic=clinic_a, first_name="Pia", last_name="Second", npi="1245319599")
    second.credentialed_payers.add(acme)
    scene_a2 = add_patient(scene_a, mrn="MRN-0002", first_name="Ben", last_name="Yarrow", member_id="2EG4TE5MK74")
    scene_a2.provider = second
    denied = submitted(scene_a2)
    era_import(file_name="a.835", content=remittance(clinic_a, paid_with_contractual(paid) + denied_body(denied),
                                                      "105.00", trace="EFT-A"))
    return types.SimpleNamespace(acme=acme, paid=paid, denied=denied, therapist=scene_a.provider, second=second)


@pytest.fixture
def world(clinic_a, clinic_b, make_user, code_sets):
    ledger = clinic_a_ledger(clinic_a)
    birch = make_medicare(payer_id="BIRCH1", name="Birch Mutual")
    scene_b = build_claim_scene(clinic_b, birch)
    b_claim = submitted(scene_b)
    era_import(file_name="b.835", content=remittance(clinic_b, paid_body(b_claim, "123.45", "56.55"), "123.45",
                                                      trace="EFT-B", payer_id="BIRCH1"))
    return types.SimpleNamespace(
        a=clinic_a, b=clinic_b, birch=birch, b_claim=b_claim, **vars(ledger),
        owner_a=make_user("owner_a", Role.CLINIC_OWNER, clinic_a),
        owner_b=make_user("owner_b", Role.CLINIC_OWNER, clinic_b),
        biller_a=make_user("biller_a", Role.BILLER, clinic_a),
        operator=make_user("operator", Role.BILLER, clinic_a, Role.BILLER, clinic_b),
        nobody=make_user("nobody"))


def as_user(client, user):
    client.force_login(user)
    return client


def page(client, name="reporting:dashboard", **params) -> str:
    response = client.get(reverse(name), {"period": "2026-10", **params})
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def scope_of(*clinics, **narrow) -> K.Scope:
    return K.scope_for_clinics(clinics, start=OCTOBER[0], end=OCTOBER[1], **narrow)


# --- the dashboard shows what kpis computes ------------------------------------------------------------------------


def test_the_scene_is_what_the_module_docstring_says(world):
    kpis = K.compute(scope_of(world.a))
    assert (kpis.values["denial_rate"], kpis.values["revenue"], kpis.values["ar_total"]) == (
        D("0.5000"), D("105.00"), D("180.00"))
    assert (kpis.counts["claims_denied"], kpis.counts["claims_adjudicated"], kpis.values["days_in_ar"]) == (
        1, 2, D("45.0"))
    assert K.compute(scope_of(world.b)).values["revenue"] == D("123.45")


def test_owner_dashboard_shows_the_exact_figures_with_formula_target_and_drill_link(client, world):
    html = page(as_user(client, world.owner_a))
    assert "Alder Pediatric OT" in html and "October 2026" in html
    assert 'id="tile-link-denial_rate"' in html
    tile = html.split('id="tile-denial_rate"')[1].split("</article>")[0]
    assert ">50.0 %</a>" in tile
    assert K.DEFINITIONS["denial_rate"].formula.split(" (")[0] in tile
    assert "Target ≤ 5.0 %" in tile
    assert "1</a> of <a" in tile and ">2</a> claims" in tile
    assert "key=denial_rate" in tile and "part=numerator" in tile and "period=2026-10" in tile
    assert ">$105.00</a>" in html.split('id="tile-revenue"')[1].split("</article>")[0]
    assert ">45.0 d</a>" in html.split('id="tile-days_in_ar"')[1].split("</article>")[0]
    assert "<svg" in tile and 'class="chart chart-sparkline"' in tile


def test_every_kpi_is_listed_with_its_formula(client, world):
    html = page(as_user(client, world.owner_a))
    table = html.split('id="table-kpis"')[1].split("</section>")[0]
    for definition in K.DEFINITIONS.values():
        assert definition.label in table
        assert definition.formula.replace("'", "&#x27;") in table


def test_change_against_the_previous_period_is_coloured_by_what_is_better(client, world):
    html = page(as_user(client, world.owner_a))
    revenue = html.split('id="tile-revenue"')[1].split("</article>")[0]
    assert 'class="change good"' in revenue and "$105.00" in revenue  # up from nothing in September
    denial = html.split('id="tile-denial_rate"')[1].split("</article>")[0]
    assert "no comparison" in denial  # nothing was adjudicated in September


def test_charts_and_tables_show_the_period(client, world):
    html = page(as_user(client, world.owner_a))
    assert html.count('class="chart chart-') >= 6 + len(K.TILE_KEYS)
    aging = html.split('id="table-aging"')[1].split("</section>")[0]
    assert "31–60 days" in aging and "$180.00" in aging and "key=aging%3A31-60" in aging
    reasons = html.split('id="table-denial_reasons"')[1].split("</section>")[0]
    assert "CO-197" in reasons and "$180.00" in reasons and "key=denial%3ACO-197" in reasons
    mix = html.split('id="table-payer_mix"')[1].split("</section>")[0]
    assert "Medicare Part B" in mix and "$105.00" in mix
    items = html.split('id="table-open_items"')[1].split("</section>")[0]
    assert world.denied.patient_control_number in items and "Yarrow, Ben" in items
    assert world.paid.patient_control_number not in items  # paid off: nothing open
    assert reverse("claim-detail", kwargs={"public_id": world.denied.public_id}) in items
    therapists = html.split('id="table-by_therapist"')[1].split("</section>")[0]
    assert "Pia Second" in therapists and f"therapist={world.second.public_id}" in therapists


def test_the_open_items_shown_are_logged_as_a_phi_read(client, world):
    page(as_user(client, world.owner_a))
    entry = AccessLogEntry.objects.get(user=world.owner_a)
    assert (entry.action, entry.object_type, entry.clinic) == ("list", "claim", world.a)
    assert "1 shown" in entry.object_label


def test_operator_dashboard_compares_clinics_each_cell_drilling_into_its_clinic(client, world):
    html = page(as_user(client, world.operator))
    assert "All my clinics" in html
    assert ">$228.45</a>" in html.split('id="tile-revenue"')[1].split("</article>")[0]
    table = html.split('id="table-clinics"')[1].split("</section>")[0]
    rows = table.split("<tr>")[2:]
    assert "Alder Pediatric OT" in rows[0] and ">$105.00</a>" in rows[0] and ">50.0 %</a>" in rows[0]
    assert f"clinic={world.a.public_id}" in rows[0] and str(world.b.public_id) not in rows[0]
    assert "Birch Hand Therapy" in rows[1] and ">$123.45</a>" in rows[1] and ">0.0 %</a>" in rows[1]
    assert f"clinic={world.b.public_id}" in rows[1]


def test_operator_narrowed_to_one_clinic_sees_that_clinic_only(client, world):
    html = page(as_user(client, world.operator), clinic=str(world.b.public_id))
    assert "Birch Hand Therapy ·" in html and 'id="table-clinics"' not in html
    assert ">$123.45</a>" in html.split('id="tile-revenue"')[1].split("</article>")[0]
    assert world.denied.patient_control_number not in html


# --- an owner never sees another clinic's numbers ------------------------------------------------------------------


def test_owner_of_a_sees_only_a_even_when_asking_for_b(client, world):
    owner = as_user(client, world.owner_a)
    for params in ({}, {"clinic": str(world.b.public_id)}, {"payer": str(world.birch.public_id)}):
        html = page(owner, **params)
        assert ">$105.00</a>" in html.split('id="tile-revenue"')[1].split("</article>")[0], params
        for secret in ("123.45", "Birch", world.b_claim.patient_control_number, str(world.b.public_id)):
            assert secret not in html, (params, secret)
    drill = page(owner, "reporting:drill", key="revenue", clinic=str(world.b.public_id))
    assert world.paid.patient_control_number in drill and world.b_claim.patient_control_number not in drill
    for table in TABLE_NAMES:
        response = owner.get(reverse("reporting:export", kwargs={"table": table}),
                             {"period": "2026-10", "clinic": str(world.b.public_id)})
        text = response.content.decode()
        assert response.status_code == 200 and "123.45" not in text and "Birch" not in text, table
    clinics = csv_rows(owner.get(reverse("reporting:export", kwargs={"table": "clinics"}), {"period": "2026-10"}))
    assert [row["Clinic"] for row in clinics] == ["Alder Pediatric OT"]


def test_owner_of_b_sees_only_b(client, world):
    html = page(as_user(client, world.owner_b))
    assert ">$123.45</a>" in html.split('id="tile-revenue"')[1].split("</article>")[0]
    for secret in ("105.00", "Alder", "Yarrow", world.denied.patient_control_number):
        assert secret not in html, secret


def test_no_grant_gets_403_on_every_list_route_and_404_on_objects(client, world):
    report = MonthlyReport.objects.create(clinic=world.a, month=datetime.date(2026, 10, 1), pdf=b"%PDF-1.7 A")
    outsider = as_user(client, world.nobody)
    for url in (reverse("reporting:dashboard"), reverse("reporting:drill") + "?key=revenue",
                reverse("reporting:drill_csv") + "?key=revenue", reverse("reporting:monthly_list"),
                reverse("reporting:export", kwargs={"table": "kpis"})):
        assert outsider.get(url).status_code == 403, url
    for url in (reverse("reporting:settings", kwargs={"public_id": world.a.public_id}),
                reverse("reporting:monthly_download", kwargs={"public_id": report.public_id})):
        assert outsider.get(url).status_code == 404, url
        assert outsider.post(url).status_code in (404, 405), url


def test_clinic_b_user_gets_404_for_clinic_a_settings_and_reports(client, world):
    report = MonthlyReport.objects.create(clinic=world.a, month=datetime.date(2026, 10, 1), pdf=b"%PDF-1.7 A")
    other = as_user(client, world.owner_b)
    settings_url = reverse("reporting:settings", kwargs={"public_id": world.a.public_id})
    assert other.get(settings_url).status_code == 404
    assert other.post(settings_url, {"baseline_label": "x"}).status_code == 404
    assert other.get(reverse("reporting:monthly_download", kwargs={"public_id": report.public_id})).status_code == 404
    assert "October 2026" not in page(other, "reporting:monthly_list")


def test_reports_without_phi_withhold_patient_names(client, world, make_user):
    from guardian.shortcuts import assign_perm

    analyst = make_user("analyst")
    assign_perm("clinics.view_reports", analyst, world.a)  # figures only: no VIEW_PHI
    viewer = as_user(client, analyst)
    html = page(viewer)
    items = html.split('id="table-open_items"')[1].split("</section>")[0]
    assert "(restricted)" in items and "Yarrow" not in items and "/claims/" not in items
    (item,) = export(viewer, "open_items")
    assert item["Patient"] == "(restricted)"
    drill = page(viewer, "reporting:drill", key="denial_rate")
    assert world.denied.patient_control_number in drill and "Yarrow" not in drill
    rows = csv_rows(viewer.get(reverse("reporting:drill_csv"), {"period": "2026-10", "key": "denial_rate"}))
    assert [row["Patient"] for row in rows] == ["(restricted)"]


# --- drill-down ----------------------------------------------------------------------------------------------------


def test_denial_rate_numerator_lists_exactly_the_denied_claim(client, world):
    html = page(as_user(client, world.owner_a), "reporting:drill", key="denial_rate", part="numerator")
    assert world.denied.patient_control_number in html and world.paid.patient_control_number not in html
    assert "Denial rate (claims): numerator — Claims with a denial dated in the period" in html
    assert K.DEFINITIONS["denial_rate"].formula.split(" (")[0] in html
    assert "Denial rate (claims): <strong>50.0 %</strong> (1 of 2 claims)" in html
    assert "1 claim · charges $180.00 · current balance $180.00" in html
    assert reverse("claim-detail", kwargs={"public_id": world.denied.public_id}) in html
    assert "Yarrow, Ben" in html and "Pia Second" in html and "2026-09-14" in html


def test_denial_rate_denominator_lists_both_adjudicated_claims(client, world):
    html = page(as_user(client, world.owner_a), "reporting:drill", key="denial_rate", part="denominator")
    assert world.denied.patient_control_number in html and world.paid.patient_control_number in html
    assert "2 claims · charges $360.00 · current balance $180.00" in html


def test_drill_of_an_aging_bucket_and_a_denial_reason(client, world):
    owner = as_user(client, world.owner_a)
    aging = page(owner, "reporting:drill", key="aging:31-60")
    assert world.denied.patient_control_number in aging and world.paid.patient_control_number not in aging
    assert "A/R 31–60 days" in aging
    reason = page(owner, "reporting:drill", key="denial:CO-197")
    assert world.denied.patient_control_number in reason and "Denial reason CO-197" in reason


def test_drill_links_back_to_the_dashboard_with_the_same_filters(client, world):
    html = page(as_user(client, world.owner_a), "reporting:drill", key="revenue",
                therapist=str(world.therapist.public_id))
    back = html.split(' id="drill-back"')[0].rsplit('href="', 1)[1]
    assert "period=2026-10" in back and f"therapist={world.therapist.public_id}" in back


@pytest.mark.parametrize("params", [{"key": "no_such_kpi"}, {"key": "aging:200+"}, {"key": ""},
                                    {"key": "denial_rate", "part": "middle"}, {"key": "denial:"},
                                    {"key": "payer:99999999999999999999"}, {"key": "denial:CO-197' OR 1=1"}])
def test_an_unknown_figure_is_404(client, world, params):
    owner = as_user(client, world.owner_a)
    assert owner.get(reverse("reporting:drill"), params).status_code == 404
    assert owner.get(reverse("reporting:drill_csv"), params).status_code == 404


def test_drill_pages_by_keyset_and_the_csv_holds_them_all(client, world, monkeypatch):
    monkeypatch.setattr("reporting.views.PAGE_SIZE", 1)
    owner = as_user(client, world.owner_a)
    first = page(owner, "reporting:drill", key="denial_rate", part="denominator")
    assert "2 claims · charges $360.00" in first and "1 on this page" in first
    next_url = first.split('id="drill-next" href="')[1].split('"')[0].replace("&amp;", "&")
    second = owner.get(reverse("reporting:drill") + next_url).content.decode()
    shown = [html.split('data-claim="')[1].split('"')[0] for html in (first, second)]
    assert sorted(shown) == sorted([world.paid.patient_control_number, world.denied.patient_control_number])
    assert 'id="drill-next"' not in second


def test_the_clinic_switcher_narrows_the_operator_dashboard(client, world):
    operator = as_user(client, world.operator)
    operator.post(reverse("clinic-switch"), {"clinic": str(world.b.public_id), "next": "/"})
    html = page(operator)
    assert "Birch Hand Therapy ·" in html and world.denied.patient_control_number not in html
    assert "All my clinics ·" in page(operator, clinic="")  # an explicit "all my clinics" wins


def test_drill_csv_holds_every_claim_with_its_balance_and_is_logged(client, world):
    owner = as_user(client, world.owner_a)
    rows = csv_rows(owner.get(reverse("reporting:drill_csv"), {"period": "2026-10", "key": "denial_rate",
                                                                "part": "denominator"}))
    assert sorted((row["Claim"], row["Charge"], row["Current balance"]) for row in rows) == sorted([
        (world.paid.patient_control_number, "180.00", "0.00"),
        (world.denied.patient_control_number, "180.00", "180.00")])
    assert AccessLogEntry.objects.filter(user=world.owner_a, action="export").count() == 1


# --- CSV exports ---------------------------------------------------------------------------------------------------


def export(client, table, **params):
    return csv_rows(client.get(reverse("reporting:export", kwargs={"table": table}), {"period": "2026-10", **params}))


def test_kpi_csv_has_rates_as_fractions_and_money_as_plain_decimals(client, world):
    rows = {row["Key"]: row for row in export(as_user(client, world.owner_a), "kpis")}
    assert set(rows) == set(K.DEFINITIONS)
    assert (rows["denial_rate"]["Value"], rows["denial_rate"]["Target"], rows["denial_rate"]["Unit"]) == (
        "0.5000", "0.05", "percent")
    assert rows["revenue"]["Value"] == "105.00" and rows["revenue"]["Previous period"] == "0.00"
    assert rows["days_in_ar"]["Value"] == "45.0"
    assert rows["clean_claim_rate"]["Value"] == ""  # nothing first submitted in October
    assert rows["denial_rate"]["Formula"] == K.DEFINITIONS["denial_rate"].formula


def test_table_csvs_have_the_rows_of_the_page(client, world):
    owner = as_user(client, world.owner_a)
    aging = {row["Bucket"]: row for row in export(owner, "aging")}
    assert (aging["31-60"]["Owed at period end"], aging["31-60"]["Share"]) == ("180.00", "1.0000")
    assert aging["0-30"]["Owed at period end"] == "0.00" and aging["total"]["Owed at period end"] == "180.00"
    (reason,) = export(owner, "denial_reasons")
    assert (reason["Reason (group-CARC)"], reason["Denials"], reason["Amount"], reason["Cumulative"]) == (
        "CO-197", "2", "180.00", "1.0000")
    (mix,) = export(owner, "payer_mix")
    assert (mix["Payer"], mix["Gross charges"], mix["Payments"]) == ("Medicare Part B", "0.00", "105.00")
    (item,) = export(owner, "open_items")
    assert (item["Claim"], item["Patient"], item["Balance at period end"], item["Age (days)"]) == (
        world.denied.patient_control_number, "Yarrow, Ben", "180.00", "47")
    therapists = {row["Therapist (rendering provider)"]: row for row in export(owner, "by_therapist")}
    assert therapists["Pia Second, OTR/L"]["Denial rate (claims)"] == "1.0000"
    assert therapists["Olive Therapist, OTR/L"]["Net collections"] == "105.00"
    (payer,) = export(owner, "by_payer")
    assert (payer["Payer"], payer["Net collections"], payer["A/R"]) == ("Medicare Part B", "105.00", "180.00")


def test_open_items_csv_is_logged_as_an_export(client, world):
    export(as_user(client, world.owner_a), "open_items")
    assert AccessLogEntry.objects.filter(user=world.owner_a, action="export", object_type="claim").exists()


def test_operator_clinic_csv_has_one_row_per_clinic(client, world):
    rows = export(as_user(client, world.operator), "clinics")
    assert [(row["Clinic"], row["Net collections"], row["Denial rate (claims)"]) for row in rows] == [
        ("Alder Pediatric OT", "105.00", "0.5000"), ("Birch Hand Therapy", "123.45", "0.0000")]


def test_an_unknown_table_is_404(client, world):
    assert as_user(client, world.owner_a).get(reverse("reporting:export", kwargs={"table": "secrets"})).status_code \
        == 404


# --- filters -------------------------------------------------------------------------------------------------------


def test_therapist_filter_narrows_every_figure(client, world):
    owner = as_user(client, world.owner_a)
    html = page(owner, therapist=str(world.second.public_id))
    assert ">100.0 %</a>" in html.split('id="tile-denial_rate"')[1].split("</article>")[0]
    assert ">$0.00</a>" in html.split('id="tile-revenue"')[1].split("</article>")[0]
    assert "Therapist: Pia Second" in html
    rows = csv_rows(owner.get(reverse("reporting:drill_csv"), {"period": "2026-10", "key": "denial_rate",
                                                                "part": "denominator",
                                                                "therapist": str(world.second.public_id)}))
    assert [row["Claim"] for row in rows] == [world.denied.patient_control_number]


def test_payer_filter_narrows_the_operator_dashboard(client, world):
    html = page(as_user(client, world.operator), payer=str(world.birch.public_id))
    assert ">$123.45</a>" in html.split('id="tile-revenue"')[1].split("</article>")[0]
    assert "Payer: Birch Mutual" in html


def test_weekly_view_and_custom_range(client, world):
    owner = as_user(client, world.owner_a)
    week = page(owner, grain="week", period="2026-10-21")
    assert "Week of Mon 19 Oct 2026 – Sun 25 Oct 2026" in week
    assert ">$105.00</a>" in week.split('id="tile-revenue"')[1].split("</article>")[0]
    before = page(owner, grain="week", period="2026-10-12")
    assert ">$0.00</a>" in before.split('id="tile-revenue"')[1].split("</article>")[0]
    custom = owner.get(reverse("reporting:dashboard"), {"start": "2026-10-15", "end": "2026-10-25"}).content.decode()
    assert "15 Oct 2026 – 25 Oct 2026" in custom and ">50.0 %</a>" in custom


@pytest.mark.parametrize("params, message", [
    ({"period": "2026-13"}, "is not a month"),
    ({"grain": "week", "period": "October"}, "is not a date"),
    ({"start": "2026-10-05"}, "needs both dates"),
    ({"start": "2026-10-05", "end": "2026-10-01"}, "before the start date"),
    ({"start": "2020-01-01", "end": "2026-01-01"}, "at most two years"),
    ({"start": "yesterday", "end": "2026-10-01"}, "Enter a valid date"),
    ({"period": "9999-12"}, "Periods run from"),
    ({"grain": "year"}, "Select a valid choice"),
    ({"payer": "not-a-uuid"}, "is not a valid UUID"),
    ({"therapist": "00000000-0000-0000-0000-000000000000"}, "Select a valid choice"),
])
def test_bad_filters_are_explained_not_a_500(client, world, params, message):
    response = as_user(client, world.owner_a).get(reverse("reporting:dashboard"), params)
    html = response.content.decode()
    assert response.status_code == 200 and "The filters were not applied" in html and message in html


def test_a_therapist_of_another_clinic_is_not_a_choice(client, world):
    other = factories.ProviderFactory(clinic=world.b, first_name="Bea", last_name="Birch")
    html = as_user(client, world.operator).get(reverse("reporting:dashboard"), {
        "clinic": str(world.a.public_id), "therapist": str(other.public_id)}).content.decode()
    assert "is not a therapist of Alder Pediatric OT" in html
    owner_html = as_user(client, world.owner_a).get(reverse("reporting:dashboard"), {
        "therapist": str(other.public_id)}).content.decode()
    assert "Select a valid choice" in owner_html and "Bea Birch" not in owner_html


def test_the_default_period_is_the_last_full_month(client, world):
    from reporting.forms import last_full_month

    html = as_user(client, world.owner_a).get(reverse("reporting:dashboard")).content.decode()
    assert f"{last_full_month(datetime.date.today())[0]:%B %Y}" in html


def test_htmx_requests_get_the_report_fragment(client, world):
    response = as_user(client, world.owner_a).get(reverse("reporting:dashboard"), {"period": "2026-10"},
                                                  HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="tile-denial_rate"' in html and "<html" not in html


# --- baseline settings ---------------------------------------------------------------------------------------------


def settings_url(clinic) -> str:
    return reverse("reporting:settings", kwargs={"public_id": clinic.public_id})


def test_biller_sets_the_baseline_and_the_dashboard_compares_with_it(client, world):
    biller = as_user(client, world.biller_a)
    response = biller.post(settings_url(world.a), {
        "baseline_label": "Before the billing service", "baseline_start": "2026-10-01",
        "baseline_end": "2026-10-31", "email_owners": "on"})
    assert response.status_code == 302
    saved = ReportSettings.objects.get(clinic=world.a)
    assert (saved.baseline_start, saved.baseline_end, saved.email_owners) == (*OCTOBER, True)
    html = page(as_user(client, world.owner_a), period="2026-11")
    denial = html.split('id="tile-denial_rate"')[1].split("</article>")[0]
    assert "vs baseline Before the billing service: 50.0 %" in denial
    november = K.scope_for_clinics([world.a], start=datetime.date(2026, 11, 1), end=datetime.date(2026, 11, 30))
    growth = K.compute(november, baseline=november.period(*OCTOBER)).values["revenue_growth_baseline"]
    assert growth == D("-1.0000")
    assert 'id="growth-revenue_growth_baseline">-100.0 %</a>' in html


def test_owner_reads_the_settings_but_may_not_change_them(client, world):
    owner = as_user(client, world.owner_a)
    html = owner.get(settings_url(world.a)).content.decode()
    assert "You may read these settings" in html and "disabled" in html and ">Save</button>" not in html
    assert owner.post(settings_url(world.a), {"baseline_label": "Mine"}).status_code == 403
    assert not ReportSettings.objects.filter(clinic=world.a).exists()


@pytest.mark.parametrize("data, message", [
    ({"baseline_start": "2026-10-01", "baseline_label": "Before"}, "needs both dates"),
    ({"baseline_start": "2026-10-31", "baseline_end": "2026-10-01", "baseline_label": "Before"}, "ends before"),
    ({"baseline_start": "2026-10-01", "baseline_end": "2026-10-31"}, "Name the baseline"),
])
def test_a_bad_baseline_is_explained(client, world, data, message):
    response = as_user(client, world.biller_a).post(settings_url(world.a), data)
    assert response.status_code == 200 and message in response.content.decode()
    assert not ReportSettings.objects.filter(clinic=world.a).exists()


# --- monthly reports -----------------------------------------------------------------------------------------------


def test_monthly_list_shows_own_reports_and_downloads_the_stored_pdf(client, world):
    mine = MonthlyReport.objects.create(clinic=world.a, month=datetime.date(2026, 10, 1), pdf=b"%PDF-1.7 A")
    MonthlyReport.objects.create(clinic=world.b, month=datetime.date(2026, 9, 1), pdf=b"%PDF-1.7 B")
    owner = as_user(client, world.owner_a)
    html = page(owner, "reporting:monthly_list")
    assert "October 2026" in html and "September 2026" not in html and mine.file_name in html
    response = owner.get(reverse("reporting:monthly_download", kwargs={"public_id": mine.public_id}))
    assert response.status_code == 200 and response.content == b"%PDF-1.7 A"
    assert response["Content-Disposition"] == 'attachment; filename="alder-2026-10-report.pdf"'
    assert AccessLogEntry.objects.filter(user=world.owner_a, action="download").count() == 1


def fake_service(monkeypatch, calls):
    def monthly_report_generate(*, clinic, month, acting_user):
        calls.append((clinic, month, acting_user))
        return MonthlyReport.objects.create(clinic=clinic, month=month, pdf=b"%PDF-1.7 made",
                                            generated_by=acting_user)

    monkeypatch.setitem(__import__("sys").modules, "reporting.services",
                        types.SimpleNamespace(monthly_report_generate=monthly_report_generate))


def test_owner_generates_a_month_and_is_offered_the_download(client, world, monkeypatch):
    calls = []
    fake_service(monkeypatch, calls)
    owner = as_user(client, world.owner_a)
    response = owner.post(reverse("reporting:monthly_list"), {"clinic": str(world.a.public_id), "month": "2026-10"},
                          follow=True)
    made = MonthlyReport.objects.get()
    assert calls == [(world.a, datetime.date(2026, 10, 1), world.owner_a)]
    html = response.content.decode()
    assert "The October 2026 report of Alder Pediatric OT is ready" in html
    assert reverse("reporting:monthly_download", kwargs={"public_id": made.public_id}) in html


@pytest.mark.parametrize("month, message", [("2026-13", "is not a month"), ("2099-01", "has not ended yet")])
def test_a_bad_month_is_explained(client, world, monkeypatch, month, message):
    fake_service(monkeypatch, [])
    response = as_user(client, world.owner_a).post(reverse("reporting:monthly_list"), {
        "clinic": str(world.a.public_id), "month": month})
    assert response.status_code == 200 and message in response.content.decode()
    assert not MonthlyReport.objects.exists()


def test_an_owner_cannot_generate_another_clinics_report(client, world, monkeypatch):
    calls = []
    fake_service(monkeypatch, calls)
    response = as_user(client, world.owner_a).post(reverse("reporting:monthly_list"), {
        "clinic": str(world.b.public_id), "month": "2026-10"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert calls == [] and not MonthlyReport.objects.exists()
