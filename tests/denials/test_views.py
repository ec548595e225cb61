"""The denial worklist and page with its actions, the A/R follow-up worklist and the underpayment list, for the
three personas: clinic A's biller works clinic A, clinic B's biller gets 404 on every clinic-A object route and
sees none of its rows, a user with no grant sees nothing. CSV exports are checked against the rows on screen."""

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from claims.models import Claim, ClaimLine, ClaimStatus, LedgerEntry, LedgerKind, LedgerParty
from claims.services import new_line_control_number, new_patient_control_number
from clinics.models import AccessAction, AccessLogEntry
from denials import views
from denials.models import Appeal, Denial, EraFile, EraPayment, FollowUpNote, Underpayment, WorkStatus
from otbilling.tenancy import VIEW_PHI, WORK_CLAIMS, Role
from tests import factories
from tests.denials.test_services import NOTE_TEXT, denied_claim, grant

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.denials.urls_work")]
TODAY = timezone.localdate()


class Work:
    """Claims of one clinic with a charge on the ledger, and denials and underpayments on them, made directly."""

    def __init__(self, clinic, payer):
        self.clinic, self.payer = clinic, payer
        self.provider = factories.ProviderFactory(clinic=clinic)
        era_file = EraFile.objects.create(clinic=clinic, file_name="x.835", sha256=f"{clinic.pk:064d}", content="")
        self.payment = EraPayment.objects.create(clinic=clinic, era_file=era_file, payer_identifier=payer.payer_id,
                                                 payee_identifier=clinic.billing_npi,
                                                 trace_number=f"TRN{clinic.pk}", amount=D("0"))

    def claim(self, *, charge="100.00", age=20, last_name="Example", **extra) -> Claim:
        patient = factories.PatientFactory(clinic=self.clinic, last_name=last_name)
        coverage = factories.CoverageFactory(patient=patient, payer=self.payer)
        dos = TODAY - datetime.timedelta(days=age)
        claim = Claim.objects.create(
            clinic=self.clinic, patient=patient, coverage=coverage, payer=self.payer, rendering_provider=self.provider,
            patient_control_number=new_patient_control_number(), status=ClaimStatus.DENIED, place_of_service="11",
            service_date_from=dos, service_date_to=dos, diagnoses=["M62.81"], total_charge=D(charge),
            submitted_at=timezone.now(), **extra)
        visit = factories.VisitFactory(patient=patient, coverage=coverage, rendering_provider=self.provider,
                                       date_of_service=dos)
        line = ClaimLine.objects.create(
            clinic=self.clinic, claim=claim, position=1, visit=visit, date_of_service=dos, cpt="97110",
            modifiers=["GO"], units=2, charge=D(charge), expected_allowed=D("30.00"), diagnosis_pointers=[1],
            line_control_number=new_line_control_number(claim, 1))
        LedgerEntry.objects.create(clinic=self.clinic, claim=claim, claim_line=line, kind=LedgerKind.CHARGE,
                                   party=LedgerParty.PAYER, amount=D(charge), source="build")
        return claim

    def denial(self, *, charge="100.00", deadline_in=60, category="authorization", carc="197", **extra) -> Denial:
        claim = self.claim(charge=charge, last_name=extra.pop("last_name", "Example"), age=extra.pop("age", 20))
        return Denial.objects.create(
            clinic=self.clinic, claim=claim, claim_line=claim.lines.get(), payment=self.payment, group_code="CO",
            carc=carc, category=category, reason="Prior authorization or notification missing",
            recommended_action="Get a retro authorization", amount=D(charge),
            appeal_deadline=TODAY + datetime.timedelta(days=deadline_in), **extra)

    def underpayment(self) -> Underpayment:
        claim = self.claim(charge="60.00", last_name="Shortpaid")
        return Underpayment.objects.create(clinic=self.clinic, claim=claim, claim_line=claim.lines.get(),
                                           payment=self.payment, expected=D("35.00"), allowed=D("30.00"),
                                           paid=D("30.00"))


@pytest.fixture
def work_a(clinic_a, payer):
    return Work(clinic_a, payer)


@pytest.fixture
def work_b(clinic_b, payer):
    return Work(clinic_b, payer)


def login(client, user):
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


