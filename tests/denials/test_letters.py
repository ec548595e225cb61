"""The appeal letter PDF, read back with poppler's pdftotext: the denial in words, both claim numbers, our argument,
and the signed note and plan of care attached as pages of their own."""

import subprocess
import tempfile

import pytest

from denials.letters import appeal_letter_data, appeal_letter_pdf
from denials.models import Denial
from denials.services import denial_appeal
from tests.denials.test_services import GOALS, NOTE_TEXT, PAYMENT_DATE, denied_claim

pytestmark = pytest.mark.django_db
ARGUMENT = "The payer granted retro authorization RA-20260201 on 2026-02-01; the visit falls inside it."


def pdf_text(pdf: bytes) -> tuple[str, list[str]]:
    """The text of a PDF (whitespace collapsed) and the text of each page, read by pdftotext."""
    with tempfile.NamedTemporaryFile(suffix=".pdf") as handle:
        handle.write(pdf)
        handle.flush()
        raw = subprocess.run(["pdftotext", "-layout", handle.name, "-"], check=True, capture_output=True,
                             text=True).stdout
    pages = [" ".join(page.split()) for page in raw.rstrip("\f").split("\f")]
    return " ".join(raw.split()), pages


def page_starting(pages: list[str], label: str) -> str:
    """The one page whose text begins with `label` (an attachment starts on a page of its own)."""
    (found,) = [page for page in pages if page.startswith(label)]
    return found


@pytest.fixture
def denial(clinic_a, code_sets):
    claim = denied_claim(clinic_a)
    return Denial.objects.select_related("claim").get(claim=claim, claim_line__position=1)


def test_the_letter_names_the_denial_the_claim_numbers_and_our_argument(denial, user_a):
    text, _pages = pdf_text(appeal_letter_pdf(appeal_letter_data(denial=denial, argument=ARGUMENT, author=user_a)))
    claim = denial.claim
    assert claim.patient_control_number in text and "ICN197" in text
    assert "CO-197" in text and "Prior authorization or notification missing" in text
    assert "N640" in text and "More visits or units than approved" in text
    assert ARGUMENT in text
    assert "1EG4TE5MK73" in text and "Anna Zebulon" in text  # member id and patient
    assert "97530" in text and "$120.00" in text
    assert "97535" not in text.split("Reason given")[0]  # only the denied line is listed
    assert "Alder Pediatric OT" in text  # letterhead


def test_the_signed_note_and_plan_of_care_are_attached_as_pages(denial, user_a):
    _text, pages = pdf_text(appeal_letter_pdf(appeal_letter_data(denial=denial, argument=ARGUMENT, author=user_a)))
    assert len(pages) >= 3 and "Sincerely" in pages[-3]  # the letter, then one page per attachment
    note_page = page_starting(pages, "ATTACHMENT 1: SIGNED TREATMENT NOTE")
    assert NOTE_TEXT in note_page and "Electronically signed by Olive Therapist, OTR/L on 10/05/2026" in note_page
    plan_page = page_starting(pages, "ATTACHMENT 2: PLAN OF CARE")
    assert GOALS in plan_page and "09/01/2026 – 11/29/2026" in plan_page and "Dr. Rita Referrer" in plan_page


def test_without_a_plan_of_care_the_letter_says_so_and_attaches_the_note(clinic_a, code_sets, user_a):
    claim = denied_claim(clinic_a, with_plan=False)
    denial = Denial.objects.get(claim=claim, claim_line__position=2)
    text, pages = pdf_text(appeal_letter_pdf(appeal_letter_data(denial=denial, argument=ARGUMENT, author=user_a)))
    assert "Sincerely" in pages[-2] and NOTE_TEXT in pages[-1]
    assert "No plan of care is on file" in text and "PLAN OF CARE" not in text


def test_a_claim_level_denial_lists_every_line(denial, user_a):
    claim_level = Denial.objects.create(
        clinic=denial.clinic, claim=denial.claim, group_code="CO", carc="29", category="timely filing",
        reason="Filing deadline passed", recommended_action="Write off", amount=denial.claim.total_charge)
    text, _pages = pdf_text(appeal_letter_pdf(appeal_letter_data(denial=claim_level, argument=ARGUMENT)))
    letter = text.split("Reason given")[0]
    assert "97530" in letter and "97535" in letter and "$180.00" in text
    assert "Filing deadline passed" in text


def test_the_stored_letter_of_an_appeal_renders_again_from_the_appeal(denial, user_a):
    appeal = denial_appeal(denial=denial, argument=ARGUMENT, acting_user=user_a, today=PAYMENT_DATE)
    stored_text, _ = pdf_text(bytes(appeal.letter_pdf))
    again_text, _ = pdf_text(appeal_letter_pdf(appeal))
    assert ARGUMENT in stored_text and ARGUMENT in again_text
    assert "January 22, 2026" in stored_text  # dated the day it was written
