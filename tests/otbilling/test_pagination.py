"""Keyset pages with a signed cursor (otbilling.pagination), on payers whose sort values repeat."""

import pytest
from django.core import signing
from django.db.models import DateField, DecimalField, F
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from clinics.models import Payer
from otbilling.pagination import CURSOR_SALT, SortKey, keyset_page
from tests import factories

KEYS = {
    "name": SortKey(F("name"), "text"),
    "days": SortKey(F("timely_filing_days"), "int"),
    "window": SortKey(Cast(F("appeal_window_days"), DecimalField(max_digits=12, decimal_places=2)), "decimal"),
    # A date that repeats: 2025-01-01 plus the filing days; as an age, "due" ascending is the latest date first.
    "due": SortKey(RawSQL("DATE '2025-01-01' + timely_filing_days", [], output_field=DateField()), "date",
                   age_like=True),
}


@pytest.fixture
def payers(db):
    # 11 payers: 3 names, 4 filing limits, 2 appeal windows, so every sort has long runs of equal values.
    return [factories.PayerFactory(name=("Alpha", "Beta", "Gamma")[n % 3], timely_filing_days=(90, 180, 365, 30)[n % 4],
                                   appeal_window_days=(60, 120)[n % 2]) for n in range(11)]


def walk(sort: str, page_size: int = 3) -> tuple[list[int], int]:
    seen, pages, after = [], 0, ""
    while True:
        page = keyset_page(Payer.objects.all(), keys=KEYS, scope="payers", sort=sort, after=after,
                           page_size=page_size)
        pages += 1
        assert page.paged == bool(after)
        seen += [payer.pk for payer in page.rows]
        if page.next_cursor is None:
            return seen, pages
        after = page.next_cursor


def first_page(**kwargs) -> list[int]:
    page = keyset_page(Payer.objects.all(), keys=KEYS, scope="payers", page_size=3, **kwargs)
    assert not page.paged
    return [payer.pk for payer in page.rows]


@pytest.mark.parametrize("sort", ["name", "-name", "days", "-days", "window", "-window", "due", "-due"])
def test_pages_neither_overlap_nor_skip_rows_with_equal_sort_keys(payers, sort):
    seen, pages = walk(sort)
    assert pages == 4  # 3 + 3 + 3 + 2
    assert sorted(seen) == sorted(p.pk for p in payers)
    field = {"name": "name", "days": "timely_filing_days", "window": "appeal_window_days",
             "due": "timely_filing_days"}[sort.lstrip("-")]
    values = dict(Payer.objects.values_list("pk", field))
    descending = sort.startswith("-") != (sort.lstrip("-") == "due")
    expected = sorted(seen, key=lambda pk: (values[pk], pk), reverse=descending)
    assert seen == expected


def test_a_page_size_equal_to_the_row_count_has_no_next_page(payers):
    page = keyset_page(Payer.objects.all(), keys=KEYS, scope="payers", sort="name", page_size=11)
    assert len(page.rows) == 11 and page.next_cursor is None


def test_a_tampered_cursor_answers_the_first_page(payers):
    cursor = keyset_page(Payer.objects.all(), keys=KEYS, scope="payers", sort="days", page_size=3).next_cursor
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert first_page(sort="days", after=tampered) == first_page(sort="days")


@pytest.mark.parametrize("after", ["not-a-cursor", "", "a:b:c", "\x00"])
def test_a_cursor_that_was_never_signed_answers_the_first_page(payers, after):
    assert first_page(sort="name", after=after) == first_page(sort="name")


def test_a_cursor_of_another_list_or_another_sort_answers_the_first_page(payers):
    cursor = keyset_page(Payer.objects.all(), keys=KEYS, scope="claims", sort="name", page_size=3).next_cursor
    assert first_page(sort="name", after=cursor) == first_page(sort="name")
    cursor = keyset_page(Payer.objects.all(), keys=KEYS, scope="payers", sort="-name", page_size=3).next_cursor
    assert first_page(sort="name", after=cursor) == first_page(sort="name")


@pytest.mark.parametrize("payload", [
    ["payers", "due", "not-a-date", "1"],
    ["payers", "due", "2025-03-01", "not-a-pk"],
    ["payers", "due", "2025-03-01"],
    {"payers": "due"},
])
def test_a_signed_cursor_with_unreadable_values_answers_the_first_page(payers, payload):
    after = signing.dumps(payload, salt=CURSOR_SALT, compress=True)
    assert first_page(sort="due", after=after) == first_page(sort="due")


def test_rows_carry_their_sort_key(payers):
    page = keyset_page(Payer.objects.all(), keys=KEYS, scope="payers", sort="days", page_size=3)
    assert [payer.sort_key for payer in page.rows] == [30, 30, 90]
