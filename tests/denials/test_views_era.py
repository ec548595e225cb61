"""Remittance screens with the three personas: a clinic A biller, a clinic B biller, a user with no grant.

Upload (queued import, eager in tests; dry run; errors shown, never a 500), the 835 list and page (a quarantined
file naming no clinic is shown to its uploader and operator admins only), the unmatched worklist and manual match,
manual posting, and EFT reconciliation. Clinic B gets 404 on every clinic-A object.
"""

import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from claims.ledger import claim_money
from claims.lifecycle import claim_transition
from claims.models import ClaimStatus, LedgerEntry
from denials.models import BankDeposit, EraFile, EraPayment, EraStatus, UnmatchedRemittance
from denials.posting import era_import
from denials.tasks import content_sha256
from otbilling.errors import AppError
from tests.claims.conftest import build_claim_scene, make_claim, make_medicare
from tests.denials.test_manual import other_clinic_claim
from tests.denials.test_posting import paid_with_contractual
from tests.denials.test_x835 import era, interchange, transaction

D = Decimal
pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.denials.urls_era")]


@pytest.fixture
def claim(clinic_a, code_sets):
    built = make_claim(build_claim_scene(clinic_a, make_medicare(payer_id="ACME1")))
    for status in (ClaimStatus.BATCHED, ClaimStatus.SUBMITTED):
        claim_transition(claim=built, to_status=status, reason="test")
    return built


@pytest.fixture
def outsiders(user_b, user_no_grant):
    return {"clinic B biller": user_b, "no grant": user_no_grant}


def as_user(client, user):
    client.force_login(user)
    return client


def upload(client, text, name="acme.835", dry_run=False):
    data = {"file": SimpleUploadedFile(name, text.encode(), content_type="application/edi-x12")}
    if dry_run:
        data["dry_run"] = "on"
    return client.post(reverse("era-upload"), data)


def good_era(claim):
    return era(paid_with_contractual(claim), "105.00")


def unknown_claim_era(claim):
    return era(paid_with_contractual(claim).replace(claim.patient_control_number, "CNOTOURS0001", 1), "105.00")


# --- upload ---------------------------------------------------------------------------------------------------------


def test_an_upload_is_posted_by_the_task_and_opens_on_its_page(client, claim, user_a,
                                                               django_capture_on_commit_callbacks):
    as_user(client, user_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, good_era(claim))
    assert response.status_code == 302 and response.url.startswith(reverse("era-pending") + "?sha256=")
    era_file = EraFile.objects.get()
    pending = client.get(response.url)
    assert pending.status_code == 302 and pending.url == reverse("era-detail", kwargs={"public_id": era_file.public_id})
    page = client.get(pending.url).content.decode()
    assert "Posted" in page and "EFT123" in page and claim.patient_control_number in page
    assert claim_money(claim)["paid"] == D("105.00")


def test_a_second_upload_of_the_same_file_is_reported_already_posted(client, claim, user_a,
                                                                     django_capture_on_commit_callbacks):
    as_user(client, user_a)
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, good_era(claim))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(client, good_era(claim), name="again.835")
    assert callbacks == []  # nothing queued
    page = client.get(response.url).content.decode()
    assert "already posted" in page
    assert EraPayment.objects.count() == 1 and LedgerEntry.objects.filter(kind="payment").count() == 2


def test_the_progress_page_waits_and_redirects_htmx_once_the_file_exists(client, claim, user_a):
    as_user(client, user_a)
    text = good_era(claim)
    url = f"{reverse('era-pending')}?sha256={content_sha256(text)}"
    waiting = client.get(url, headers={"HX-Request": "true"})
    assert waiting.status_code == 200 and b"hx-trigger" in waiting.content
    era_import(file_name="acme.835", content=text, acting_user=user_a)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 204 and done["HX-Redirect"].startswith("/remittances/")
    assert client.get(reverse("era-pending")).status_code == 200  # no digest: a plain page, no error


def test_a_dry_run_shows_the_totals_and_posts_nothing(client, claim, user_a, django_capture_on_commit_callbacks):
    as_user(client, user_a)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = upload(client, good_era(claim), dry_run=True)
    assert response.status_code == 200 and callbacks == []
    page = response.content.decode()
    assert "nothing was posted" in page
    assert 'data-key="paid_total">$105.00' in page and 'data-key="adjustment_total">$75.00' in page
    assert 'data-key="lines_posted">2' in page and 'data-key="claims_matched">1' in page
    assert not EraFile.objects.exists() and not LedgerEntry.objects.exclude(kind="charge").exists()


