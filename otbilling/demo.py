"""Demo data: three clinics, five payers, patients with coverages, plans of care and three months of sessions.

`demo_seed(seed=..., today=...)` builds exactly the same rows for the same seed and `today`: the only randomness is
one `random.Random(seed)` (plus a second generator, seeded from the same number, for public ids), and every date
hangs off `today`. It first removes the demo clinics and everything they own, so running it again is safe.

Most data are clean; some are wrong on purpose ("planted problems", listed in PLANTED_PROBLEMS) so that the coding
engine and the scrubber have something real to catch. Clean sessions go through `visits.services.visit_create`;
the few planted sessions that the service would refuse (coverage ended, non-billable diagnosis) are written with
the ORM, as an EHR feed would have delivered them before validation existed.

Eligibility is built last, from the finished schedule: benefit checks (271 answers and phone/portal checks) often
enough that every session has one within its payer's window, and approved prior authorizations, one per plan of
care, for the payers that require them. Its choices come from a third generator seeded from the same number, so
the sessions are the same with or without it.

With `history=True` (seed_demo's default) the sessions are coded and scrubbed and those more than a week old are
billed through the real pipeline, answered by the simulated payers of denials.simulator and posted (`_History`):
the demo opens with months of claims, payments, denials and underpayments. It uses no randomness at all.
"""

import heapq
import math
import random
import uuid
import zlib
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pghistory
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import connection, transaction
from django.db.models import PROTECT, ProtectedError
from django.utils import timezone
from guardian.utils import get_group_obj_perms_model, get_user_obj_perms_model

from claims.acks import ack_import
from claims.batches import batch_generate, batches_create
from claims.ledger import claim_balance
from claims.models import BatchStatus, Claim, ClaimBatch, ClaimStatus, LedgerEntry, LedgerParty
from claims.services import claims_build
from clinics.models import (
    ClaimFilingIndicator,
    Clinic,
    Coverage,
    CoveragePriority,
    FeeScheduleEntry,
    Patient,
    Payer,
    PayerKind,
    Provider,
    ProviderKind,
    ReferringProvider,
    SubscriberRelationship,
    UnitMethod,
)
from clinics.services import clinic_create, clinic_record_save, role_grant
from clinics.validators import npi_is_valid
from coding.models import CodingStatus, Finding, Severity, VisitCoding
from coding.services import visit_code
from coding.tasks import scrub_open_visits
from denials.manual import patient_payment_record
from denials.posting import era_import
from denials.simulator import payment_due, simulate_277ca, simulate_835, simulate_999
from eligibility.authorizations import authorization_save
from eligibility.models import AuthStatus, BenefitSnapshot, PriorAuthorization, SnapshotSource
from eligibility.services import manual_verification_record
from eligibility.transport import Transport
from eligibility.x271 import BenefitLine
from otbilling.errors import AppError
from otbilling.tenancy import Role
from reporting.kpis import month_bounds
from reporting.models import ReportSettings
from visits.models import PlanOfCare, ProgressReport, ServiceLine, Visit, VisitSource, VisitStatus
from visits.services import LineInput, VisitInput, visit_create

User = get_user_model()

DEMO_PASSWORD = "demo-OT-billing-2026"
DEMO_EMAIL_DOMAIN = "demo.otbilling.example"  # marks clinics and users this command owns (reserved TLD)
WINDOW_DAYS = 91  # sessions fall on today-91 .. today-1 (13 weeks)
EVAL_CODES = ("97165", "97166", "97167", "97168")
EVAL_COMPLEXITY = {"97165": "low", "97166": "moderate", "97167": "high"}

# What the demo gets wrong on purpose. Keys appear in DemoResult.planted with the rows they affect.
PLANTED_PROBLEMS: dict[str, str] = {
    "unsigned_note": "Three sessions 10-45 days old whose notes were never signed (status draft), one per clinic.",
    "timed_under_8_minutes": "A home-health session whose only service is 97110 for 6 minutes (0 billable units).",
    "ncci_97140_97530_same_block": "A hand-clinic session with 97140 and 97530 and no distinct time block (NCCI "
                                   "pair, modifier indicator 1: no 59/XU may be added).",
    "medicare_wrong_discipline_modifier": "A Medicare hand-clinic line carrying a manual GP (physical therapy) "
                                          "modifier on an OT plan of care, where GO belongs.",
    "non_billable_diagnosis": "A hand-clinic session whose first diagnosis is the category header M62.8 "
                              "(written with the ORM: visit_create refuses it).",
    "two_evaluations_same_day": "A pediatric evaluation session billing both 97166 and 97167.",
    "provider_not_credentialed": "A session for a United Meridian patient rendered by Priya Raman, who is not "
                                 "credentialed with that payer (covering for a colleague).",
    "visit_after_coverage_end": "A hand-clinic patient whose Aspen coverage ended; the later sessions still point "
                                "at it (written with the ORM: visit_create refuses it).",
    "visit_beyond_poc": "A home-health Medicare patient whose plan of care expired without recertification; the "
                        "sessions after certified_through still point at it.",
    "addon_97130_without_97129": "A home-health session billing the add-on 97130 without its primary code 97129.",
    "missing_referring_provider": "A Medicare session without a referring provider (the payer requires one).",
    "poc_certification_unsigned": "Three plans of care, started more than 30 days ago, whose certification was "
                                  "never signed (one per clinic).",
    "poc_certification_late": "A Medicare plan of care whose certification was signed on day 35 (more than 30 "
                              "days after the first treatment).",
    "progress_report_overdue": "A home-health Medicare patient with 20+ treatment days and no progress report.",
    "eligibility_never_verified": "A new patient whose coverage was never verified: no benefit check on file for "
                                  "any of their sessions.",
    "eligibility_inactive": "A commercial coverage whose latest 271 said inactive (group cancelled); the sessions "
                            "after that check still point at it.",
    "auth_expired": "A prior authorization that ended before the patient's last two or three sessions, with no "
                    "renewal on file.",
    "auth_exhausted": "A prior authorization whose authorized visits were all used before the patient's last "
                      "session: that session is one visit over.",
    "auth_running_out": "An authorization ending within a week with two visits left, for a patient on tomorrow's "
                        "schedule (auth alerts: visits low and expiring; no session is held by it yet).",
    "visit_limit_reached": "A commercial plan whose calendar-year visit limit was reached two sessions before the "
                           "patient's last.",
}

# Conditions that are not planted mistakes but that later work should meet (documented in the README section).
NATURAL_CONDITIONS = (
    "Sessions of the last two working days are about half still in draft: notes not yet signed, nothing to bill.",
    "Plans of care started in the last ten days may still wait for the physician's signature.",
    "Medicaid and Evergreen Blue Cross require prior authorization: each plan of care has an approved one "
    "(Medicaid per CPT code, Blue Cross by visits, some with a total of units), with room for the visits to come.",
    "Coverages are checked before a patient's first session in the window (phone or portal) and again by the "
    "nightly 270/271 when the last check is more than 27 days old, so most of tomorrow's eligibility worklist "
    "(patients with a plan of care and a recent session) is verified.",
    "Authorizations whose plan of care ends in the coming week raise an 'expiring' auth alert.",
    "The sessions after the Aspen coverage ended also trip ELIG_INACTIVE: the last check reported the plan end.",
    "Medicare's first check of the year reports the OT amount already applied, so KX comes sooner (warnings only).",
    "About a quarter of treatment sessions have a line furnished by the OTA (CO territory); a few have only a "
    "de-minimis 2-3 assistant minutes on a 30+ minute line (10% rule: no CO).",
    "Summit sessions with 97140 and 97530 document them in distinct time blocks (distinct_time_block on 97530).",
    "Home-health Medicare patients seen 2-3x/week all window long pass the $2,480 OT KX threshold (roughly $100 "
    "allowed per session) unless the window straddles 1 January.",
    "One pediatric patient changed coverage inside the window (Evergreen Blue Cross ended, Cascadia Medicaid began).",
)


@dataclass(frozen=True)
class Planted:
    """One planted problem: which rule it should trip and where it lives."""

    key: str
    clinic: str
    mrn: str
    date_of_service: date | None
    detail: str


@dataclass
class DemoResult:
    """What the seed made: the logins to print, row counts and every planted problem."""

    seed: int
    today: date
    password: str
    logins: list[tuple[str, str, list[str]]]  # (role label, username, clinic slugs)
    counts: dict[str, int]
    planted: list[Planted]
    scrub: dict | None = None  # scrub_open_visits' counts, when demo_seed coded the sessions (history)
    history: dict | None = None  # what _History billed and posted


# ---------------------------------------------------------------------------------------------------------------
# Reference data

PAYERS = [
    {"key": "medicare", "payer_id": "MDCR1", "name": "Medicare Part B", "kind": PayerKind.MEDICARE,
     "claim_filing_indicator": ClaimFilingIndicator.MEDICARE_B, "unit_method": UnitMethod.CMS_TOTAL_TIME,
     "go_required": True, "prior_auth_required": False, "referring_provider_required": True,
     "timely_filing_days": 365, "appeal_window_days": 120, "accepts_replacement_claims": False,
     "kx_threshold_applies": True, "applies_mppr": True, "applies_assistant_reduction": True,
     "ncci_bypass_modifier": "XU", "medicare_documentation_rules": True},
    {"key": "medicaid", "payer_id": "MDCD1", "name": "Cascadia Medicaid", "kind": PayerKind.MEDICAID,
     "claim_filing_indicator": ClaimFilingIndicator.MEDICAID, "unit_method": UnitMethod.CMS_TOTAL_TIME,
     "go_required": True, "prior_auth_required": True, "referring_provider_required": True,
     "timely_filing_days": 180, "appeal_window_days": 90, "accepts_replacement_claims": True,
     "kx_threshold_applies": False, "applies_mppr": True, "medicare_documentation_rules": True},
    {"key": "bcbs", "payer_id": "BCX01", "name": "Evergreen Blue Cross", "kind": PayerKind.COMMERCIAL,
     "claim_filing_indicator": ClaimFilingIndicator.BLUE_CROSS, "unit_method": UnitMethod.AMA_PER_CODE,
     "go_required": True, "prior_auth_required": True, "referring_provider_required": True,
     "timely_filing_days": 180, "appeal_window_days": 180, "accepts_replacement_claims": True,
     "kx_threshold_applies": False, "applies_mppr": False},
    {"key": "aspen", "payer_id": "ASP01", "name": "Aspen Health Plans", "kind": PayerKind.COMMERCIAL,
     "claim_filing_indicator": ClaimFilingIndicator.COMMERCIAL, "unit_method": UnitMethod.AMA_PER_CODE,
     "go_required": False, "prior_auth_required": False, "referring_provider_required": False,
     "timely_filing_days": 120, "appeal_window_days": 180, "accepts_replacement_claims": True,
     "kx_threshold_applies": False, "applies_mppr": False},
    {"key": "united", "payer_id": "UMH01", "name": "United Meridian Health", "kind": PayerKind.COMMERCIAL,
     "claim_filing_indicator": ClaimFilingIndicator.COMMERCIAL, "unit_method": UnitMethod.CMS_TOTAL_TIME,
     "go_required": True, "prior_auth_required": False, "referring_provider_required": False,
     "timely_filing_days": 90, "appeal_window_days": 365, "accepts_replacement_claims": True,
     "kx_threshold_applies": False, "applies_mppr": True},
]

# Approximate Medicare non-facility allowed amounts for the current year (demo values, not the official MPFS).
MEDICARE_ALLOWED = {
    "97165": "103.20", "97166": "103.20", "97167": "103.20", "97168": "70.40", "97110": "29.10",
    "97112": "33.60", "97140": "26.70", "97530": "35.20", "97533": "41.30", "97535": "32.40",
    "97542": "31.10", "97750": "33.50", "97760": "44.20", "97763": "51.30", "97129": "24.60", "97130": "23.10",
}
PAYER_ALLOWED_FACTOR = {"medicare": "1.00", "medicaid": "0.72", "bcbs": "1.18", "aspen": "1.25", "united": "1.08"}
DEFAULT_ALLOWED_FACTOR = "1.15"
PRIOR_YEAR_FACTOR = "0.97"

