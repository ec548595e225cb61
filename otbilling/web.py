"""Small helpers shared by the apps' browser views."""

import csv
from decimal import Decimal, InvalidOperation

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, fallback: str) -> str:
    """The POSTed `next` address when it stays on this site, else `fallback` (no open redirects)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return fallback


def render_page_or_fragment(request, page: str, fragment: str, context: dict):
    """The fragment for an HTMX swap, the whole page otherwise, also when HTMX restores a page from history (its
    snapshot is gone and it asks for the full page). The answer varies on HX-Request, so the browser's back button
    never shows a cached fragment for the page's address."""
    htmx = getattr(request, "htmx", None)
    partial = bool(htmx) and not htmx.history_restore_request
    response = render(request, fragment if partial else page, context)
    patch_vary_headers(response, ("HX-Request",))
    return response


# A cell starting with one of these runs as a formula when the CSV is opened in a spreadsheet.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        return Decimal(text).is_finite()
    except InvalidOperation:
        return False


def csv_cell(value) -> str:
    """A value for a CSV export: text that a spreadsheet would run as a formula is quoted; numbers stay numbers."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(CSV_FORMULA_START) and not _is_number(text) else text


def csv_response(file_name: str):
    """An attachment response and a csv writer on it."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    return response, csv.writer(response)
