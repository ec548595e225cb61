"""The cross-clinic matrix: every URL pattern and API route × every role × own clinic / other clinic / no grant.

Each route must be listed in ROUTES (or PUBLIC/EXCLUDED with a reason); a new route without an entry fails
`test_every_route_is_covered`. For a route with object ids, clinic A's object must answer 404 to anyone
without a grant on clinic A; for a list route, clinic A's marker text must not appear in their response.
"""

import datetime

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from clinics.services import api_token_create, role_grant
from otbilling.tenancy import Role
from tests import factories
from visits.models import VisitImportJob, VisitStatus

MARKER = "Zebulonquist"  # clinic A's patient surname: must never show up for outsiders

# Routes anyone may reach, or that are not clinic data, with the reason.
PUBLIC = {
    "login": "log-in form",
    "logout": "log-out",
    "healthz": "health check, no data",
    "api-schema": "OpenAPI schema: structure only",
    "api-docs": "Swagger UI: structure only",
    "api:api-root": "router index: links only",
}
# Django admin requires is_staff and registers no PHI models (see clinics/admin.py).
EXCLUDED_PREFIXES = ("admin:",)

# route name -> which clinic-A object fills its URL kwargs (None: no kwargs), and the HTTP methods to try.
ROUTES: dict[str, tuple[str | None, tuple[str, ...]]] = {}


def _walk(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _walk(entry, namespace)
        elif isinstance(entry, URLPattern):
            yield (f"{prefix}{entry.name}" if entry.name else None), entry


def all_routes():
    routes = {}
    for name, pattern in _walk(get_resolver()):
        routes.setdefault(name, pattern)
    return routes


def test_every_route_has_a_name_and_is_covered():
    routes = all_routes()
    unnamed = [str(p.pattern) for name, p in routes.items() if name is None]
    assert not [u for u in unnamed if not u.startswith("^static")], f"routes without a name: {unnamed}"
    uncovered = sorted(
        name for name in routes
        if name and name not in ROUTES and name not in PUBLIC and not name.startswith(EXCLUDED_PREFIXES)
        and not name.endswith("-format")  # DRF format-suffix twins are checked through their base route
    )
    assert not uncovered, f"routes missing from the cross-clinic matrix: {uncovered}"