CLINICS = [
    {"key": "sprouts", "legal_name": "Little Sprouts Pediatric OT", "address_line1": "2150 NW Lovejoy St",
     "address_line2": "", "city": "Portland", "state": "OR", "zip_code": "972102815",
     "timezone": "America/Los_Angeles", "pos": "11", "mrn": "LSP", "area": "503", "markup": "2.40",
     "gpci": "1.03", "zips": ["97209", "97210", "97229", "97225", "97202"],
     "streets": ["NE Alberta St", "SE Division St", "NW Johnson St", "SW Vista Ave", "N Williams Ave"]},
    {"key": "summit", "legal_name": "Summit Hand & Orthopedic OT", "address_line1": "1420 W Bannock St",
     "address_line2": "Suite 200", "city": "Boise", "state": "ID", "zip_code": "837025232",
     "timezone": "America/Boise", "pos": "11", "mrn": "SHO", "area": "208", "markup": "2.60",
     "gpci": "0.98", "zips": ["83702", "83704", "83706", "83709", "83713"],
     "streets": ["W State St", "N Harrison Blvd", "S Vista Ave", "W Overland Rd", "E Warm Springs Ave"]},
    {"key": "homefirst", "legal_name": "HomeFirst Home Health OT", "address_line1": "3857 Commercial St SE",
     "address_line2": "", "city": "Salem", "state": "OR", "zip_code": "973021740",
     "timezone": "America/Los_Angeles", "pos": "12", "mrn": "HFH", "area": "971", "markup": "2.20",
     "gpci": "1.01", "zips": ["97301", "97302", "97304", "97305", "97306"],
     "streets": ["Liberty St SE", "Center St NE", "Lancaster Dr NE", "Wallace Rd NW", "Madrona Ave SE"]},
]

# (first, last, kind, credentials, taxonomy, payers NOT credentialed with)
PROVIDERS = {
    "sprouts": [("Hannah", "Whitaker", "OT", "OTR/L", "225XP0200X", ()),
                ("Marcus", "Oyelaran", "OT", "OTR/L", "225XP0200X", ()),
                ("Grace", "Lindqvist", "OT", "OTR/L", "225X00000X", ()),
                ("Tessa", "Romero", "OTA", "COTA/L", "224Z00000X", ())],
    "summit": [("Daniel", "Kessler", "OT", "OTR/L, CHT", "225XH1200X", ()),
               ("Priya", "Raman", "OT", "OTR/L, CHT", "225XH1200X", ("united",)),  # planted gap
               ("Jordan", "Blake", "OTA", "COTA/L", "224Z00000X", ())],
    "homefirst": [("Ellen", "Marsh", "OT", "OTR/L", "225XG0600X", ()),
                  ("Samuel", "Ortiz", "OT", "OTR/L", "225XN1300X", ()),
                  ("Alicia", "Brandt", "OT", "OTR/L", "225X00000X", ()),
                  ("Keisha", "Duncan", "OTA", "COTA/L", "224Z00000X", ())],
}
OWNERS = {"sprouts": ("Rebecca", "Lang"), "summit": ("Tom", "Okafor"), "homefirst": ("Linda", "Park")}
REFERRERS = {
    "sprouts": [("Naomi", "Feld"), ("Victor", "Han"), ("Lauren", "Pike")],
    "summit": [("Gregory", "Stanton"), ("Amira", "Haddad"), ("Paul", "Whitcomb")],
    "homefirst": [("Ruth", "Kowalski"), ("Dennis", "Albright"), ("Mei", "Chen")],
}

# Primary / secondary payer per patient: 20 per clinic, 15 secondaries in all.
PAYER_MIX = {
    "sprouts": [("medicaid", None)] * 8 + [("bcbs", None)] * 4 + [("aspen", None)] * 3 + [("united", None)] * 2
               + [("bcbs", "medicaid")] * 2 + [("aspen", "medicaid")],
    "summit": [("medicare", None)] * 3 + [("medicare", "aspen")] * 2 + [("medicare", "bcbs")] + [("bcbs", None)] * 5
              + [("aspen", None)] * 3 + [("united", None)] * 4 + [("united", "bcbs")] + [("aspen", "united")],
    "homefirst": [("medicare", None)] * 8 + [("medicare", "medicaid")] * 6 + [("medicare", "aspen")]
                 + [("medicaid", None)] * 2 + [("united", None)] * 2 + [("bcbs", None)],
}

# Diagnosis profiles: (name, codes in claim order). Every code is a billable FY ICD-10-CM code (tested).
DX_PROFILES = {
    "sprouts": [("dcd", ["F82", "R27.8"]), ("autism", ["F84.0", "R27.8"]), ("delay", ["R62.50", "F82"]),
                ("feeding", ["R63.32", "F88"]), ("cp", ["G80.1", "R27.8"]), ("down", ["Q90.9", "R62.50"]),
                ("adhd", ["F90.2", "R27.8"]), ("apraxia", ["R48.2", "F82"])],
    "summit": [("trigger_r", ["M65.311", "M79.641"]), ("trigger_l", ["M65.312", "M79.642"]),
               ("radius_fx_r", ["S52.501D", "M25.631"]), ("radius_fx_l", ["S52.502D", "M25.632"]),
               ("carpal_fx", ["S62.101D", "M25.641"]), ("cts_r", ["G56.01", "M79.641"]),
               ("cts_l", ["G56.02", "M79.642"]), ("hand_oa", ["M19.041", "M25.641"]),
               ("cmc_oa", ["M18.11", "M79.641"]), ("dupuytren", ["M72.0", "M24.541"]),
               ("epicondylitis", ["M77.11", "M62.81"]), ("dequervain", ["M65.4", "M79.641"]),
               ("finger_fx", ["S62.611D", "M25.642"])],
    "homefirst": [("stroke_r", ["I69.351", "R41.841", "R26.89"]), ("stroke_l", ["I69.354", "R41.841", "M62.81"]),
                  ("knee", ["Z47.1", "Z96.651", "M62.81"]), ("hip", ["Z47.1", "Z96.641", "R26.89"]),
                  ("debility", ["R53.81", "M62.81", "R29.6"]), ("parkinson", ["G20.A1", "R26.89", "R27.8"]),
                  ("copd", ["J44.9", "R53.81", "M62.81"]), ("dementia", ["F03.90", "R41.841", "Z91.81"]),
                  ("falls", ["R29.6", "Z91.81", "M62.81"])],
}
ORTHOTIC_PROFILES = {"trigger_r", "trigger_l", "radius_fx_r", "radius_fx_l", "carpal_fx", "cmc_oa", "dequervain",
                     "finger_fx"}
COGNITIVE_PROFILES = {"stroke_r", "stroke_l", "dementia"}

GOALS = {
    "sprouts": ["Child will complete a 3-step obstacle course with contact-guard assist in 3 of 4 trials.",
                "Child will don and doff a pullover shirt independently.",
                "Child will copy a circle, cross and square with 80% accuracy.",
                "Child will tolerate 5 new food textures at mealtime without gagging."],
    "summit": ["Patient will restore composite fist and full finger extension for functional grasp.",
               "Patient will lift a 5 lb grocery bag with the affected hand without pain above 3/10.",
               "Patient will type for 30 minutes without paresthesia.",
               "Patient will don and doff the orthosis independently and follow the wearing schedule."],
    "homefirst": ["Patient will complete lower-body dressing with modified independence using adaptive equipment.",
                  "Patient will perform toilet transfers with supervision only.",
                  "Patient will prepare a simple cold meal safely with standby assistance.",
                  "Patient will follow a written daily schedule with 90% accuracy."],
}
ACTIVITIES = {
    "sprouts": ["sensory-motor obstacle course", "bilateral coordination games", "fine motor tasks with "
                "theraputty and tongs", "handwriting pre-strokes", "oral-motor and feeding routine",
                "buttoning and zipper practice"],
    "summit": ["tendon gliding and blocking exercises", "retrograde massage and scar mobilization",
               "grip and pinch strengthening", "orthosis fit check and adjustment", "ADL simulation with "
               "graded objects", "desensitization program"],
    "homefirst": ["lower-body dressing with reacher and sock aid", "tub-transfer training",
                  "kitchen safety and meal preparation", "standing balance during grooming",
                  "energy conservation strategies", "memory notebook and daily schedule"],
}

KID_NAMES = [("Ava", "F"), ("Liam", "M"), ("Noah", "M"), ("Emma", "F"), ("Mia", "F"), ("Lucas", "M"),
             ("Zoe", "F"), ("Elijah", "M"), ("Harper", "F"), ("Mateo", "M"), ("Aria", "F"), ("Leo", "M"),
             ("Nora", "F"), ("Ezra", "M"), ("Ivy", "F"), ("Owen", "M"), ("Luna", "F"), ("Caleb", "M"),
             ("Maya", "F"), ("Theo", "M"), ("Isla", "F"), ("Jonah", "M"), ("Ruby", "F"), ("Kai", "M")]
ADULT_NAMES = [("Michael", "M"), ("Jennifer", "F"), ("David", "M"), ("Sarah", "F"), ("Robert", "M"),
               ("Linda", "F"), ("James", "M"), ("Patricia", "F"), ("Daniel", "M"), ("Karen", "F"),
               ("Thomas", "M"), ("Susan", "F"), ("Mark", "M"), ("Angela", "F"), ("Steven", "M"),
               ("Rachel", "F"), ("Brian", "M"), ("Laura", "F"), ("Kevin", "M"), ("Megan", "F")]
SENIOR_NAMES = [("Dorothy", "F"), ("Harold", "M"), ("Margaret", "F"), ("Walter", "M"), ("Betty", "F"),
                ("Eugene", "M"), ("Shirley", "F"), ("Frank", "M"), ("Evelyn", "F"), ("Raymond", "M"),
                ("Joan", "F"), ("Howard", "M"), ("Gloria", "F"), ("Ralph", "M"), ("Doris", "F"),
                ("Leonard", "M"), ("Marilyn", "F"), ("Gerald", "M"), ("Norma", "F"), ("Arthur", "M")]
LAST_NAMES = ["Anderson", "Bennett", "Castillo", "Delgado", "Ellison", "Fischer", "Garcia", "Hughes", "Ibarra",
              "Jensen", "Kowalczyk", "Larsen", "Morales", "Nguyen", "O'Brien", "Patel", "Quinn", "Reyes",
              "Sullivan", "Thompson", "Underwood", "Vasquez", "Whitfield", "Xiong", "Yamamoto", "Zimmerman",
              "Brooks", "Coleman", "Dawson", "Foster", "Gallagher", "Holloway", "Lindgren", "Mitchell",
              "Novak", "Petersen", "Ramirez", "Schultz", "Tanaka", "Wagner"]
PARENT_NAMES = [("Jessica", "F"), ("Ashley", "F"), ("Amanda", "F"), ("Stephanie", "F"), ("Nicole", "F"),
                ("Christopher", "M"), ("Matthew", "M"), ("Joshua", "M"), ("Andrew", "M"), ("Ryan", "M")]

EIN_PREFIXES = ["20", "26", "27", "45", "46", "47", "81", "82", "83", "84", "85", "86", "87", "88", "92", "93"]


# ---------------------------------------------------------------------------------------------------------------
# Plans (pure data, built with the seeded generator before anything is written)

@dataclass
class PatientPlan:
    """One demo patient and the shape of their episode."""

    clinic: str
    mrn: str
    first_name: str
    last_name: str
    dob: date
    sex: str
    primary: str
    secondary: str | None
    profile: str
    diagnoses: list[str]
    kind: str = "new"  # "new": evaluated inside the window; "established": plan of care began before it
    start_offset: int = 0  # new patients: days after the window start of the evaluation
    weekdays: tuple[int, ...] = (1, 3)
    therapist: int = 0
    referrer: int = 0
    discharge_on: date | None = None
    cert_days: int = 89
    recertify: bool = True
    progress_reports: bool = True
    primary_ends: date | None = None  # coverage end (planted or a switch)
    switch_to: str | None = None  # payer of the new primary coverage after primary_ends
    plants: set[str] = field(default_factory=set)


@dataclass
class PocPlan:
    start: date
    through: date
    signed: date | None
    frequency: str
    duration: str
    goal: str


@dataclass
class VisitPlan:
    patient: PatientPlan
    dos: date
    kind: str  # "eval", "reeval" or "treatment"
    poc: int  # index into the patient's plans of care
    lines: list[LineInput]
    provider: int
    sign: bool = True
    referrer: bool = True
    diagnoses: list[str] = field(default_factory=list)
    coverage: str = "primary"  # "primary" (active on DOS), or "ended" (planted: the ended coverage)
    planted: list[str] = field(default_factory=list)
    via_orm: bool = False
    progress_report: bool = False
    row: Visit | None = None  # the saved visit