def test_an_unbalanced_dry_run_shows_the_segment_and_position(client, claim, user_a):
    as_user(client, user_a)
    response = upload(client, era(paid_with_contractual(claim), "105.01"), name="bad.835", dry_run=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "bad.835: segment 4 (BPR)" in page and "105.01" in page and "nothing was posted" in page
    assert not EraFile.objects.exists()


def test_an_unbalanced_upload_posts_nothing_and_its_page_names_segment_and_position(
        client, claim, user_a, django_capture_on_commit_callbacks):
    as_user(client, user_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, era(paid_with_contractual(claim), "105.01"), name="bad.835")
    page = client.get(response.url, follow=True)
    assert page.status_code == 200
    content = page.content.decode()
    assert "Quarantined" in content and "<td class=\"code\">BPR</td>" in content and '<td class="num">4</td>' in content
    assert not EraPayment.objects.exists() and not LedgerEntry.objects.exclude(kind="charge").exists()


def test_a_clinic_b_biller_cannot_post_clinic_as_remittance(client, claim, user_b):
    as_user(client, user_b)
    response = upload(client, good_era(claim))
    assert response.status_code == 200 and "none of the clinics you work" in response.content.decode()
    assert not EraFile.objects.exists()


def test_users_who_may_not_post_get_no_upload_form(client, user_no_grant):
    assert as_user(client, user_no_grant).get(reverse("era-upload")).status_code == 403


# --- 835 list and page ----------------------------------------------------------------------------------------------


def test_a_quarantined_file_is_seen_by_its_uploader_and_operators_only(client, claim, user_a, user_b, make_user):
    with pytest.raises(AppError):
        era_import(file_name="garbage-zebra.835", content="ISA*garbage~", acting_user=user_a)
    quarantined = EraFile.objects.get()
    url = reverse("era-detail", kwargs={"public_id": quarantined.public_id})
    assert as_user(client, user_a).get(url).status_code == 200
    assert "garbage-zebra.835" in client.get(reverse("era-list")).content.decode()
    colleague = make_user("biller_a2", "biller", claim.clinic)
    assert as_user(client, colleague).get(url).status_code == 404
    assert as_user(client, user_b).get(url).status_code == 404
    assert "garbage-zebra.835" not in client.get(reverse("era-list")).content.decode()
    operator = make_user("operator", staff=True)  # an operator admin with no clinic grant
    assert as_user(client, operator).get(url).status_code == 200
    assert "garbage-zebra.835" in client.get(reverse("era-list")).content.decode()


def test_the_era_page_lists_payments_claims_and_unmatched_items(client, claim, user_a):
    era_import(file_name="mixed.835", content=era(
        paid_with_contractual(claim) + paid_with_contractual(claim).replace(
            claim.patient_control_number, "CNOTOURS0001", 1), "210.00"), acting_user=user_a)
    page = as_user(client, user_a).get(
        reverse("era-detail", kwargs={"public_id": EraFile.objects.get().public_id})).content.decode()
    assert "$210.00" in page and "CNOTOURS0001" in page and "Match by hand" in page
    assert f'data-claim="{claim.patient_control_number}"' in page


def test_clinic_b_and_no_grant_get_404_on_every_clinic_a_object(client, claim, user_a, outsiders):
    era_import(file_name="a.835", content=unknown_claim_era(claim), acting_user=user_a)
    item = UnmatchedRemittance.objects.get()
    urls = [reverse("era-detail", kwargs={"public_id": EraFile.objects.get().public_id}),
            reverse("unmatched-match", kwargs={"public_id": item.public_id}),
            reverse("manual-posting", kwargs={"public_id": claim.public_id}),
            reverse("patient-payment", kwargs={"public_id": claim.public_id})]
    for label, user in outsiders.items():
        as_user(client, user)
        for url in urls:
            # Read-only routes refuse POST (405) and the payment route GET before looking anything up.
            assert client.get(url).status_code in (404, 405), (label, url)
            assert client.post(url).status_code in (404, 405), (label, url)
        for url in urls[1:]:  # every route that writes answers 404, never a form error, to outsiders
            assert client.post(url, {"claim": claim.patient_control_number, "amount": "1.00"}).status_code == 404
    as_user(client, user_a)
    for url in urls[:3]:
        assert client.get(url).status_code == 200, url


def test_list_pages_show_clinic_b_nothing_of_clinic_a(client, claim, user_a, user_b, user_no_grant):
    era_import(file_name="alder-only.835", content=unknown_claim_era(claim), acting_user=user_a)
    BankDeposit.objects.create(clinic=claim.clinic, deposit_date=datetime.date(2026, 1, 23), amount=D("9.99"),
                               trace_number="ALDERTRACE")
    for name in ("era-list", "unmatched-list", "deposit-list"):
        assert as_user(client, user_a).get(reverse(name)).status_code == 200
        b_page = as_user(client, user_b).get(reverse(name))
        assert b_page.status_code == 200
        for secret in ("alder-only.835", "CNOTOURS0001", "ALDERTRACE", "EFT123"):
            assert secret not in b_page.content.decode(), (name, secret)
        assert as_user(client, user_no_grant).get(reverse(name)).status_code == 403


# --- unmatched worklist and manual match ------------------------------------------------------------------------------


def test_a_biller_matches_an_unknown_claim_from_the_worklist(client, claim, user_a):
    era_import(file_name="a.835", content=unknown_claim_era(claim), acting_user=user_a)
    item = UnmatchedRemittance.objects.get()
    as_user(client, user_a)
    assert "CNOTOURS0001" in client.get(reverse("unmatched-list")).content.decode()
    page = client.get(reverse("unmatched-match", kwargs={"public_id": item.public_id})).content.decode()
    assert claim.patient_control_number in page  # suggested: same total charge
    response = client.post(reverse("unmatched-match", kwargs={"public_id": item.public_id}),
                           {"claim": claim.patient_control_number.lower()})
    assert response.status_code == 302
    assert claim_money(claim)["balance"] == D("0.00")
    assert "CNOTOURS0001" not in client.get(reverse("unmatched-list")).content.decode()


def test_a_manual_match_to_another_clinics_claim_number_says_no_such_claim(client, claim, user_a, clinic_b, payer):
    outsider = other_clinic_claim(clinic_b, payer)
    era_import(file_name="a.835", content=unknown_claim_era(claim), acting_user=user_a)
    item = UnmatchedRemittance.objects.get()
    response = as_user(client, user_a).post(reverse("unmatched-match", kwargs={"public_id": item.public_id}),
                                            {"claim": outsider.patient_control_number})
    assert response.status_code == 200 and "No such claim in this clinic." in response.content.decode()
    assert not LedgerEntry.objects.exclude(kind="charge").exists()


# --- manual posting ---------------------------------------------------------------------------------------------------


def eob_data(**lines):
    data = {"source": "eob", "reference": "CHK55", "payment_date": "2026-01-22"}
    for key, value in lines.items():
        data[key] = value
    return data


def test_a_paper_eob_posted_from_the_screen_balances_the_claim(client, claim, user_a):
    as_user(client, user_a)
    url = reverse("manual-posting", kwargs={"public_id": claim.public_id})
    assert 'name="line1-paid"' in client.get(url).content.decode()
    response = client.post(url, eob_data(**{"line1-paid": "70.00", "line1-group1": "CO", "line1-carc1": "45",
                                            "line1-amount1": "50.00", "line2-paid": "35.00", "line2-group1": "CO",
                                            "line2-carc1": "45", "line2-amount1": "25.00"}))
    assert response.status_code == 302
    assert claim_money(claim)["balance"] == D("0.00")
    assert LedgerEntry.objects.filter(source="manual", kind="payment").count() == 2


def test_an_unbalanced_eob_line_is_shown_beside_the_line_and_nothing_posts(client, claim, user_a):
    response = as_user(client, user_a).post(
        reverse("manual-posting", kwargs={"public_id": claim.public_id}),
        eob_data(**{"line1-paid": "70.00", "line1-group1": "CO", "line1-carc1": "45", "line1-amount1": "40.00"}))
    assert response.status_code == 200
    assert "charge 120.00 − paid 70.00 = 50.00" in response.content.decode()
    assert not LedgerEntry.objects.filter(source="manual").exists()


def test_a_patient_payment_above_the_balance_is_refused_on_the_screen(client, claim, user_a):
    response = as_user(client, user_a).post(reverse("patient-payment", kwargs={"public_id": claim.public_id}),
                                            {"amount": "5.00", "method": "cash"})
    assert response.status_code == 200 and "owes 0.00" in response.content.decode()
    assert not LedgerEntry.objects.filter(kind="patient_pay").exists()


# --- EFT reconciliation -----------------------------------------------------------------------------------------------


def test_a_deposit_entered_on_screen_is_matched_to_its_835_payment(client, claim, user_a):
    era_import(file_name="a.835", content=good_era(claim), acting_user=user_a)
    response = as_user(client, user_a).post(reverse("deposit-create"), {
        "clinic": str(claim.clinic.public_id), "deposit_date": "2026-01-23", "amount": "105.00",
        "trace_number": "EFT123"})
    assert response.status_code == 302
    assert BankDeposit.objects.get().era_payment == EraPayment.objects.get()
    page = client.get(reverse("deposit-list")).content.decode()
    assert "Every deposit has its 835 payment." in page and "Every 835 payment has its deposit." in page


def test_a_deposit_csv_with_a_bad_row_shows_the_row_and_imports_nothing(client, claim, user_a):
    content = b"date,amount,trace_number\n2026-01-23,105.00,EFT123\n2026-01-24,oops,EFT124\n"
    response = as_user(client, user_a).post(reverse("deposit-import"), {
        "clinic": str(claim.clinic.public_id), "file": SimpleUploadedFile("bank.csv", content)})
    assert response.status_code == 200
    page = response.content.decode()
    assert "row 3" in page and "&#x27;oops&#x27;" in page and "Nothing was imported" in page
    assert not BankDeposit.objects.exists()


def test_a_clinic_b_biller_cannot_record_a_deposit_for_clinic_a(client, claim, user_b):
    response = as_user(client, user_b).post(reverse("deposit-create"), {
        "clinic": str(claim.clinic.public_id), "deposit_date": "2026-01-23", "amount": "105.00",
        "trace_number": "EFT123"})
    assert response.status_code == 200 and not BankDeposit.objects.exists()


# --- quarantine: the payee decides whose file it is ----------------------------------------------------------------


def unknown_payee_era(claim):
    return (good_era(claim).replace("N1*PE*ALDER PEDIATRIC OT*XX*1234567893", "N1*PE*SOMEONE ELSE OT*XX*1999999984")
            .replace("REF*TJ*123456789", "REF*TJ*987654321"))


def test_a_quarantined_file_paying_clinic_a_is_clinic_as_and_invisible_to_clinic_b(client, claim, user_b, make_user):
    with pytest.raises(AppError):
        era_import(file_name="unbalanced.835", content=era(paid_with_contractual(claim), "105.01"), acting_user=None)
    quarantined = EraFile.objects.get()
    assert (quarantined.status, quarantined.clinic) == (EraStatus.QUARANTINED, claim.clinic)
    url = reverse("era-detail", kwargs={"public_id": quarantined.public_id})
    colleague = make_user("biller_a2", "biller", claim.clinic)  # not the uploader: the file is the clinic's
    assert as_user(client, colleague).get(url).status_code == 200
    assert "unbalanced.835" in client.get(reverse("era-list")).content.decode()
    assert as_user(client, user_b).get(url).status_code == 404
    assert "unbalanced.835" not in client.get(reverse("era-list")).content.decode()


def test_an_835_whose_payee_matches_no_clinic_is_quarantined_for_operators_and_posts_nothing(
        client, claim, user_a, user_b, make_user):
    with pytest.raises(AppError) as caught:
        era_import(file_name="stranger.835", content=unknown_payee_era(claim), acting_user=None)
    reason = ("stranger.835: segment 12 (N1): payee NPI 1999999984 / TIN 987654321 (SOMEONE ELSE OT, transaction "
              "0001) matches no clinic")
    assert caught.value.code == "era_payee_unknown" and caught.value.message == f"{reason}; nothing was posted."
    quarantined = EraFile.objects.get()
    assert (quarantined.status, quarantined.clinic, quarantined.imported_by) == (EraStatus.QUARANTINED, None, None)
    assert quarantined.errors == [{"segment": "N1", "position": 12, "message": reason}]
    assert not EraPayment.objects.exists() and not UnmatchedRemittance.objects.exists()
    assert not LedgerEntry.objects.exclude(kind="charge").exists()
    url = reverse("era-detail", kwargs={"public_id": quarantined.public_id})
    page = as_user(client, make_user("operator", staff=True)).get(url)
    assert page.status_code == 200 and "matches no clinic" in page.content.decode()
    assert "stranger.835" in client.get(reverse("era-list")).content.decode()
    for outsider in (user_a, user_b):
        assert as_user(client, outsider).get(url).status_code == 404
        assert "stranger.835" not in client.get(reverse("era-list")).content.decode()


def test_a_dry_run_of_an_unknown_payee_names_it_and_keeps_nothing(claim, user_a):
    with pytest.raises(AppError, match="matches no clinic"):
        era_import(file_name="stranger.835", content=unknown_payee_era(claim), acting_user=user_a, dry_run=True)
    assert not EraFile.objects.exists()


def test_one_unknown_payee_in_a_two_payment_file_posts_neither_payment(claim):
    ours = transaction(paid_with_contractual(claim), "105.00", trace="EFT1", control="0001")
    theirs = [segment.replace("*XX*1234567893", "*XX*1999999984").replace("REF*TJ*123456789", "REF*TJ*987654321")
              for segment in transaction(paid_with_contractual(claim), "105.00", trace="EFT2", control="0002")]
    with pytest.raises(AppError) as caught:
        era_import(file_name="two.835", content=interchange([ours, theirs]), acting_user=None)
    payee_position = 2 + len(ours) + theirs.index("N1*PE*ALDER PEDIATRIC OT*XX*1999999984") + 1
    assert [detail["field"] for detail in caught.value.details] == [f"segment {payee_position} N1"]
    quarantined = EraFile.objects.get()
    assert quarantined.clinic is None  # one payment is clinic A's, the other nobody's: operators sort it out
    assert not EraPayment.objects.exists() and claim_money(claim)["paid"] == D("0.00")
