"""factory_boy factories. Related objects default to the same clinic, so one clinic stays consistent."""

import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from clinics.models import (
    ClaimFilingIndicator,
    Clinic,
    Coverage,
    FeeScheduleEntry,
    Patient,
    Payer,
    PayerKind,
    Provider,
    ProviderKind,
    ReferringProvider,
)
from visits.models import PlanOfCare, ServiceLine, Visit, VisitStatus

# NPIs with valid check digits (domain-rules §9.1 plus computed ones).
VALID_NPIS = ["1234567893", "1558598797", "1000000020", "1000000004", "1000000012", "1000000038",
              "1000000046", "1000000053", "1000000061", "1000000079", "1000000087", "1000000095"]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery-9")


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    legal_name = factory.Sequence(lambda n: f"Clinic {n} Occupational Therapy")
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    billing_npi = "1234567893"
    ein = "123456789"
    taxonomy = "225X00000X"
    address_line1 = "100 Main St"
    city = "Portland"
    state = "OR"
    zip_code = "972011234"
    timezone = "America/Los_Angeles"


class PayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payer
        django_get_or_create = ("payer_id",)

    name = factory.Sequence(lambda n: f"Payer {n}")
    payer_id = factory.Sequence(lambda n: f"P{n:05d}")
    kind = PayerKind.COMMERCIAL
    claim_filing_indicator = ClaimFilingIndicator.COMMERCIAL
    # Test payers ask for no eligibility check unless a test says so (the eligibility edits' own tests do).
    eligibility_max_age_days = 0


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    first_name = factory.Sequence(lambda n: f"Pat{n}")
    last_name = "Example"
    date_of_birth = datetime.date(1950, 3, 4)
    sex = "F"
    address_line1 = "1 Elm St"
    city = "Portland"
    state = "OR"
    zip_code = "97201"


class CoverageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coverage

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda c: c.patient.clinic)
    payer = factory.SubFactory(PayerFactory)
    member_id = factory.Sequence(lambda n: f"M{n:08d}")
    effective_from = datetime.date(2020, 1, 1)


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider

    clinic = factory.SubFactory(ClinicFactory)
    kind = ProviderKind.THERAPIST
    first_name = "Olive"
    last_name = factory.Sequence(lambda n: f"Therapist{n}")
    credentials = "OTR/L"
    npi = factory.Sequence(lambda n: VALID_NPIS[n % len(VALID_NPIS)])


class ReferringProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferringProvider

    clinic = factory.SubFactory(ClinicFactory)
    first_name = "Rita"
    last_name = factory.Sequence(lambda n: f"Referrer{n}")
    npi = factory.Sequence(lambda n: VALID_NPIS[(n + 5) % len(VALID_NPIS)])


class FeeScheduleEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeeScheduleEntry

    clinic = factory.SubFactory(ClinicFactory)
    cpt = "97110"
    charge = Decimal("45.00")
    expected_allowed = Decimal("30.00")
    effective_from = datetime.date(2020, 1, 1)


class PlanOfCareFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PlanOfCare

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda p: p.patient.clinic)
    start_date = datetime.date(2026, 9, 1)
    certified_through = datetime.date(2026, 11, 29)
    certification_signed_date = datetime.date(2026, 9, 10)
    certifier_name = "Dr. Rita Referrer"
    certifier_npi = "1558598797"
    frequency = "2x/week"
    duration = "12 weeks"
    goals = "Independent upper-body dressing."
    diagnoses = factory.LazyFunction(lambda: ["M62.81"])


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    patient = factory.SubFactory(PatientFactory)
    clinic = factory.LazyAttribute(lambda v: v.patient.clinic)
    rendering_provider = factory.SubFactory(ProviderFactory, clinic=factory.SelfAttribute("..clinic"))
    date_of_service = datetime.date(2026, 10, 5)
    diagnoses = factory.LazyFunction(lambda: ["M62.81", "R26.89"])
    note_text = "Worked on fine motor coordination and ADL retraining."
    status = VisitStatus.SIGNED
    signed_by_name = "Olive Therapist, OTR/L"
    signed_at = factory.LazyFunction(lambda: datetime.datetime(2026, 10, 5, 18, tzinfo=datetime.UTC))


class ServiceLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceLine

    visit = factory.SubFactory(VisitFactory)
    clinic = factory.LazyAttribute(lambda line: line.visit.clinic)
    position = factory.Sequence(lambda n: n + 1)
    cpt = "97110"
    minutes = 30
    diagnosis_pointers = factory.LazyFunction(lambda: [1])