class _Builder:
    """Builds the demo. One instance per run; every random choice comes from `self.rng` in a fixed order."""

    def __init__(self, *, seed: int, today: date):
        self.seed = seed
        self.today = today
        self.rng = random.Random(seed)
        # Public ids come from their own generator so that adding a row never shifts the data choices.
        self.id_rng = random.Random(seed * 7919 + 104729)
        self.window_start = today - timedelta(days=WINDOW_DAYS)
        self.window_end = today - timedelta(days=1)
        self.pending_from = today  # start of the last two working days before today
        for _ in range(2):
            self.pending_from -= timedelta(days=1)
            while self.pending_from.weekday() >= 5:
                self.pending_from -= timedelta(days=1)
        self.used_npis: set[str] = set()
        self.planted: list[Planted] = []
        self.payers: dict[str, Payer] = {}
        self.users: dict[str, object] = {}
        self.counts = {"clinics": 0, "patients": 0, "coverages": 0, "secondary_coverages": 0, "providers": 0,
                       "plans_of_care": 0, "visits": 0, "service_lines": 0, "progress_reports": 0,
                       "fee_schedule_entries": 0, "benefit_snapshots": 0, "authorizations": 0,
                       "authorized_codes": 0}

    # -- small helpers ------------------------------------------------------------------------------------------
    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.id_rng.getrandbits(128), version=4)

    def npi(self) -> str:
        """A fresh NPI with a correct Luhn-80840 check digit."""
        while True:
            base = "1" + "".join(str(self.rng.randrange(10)) for _ in range(8))
            for check in range(10):
                candidate = f"{base}{check}"
                if npi_is_valid(candidate) and candidate not in self.used_npis:
                    self.used_npis.add(candidate)
                    return candidate

    def ein(self) -> str:
        return self.rng.choice(EIN_PREFIXES) + "".join(str(self.rng.randrange(10)) for _ in range(7))

    def birthday(self, age: int) -> date:
        year = self.today.year - age
        return date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))

    def phone(self, area: str) -> str:
        return f"{area}-555-01{self.rng.randrange(100):02d}"  # 555-0100..0199 is reserved for fiction

    def member_id(self, payer_key: str) -> str:
        digits = "0123456789"
        if payer_key == "medicare":
            # Medicare Beneficiary Identifier layout: C A AN N A AN N A A N N (no S L O I B Z).
            letters = "ACDEFGHJKMNPQRTUVWXY"
            alnum = letters + digits
            pattern = ["123456789", letters, alnum, digits, letters, alnum, digits, letters, letters, digits, digits]
            return "".join(self.rng.choice(chars) for chars in pattern)
        if payer_key == "medicaid":
            return "CM" + "".join(self.rng.choice(digits) for _ in range(9))
        prefix = {"bcbs": "XEB", "aspen": "W", "united": "9"}[payer_key]
        return prefix + "".join(self.rng.choice(digits) for _ in range(9 if payer_key != "united" else 8))

    def plant(self, key: str, clinic: str, mrn: str, dos: date | None, detail: str) -> None:
        self.planted.append(Planted(key=key, clinic=clinic, mrn=mrn, date_of_service=dos, detail=detail))

    # -- users and payers -------------------------------------------------------------------------------------
    def ensure_users(self) -> None:
        specs = [("admin", "Avery", "Admin", True), ("biller1", "Bailey", "Morgan", False),
                 ("biller2", "Blair", "Nakamura", False)]
        for clinic in CLINICS:
            owner_first, owner_last = OWNERS[clinic["key"]]
            specs.append((f"owner_{clinic['key']}", owner_first, owner_last, False))
            specs.append((f"staff_{clinic['key']}", "Front", "Desk", False))
        hashed = make_password(DEMO_PASSWORD)  # hash once: Argon2 costs a quarter second per call
        for username, first, last, is_admin in specs:
            email = f"{username}@{DEMO_EMAIL_DOMAIN}"
            user = User.objects.filter(username=username).first()
            if user is not None and user.email != email:
                raise AppError(f"User {username!r} exists and was not created by seed_demo (email {user.email!r}); "
                               "rename or remove it before seeding demo data.", code="demo_conflict",
                               field="username")
            if user is None:
                user = User(username=username, email=email)
            user.first_name, user.last_name = first, last
            user.is_staff = user.is_superuser = is_admin
            user.is_active = True
            validate_password(DEMO_PASSWORD, user)
            user.password = hashed
            user.save()
            self.users[username] = user

    def ensure_payers(self) -> None:
        for spec in PAYERS:
            values = {k: v for k, v in spec.items() if k not in ("key", "payer_id")}
            public_id = self.uuid()  # drawn every run so later ids do not depend on what already exists
            payer, _created = Payer.objects.get_or_create(payer_id=spec["payer_id"],
                                                          defaults={**values, "public_id": public_id})
            self.payers[spec["key"]] = payer

    # -- reset ------------------------------------------------------------------------------------------------
    def reset(self) -> None:
        slugs = [c["key"] for c in CLINICS]
        existing = list(Clinic.objects.filter(slug__in=slugs).order_by("slug"))
        for clinic in existing:
            if not clinic.contact_email.endswith(f"@{DEMO_EMAIL_DOMAIN}"):
                raise AppError(f"A clinic with slug {clinic.slug!r} exists and was not created by seed_demo; "
                               "rename its slug before seeding demo data.", code="demo_conflict", field="slug")
        if existing:
            delete_clinics(existing)

    # -- clinics ----------------------------------------------------------------------------------------------
    def build(self) -> DemoResult:
        self.ensure_users()
        self.ensure_payers()
        self.reset()
        admin = self.users["admin"]
        clinics = {}
        for spec in CLINICS:
            key = spec["key"]
            owner = self.users[f"owner_{key}"]
            clinic = Clinic(
                public_id=self.uuid(), legal_name=spec["legal_name"], slug=key, billing_npi=self.npi(),
                ein=self.ein(), taxonomy="225X00000X", address_line1=spec["address_line1"],
                address_line2=spec["address_line2"], city=spec["city"], state=spec["state"],
                zip_code=spec["zip_code"], timezone=spec["timezone"], contact_name=f"{owner.first_name} "
                f"{owner.last_name}", contact_phone=self.phone(spec["area"]),
                contact_email=f"office.{key}@{DEMO_EMAIL_DOMAIN}",
            )
            clinic_create(acting_user=admin, clinic=clinic, owner=owner)
            role_grant(clinic=clinic, user=self.users[f"staff_{key}"], role=Role.CLINIC_STAFF, acting_user=admin)
            clinics[key] = clinic
            self.counts["clinics"] += 1
        for username, keys in (("biller1", ("sprouts", "summit")), ("biller2", ("summit", "homefirst"))):
            for key in keys:
                role_grant(clinic=clinics[key], user=self.users[username], role=Role.BILLER, acting_user=admin)
        builders = []
        for spec in CLINICS:
            builder = _ClinicBuilder(self, spec, clinics[spec["key"]])
            builder.build()
            builders.append(builder)
        _EligibilityBuilder(self, builders).build()
        logins = [("Operator admin", "admin", [c["key"] for c in CLINICS]),
                  ("Biller", "biller1", ["sprouts", "summit"]), ("Biller", "biller2", ["summit", "homefirst"])]
        logins += [("Clinic owner", f"owner_{c['key']}", [c["key"]]) for c in CLINICS]
        logins += [("Clinic staff", f"staff_{c['key']}", [c["key"]]) for c in CLINICS]
        self.counts["payers"] = len(self.payers)
        return DemoResult(seed=self.seed, today=self.today, password=DEMO_PASSWORD, logins=logins,
                          counts=dict(self.counts), planted=list(self.planted))


