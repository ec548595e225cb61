"""Shared fixtures. Every suite has three personas: a user of clinic A, a user of clinic B, a user with no grant."""

import pytest

from clinics.services import role_grant
from otbilling.tenancy import Role
from tests import factories

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def clinic_a(db):
    return factories.ClinicFactory(legal_name="Alder Pediatric OT", slug="alder")


@pytest.fixture
def clinic_b(db):
    return factories.ClinicFactory(legal_name="Birch Hand Therapy", slug="birch", billing_npi="1558598797")


@pytest.fixture
def make_user(db):
    """make_user("name", role, clinic, ...) -> a user holding each (role, clinic) pair given."""

    def _make(username, *grants, staff=False):
        user = factories.UserFactory(username=username, is_staff=staff)
        for role, clinic in zip(grants[::2], grants[1::2], strict=True):
            role_grant(clinic=clinic, user=user, role=role, acting_user=None)
        return user

    return _make


@pytest.fixture
def user_a(make_user, clinic_a):
    return make_user("biller_a", Role.BILLER, clinic_a)


@pytest.fixture
def user_b(make_user, clinic_b):
    return make_user("biller_b", Role.BILLER, clinic_b)


@pytest.fixture
def user_no_grant(make_user):
    return make_user("nobody")


@pytest.fixture
def client_a(client, user_a):
    client.force_login(user_a)
    return client


@pytest.fixture
def payer(db):
    return factories.PayerFactory(name="Acme Health", payer_id="ACME1")


@pytest.fixture
def visit_setup(clinic_a, payer):
    """A patient of clinic A with primary coverage, a therapist and a referrer."""
    patient = factories.PatientFactory(clinic=clinic_a)
    return {
        "patient": patient,
        "coverage": factories.CoverageFactory(patient=patient, payer=payer),
        "provider": factories.ProviderFactory(clinic=clinic_a),
        "referrer": factories.ReferringProviderFactory(clinic=clinic_a),
    }


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the versioned code sets once into the test database (reference data, like a real deployment)."""
    from coding.codesets import code_sets_load

    with django_db_blocker.unblock():
        code_sets_load()


@pytest.fixture
def code_sets(db):
    """Code sets for tests that run after a transactional test flushed the database."""
    from coding.codesets import code_sets_load
    from coding.models import ProcedureCode

    if not ProcedureCode.objects.exists():
        code_sets_load()