DENIAL_POST_ROUTES = ("denial-appeal", "denial-appeal-outcome", "denial-transfer", "denial-write-off",
                      "denial-bill-secondary", "denial-follow-up", "denial-assign", "denial-resolve")


# --- denial worklist ----------------------------------------------------------------------------------------------


def test_the_worklist_shows_each_clinic_its_own_denials(client, user_a, user_b, user_no_grant, work_a, work_b):
    denial_a = work_a.denial(last_name="Applewood")
    denial_b = work_b.denial(last_name="Birchwood")
    body_a = login(client, user_a).get(reverse("denial-list")).content.decode()
    assert denial_a.claim.patient_control_number in body_a and "Applewood" in body_a
    assert denial_b.claim.patient_control_number not in body_a and "Birchwood" not in body_a
    body_b = login(client, user_b).get(reverse("denial-list")).content.decode()
    assert "Birchwood" in body_b and "Applewood" not in body_b
    response = login(client, user_no_grant).get(reverse("denial-list"))
    assert response.status_code == 403 and b"Applewood" not in response.content


@pytest.mark.parametrize("name", ["denial-list", "denial-list-csv", "ar-list", "ar-list-csv", "underpayment-list"])
def test_every_list_refuses_no_grant_and_hides_clinic_a_from_clinic_b(client, user_b, user_no_grant, work_a, name):
    work_a.denial(last_name="Applewood")
    work_a.underpayment()
    assert login(client, user_no_grant).get(reverse(name)).status_code == 403
    response = login(client, user_b).get(reverse(name))
    assert response.status_code == 200
    assert b"Applewood" not in response.content and b"Shortpaid" not in response.content


def test_the_worklist_shows_open_work_unless_asked_and_filters(client, user_a, work_a):
    open_one = work_a.denial(charge="40.00", deadline_in=5, category="coding", carc="4")
    big = work_a.denial(charge="400.00", deadline_in=90)
    done = work_a.denial(status=WorkStatus.WRITTEN_OFF)
    mine = work_a.denial(assignee=user_a, deadline_in=30)
    login(client, user_a)

    def shown(**params):
        return {d.pk for d in client.get(reverse("denial-list"), params).context["rows"]}

    assert shown() == {open_one.pk, big.pk, mine.pk}
    assert shown(status="all") == {open_one.pk, big.pk, mine.pk, done.pk}
    assert shown(status=WorkStatus.WRITTEN_OFF) == {done.pk}
    assert shown(category="coding") == {open_one.pk}
    assert shown(amount_min="100.01", amount_max="500") == {big.pk}
    assert shown(deadline_days="10") == {open_one.pk}
    assert shown(assignee="me") == {mine.pk}
    assert shown(payer=str(work_a.payer.public_id)) == {open_one.pk, big.pk, mine.pk}


def test_a_bad_filter_is_explained_not_a_500(client, user_a, work_a):
    work_a.denial()
    response = login(client, user_a).get(reverse("denial-list"), {"amount_min": "50", "amount_max": "5"})
    assert response.status_code == 200 and "The upper amount is below the lower amount." in response.content.decode()


def test_the_worklist_pages_by_keyset_in_deadline_order(client, user_a, work_a, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 3)
    denials = [work_a.denial(deadline_in=days) for days in (40, 10, 30, 10, 50, 20, 60)]
    login(client, user_a)
    seen, params = [], {}
    while True:
        response = client.get(reverse("denial-list"), params)
        seen += [d.pk for d in response.context["rows"]]
        if not response.context["next_cursor"]:
            break
        params = {"after": response.context["next_cursor"]}
    expected = [d.pk for d in sorted(denials, key=lambda d: (d.appeal_deadline, d.pk))]
    assert seen == expected
    biggest_first = client.get(reverse("denial-list"), {"sort": "-amount"}).context["rows"]
    assert [d.amount for d in biggest_first] == sorted((d.amount for d in denials), reverse=True)[:3]