class _ClinicBuilder:
    """Builds one clinic's providers, fees, patients, plans of care and sessions."""

    def __init__(self, parent: _Builder, spec: dict, clinic: Clinic):
        self.p = parent
        self.rng = parent.rng
        self.spec = spec
        self.key = spec["key"]
        self.clinic = clinic
        self.admin = parent.users["admin"]
        self.staff = parent.users[f"staff_{self.key}"]
        self.therapists: list[Provider] = []
        self.assistant: Provider | None = None
        self.not_credentialed: dict[int, set[str]] = {}
        self.referrers: list[ReferringProvider] = []
        self.tz = zoneinfo.ZoneInfo(spec["timezone"])
        # What was built, for the eligibility pass that runs after every clinic.
        self.patients: list[PatientPlan] = []
        self.pocs: dict[str, list[PocPlan]] = {}
        self.visits: list[VisitPlan] = []
        self.saved: dict[str, tuple[Patient, dict[str, Coverage]]] = {}

    def build(self) -> None:
        self.build_providers()
        self.build_fee_schedule()
        patients = self.plan_patients()
        self.plant_patients(patients)
        saved = {plan.mrn: self.save_patient(plan) for plan in patients}
        all_visits: list[VisitPlan] = []
        pocs: dict[str, list[PocPlan]] = {}
        for plan in patients:
            pocs[plan.mrn], visits = self.plan_episode(plan)
            all_visits += visits
        self.plant_visits(patients, pocs, all_visits)
        self.plant_pocs(patients, pocs)
        poc_rows = {}
        for plan in patients:
            patient = saved[plan.mrn][0]
            poc_rows[plan.mrn] = [self.save_poc(patient, poc, plan) for poc in pocs[plan.mrn]]
        self.save_visits(all_visits, saved, poc_rows)
        self.patients, self.pocs, self.visits, self.saved = patients, pocs, all_visits, saved

    # -- providers and fees -----------------------------------------------------------------------------------
    def build_providers(self) -> None:
        payer_keys = [p["key"] for p in PAYERS]
        for first, last, kind, credentials, taxonomy, missing in PROVIDERS[self.key]:
            provider = Provider(public_id=self.p.uuid(), clinic=self.clinic, kind=kind, first_name=first,
                                last_name=last, credentials=credentials, npi=self.p.npi(), taxonomy=taxonomy,
                                supervising_therapist=self.therapists[0] if kind == ProviderKind.ASSISTANT else None)
            clinic_record_save(acting_user=self.admin, instance=provider)
            provider.credentialed_payers.set([self.p.payers[k] for k in payer_keys if k not in missing])
            if kind == ProviderKind.ASSISTANT:
                self.assistant = provider
            else:
                self.not_credentialed[len(self.therapists)] = set(missing)
                self.therapists.append(provider)
            self.p.counts["providers"] += 1
        for first, last in REFERRERS[self.key]:
            referrer = ReferringProvider(public_id=self.p.uuid(), clinic=self.clinic, first_name=first,
                                         last_name=last, npi=self.p.npi())
            self.referrers.append(clinic_record_save(acting_user=self.admin, instance=referrer))

    def build_fee_schedule(self) -> None:
        cent = Decimal("0.01")
        rows = []
        gpci = Decimal(self.spec["gpci"])
        years = [(date(self.p.today.year - 1, 1, 1), date(self.p.today.year - 1, 12, 31), Decimal(PRIOR_YEAR_FACTOR)),
                 (date(self.p.today.year, 1, 1), None, Decimal("1"))]
        for start, end, year_factor in years:
            for cpt, medicare in MEDICARE_ALLOWED.items():
                base = Decimal(medicare) * gpci * year_factor
                charge = (Decimal(medicare) * Decimal(self.spec["markup"])).quantize(Decimal("1"), ROUND_HALF_UP)
                payer_rows = [(None, DEFAULT_ALLOWED_FACTOR)]
                payer_rows += [(self.p.payers[k], f) for k, f in PAYER_ALLOWED_FACTOR.items()]
                for payer, factor in payer_rows:
                    entry = FeeScheduleEntry(clinic=self.clinic, payer=payer, cpt=cpt, charge=charge,
                                             expected_allowed=(base * Decimal(factor)).quantize(cent, ROUND_HALF_UP),
                                             effective_from=start, effective_to=end)
                    entry.full_clean(validate_unique=False, validate_constraints=False)  # the DB enforces both
                    rows.append(entry)
        FeeScheduleEntry.objects.bulk_create(rows)
        self.p.counts["fee_schedule_entries"] += len(rows)

    # -- patients ---------------------------------------------------------------------------------------------
    def plan_patients(self) -> list[PatientPlan]:
        rng = self.rng
        mix = list(PAYER_MIX[self.key])
        rng.shuffle(mix)
        kinds = ["new"] * 12 + ["established"] * 8
        rng.shuffle(kinds)
        profiles = DX_PROFILES[self.key]
        plans = []
        for index, ((primary, secondary), kind) in enumerate(zip(mix, kinds, strict=True)):
            if self.key == "sprouts":
                first, sex = rng.choice(KID_NAMES)
                age = rng.randint(2, 12)
            elif primary == "medicare":
                first, sex = rng.choice(SENIOR_NAMES)
                age = rng.randint(66, 91)
            elif self.key == "homefirst":
                first, sex = rng.choice(ADULT_NAMES)
                age = rng.randint(45, 63)
            else:
                first, sex = rng.choice(ADULT_NAMES)
                age = rng.randint(24, 63)
            profile, codes = rng.choice(profiles)
            plan = PatientPlan(
                clinic=self.key, mrn=f"{self.spec['mrn']}-{10001 + index}", first_name=first,
                last_name=rng.choice(LAST_NAMES), dob=self.p.birthday(age), sex=sex, primary=primary,
                secondary=secondary, profile=profile, diagnoses=list(codes), kind=kind,
            )
            plan.start_offset = rng.randint(0, 49)
            frequency = {"sprouts": [1, 1, 2], "summit": [2, 2, 1], "homefirst": [2, 2, 3]}[self.key]
            plan.weekdays = self._weekdays(rng.choice(frequency))
            candidates = [i for i, missing in self.not_credentialed.items()
                          if not missing & {primary, secondary}]
            plan.therapist = rng.choice(candidates)
            plan.referrer = rng.randrange(len(self.referrers))
            if self.key == "summit" and kind == "new":
                # Hand episodes: an 8-week plan, discharged when it ends.
                plan.cert_days = 55
                plan.recertify = False
            plans.append(plan)
        return plans

    def _weekdays(self, per_week: int) -> tuple[int, ...]:
        options = {1: [(0,), (1,), (2,), (3,), (4,)], 2: [(0, 3), (1, 3), (1, 4), (0, 2), (2, 4)],
                   3: [(0, 2, 4)]}[per_week]
        return self.rng.choice(options)

    def _pick_patient(self, patients, taken: set[str], predicate) -> PatientPlan:
        candidates = [p for p in patients if p.mrn not in taken and predicate(p)]
        if not candidates:
            raise RuntimeError(f"Demo plan for {self.key} has no patient for a planted problem.")
        chosen = self.rng.choice(candidates)
        taken.add(chosen.mrn)
        return chosen

    def plant_patients(self, patients: list[PatientPlan]) -> None:
        """Patient-level planted problems and the coverage switch: decided before the schedule is drawn."""
        taken: set[str] = set()
        today = self.p.today
        pick = self._pick_patient
        early = max(0, (today - self.p.window_start).days - 70)  # evaluation at least 70 days before today
        if self.key == "sprouts":
            switch = pick(patients, taken, lambda p: p.primary == "bcbs" and p.secondary is None)
            first_of_month = (today - timedelta(days=35)).replace(day=1)
            switch.primary_ends = first_of_month - timedelta(days=1)
            switch.switch_to = "medicaid"
            switch.kind, switch.start_offset = "established", 0
            switch.therapist = self.rng.choice(
                [i for i, missing in self.not_credentialed.items() if "medicaid" not in missing])
        if self.key == "summit":
            ended = pick(patients, taken, lambda p: p.primary == "aspen" and p.secondary is None)
            # Coverage ended at the end of a month; the clinic kept seeing the patient for three more weeks.
            ended.primary_ends = (today - timedelta(days=10)).replace(day=1) - timedelta(days=1)
            ended.discharge_on = ended.primary_ends + timedelta(days=21)
            ended.kind, ended.weekdays, ended.recertify = "established", (1, 3), True
            ended.plants.add("visit_after_coverage_end")
            late = pick(patients, taken, lambda p: p.primary == "medicare")
            late.kind, late.start_offset = "new", min(early, 10)
            late.plants.add("poc_certification_late")
        if self.key == "homefirst":
            expired = pick(patients, taken, lambda p: p.primary == "medicare")
            expired.kind, expired.recertify, expired.weekdays = "established", False, (0, 3)
            expired.plants.add("visit_beyond_poc")
            overdue = pick(patients, taken, lambda p: p.primary == "medicare")
            overdue.kind, overdue.start_offset, overdue.weekdays = "new", 2, (0, 2, 4)
            overdue.progress_reports = False
            overdue.plants.add("progress_report_overdue")
        # Planted on a payer that applies the Medicare documentation rules, so the scrubber is meant to catch it.
        documented = [p for p in patients if p.mrn not in taken and p.primary in ("medicare", "medicaid")]
        unsigned = pick(patients, taken, (lambda p: p.primary in ("medicare", "medicaid")) if documented
                        else (lambda p: True))
        unsigned.kind, unsigned.start_offset = "new", min(early, 14)
        unsigned.plants.add("poc_certification_unsigned")

    def save_patient(self, plan: PatientPlan) -> tuple[Patient, dict[str, Coverage]]:
        rng = self.rng
        spec = self.spec
        patient = Patient(
            public_id=self.p.uuid(), clinic=self.clinic, mrn=plan.mrn, first_name=plan.first_name,
            last_name=plan.last_name, date_of_birth=plan.dob, sex=plan.sex, phone=self.p.phone(spec["area"]),
            address_line1=f"{rng.randint(100, 9899)} {rng.choice(spec['streets'])}", city=spec["city"],
            state=spec["state"], zip_code=rng.choice(spec["zips"]),
        )
        clinic_record_save(acting_user=self.staff, instance=patient)
        self.p.counts["patients"] += 1
        latest_start = self.p.window_start - timedelta(days=30)
        if plan.primary == "medicare":
            turned_65 = date(plan.dob.year + 65, plan.dob.month, 1)
            start = min(max(turned_65, date(self.p.today.year - 6, 1, 1)), latest_start)
        else:
            start = min(max(plan.dob, date(self.p.today.year - rng.randint(1, 5), 1, 1)), latest_start)
        coverages = {"primary": self._coverage(patient, plan, plan.primary, CoveragePriority.PRIMARY, start,
                                               plan.primary_ends)}
        if plan.secondary:
            coverages["secondary"] = self._coverage(patient, plan, plan.secondary, CoveragePriority.SECONDARY,
                                                    start, None)
            self.p.counts["secondary_coverages"] += 1
        if plan.switch_to:
            coverages["switched"] = self._coverage(patient, plan, plan.switch_to, CoveragePriority.PRIMARY,
                                                   plan.primary_ends + timedelta(days=1), None)
        return patient, coverages

    def _coverage(self, patient, plan, payer_key, priority, start, end) -> Coverage:
        rng = self.rng
        coverage = Coverage(public_id=self.p.uuid(), clinic=self.clinic, patient=patient,
                            payer=self.p.payers[payer_key], priority=priority,
                            member_id=self.p.member_id(payer_key), effective_from=start, effective_to=end)
        if payer_key in ("bcbs", "aspen", "united"):
            coverage.group_number = f"G{rng.randint(10000, 99999)}"
            guardian = self.key == "sprouts"
            spouse = not guardian and rng.random() < 0.2
            if guardian or spouse:
                parent_first, parent_sex = rng.choice(PARENT_NAMES)
                patient_age = self.p.today.year - plan.dob.year
                # A parent 22-40 years older than the child, or a spouse within four years of the patient.
                age = patient_age + rng.randint(22, 40) if guardian else max(25, patient_age + rng.randint(-4, 4))
                coverage.relationship = SubscriberRelationship.CHILD if guardian else SubscriberRelationship.SPOUSE
                coverage.subscriber_first_name = parent_first
                coverage.subscriber_last_name = plan.last_name
                coverage.subscriber_date_of_birth = self.p.birthday(age)
                coverage.subscriber_sex = parent_sex
        clinic_record_save(acting_user=self.staff, instance=coverage)
        self.p.counts["coverages"] += 1
        return coverage

    # -- episodes ---------------------------------------------------------------------------------------------
    def plan_episode(self, plan: PatientPlan) -> tuple[list[PocPlan], list[VisitPlan]]:
        """The patient's plans of care and sessions inside the window, in date order."""
        rng = self.rng
        p = self.p
        goals = GOALS[self.key]
        freq = f"{len(plan.weekdays)}x/week"
        pocs: list[PocPlan] = []

        def new_poc(start: date) -> PocPlan:
            through = start + timedelta(days=plan.cert_days)
            signed = start + timedelta(days=rng.randint(2, 10))
            poc = PocPlan(start=start, through=through, signed=signed if signed <= p.window_end else None,
                          frequency=freq, duration=f"{(plan.cert_days + 1) // 7} weeks",
                          goal=" ".join(rng.sample(goals, 2)))
            pocs.append(poc)
            return poc

        if plan.kind == "established":
            first = p.window_start
            poc = new_poc(p.window_start - timedelta(days=rng.randint(15, 70)))
        else:
            first = p.window_start + timedelta(days=plan.start_offset)
            poc = None
        if "visit_beyond_poc" in plan.plants:
            # Expires about seven weeks into the window; the patient is seen for two more weeks.
            pocs.clear()
            poc = new_poc(p.window_start - timedelta(days=40))
            plan.discharge_on = poc.through + timedelta(days=14)
        day = first
        while day.weekday() not in plan.weekdays:
            day += timedelta(days=1)
        visits: list[VisitPlan] = []
        since_report = 0
        while day <= p.window_end:
            if plan.discharge_on and day > plan.discharge_on:
                break
            if plan.primary_ends and plan.switch_to is None and "visit_after_coverage_end" not in plan.plants \
                    and day > plan.primary_ends:
                break
            kind = "treatment"
            if poc is None:
                kind = "eval"
                poc = new_poc(day)
            elif day > poc.through:
                if not plan.recertify:
                    if "visit_beyond_poc" not in plan.plants:
                        break  # discharged at the end of the plan
                else:
                    kind = "reeval"
                    poc = new_poc(day)
            if kind == "treatment" and visits and rng.random() < 0.08:
                day = self._next_day(day, plan.weekdays)
                continue  # cancelled session
            visit = VisitPlan(patient=plan, dos=day, kind=kind, poc=len(pocs) - 1, provider=plan.therapist,
                              lines=self.lines_for(plan, kind, len(visits)), diagnoses=list(plan.diagnoses))
            if kind == "treatment" and rng.random() < 0.1:
                # Covering therapist for the day: only one credentialed with the patient's payers.
                payers = {plan.primary, plan.secondary, plan.switch_to}
                cover = [i for i, missing in self.not_credentialed.items() if not missing & payers]
                visit.provider = rng.choice(cover)
            if day >= p.pending_from and rng.random() < 0.5:
                visit.sign = False  # seen in the last two working days: the note is not signed yet
            # Progress report every 10th treatment day since the last evaluation or report.
            if kind in ("eval", "reeval"):
                since_report = 1
            elif plan.kind == "established" and not visits:
                visit.progress_report = plan.progress_reports
                since_report = 0
            else:
                since_report += 1
                if since_report >= 10 and plan.progress_reports:
                    visit.progress_report = True
                    since_report = 0
            visits.append(visit)
            day = self._next_day(day, plan.weekdays)
        return pocs, visits

    @staticmethod
    def _next_day(day: date, weekdays: tuple[int, ...]) -> date:
        day += timedelta(days=1)
        while day.weekday() not in weekdays:
            day += timedelta(days=1)
        return day

    def lines_for(self, plan: PatientPlan, kind: str, visit_number: int) -> list[LineInput]:
        """Realistic codes and minutes for one session of this clinic."""
        rng = self.rng
        pointers = [1, 2] if len(plan.diagnoses) > 1 else [1]
        lines: list[LineInput] = []

        def timed(cpt: str, low: int, high: int) -> None:
            lines.append(LineInput(cpt=cpt, minutes=rng.randint(low, high), diagnosis_pointers=list(pointers)))

        if kind == "eval":
            weights = {"sprouts": (1, 5, 4), "summit": (4, 6, 0), "homefirst": (0, 4, 6)}[self.key]
            lines.append(LineInput(cpt=rng.choices(("97165", "97166", "97167"), weights)[0],
                                   diagnosis_pointers=list(pointers)))
            if self.key == "summit" and plan.profile in ORTHOTIC_PROFILES:
                timed("97760", 15, 30)
            elif self.key != "summit":
                timed("97535", 10, 20)
            return lines
        if kind == "reeval":
            lines.append(LineInput(cpt="97168", diagnosis_pointers=list(pointers)))
            timed("97110" if self.key == "summit" else "97535", 10, 20)
            return lines
        if self.key == "sprouts":
            timed("97530", 23, 38)
            extras = [("97112", 8, 15), ("97533", 15, 25), ("97535", 8, 20), ("97110", 8, 15)]
            rng.shuffle(extras)
            timed(*extras[0])
            if rng.random() < 0.3:
                timed(extras[1][0], 8, 12)
        elif self.key == "summit":
            if rng.random() < 0.7:
                timed("97140", 8, 15)
            timed("97110", 15, 30)
            if rng.random() < 0.4:
                timed("97530", 8, 23)
                if any(line.cpt == "97140" for line in lines):
                    lines[-1].distinct_time_block = True  # documented as its own block: 59/XU is justified
            if plan.profile in ORTHOTIC_PROFILES and visit_number % 3 == 2:
                timed("97763", 8, 15)
            if visit_number % 8 == 4:
                timed("97750", 15, 23)
        else:
            if rng.random() < 0.8:
                timed("97535", 15, 30)
            if rng.random() < 0.6 or not lines:
                timed("97530", 15, 30)
            if rng.random() < 0.4:
                timed("97110", 8, 15)
            if plan.profile in {"debility", "parkinson", "falls", "hip"} and rng.random() < 0.4:
                timed("97112", 8, 20)
            if plan.profile in COGNITIVE_PROFILES and rng.random() < 0.35:
                lines.append(LineInput(cpt="97129", minutes=15, diagnosis_pointers=list(pointers)))
                timed("97130", 8, 15)
            if plan.profile in {"stroke_r"} and rng.random() < 0.15:
                timed("97542", 15, 23)
        if self.assistant is not None:
            roll = rng.random()
            if roll < 0.22:
                line = rng.choice([ln for ln in lines if ln.cpt not in ("97129", "97130")] or lines)
                line.assistant_minutes = line.minutes  # furnished entirely by the OTA
            elif roll < 0.26:
                long_lines = [ln for ln in lines if (ln.minutes or 0) >= 30]
                if long_lines:
                    rng.choice(long_lines).assistant_minutes = rng.randint(2, 3)  # de minimis: no CO
        return lines

    # -- planted problems on sessions and plans ---------------------------------------------------------------
    def plant_visits(self, patients: list[PatientPlan], pocs: dict, visits: list[VisitPlan]) -> None:
        today = self.p.today
        clean = [v for v in visits if not v.patient.plants and not v.planted]
        used: set[str] = set()

        def pick(*predicates) -> VisitPlan:
            """A clean session matching the first predicate that has any (later ones are fallbacks)."""
            candidates = []
            for predicate in predicates:
                candidates = [v for v in clean if not v.planted and v.patient.mrn not in used and predicate(v)]
                if candidates:
                    break
            if not candidates:
                raise RuntimeError(f"Demo plan for {self.key} has no session for a planted problem.")
            chosen = self.rng.choice(candidates)
            used.add(chosen.patient.mrn)
            return chosen

        def older(v: VisitPlan) -> bool:
            return v.kind == "treatment" and v.sign and today - timedelta(days=45) <= v.dos <= today - timedelta(
                days=10)

        def mark(v: VisitPlan, key: str, detail: str) -> None:
            v.planted.append(key)
            self.p.plant(key, self.key, v.patient.mrn, v.dos, detail)

        # Patient-level plants show up on sessions too.
        for v in visits:
            plan = v.patient
            if "visit_after_coverage_end" in plan.plants and v.dos > plan.primary_ends:
                v.coverage, v.via_orm = "ended", True
                mark(v, "visit_after_coverage_end", f"coverage ended {plan.primary_ends:%Y-%m-%d}")
            if "visit_beyond_poc" in plan.plants and v.dos > pocs[plan.mrn][v.poc].through:
                mark(v, "visit_beyond_poc", f"plan of care certified through {pocs[plan.mrn][v.poc].through:%Y-%m-%d}")
        for plan in patients:
            if "progress_report_overdue" in plan.plants:
                days = [v for v in visits if v.patient is plan]
                self.p.plant("progress_report_overdue", self.key, plan.mrn, None,
                             f"{len(days)} treatment days, no progress report")

        unsigned = pick(older)
        unsigned.sign = False
        mark(unsigned, "unsigned_note", "note still in draft")
        if self.key == "sprouts":
            evaluation = pick(lambda v: v.kind == "eval")
            evaluation.lines[0].cpt = "97166"
            evaluation.lines.insert(1, LineInput(cpt="97167", diagnosis_pointers=[1]))
            mark(evaluation, "two_evaluations_same_day", "97166 and 97167 on one date")
        if self.key == "summit":
            ncci = pick(lambda v: older(v) and v.patient.primary == "bcbs")
            ncci.lines = [LineInput(cpt="97140", minutes=12, diagnosis_pointers=[1]),
                          LineInput(cpt="97530", minutes=25, diagnosis_pointers=[1, 2])]
            mark(ncci, "ncci_97140_97530_same_block", "97140 12 min + 97530 25 min, no distinct time block")
            gp = pick(lambda v: v.kind == "treatment" and v.sign and v.patient.primary == "medicare")
            gp.lines[0].modifiers = ["GP"]
            mark(gp, "medicare_wrong_discipline_modifier", f"{gp.lines[0].cpt} carries GP")
            dx = pick(lambda v: v.kind == "treatment" and v.sign)
            dx.diagnoses[0] = "M62.8"
            dx.via_orm = True
            mark(dx, "non_billable_diagnosis", "first diagnosis M62.8 (category header)")
            uncredentialed = pick(lambda v: v.kind == "treatment" and v.sign and v.patient.primary == "united")
            uncredentialed.provider = next(i for i, missing in self.not_credentialed.items() if "united" in missing)
            mark(uncredentialed, "provider_not_credentialed", "rendered by Priya Raman, not credentialed with UMH01")
        if self.key == "homefirst":
            short = pick(lambda v: v.kind == "treatment" and v.sign)
            short.lines = [LineInput(cpt="97110", minutes=6, diagnosis_pointers=[1])]
            mark(short, "timed_under_8_minutes", "97110 for 6 minutes, the only service")
            addon = pick(lambda v: v.kind == "treatment" and v.sign and v.patient.profile in COGNITIVE_PROFILES,
                         lambda v: v.kind == "treatment" and v.sign)
            addon.lines = [line for line in addon.lines if line.cpt not in ("97129", "97130")]
            addon.lines.append(LineInput(cpt="97130", minutes=15, diagnosis_pointers=[1, 2]))
            mark(addon, "addon_97130_without_97129", "97130 15 min, no 97129")
            referrer = pick(lambda v: v.kind == "treatment" and v.sign and v.patient.primary == "medicare")
            referrer.referrer = False
            mark(referrer, "missing_referring_provider", "no referring provider on a Medicare session")

    def plant_pocs(self, patients: list[PatientPlan], pocs: dict) -> None:
        for plan in patients:
            first = pocs[plan.mrn][0]
            if "poc_certification_unsigned" in plan.plants:
                first.signed = None
                self.p.plant("poc_certification_unsigned", self.key, plan.mrn, None,
                             f"plan of care from {first.start:%Y-%m-%d} never certified")
            if "poc_certification_late" in plan.plants:
                first.signed = first.start + timedelta(days=35)
                self.p.plant("poc_certification_late", self.key, plan.mrn, None,
                             f"plan of care from {first.start:%Y-%m-%d} certified {first.signed:%Y-%m-%d} (day 35)")

    # -- writing ----------------------------------------------------------------------------------------------
    def save_poc(self, patient: Patient, poc: PocPlan, plan: PatientPlan) -> PlanOfCare:
        referrer = self.referrers[plan.referrer]
        row = PlanOfCare(
            public_id=self.p.uuid(), clinic=self.clinic, patient=patient, start_date=poc.start,
            certified_through=poc.through, certification_signed_date=poc.signed,
            certifier_name=f"Dr. {referrer.first_name} {referrer.last_name}", certifier_npi=referrer.npi,
            frequency=poc.frequency, duration=poc.duration, goals=poc.goal, diagnoses=list(plan.diagnoses),
        )
        self.p.counts["plans_of_care"] += 1
        return clinic_record_save(acting_user=self.staff, instance=row)

    def _signed_at(self, dos: date) -> datetime:
        if self.rng.random() < 0.1:
            local = datetime.combine(dos + timedelta(days=1), time(self.rng.randint(7, 9), self.rng.randrange(60)))
        else:
            local = datetime.combine(dos, time(self.rng.randint(15, 19), self.rng.randrange(60)))
        return local.replace(tzinfo=self.tz).astimezone(zoneinfo.ZoneInfo("UTC"))

    def _note(self, plan: PatientPlan, kind: str, provider: Provider, codes: list[str]) -> str:
        activity = ", ".join(self.rng.sample(ACTIVITIES[self.key], 2))
        complexity = next((EVAL_COMPLEXITY[c] for c in codes if c in EVAL_COMPLEXITY), "")
        opening = {"eval": f"{complexity.capitalize()} complexity evaluation completed; plan of care established.",
                   "reeval": "Re-evaluation completed; plan of care updated and sent for recertification.",
                   "treatment": "Treatment session per plan of care."}[kind]
        response = self.rng.choice(["Tolerated well.", "Required verbal cues throughout.",
                                    "Fatigued toward the end; rest breaks given.", "Good carry-over from last "
                                    "session."])
        return f"{opening} Worked on {activity}. {response} Plan: continue {plan.first_name}'s program. " \
               f"-- {provider.first_name} {provider.last_name}, {provider.credentials}"

    def save_visits(self, visits: list[VisitPlan], saved: dict, poc_rows: dict) -> None:
        visits.sort(key=lambda v: (v.dos, v.patient.mrn))
        updates: list[Visit] = []
        reports: list[ProgressReport] = []
        for number, v in enumerate(visits, start=1):
            patient, coverages = saved[v.patient.mrn]
            provider = self.therapists[v.provider]
            if v.coverage == "ended":
                coverage = coverages["primary"]
            else:
                coverage = next(c for key, c in coverages.items() if key != "secondary" and c.is_active_on(v.dos))
            poc = poc_rows[v.patient.mrn][v.poc]
            referrer = self.referrers[v.patient.referrer] if v.referrer else None
            signer = f"{provider.first_name} {provider.last_name}, {provider.credentials}"
            note = self._note(v.patient, v.kind, provider, [line.cpt for line in v.lines])
            data = VisitInput(
                patient=patient, rendering_provider=provider, date_of_service=v.dos, diagnoses=v.diagnoses,
                lines=v.lines, coverage=coverage, referring_provider=referrer, plan_of_care=poc,
                place_of_service=self.spec["pos"], note_text=note, sign=v.sign, signed_by_name=signer,
                external_id=f"EHR-{self.spec['mrn']}-{number:05d}", source=VisitSource.IMPORT,
            )
            if v.via_orm:
                visit = self._planted_visit(data)
            else:
                visit = visit_create(acting_user=self.staff, clinic=self.clinic, data=data, request_coding=False)
            visit.public_id = self.p.uuid()
            v.row = visit
            if v.sign:
                visit.signed_at = self._signed_at(v.dos)
            updates.append(visit)
            if v.progress_report:
                trend = self.rng.choice(["steady gains", "gains plateauing", "good progress"])
                reports.append(ProgressReport(
                    public_id=self.p.uuid(), clinic=self.clinic, patient=patient, plan_of_care=poc,
                    report_date=v.dos, author=provider,
                    summary=f"Progress since the last report: {trend} toward goals; continue at {poc.frequency}.",
                ))
            self.p.counts["visits"] += 1
            self.p.counts["service_lines"] += len(v.lines)
        # visit_create stamps a fresh uuid4 and the wall-clock signing time; make both depend on the seed only.
        Visit.objects.bulk_update(updates, ["public_id", "signed_at"], batch_size=250)
        ProgressReport.objects.bulk_create(reports)  # no write service for progress reports exists yet
        self.p.counts["progress_reports"] += len(reports)

    def _planted_visit(self, data: VisitInput) -> Visit:
        """PLANTED: written with the ORM because visit_create would refuse it (as an old EHR feed would not)."""
        visit = Visit.objects.create(
            clinic=self.clinic, patient=data.patient, coverage=data.coverage,
            rendering_provider=data.rendering_provider, referring_provider=data.referring_provider,
            plan_of_care=data.plan_of_care,
            date_of_service=data.date_of_service, place_of_service=data.place_of_service, diagnoses=data.diagnoses,
            note_text=data.note_text, status=VisitStatus.SIGNED if data.sign else VisitStatus.DRAFT,
            signed_by=self.staff if data.sign else None, signed_by_name=data.signed_by_name if data.sign else "",
            signed_at=self._signed_at(data.date_of_service) if data.sign else None, source=data.source,
            external_id=data.external_id, created_by=self.staff,
        )
        ServiceLine.objects.bulk_create([
            ServiceLine(clinic=self.clinic, visit=visit, position=position, cpt=line.cpt, minutes=line.minutes,
                        assistant_minutes=line.assistant_minutes, diagnosis_pointers=list(line.diagnosis_pointers),
                        manual_modifiers=list(line.modifiers), distinct_time_block=line.distinct_time_block)
            for position, line in enumerate(data.lines, start=1)
        ])
        return visit


