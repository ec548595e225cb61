"""Keyset pagination for worklists: pages ordered by (sort key, pk) and a signed cursor to the next page.

A worklist declares its sortable columns once:

    SORT_KEYS = {
        "age": SortKey(F("service_date_from"), "date", age_like=True),
        "amount": SortKey(F("total_charge"), "decimal"),
        "payer": SortKey(F("payer__name"), "text"),
    }

and a view asks for one page:

    page = keyset_page(queryset, keys=SORT_KEYS, scope="claims", sort="-amount", after=request.GET.get("after", ""))
    page.rows, page.next_cursor, page.paged

`sort` is a key of `keys`, with a leading "-" for the reverse order. The pk breaks ties, so rows that share a sort
value are neither repeated nor skipped across pages, and a row added or removed between two requests does not shift
the pages the way an offset would.

Sort expressions must never be NULL (wrap nullable columns in Coalesce with a far value): SQL orders NULLs apart
and compares them as unknown, which would lose those rows from the keyset.

The cursor is signed with the project's secret and names the worklist (`scope`) and the sort it was made for. A
missing, hand-edited, expired-secret or foreign cursor is ignored and answers the first page, never an error.
"""

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet

PAGE_SIZE = 50
CURSOR_SALT = "otbilling.pagination.keyset"
KINDS = ("date", "decimal", "text", "int")


class SortKey(NamedTuple):
    """One sortable column: its expression, how its value travels in a cursor (one of KINDS), and whether it is an
    age shown as a date (a larger age is an earlier date, so "age" ascending orders the dates descending)."""

    expression: Any
    kind: str
    age_like: bool = False


class KeysetPage(NamedTuple):
    rows: list
    next_cursor: str | None  # None on the last page
    paged: bool  # True when this page came from a valid cursor (not the first page)


def keyset_page(queryset: QuerySet, *, keys: dict[str, SortKey | tuple], scope: str, sort: str, after: str = "",
                page_size: int = PAGE_SIZE) -> KeysetPage:
    """One page of `queryset` ordered by `keys[sort]` then pk, starting after the `after` cursor.

    Each row gets the attribute `sort_key`. An unknown `sort` raises KeyError: the caller validates it (a form's
    choices) before asking for a page.
    """
    key = SortKey(*keys[sort.lstrip("-")])
    descending = sort.startswith("-") != key.age_like
    queryset = queryset.annotate(sort_key=key.expression)
    queryset = queryset.order_by(F("sort_key").desc(), "-pk") if descending else queryset.order_by("sort_key", "pk")
    start = _read_cursor(after, scope=scope, sort=sort, kind=key.kind, pk_field=queryset.model._meta.pk)
    if start is not None:
        value, pk = start
        after_start = (Q(sort_key__lt=value) | Q(sort_key=value, pk__lt=pk)) if descending else \
            (Q(sort_key__gt=value) | Q(sort_key=value, pk__gt=pk))
        queryset = queryset.filter(after_start)
    rows = list(queryset[:page_size + 1])
    next_cursor = None
    if len(rows) > page_size:
        last = rows[page_size - 1]
        next_cursor = signing.dumps([scope, sort, _encode(last.sort_key), _encode(last.pk)], salt=CURSOR_SALT,
                                    compress=True)
    return KeysetPage(rows[:page_size], next_cursor, start is not None)


def _encode(value) -> str:
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def _decode(kind: str, text: str):
    if kind == "date":
        return datetime.date.fromisoformat(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "int":
        return int(text)
    return str(text)


def _read_cursor(text: str, *, scope: str, sort: str, kind: str, pk_field):
    """(sort value, pk) after which the page starts, or None for the first page."""
    if not text:
        return None
    try:
        cursor_scope, cursor_sort, value, pk = signing.loads(text, salt=CURSOR_SALT)
        if (cursor_scope, cursor_sort) != (scope, sort):
            return None
        return _decode(kind, value), pk_field.to_python(pk)
    except (signing.BadSignature, ValueError, TypeError, InvalidOperation, ValidationError):
        return None