def test_a_tampered_cursor_starts_again_at_the_first_page(client, user_a, work_a, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for days in (1, 2, 3):
        work_a.denial(deadline_in=days)
    first = login(client, user_a).get(reverse("denial-list")).context["rows"]
    again = client.get(reverse("denial-list"), {"after": "forged"}).context["rows"]
    assert [d.pk for d in again] == [d.pk for d in first]


def test_the_csv_holds_exactly_the_rows_on_screen(client, user_a, work_a, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for days in (30, 10, 20):
        work_a.denial(deadline_in=days, charge=f"{days}.00")
    login(client, user_a)
    screen = client.get(reverse("denial-list"), {"sort": "-amount"}).context["rows"]
    response = client.get(reverse("denial-list-csv"), {"sort": "-amount"})
    rows = csv_rows(response)
    assert rows[0] == views.DENIAL_CSV_HEADER
    assert [(row[0], row[12], row[8]) for row in rows[1:]] == [
        (d.claim.patient_control_number, f"{d.amount:.2f}", "CO-197") for d in screen]
    assert AccessLogEntry.objects.filter(action=AccessAction.EXPORT, object_type="denial").exists()


def test_bulk_assign_takes_only_the_users_own_denials(client, user_a, work_a, work_b):
    own = work_a.denial()
    other = work_b.denial()
    response = login(client, user_a).post(reverse("denial-bulk-assign"), {
        "denials": [str(own.public_id), str(other.public_id)], "assignee": "me"})
    assert response.status_code == 302
    own.refresh_from_db()
    other.refresh_from_db()
    assert (own.assignee, other.assignee) == (user_a, None)


# --- denial page --------------------------------------------------------------------------------------------------


def test_the_denial_page_explains_the_denial_to_its_clinic(client, user_a, work_a):
    denial = work_a.denial(deadline_in=9)
    response = login(client, user_a).get(reverse("denial-detail", args=[denial.public_id]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Prior authorization or notification missing" in body and "Get a retro authorization" in body
    assert "9 days left" in body and "CO: Contractual obligation" in body
    for form_id in ("appeal-form", "transfer-form", "write-off-form", "bill-secondary-form", "follow-up-form",
                    "assign-form", "resolve-form"):
        assert f'id="{form_id}"' in body, form_id
    assert AccessLogEntry.objects.filter(action=AccessAction.VIEW, object_type="denial").exists()


def test_every_object_route_is_a_404_for_another_clinic_and_no_grant(client, user_b, user_no_grant, work_a):
    denial = work_a.denial()
    appeal = Appeal.objects.create(clinic=work_a.clinic, denial=denial, claim=denial.claim, argument="x",
                                   letter_pdf=b"%PDF-1.7", letter_sha256="0" * 64)
    underpayment = work_a.underpayment()
    routes = [("get", "denial-detail", denial), ("get", "appeal-letter", appeal),
              ("post", "claim-follow-up", denial.claim), ("post", "underpayment-resolve", underpayment),
              *[("post", name, denial) for name in DENIAL_POST_ROUTES]]
    for user in (user_b, user_no_grant):
        login(client, user)
        for method, name, obj in routes:
            response = getattr(client, method)(reverse(name, args=[obj.public_id]), {"argument": "x"})
            assert response.status_code == 404, (user.username, name)
    assert not LedgerEntry.objects.exclude(kind=LedgerKind.CHARGE).exists() and Appeal.objects.count() == 1


def test_a_reader_without_work_claims_sees_the_page_without_actions_and_cannot_post(client, make_user, clinic_a,
                                                                                   work_a):
    owner = make_user("owner_a", Role.CLINIC_OWNER, clinic_a)
    denial = work_a.denial()
    body = login(client, owner).get(reverse("denial-detail", args=[denial.public_id])).content.decode()
    assert "Prior authorization" in body and 'id="appeal-form"' not in body and 'id="write-off-form"' not in body
    response = client.post(reverse("denial-write-off", args=[denial.public_id]),
                           {"amount": "1.00", "reason_code": "administrative", "party": "payer"})
    assert response.status_code == 404


def test_the_write_off_is_offered_and_accepted_only_with_the_write_off_permission(client, make_user, clinic_a,
                                                                                  work_a, user_a):
    denial = work_a.denial(charge="80.00")
    clerk = grant(make_user("clerk_a"), clinic_a, VIEW_PHI, WORK_CLAIMS)
    body = login(client, clerk).get(reverse("denial-detail", args=[denial.public_id])).content.decode()
    assert 'id="appeal-form"' in body and 'id="write-off-form"' not in body
    data = {"amount": "80.00", "reason_code": "auth_not_obtained", "party": "payer", "note": ""}
    refused = client.post(reverse("denial-write-off", args=[denial.public_id]), data)
    assert refused.status_code == 403 and "You may not write off" in refused.content.decode()
    assert not LedgerEntry.objects.filter(kind=LedgerKind.WRITE_OFF).exists()
    done = login(client, user_a).post(reverse("denial-write-off", args=[denial.public_id]), data)
    assert done.status_code == 302
    assert list(LedgerEntry.objects.filter(kind=LedgerKind.WRITE_OFF).values_list("amount", "reason_code",
                                                                                     "posted_by")) == [
        (D("-80.00"), "auth_not_obtained", user_a.pk)]
    denial.refresh_from_db()
    assert denial.status == WorkStatus.WRITTEN_OFF


def test_a_write_off_over_the_balance_is_shown_beside_the_amount(client, user_a, work_a):
    denial = work_a.denial(charge="80.00")
    response = login(client, user_a).post(reverse("denial-write-off", args=[denial.public_id]), {
        "amount": "80.01", "reason_code": "administrative", "party": "payer"})
    assert response.status_code == 200
    form = response.context["write_off_form"]
    assert "more than the payer's open balance of $80.00" in form.errors["amount"][0]
    assert not LedgerEntry.objects.filter(kind=LedgerKind.WRITE_OFF).exists()


def test_the_transfer_moves_the_balance_and_says_so(client, user_a, work_a):
    denial = work_a.denial(charge="75.50")
    data = {"amount": "", "reason": "non_covered_abn", "note": "ABN signed"}
    response = login(client, user_a).post(reverse("denial-transfer", args=[denial.public_id]), data, follow=True)
    assert "$75.50 of claim" in response.content.decode()
    assert sorted(LedgerEntry.objects.filter(kind=LedgerKind.TRANSFER).values_list("party", "amount")) == [
        ("patient", D("75.50")), ("payer", D("-75.50"))]


def test_follow_up_resolve_and_assign_from_the_denial_page(client, user_a, work_a, make_user, clinic_a):
    denial = work_a.denial()
    colleague = make_user("colleague_a", Role.BILLER, clinic_a)
    login(client, user_a)
    day = TODAY + datetime.timedelta(days=7)
    client.post(reverse("denial-follow-up", args=[denial.public_id]), {"text": "Called payer", "next_follow_up": day})
    client.post(reverse("denial-assign", args=[denial.public_id]), {"assignee": "colleague_a"})
    client.post(reverse("denial-resolve", args=[denial.public_id]), {"status": "resolved", "note": "Paid on recon"})
    denial.refresh_from_db()
    denial.claim.refresh_from_db()
    assert (denial.next_follow_up, denial.claim.next_follow_up, denial.assignee, denial.status) == (
        day, day, colleague, WorkStatus.RESOLVED)
    assert [n.text for n in FollowUpNote.objects.order_by("pk")] == ["Called payer", "Resolved: Paid on recon"]


def test_marking_corrected_without_a_corrected_claim_is_refused_beside_the_field(client, user_a, work_a):
    denial = work_a.denial()
    response = login(client, user_a).post(reverse("denial-resolve", args=[denial.public_id]),
                                          {"status": "corrected", "note": "sent"})
    assert response.status_code == 200
    assert "no replacement or void yet" in response.context["resolve_form"].errors["status"][0]


def test_bill_secondary_without_a_secondary_coverage_shows_why(client, user_a, work_a):
    denial = work_a.denial()
    response = login(client, user_a).post(reverse("denial-bill-secondary", args=[denial.public_id]), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse("denial-detail", args=[denial.public_id])
    assert list(response.context["messages"])[0].level_tag == "error"


def test_bill_secondary_opens_the_new_claim_and_marks_the_denial_billed_on(client, user_a, real_denial):
    patient = real_denial.claim.patient
    factories.CoverageFactory(patient=patient, payer=factories.PayerFactory(name="Second Mutual", payer_id="SEC01"),
                              priority="secondary", member_id="SEC123")
    response = login(client, user_a).post(reverse("denial-bill-secondary", args=[real_denial.public_id]))
    secondary = Claim.objects.get(primary_claim=real_denial.claim)
    assert response.status_code == 302 and response["Location"] == reverse("claim-detail", args=[secondary.public_id])
    assert secondary.payer.payer_id == "SEC01"
    real_denial.refresh_from_db()
    assert real_denial.status == WorkStatus.TRANSFERRED
    again = client.post(reverse("denial-bill-secondary", args=[real_denial.public_id]), follow=True)
    assert "already has a secondary claim" in again.content.decode()
    assert Claim.objects.filter(primary_claim=real_denial.claim).count() == 1


# --- appeal through the page --------------------------------------------------------------------------------------


@pytest.fixture
def real_denial(clinic_a, code_sets):
    claim = denied_claim(clinic_a, appeal_window_days=3650)  # a deadline years away: the appeal is on time today
    return Denial.objects.get(claim=claim, claim_line__position=1)


def test_an_appeal_writes_the_letter_which_downloads_as_a_logged_pdf(client, user_a, real_denial):
    login(client, user_a)
    response = client.post(reverse("denial-appeal", args=[real_denial.public_id]),
                           {"argument": "Retro authorization RA-1 covers the visit."})
    assert response.status_code == 302
    appeal = Appeal.objects.get()
    page = client.get(reverse("denial-detail", args=[real_denial.public_id])).content.decode()
    letter_url = reverse("appeal-letter", args=[appeal.public_id])
    assert letter_url in page and 'id="outcome-form"' in page
    assert 'id="appeal-form"' not in page  # one appeal at a time: the next waits for the payer's answer
    download = client.get(letter_url)
    assert download["Content-Type"] == "application/pdf" and download.content.startswith(b"%PDF")
    assert download.content == bytes(appeal.letter_pdf)
    assert "attachment;" in download["Content-Disposition"]
    assert AccessLogEntry.objects.filter(action=AccessAction.EXPORT, object_type="appeal",
                                         object_id=str(appeal.public_id)).exists()
    real_denial.refresh_from_db()
    assert real_denial.status == WorkStatus.APPEALED
    outcome = client.post(reverse("denial-appeal-outcome", args=[real_denial.public_id]),
                          {"outcome": "won", "note": "paid on 835 of 2027-01-05"})
    assert outcome.status_code == 302
    real_denial.refresh_from_db()
    assert real_denial.status == WorkStatus.RESOLVED


def test_an_appeal_after_the_deadline_is_refused_beside_the_argument(client, user_a, work_a):
    denial = work_a.denial(deadline_in=-3)
    response = login(client, user_a).post(reverse("denial-appeal", args=[denial.public_id]), {"argument": "Pay"})
    assert response.status_code == 200
    assert "3 days ago" in response.context["appeal_form"].errors["argument"][0]
    assert "The appeal deadline" in response.content.decode() and not Appeal.objects.exists()


def test_an_empty_argument_is_asked_for(client, user_a, work_a):
    denial = work_a.denial()
    response = login(client, user_a).post(reverse("denial-appeal", args=[denial.public_id]), {"argument": " "})
    assert response.status_code == 200 and response.context["appeal_form"].errors["argument"]
    assert not Appeal.objects.exists()


def test_the_letter_of_a_real_denial_carries_the_note(client, user_a, real_denial):
    from tests.denials.test_letters import pdf_text

    login(client, user_a).post(reverse("denial-appeal", args=[real_denial.public_id]), {"argument": "Authorized."})
    text, _pages = pdf_text(client.get(reverse("appeal-letter", args=[Appeal.objects.get().public_id])).content)
    assert NOTE_TEXT in text and "Authorized." in text


# --- A/R worklist -------------------------------------------------------------------------------------------------


def test_the_ar_list_shows_aging_totals_and_only_the_clinics_own_claims(client, user_a, user_b, user_no_grant,
                                                                       work_a, work_b):
    young = work_a.claim(charge="100.00", age=10, last_name="Applewood")
    old = work_a.claim(charge="50.25", age=200, last_name="Oldacre")
    work_b.claim(charge="999.00", age=10, last_name="Birchwood")
    response = login(client, user_a).get(reverse("ar-list"))
    body = response.content.decode()
    assert {c.pk for c in response.context["rows"]} == {young.pk, old.pk}
    assert dict((key, total) for key, _label, total in response.context["aging"]) == {
        "0-30": D("100.00"), "31-60": D("0.00"), "61-90": D("0.00"), "91-120": D("0.00"), "120+": D("50.25")}
    assert "$150.25" in body and "Birchwood" not in body
    assert "Applewood" not in login(client, user_b).get(reverse("ar-list")).content.decode()
    assert login(client, user_no_grant).get(reverse("ar-list")).status_code == 403


def test_the_ar_filters_by_bucket_balance_and_follow_up(client, user_a, work_a):
    young = work_a.claim(charge="100.00", age=10)
    old = work_a.claim(charge="20.00", age=95, next_follow_up=TODAY)
    later = work_a.claim(charge="30.00", age=45, next_follow_up=TODAY + datetime.timedelta(days=30))
    login(client, user_a)

    def shown(**params):
        return {c.pk for c in client.get(reverse("ar-list"), params).context["rows"]}

    assert shown(age="91-120") == {old.pk}
    assert shown(amount_min="25") == {young.pk, later.pk}
    assert shown(follow_up="due") == {old.pk}
    assert shown(follow_up="unset") == {young.pk}


def test_the_ar_csv_holds_exactly_the_rows_on_screen(client, user_a, work_a, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for age in (5, 50, 150):
        work_a.claim(age=age, charge=f"{age}.00")
    login(client, user_a)
    screen = client.get(reverse("ar-list")).context["rows"]
    rows = csv_rows(client.get(reverse("ar-list-csv")))
    assert rows[0] == views.AR_CSV_HEADER
    assert [(row[0], row[5], row[8]) for row in rows[1:]] == [
        (c.patient_control_number, str(c.age_days), f"{c.balance:.2f}") for c in screen]
    assert [row[6] for row in rows[1:]] == ["Over 120 days", "31–60 days"]


def test_the_inline_follow_up_answers_htmx_with_the_cell(client, user_a, work_a):
    claim = work_a.claim()
    day = TODAY + datetime.timedelta(days=3)
    response = login(client, user_a).post(reverse("claim-follow-up", args=[claim.public_id]),
                                          {"text": "Left a voicemail", "next_follow_up": day.isoformat()},
                                          HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "<html" not in body
    assert f'data-follow-up="{day:%Y-%m-%d}"' in body and "saved" in body
    claim.refresh_from_db()
    assert claim.next_follow_up == day
    past = client.post(reverse("claim-follow-up", args=[claim.public_id]),
                       {"text": "x", "next_follow_up": "2001-01-01"}, HTTP_HX_REQUEST="true")
    assert "is in the past" in past.content.decode()


def test_ar_bulk_assign_gives_the_claims_to_a_colleague(client, user_a, work_a, make_user, clinic_a):
    claims = [work_a.claim(), work_a.claim()]
    make_user("colleague_a", Role.BILLER, clinic_a)
    response = login(client, user_a).post(reverse("ar-bulk-assign"), {
        "claims": [str(c.public_id) for c in claims], "assignee": "colleague_a"})
    assert response.status_code == 302
    assert set(Claim.objects.values_list("assignee__username", flat=True)) == {"colleague_a"}


# --- underpayments ------------------------------------------------------------------------------------------------


def test_the_underpayment_list_shows_the_shortfall_and_resolves(client, user_a, user_b, work_a):
    item = work_a.underpayment()
    response = login(client, user_a).get(reverse("underpayment-list"))
    row = response.content.decode().split(f'data-underpayment="{item.public_id}"')[1].split("</tr>")[0]
    cells = [cell.split(">", 1)[1] for cell in row.split("</td>") if 'class="num"' in cell]
    assert cells == ["$35.00", "$30.00", "$30.00", "$5.00"]  # expected, allowed, paid, shortfall
    assert "Shortpaid" not in login(client, user_b).get(reverse("underpayment-list")).content.decode()
    login(client, user_a).post(reverse("underpayment-resolve", args=[item.public_id]),
                               {"status": "resolved", "note": "Fee schedule was wrong"})
    item.refresh_from_db()
    assert item.status == WorkStatus.RESOLVED