# ---------------------------------------------------------------------------------------------------------------
# Eligibility: benefit checks and prior authorizations, built from the finished schedule

CENT = Decimal("0.01")
RECHECK_MARGIN_DAYS = 3  # re-verify once the last check is this close to the payer's limit (30 days: day 27)
AUTH_PAYERS = ("medicaid", "bcbs")  # the payers with prior_auth_required
UNMANAGED_PAYERS = ("aspen", "united")  # commercial payers without prior authorization
MEDICARE_DEDUCTIBLE = {2024: "240.00", 2025: "257.00", 2026: "283.00"}  # Part B; later years repeat the last
# (plan name, EB04 insurance type, copay, coinsurance %, deductible, out-of-pocket maximum, OT visits a year)
COMMERCIAL_PLANS = {
    "bcbs": [("Evergreen Blue PPO 1500", "PR", "40.00", None, "1500.00", "6000.00", 60),
             ("Evergreen Blue PPO 3000", "PR", None, "20", "3000.00", "7500.00", 60),
             ("Evergreen Blue Select HMO", "HM", "35.00", None, "1000.00", "5000.00", 40)],
    "aspen": [("Aspen Choice PPO", "PR", "45.00", None, "2000.00", "6500.00", 30),
              ("Aspen Bronze HSA 5000", "PR", None, "30", "5000.00", "7900.00", 30)],
    "united": [("UMH Select EPO", "EP", "30.00", None, "1000.00", "5500.00", 40),
               ("UMH Choice Plus", "PR", None, "20", "2500.00", "7000.00", 40)],
}
SUPPLEMENT_PLANS = {"aspen": "Aspen Medicare Supplement Plan G", "bcbs": "Evergreen Blue Medigap Plan G",
                    "united": "UMH Medicare Supplement Plan G"}


def _round_up(number: int, step: int) -> int:
    return -(-number // step) * step


def _unit_bound(line: LineInput) -> int:
    """The most units the unit engine can bill for a line by either method (8-minute rule); untimed codes bill 1."""
    return 1 if line.minutes is None else line.minutes // 15 + 1


@dataclass
class BenefitDesign:
    """What a payer reports about one coverage. Fixed per coverage; the balances move with the check date."""

    plan_name: str
    insurance_type: str  # EB04
    copay: Decimal | None = None
    coinsurance: Decimal | None = None
    deductible: Decimal | None = None
    out_of_pocket: Decimal | None = None
    medicare_deductible: bool = False  # the Part B deductible of the check's year
    met_by_day: int = 365  # day of the year on which this patient meets the deductible
    visit_limits: dict[int, int] = field(default_factory=dict)  # calendar year -> OT visits allowed
    therapy_rate: Decimal | None = None  # Medicare: OT amount applied in a year before our sessions (annual pace)


@dataclass
class _Episode:
    """One demo patient as built: their plan, sessions (date order), coverages and plans of care."""

    builder: "_ClinicBuilder"
    plan: PatientPlan
    visits: list[VisitPlan]
    coverages: dict[str, Coverage]
    pocs: list[PocPlan]

    @property
    def clinic(self) -> str:
        return self.builder.key

    def coverage_of(self, visit: VisitPlan) -> Coverage:
        return next(c for c in self.coverages.values() if c.pk == visit.row.coverage_id)

    def recent(self, today: date, days: int) -> list[VisitPlan]:
        return [v for v in self.visits if v.dos >= today - timedelta(days=days)]

    def visits_in_year(self, year: int) -> list[VisitPlan]:
        primary = self.coverages["primary"]
        return [v for v in self.visits if v.dos.year == year and v.row.coverage_id == primary.pk]


@dataclass
class _AuthPlan:
    coverage: Coverage
    start: date
    end: date
    visits: list[VisitPlan]
    poc: PocPlan | None


class _EligibilityBuilder:
    """Benefit checks and prior authorizations for every demo coverage, and the planted eligibility problems.

    Runs after every clinic is built (it reads the saved sessions) with its own generator, so the clinics' data do
    not depend on it.
    """

    def __init__(self, parent: _Builder, builders: list[_ClinicBuilder]):
        self.p = parent
        self.today = parent.today
        self.rng = random.Random(parent.seed * 6151 + 7)
        self.episodes = []
        for builder in builders:
            for plan in builder.patients:
                visits = [v for v in builder.visits if v.patient is plan]
                self.episodes.append(_Episode(builder=builder, plan=plan, visits=visits,
                                              coverages=builder.saved[plan.mrn][1], pocs=builder.pocs[plan.mrn]))
        self.payer_keys = {payer.pk: key for key, payer in parent.payers.items()}
        self.designs: dict[int, BenefitDesign] = {}
        self.ytd_reported: set[tuple[int, int]] = set()  # (coverage pk, year) whose therapy amount was reported
        self.snapshots: list[BenefitSnapshot] = []
        self.manual: list[BenefitSnapshot] = []
        self.taken: set[str] = set()
        self.clinic_use = {builder.key: 0 for builder in builders}
        self.never_verified: set[str] = set()
        self.inactive_from: dict[str, date] = {}  # mrn -> day of the check that said inactive
        self.limit_override: dict[str, int] = {}  # mrn -> visits allowed in the year of the last session
        self.auth_plants: dict[str, tuple[str, int]] = {}  # mrn -> (planted key, sessions after the auth ended)

    def build(self) -> None:
        self.choose_plants()
        for episode in self.episodes:
            self.write_checks(episode)
            self.write_auths(episode)
        BenefitSnapshot.objects.bulk_create(self.snapshots)
        # manual_verification_record stamps a fresh uuid4; make the public id depend on the seed only.
        BenefitSnapshot.objects.bulk_update(self.manual, ["public_id"], batch_size=250)
        self.p.counts["benefit_snapshots"] += len(self.snapshots) + len(self.manual)

    # -- planted problems -------------------------------------------------------------------------------------
    def pick(self, key: str, predicate, *, fewest_visits: bool = False) -> _Episode:
        """A patient with no other planted problem, preferring the clinic with the fewest eligibility plants."""
        candidates = [e for e in self.episodes if e.plan.mrn not in self.taken and self._clean(e) and predicate(e)]
        if not candidates:
            raise RuntimeError(f"Demo plan has no patient for the planted problem {key}.")
        least = min(self.clinic_use[e.clinic] for e in candidates)
        candidates = [e for e in candidates if self.clinic_use[e.clinic] == least]
        if fewest_visits:
            fewest = min(len(e.visits) for e in candidates)
            candidates = [e for e in candidates if len(e.visits) == fewest]
        chosen = self.rng.choice(candidates)
        self.taken.add(chosen.plan.mrn)
        self.clinic_use[chosen.clinic] += 1
        return chosen

    @staticmethod
    def _clean(episode: _Episode) -> bool:
        plan = episode.plan
        return (len(episode.visits) >= 3 and not plan.plants and not plan.switch_to and not plan.primary_ends
                and not any(v.planted for v in episode.visits))

    def choose_plants(self) -> None:
        today = self.today

        def expired_fits(e: _Episode) -> bool:
            after = min(3, len(e.recent(today, 21)))
            return after >= 2 and len(e.visits) > after + 2 and e.visits[-after - 1].poc == e.visits[-after].poc

        def tomorrow(e: _Episode) -> bool:
            """On tomorrow's eligibility worklist: a plan of care covering it and a session in the 14 days before."""
            return (e.visits[-1].dos >= today - timedelta(days=13)
                    and e.pocs[e.visits[-1].poc].through > today)

        never = self.pick("eligibility_never_verified", lambda e: e.plan.kind == "new" and tomorrow(e)
                          and e.plan.primary in ("medicare", *UNMANAGED_PAYERS), fewest_visits=True)
        self.never_verified.add(never.plan.mrn)
        inactive = self.pick("eligibility_inactive", lambda e: e.plan.primary in UNMANAGED_PAYERS and tomorrow(e)
                             and not e.plan.secondary and len(e.recent(today, 21)) >= 2)
        after = min(3, len(inactive.recent(today, 21)))
        self.inactive_from[inactive.plan.mrn] = inactive.visits[-after].dos - timedelta(days=1)
        limited = self.pick("visit_limit_reached", lambda e: e.plan.primary in UNMANAGED_PAYERS
                            and len(e.visits_in_year(e.visits[-1].dos.year)) >= 6)
        self.limit_override[limited.plan.mrn] = len(limited.visits_in_year(limited.visits[-1].dos.year)) - 2
        expired = self.pick("auth_expired", lambda e: e.plan.primary in AUTH_PAYERS and expired_fits(e))
        self.auth_plants[expired.plan.mrn] = ("auth_expired", min(3, len(expired.recent(today, 21))))
        exhausted = self.pick("auth_exhausted", lambda e: e.plan.primary in AUTH_PAYERS and e.visits[-1].sign
                              and e.visits[-1].dos >= today - timedelta(days=14)
                              and e.visits[-2].poc == e.visits[-1].poc)
        self.auth_plants[exhausted.plan.mrn] = ("auth_exhausted", 0)
        running_out = self.pick("auth_running_out", lambda e: e.plan.primary in AUTH_PAYERS and tomorrow(e)
                                and e.pocs[e.visits[-1].poc].through >= today + timedelta(days=8))
        self.auth_plants[running_out.plan.mrn] = ("auth_running_out", 0)

    def plant(self, key: str, episode: _Episode, dos: date | None, detail: str) -> None:
        self.p.plant(key, episode.clinic, episode.plan.mrn, dos, detail)

    # -- benefit checks -----------------------------------------------------------------------------------------
    def design(self, episode: _Episode, coverage: Coverage) -> BenefitDesign:
        if coverage.pk in self.designs:
            return self.designs[coverage.pk]
        rng = self.rng
        key = self.payer_keys[coverage.payer_id]
        secondary = coverage.priority == CoveragePriority.SECONDARY
        under_medicare = secondary and episode.plan.primary == "medicare"
        if key == "medicare":
            # OT already applied this year elsewhere or before the window (annual pace): established patients
            # were treated before it, a few new ones saw another therapist earlier in the year.
            rate = rng.uniform(300, 1500) if episode.plan.kind == "established" else (
                rng.uniform(150, 700) if rng.random() < 0.3 else 0)
            design = BenefitDesign(plan_name="Medicare Part B", insurance_type="MB", coinsurance=Decimal("20"),
                                   medicare_deductible=True, met_by_day=rng.randint(35, 220),
                                   therapy_rate=Decimal(str(round(rate, 2))))
        elif key == "medicaid":
            name = ("Cascadia Medicaid (QMB)" if under_medicare else "Cascadia Medicaid Kids"
                    if episode.clinic == "sprouts" else "Cascadia Medicaid Plus")
            design = BenefitDesign(plan_name=name, insurance_type="MC", copay=Decimal("0.00"))
        elif under_medicare:
            design = BenefitDesign(plan_name=SUPPLEMENT_PLANS[key], insurance_type="SP", coinsurance=Decimal("0"))
        else:
            name, kind, copay, coinsurance, deductible, oop, limit = rng.choice(COMMERCIAL_PLANS[key])
            design = BenefitDesign(plan_name=name, insurance_type=kind, copay=copay and Decimal(copay),
                                   coinsurance=coinsurance and Decimal(coinsurance), deductible=Decimal(deductible),
                                   out_of_pocket=Decimal(oop), met_by_day=rng.randint(60, 480))
            if not secondary:
                for year in sorted({v.dos.year for v in episode.visits}):
                    # The plan's limit, or more when this patient's year would reach it: only planted limits bite.
                    seen = len(episode.visits_in_year(year))
                    design.visit_limits[year] = max(limit, _round_up(seen + 6, 10))
                if episode.plan.mrn in self.limit_override:
                    design.visit_limits[episode.visits[-1].dos.year] = self.limit_override[episode.plan.mrn]
        self.designs[coverage.pk] = design
        return design

    def values(self, design: BenefitDesign, coverage: Coverage, checked: date, dos: date) -> dict:
        """Snapshot fields of an active answer on `checked` about the date of service `dos`."""
        deductible = design.deductible
        if design.medicare_deductible:
            deductible = Decimal(MEDICARE_DEDUCTIBLE.get(checked.year, MEDICARE_DEDUCTIBLE[max(MEDICARE_DEDUCTIBLE)]))
        values = {
            "is_active": True, "plan_name": design.plan_name, "plan_begin": coverage.effective_from,
            "plan_end": coverage.effective_to, "coinsurance_percent": design.coinsurance,
            "copay_amount": design.copay, "deductible_total": deductible, "deductible_remaining": None,
            "out_of_pocket_total": design.out_of_pocket, "out_of_pocket_remaining": None, "visits_allowed": None,
            "limit_period_start": None, "limit_period_end": None, "therapy_ytd_amount": None,
        }
        day_of_year = checked.timetuple().tm_yday
        if deductible is not None:
            met = (deductible * min(Decimal(1), Decimal(day_of_year) / design.met_by_day)).quantize(CENT)
            values["deductible_remaining"] = deductible - met
            if design.out_of_pocket is not None:
                used = min(design.out_of_pocket, (met * Decimal("1.4")).quantize(CENT))
                values["out_of_pocket_remaining"] = design.out_of_pocket - used
        if dos.year in design.visit_limits:
            values.update(visits_allowed=design.visit_limits[dos.year], limit_period_start=date(dos.year, 1, 1),
                          limit_period_end=date(dos.year, 12, 31))
        if design.therapy_rate is not None and (coverage.pk, checked.year) not in self.ytd_reported:
            # Reported once a year: later answers would not yet include our own claims, and the KX year-to-date
            # adds our sessions after the check that reported it.
            self.ytd_reported.add((coverage.pk, checked.year))
            values["therapy_ytd_amount"] = (design.therapy_rate * day_of_year / 365).quantize(CENT)
        return values

    def benefit_lines(self, design: BenefitDesign, values: dict) -> list[dict]:
        """The 271's EB lines as eligibility.x271 stores them in BenefitSnapshot.details."""
        dates = {"346": (values["plan_begin"], values["plan_begin"])}
        if values["plan_end"]:
            dates["347"] = (values["plan_end"], values["plan_end"])
        active = values["is_active"]
        lines = [BenefitLine(position=14, code="1" if active else "6", coverage_level="IND", service_types=["30"],
                             insurance_type=design.insurance_type, plan_name=design.plan_name, dates=dates,
                             messages=[] if active else ["Group coverage cancelled"])]
        if not active:
            return [line.as_dict() for line in lines]
        ot = {"coverage_level": "IND", "service_types": ["AD"], "in_network": "Y"}
        if values["coinsurance_percent"] is not None:
            lines.append(BenefitLine(position=17, code="A", time_period="27",
                                     percent=values["coinsurance_percent"] / 100, **ot))
        if values["copay_amount"] is not None:
            lines.append(BenefitLine(position=18, code="B", time_period="27", amount=values["copay_amount"], **ot))
        for code, total, remaining in (("C", "deductible_total", "deductible_remaining"),
                                       ("G", "out_of_pocket_total", "out_of_pocket_remaining")):
            if values[total] is not None:
                lines.append(BenefitLine(position=20 + len(lines), code=code, time_period="23", amount=values[total],
                                         **ot))
                lines.append(BenefitLine(position=20 + len(lines), code=code, time_period="29",
                                         amount=values[remaining], **ot))
        if values["visits_allowed"] is not None:
            lines.append(BenefitLine(position=30, code="F", time_period="23", quantity_qualifier="VS",
                                     quantity=Decimal(values["visits_allowed"]),
                                     messages=["Combined PT/OT visit limit per calendar year"], **ot))
        if values["therapy_ytd_amount"] is not None:
            lines.append(BenefitLine(position=32, code="F", coverage_level="IND", service_types=["AD"],
                                     insurance_type="MB", time_period="24", amount=values["therapy_ytd_amount"],
                                     messages=["OT amount applied toward the therapy threshold this year"]))
        return [line.as_dict() for line in lines]

    def check(self, episode: _Episode, coverage: Coverage, at: datetime, source: str, dos: date,
              active: bool = True) -> None:
        design = self.design(episode, coverage)
        values = self.values(design, coverage, at.date(), dos)
        if not active:
            values = {name: None for name in values} | {"is_active": False, "plan_name": design.plan_name,
                                                        "plan_begin": coverage.effective_from}
        public_id = self.p.uuid()
        if source == SnapshotSource.X12_271:
            self.snapshots.append(BenefitSnapshot(
                public_id=public_id, clinic=episode.builder.clinic, coverage=coverage, source=source, checked_at=at,
                reference_number=f"T{self.rng.getrandbits(76):019X}", details=self.benefit_lines(design, values),
                **values))
            return
        staff = episode.builder.staff
        if source == SnapshotSource.PHONE:
            reference = f"{self.rng.randrange(10 ** 9, 10 ** 10)}"
            note = "Provider services line; OT benefits read back."
        else:
            reference = f"WEB{self.rng.randrange(10 ** 7, 10 ** 8)}"
            note = "Benefits page of the payer portal saved."
        snapshot = manual_verification_record(
            acting_user=staff, coverage=coverage, source=source, checked_by_name=f"{staff.first_name} "
            f"{staff.last_name}", checked_at=at, reference_number=reference, notes=note, **values)
        snapshot.public_id = public_id
        self.manual.append(snapshot)

    def write_checks(self, episode: _Episode) -> None:
        """An intake check before the first session, then the nightly 270/271 whenever the last check is old."""
        if episode.plan.mrn in self.never_verified:
            for v in episode.visits:
                self.plant("eligibility_never_verified", episode, v.dos, "no benefit check on file")
            return
        rng, tz = self.rng, episode.builder.tz
        inactive_day = self.inactive_from.get(episode.plan.mrn)
        last: dict[int, date] = {}
        for v in episode.visits:
            used = episode.coverage_of(v)
            if not used.is_active_on(v.dos) or (inactive_day and v.dos > inactive_day):
                continue  # nobody checked a coverage that had ended; the planted inactive answer comes below
            limit = used.payer.eligibility_max_age_days
            if used.pk in last and (not limit or (v.dos - last[used.pk]).days <= limit - RECHECK_MARGIN_DAYS):
                continue
            if not last:  # intake: the front desk checks by phone or on the portal a few days ahead
                day = v.dos - timedelta(days=rng.randint(1, 6))
                at = datetime.combine(day, time(rng.randint(9, 16), rng.randrange(60)), tzinfo=tz)
                source = SnapshotSource.PORTAL if rng.random() < 0.6 else SnapshotSource.PHONE
            else:  # the nightly 270 for tomorrow, answered within the hour
                day = v.dos - timedelta(days=1)
                at = datetime.combine(day, time(18, 35 + rng.randrange(25)), tzinfo=tz)
                source = SnapshotSource.X12_271 if rng.random() < 0.85 else SnapshotSource.PORTAL
            checked = [used] + [c for c in episode.coverages.values()
                                if c.priority == CoveragePriority.SECONDARY and c.is_active_on(v.dos)]
            for coverage in checked:
                self.check(episode, coverage, at, source, v.dos)
                last[coverage.pk] = day
        if inactive_day:
            flagged = [v for v in episode.visits if v.dos > inactive_day]
            at = datetime.combine(inactive_day, time(18, 40), tzinfo=tz)
            self.check(episode, episode.coverages["primary"], at, SnapshotSource.X12_271, flagged[0].dos,
                       active=False)
            for v in flagged:
                self.plant("eligibility_inactive", episode, v.dos, f"the 271 of {inactive_day:%Y-%m-%d} says "
                                                                   "inactive")
        if episode.plan.mrn in self.limit_override:
            year = episode.visits[-1].dos.year
            allowed = self.limit_override[episode.plan.mrn]
            for number, v in enumerate(episode.visits_in_year(year), start=1):
                if number > allowed:
                    self.plant("visit_limit_reached", episode, v.dos, f"visit {number} of the {allowed} allowed "
                                                                      f"in {year}")

    # -- prior authorizations -----------------------------------------------------------------------------------
    def plan_auths(self, episode: _Episode) -> list[_AuthPlan]:
        """One authorization per plan of care (within the coverage's dates) for each coverage that needs them."""
        auths: list[_AuthPlan] = []
        for coverage in episode.coverages.values():
            seen = [v for v in episode.visits if v.row.coverage_id == coverage.pk]
            if not coverage.payer.prior_auth_required or not seen:
                continue
            mine = []
            for poc in episode.pocs:
                start = max(poc.start, coverage.effective_from)
                end = min(poc.through, coverage.effective_to or poc.through)
                covered = [v for v in seen if start <= v.dos <= end]
                if covered:
                    mine.append(_AuthPlan(coverage=coverage, start=start, end=end, visits=covered, poc=poc))
            for v in seen:  # a session outside every plan of care stretches the authorization before it
                if not any(a.start <= v.dos <= a.end for a in mine):
                    before = [a for a in mine if a.start <= v.dos]
                    if before:
                        before[-1].end = v.dos
                        before[-1].visits.append(v)
                    else:
                        mine.append(_AuthPlan(coverage=coverage, start=v.dos, end=v.dos + timedelta(days=29),
                                              visits=[v], poc=None))
            auths += sorted(mine, key=lambda a: a.start)
        return auths

    def size(self, episode: _Episode, auth: _AuthPlan) -> tuple[int, dict[str, int], int]:
        """(visits, units per code, total units) to authorize: the sessions seen, the ones to come, and room."""
        used = len(auth.visits)
        future = 0
        if auth.end > self.today:
            future = math.ceil((auth.end - self.today).days * len(episode.plan.weekdays) / 7)
        bounds: dict[str, int] = {}
        for v in auth.visits:
            for line in v.lines:
                bounds[line.cpt] = bounds.get(line.cpt, 0) + _unit_bound(line)
        scale = (used + future) / used
        codes = {cpt: _round_up(math.ceil(bound * scale) + 4, 4) for cpt, bound in sorted(bounds.items())}
        while sum(codes.values()) - sum(bounds.values()) < 12:  # stay clear of the "units low" alert
            codes[max(codes, key=codes.get)] += 4
        total = _round_up(math.ceil(sum(bounds.values()) * scale) + 12, 4)
        return _round_up(used + future + 3, 2), codes, total

    def write_auths(self, episode: _Episode) -> None:
        auths = self.plan_auths(episode)
        if not auths:
            return
        planted, after = self.auth_plants.get(episode.plan.mrn, ("", 0))
        last = auths[-1]
        if planted == "auth_expired":
            cut = episode.visits[-after]
            last = next(a for a in auths if a.start <= episode.visits[-after - 1].dos <= a.end)
            auths = [a for a in auths if a.start < cut.dos]
            last.end = cut.dos - timedelta(days=1)
            last.visits = [v for v in last.visits if v.dos <= last.end]
        elif planted == "auth_running_out":
            last.end = self.today + timedelta(days=self.rng.randint(2, 5))
        for auth in auths:
            visits, codes, total = self.size(episode, auth)
            payer_key = self.payer_keys[auth.coverage.payer_id]
            if payer_key == "medicaid":
                number, total = f"PA{self.rng.randrange(10 ** 7, 10 ** 8)}", None
            else:
                number, codes = f"EB{auth.start:%y}{self.rng.randrange(10 ** 5, 10 ** 6)}", {}
                total = total if self.rng.random() < 0.5 else None
            if auth is last and planted == "auth_exhausted":
                visits = len(auth.visits) - 1
            elif auth is last and planted == "auth_running_out":
                visits = len(auth.visits) + 2
            notes = f"Plan of care {auth.poc.start:%Y-%m-%d} to {auth.poc.through:%Y-%m-%d}." if auth.poc else ""
            row = PriorAuthorization(public_id=self.p.uuid(), coverage=auth.coverage, number=number,
                                     status=AuthStatus.APPROVED, start_date=auth.start, end_date=auth.end,
                                     visits_authorized=visits, units_authorized=total, notes=notes)
            authorization_save(acting_user=episode.builder.staff, authorization=row, codes=list(codes.items()))
            self.p.counts["authorizations"] += 1
            self.p.counts["authorized_codes"] += len(codes)
            if auth is last and planted:
                self.plant_auth(planted, episode, auth, row)

    def plant_auth(self, key: str, episode: _Episode, auth: _AuthPlan, row: PriorAuthorization) -> None:
        if key == "auth_expired":
            for v in episode.visits:
                if v.dos > auth.end:
                    self.plant(key, episode, v.dos, f"auth {row.number} ended {auth.end:%Y-%m-%d}")
        elif key == "auth_exhausted":
            self.plant(key, episode, auth.visits[-1].dos, f"visit {len(auth.visits)} under auth {row.number}, "
                                                          f"which authorizes {row.visits_authorized}")
        else:
            self.plant(key, episode, None, f"auth {row.number} ends {auth.end:%Y-%m-%d} with 2 visits left")


# ---------------------------------------------------------------------------------------------------------------
# History: the older sessions billed, acknowledged and paid through the real pipeline

UNBILLED_DAYS = 7  # sessions of the last week stay unbilled, for a user to walk through
HISTORY_BILLERS = {"sprouts": "biller1", "summit": "biller1", "homefirst": "biller2"}
# Findings a biller overrode (with these reasons) to get an older session out; the simulated payer denies each such
# line (denials.simulator.DENIALS). Sessions held by any other finding stay in the coding queue.
HISTORY_OVERRIDES = {
    "NCCI_CONFLICT": "Therapist says the two services were separate; sent as documented.",
    "AUTH_EXPIRED": "Authorization renewal requested from the payer; billed while it is pending.",
    "ELIG_INACTIVE": "Patient says the plan is still active; billed to get the payer's answer.",
    "COVERAGE_INACTIVE": "Patient says the plan is still active; billed to get the payer's answer.",
    "POC_MISSING": "Recertification faxed to the physician; billed while waiting for the signature.",
    "MOD_DISCIPLINE": "Therapist confirmed the modifier as entered.",
    "RENDERING_NOT_CREDENTIALED": "Credentialing application is pending with the payer.",
    "ADDON_WITHOUT_PRIMARY": "97129 was billed by another provider the same day.",
    "TIMELY_FILING": "Proof of timely filing is on file from the clearinghouse.",
}


class _PastTransport(Transport):
    """The history's 837P files reached the clearinghouse before the demo began: none goes to today's outbox,
    whose agent would send them again."""

    def deliver(self, file_name: str, content: str) -> str:
        return f"sent before the demo began ({file_name})"

    def collect(self) -> list[tuple[str, str]]:
        return []


SUBMISSION_EVERY_WEEKS = 2  # the demo clinics' biller sends claims every other Monday (fewer files to check)
SUBMISSION_MONDAY = date(2024, 1, 1)  # a Monday the cycle counts from


def _submission_day(dos: date) -> date:
    """The first submission Monday after the week of service."""
    monday = dos + timedelta(days=7 - dos.weekday())
    while ((monday - SUBMISSION_MONDAY).days // 7) % SUBMISSION_EVERY_WEEKS:
        monday += timedelta(days=7)
    return monday


def _cycle_days(first: date, last: date) -> list[date]:
    """Submission Mondays from `first` (one of them) to `last`."""
    days = []
    while first <= last:
        days.append(first)
        first += timedelta(days=7 * SUBMISSION_EVERY_WEEKS)
    return days


class _History:
    """Bills every coded session more than UNBILLED_DAYS old through the real pipeline, day by simulated day:

    - on each submission Monday, one batch per clinic and payer (claims_build's claims of the cycle, plus the
      secondary claims posting built since the last Monday), written and checked by batch_generate and dated that
      day, then answered by the simulated payer's 999 and, the next day, 277CA (ack_import);
    - on the payer's payment date, if it has come by `today`, its 835 (era_import, which also builds the secondary
      claims that go out the next Monday).

    A few blocking findings are overridden first (HISTORY_OVERRIDES), so that denials come back. Timestamps the
    services stamp themselves (events, postings) are the real clock; the submission times, the file dates and the
    payment dates in the 835s are the simulated ones.
    """

    PAY, SUBMIT = 0, 1  # an 835 of the day is posted before that evening's submission

    def __init__(self, *, today: date):
        self.today = today
        self.cutoff = today - timedelta(days=UNBILLED_DAYS)  # sessions on or after it stay unbilled
        self.clinics = {c.slug: c for c in Clinic.objects.filter(slug__in=[spec["key"] for spec in CLINICS])}
        self.slugs = {c.pk: slug for slug, c in self.clinics.items()}
        self.billers = {slug: User.objects.get(username=name) for slug, name in HISTORY_BILLERS.items()}
        self.figures = {"overridden_sessions": 0, "claims": 0, "secondary_claims": 0, "batches": 0, "held_batches": 0,
                        "remittances": 0, "claims_paid": 0, "awaiting_payment": 0, "paid_total": Decimal("0.00"),
                        "patient_responsibility_total": Decimal("0.00"), "denials": 0, "underpayments": 0,
                        "ready_to_send": 0, "unbilled_sessions": 0,
                        "patient_payments": 0, "patient_paid_total": Decimal("0.00")}

    def run(self) -> dict:
        self.override_findings()
        primaries: dict[date, list[Claim]] = {}
        for claim in self.build_claims():
            primaries.setdefault(_submission_day(claim.service_date_to), []).append(claim)
        mondays = _cycle_days(min(primaries, default=self.today), self.today)
        self.set_baselines(mondays[0] if mondays else self.today)
        events = [(day, self.SUBMIT, number, None) for number, day in enumerate(mondays)]
        heapq.heapify(events)
        while events:
            day, kind, _number, batch = heapq.heappop(events)
            if kind == self.PAY:
                self.pay(batch)
                continue
            for batch in self.submit_cycle(day, primaries.pop(day, [])):
                due = payment_due(batch.content)
                if due <= self.today:
                    heapq.heappush(events, (due, self.PAY, batch.pk, batch))
                else:
                    self.figures["awaiting_payment"] += batch.claim_count
        self.figures["ready_to_send"] = Claim.objects.filter(clinic__in=self.clinics.values(),
                                                             status=ClaimStatus.READY).count()
        self.figures["unbilled_sessions"] = Visit.objects.filter(
            clinic__in=self.clinics.values(), status=VisitStatus.SIGNED, date_of_service__gte=self.cutoff).count()
        return self.figures

    def set_baselines(self, first_submission: date) -> None:
        """Each clinic's KPIs are compared with its first full month of billing (the reports' "before"): the
        month of the first submission only ramps up, with cash still to come."""
        start, end = month_bounds(month_bounds(first_submission)[1] + timedelta(days=1))
        for clinic in self.clinics.values():
            ReportSettings.objects.update_or_create(clinic=clinic, defaults={
                "baseline_start": start, "baseline_end": end,
                "baseline_label": f"First full month billed ({start:%B %Y})"})

    def override_findings(self) -> None:
        """Written with the ORM, then coded with the demo's `today`: finding_override codes the visit again with the
        wall clock, which would move date-driven findings (timely filing) and drop the override it just made."""
        held = (VisitCoding.objects.filter(clinic__in=self.clinics.values(), status=CodingStatus.HELD,
                                           visit__date_of_service__lt=self.cutoff)
                .select_related("visit__clinic").order_by("visit__date_of_service", "visit_id"))
        for coding in held:
            visit = coding.visit
            blocking = list(visit.findings.filter(severity=Severity.BLOCKING, overridden_by__isnull=True))
            if not blocking or any(f.rule_id not in HISTORY_OVERRIDES for f in blocking):
                continue
            at = datetime.combine(visit.date_of_service + timedelta(days=1), time(17, 0), tzinfo=zoneinfo.ZoneInfo(
                "UTC"))
            for finding in blocking:
                finding.overridden_by = self.billers[visit.clinic.slug]
                finding.override_reason = HISTORY_OVERRIDES[finding.rule_id]
                finding.overridden_at = at
            Finding.objects.bulk_update(blocking, ["overridden_by", "override_reason", "overridden_at"])
            visit_code(visit=visit, today=self.today)
            self.figures["overridden_sessions"] += 1

    def build_claims(self) -> list[Claim]:
        """claims_build bills every billable session; the last week's claims are removed again at once (nothing
        refers to them yet), so those sessions stay unbilled."""
        built: list[Claim] = []
        for slug in sorted(self.clinics):
            built += claims_build(clinic=self.clinics[slug], acting_user=self.billers[slug]).claims
        recent = {c.pk for c in built if c.service_date_to >= self.cutoff}
        LedgerEntry.objects.filter(claim_id__in=recent).delete()
        Claim.objects.filter(pk__in=recent).delete()
        older = [c for c in built if c.pk not in recent]
        self.figures["claims"] = len(older)
        return older

    def submit_cycle(self, day: date, primaries: list[Claim]) -> list[ClaimBatch]:
        """One batch per clinic and payer of the cycle's claims and the secondary claims waiting to go."""
        secondaries = list(Claim.objects.filter(clinic__in=self.clinics.values(), status=ClaimStatus.READY,
                                                primary_claim__isnull=False).order_by("pk"))
        self.figures["secondary_claims"] += len(secondaries)
        groups: dict[tuple[str, int], list[Claim]] = {}
        for claim in primaries + secondaries:
            groups.setdefault((self.slugs[claim.clinic_id], claim.payer_id), []).append(claim)
        at = datetime.combine(day, time(22, 0), tzinfo=zoneinfo.ZoneInfo("UTC"))
        return [batch for (slug, _payer), claims in sorted(groups.items())
                if (batch := self.submit(slug, claims, at)) is not None]

    def submit(self, slug: str, claims: list[Claim], at: datetime) -> ClaimBatch | None:
        biller = self.billers[slug]
        [batch] = batches_create(claims=claims, acting_user=biller, queue=False)
        batch = batch_generate(batch=batch, transport=_PastTransport(), now=at)
        self.figures["batches"] += 1
        if batch.status != BatchStatus.RELEASED:
            self.figures["held_batches"] += 1
            return None
        name = batch.file_name.removeprefix("837P_")
        ack_import(file_name=f"999_{name}", content=simulate_999(batch.content), acting_user=biller)
        ack_import(file_name=f"277CA_{name}", content=simulate_277ca(batch.content), acting_user=biller)
        return batch

    def pay(self, batch: ClaimBatch) -> None:
        slug = self.slugs[batch.clinic_id]
        name = batch.file_name.removeprefix("837P_")
        posted = era_import(file_name=f"835_{name}", content=simulate_835(batch.content, today=self.today),
                            acting_user=self.billers[slug])
        figures = self.figures
        figures["remittances"] += 1
        figures["claims_paid"] += posted["claims_matched"]
        figures["paid_total"] += Decimal(posted["paid_total"])
        figures["patient_responsibility_total"] += Decimal(posted["patient_responsibility_total"])
        figures["denials"] += posted["denials_opened"]
        figures["underpayments"] += posted["underpayments_opened"]
        self.collect_from_patients(batch, paid_on=payment_due(batch.content))

    def collect_from_patients(self, batch: ClaimBatch, *, paid_on: date) -> None:
        """Four patients in five pay what they owe (coinsurance, deductible) 10 to 27 days after the payer's
        answer, if that day has come; the rest stay on the patient A/R."""
        biller = self.billers[self.slugs[batch.clinic_id]]
        last_day = min(self.today, timezone.localdate())
        for claim in Claim.objects.filter(batch=batch).select_related("patient").order_by("pk"):
            owed = claim_balance(claim, LedgerParty.PATIENT)
            # Drawn from the patient and the day of service, not the row id, so a re-seed gives the same payments.
            draw = zlib.crc32(f"{claim.patient.mrn} {claim.service_date_from}".encode())
            day = paid_on + timedelta(days=10 + draw % 18)
            if owed <= 0 or draw % 5 == 0 or day > last_day:
                continue
            patient_payment_record(claim=claim, amount=owed, acting_user=biller, method="card",
                                   reference="statement", paid_on=day)
            self.figures["patient_payments"] += 1
            self.figures["patient_paid_total"] += owed


# ---------------------------------------------------------------------------------------------------------------
# Deleting demo clinics

def _clinic_owned_models() -> list:
    """Concrete models with a required `clinic` foreign key (history event tables excluded), referrers first."""
    owned = []
    for model in apps.get_models():
        if issubclass(model, pghistory.models.Event) or model._meta.proxy or not model._meta.managed:
            continue
        try:
            clinic_field = model._meta.get_field("clinic")
        except FieldDoesNotExist:
            continue
        if clinic_field.many_to_one and clinic_field.related_model is Clinic and not clinic_field.null:
            owned.append(model)
    ordered = []
    remaining = list(owned)
    while remaining:
        # A model may go once no other remaining model points at it.
        ready = [m for m in remaining
                 if not any(f.related_model is m for other in remaining if other is not m
                            for f in other._meta.concrete_fields if f.is_relation)]
        if not ready:
            raise RuntimeError(f"Cannot order the deletion of {', '.join(m._meta.label for m in remaining)}.")
        ordered += ready
        remaining = [m for m in remaining if m not in ready]
    return ordered


def _clinic_filed_models() -> list:
    """Models whose `clinic` is optional but protects the clinic (imported 835 and acknowledgment files): their
    rows of a demo clinic go with it. Rows that merely log the clinic (SET_NULL, e.g. the access log) stay."""
    filed = []
    for model in apps.get_models():
        if issubclass(model, pghistory.models.Event) or model._meta.proxy or not model._meta.managed:
            continue
        try:
            clinic_field = model._meta.get_field("clinic")
        except FieldDoesNotExist:
            continue
        if (clinic_field.many_to_one and clinic_field.related_model is Clinic and clinic_field.null
                and clinic_field.remote_field.on_delete is PROTECT):
            filed.append(model)
    return filed


@transaction.atomic
def delete_clinics(clinics: list[Clinic]) -> None:
    """Delete clinics and every row they own, in dependency order, plus their object permissions."""
    pks = [c.pk for c in clinics]
    for model in _clinic_owned_models():
        rows = model.objects.filter(clinic__in=pks)
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is model and f.null:
                rows.exclude(**{f"{f.name}__isnull": True}).update(**{f.name: None})  # self-references first
        if model._meta.label == "clinics.ApiToken":
            User.objects.filter(api_token__in=rows).update(is_active=False)
        try:
            rows.delete()
        except ProtectedError as exc:
            raise AppError(f"Cannot remove the demo clinics: {model._meta.verbose_name_plural} are still "
                           f"referenced ({exc.args[0]}).", code="demo_conflict") from exc
    for model in _clinic_filed_models():
        model.objects.filter(clinic__in=pks).delete()
    content_type = ContentType.objects.get_for_model(Clinic)
    object_pks = [str(pk) for pk in pks]
    for perm_model in (get_user_obj_perms_model(), get_group_obj_perms_model()):
        perm_model.objects.filter(content_type=content_type, object_pk__in=object_pks).delete()
    Clinic.objects.filter(pk__in=pks).delete()


def demo_seed(*, seed: int, today: date, history: bool = False) -> DemoResult:
    """Remove the demo clinics' data and build it again for `seed`, with three months of sessions before `today`.

    With `history`, the sessions are also coded and scrubbed, and the older ones billed, acknowledged and paid
    through the real pipeline (see `_History`); `result.scrub` and `result.history` hold the figures. Without it
    (the default), coding and billing are left to the caller, as the tests of the raw demo expect.
    """
    with transaction.atomic(), pghistory.context(source="seed_demo", seed=seed):
        result = _Builder(seed=seed, today=today).build()
        if history:
            _analyze()
            result.scrub = scrub_open_visits(today=today.isoformat())
            _analyze()
            result.history = _History(today=today).run()
            _analyze()  # the history filled the ledger and remittance tables; reports read them next
    return result


def _analyze() -> None:
    """Planner statistics that see the rows just written (still uncommitted): without them PostgreSQL takes the
    fresh tables for empty and plans nested loops over them."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
