"""CARC/RARC/group-code lookups: the domain-rules §7 tables as data, unknown codes answered, denial semantics."""

import pytest

from denials.carc import (
    CATEGORIES,
    GENERIC_ACTION,
    OTHER,
    carc_info,
    group_label,
    is_denial,
    rarc_text,
)

DOMAIN_RULES_CARCS = [
    "1", "2", "3", "4", "5", "11", "16", "18", "22", "23", "26", "27", "29", "31", "45", "50", "96", "97", "109",
    "119", "146", "150", "151", "167", "170", "181", "182", "185", "197", "198", "204", "206", "207", "208", "226",
    "236", "242", "252", "253", "288", "B7", "B9", "B15",
]
DOMAIN_RULES_RARCS = [
    "M80", "M86", "M15", "M20", "N640", "N435", "N362", "N430", "N443", "N657", "N661", "N706", "N705", "N473",
    "N474", "N115", "N386", "N130", "N122", "N519", "N390", "N670", "N142", "N380", "N432", "N95", "N704", "MA130",
]


@pytest.mark.parametrize("code", DOMAIN_RULES_CARCS)
def test_every_carc_of_domain_rules_is_known_with_a_category_and_an_action(code):
    info = carc_info(code)
    assert info.known and info.code == code
    assert info.category in CATEGORIES and info.category != OTHER
    assert info.meaning and info.action and info.action != GENERIC_ACTION


@pytest.mark.parametrize(("code", "category"), [
    ("1", "patient responsibility"), ("2", "patient responsibility"), ("3", "patient responsibility"),
    ("4", "coding"), ("16", "coding"), ("B15", "coding"),
    ("18", "duplicate"), ("22", "coordination of benefits"), ("23", "coordination of benefits"),
    ("27", "eligibility"), ("31", "eligibility"), ("204", "eligibility"),
    ("29", "timely filing"), ("45", "contractual"), ("253", "contractual"),
    ("50", "medical necessity"), ("97", "bundling/NCCI"), ("236", "bundling/NCCI"),
    ("197", "authorization"), ("198", "authorization"), ("288", "authorization"),
    ("252", "documentation"), ("226", "documentation"),
    ("119", "frequency/benefit limit"), ("185", "provider enrollment"),
])
def test_carc_categories(code, category):
    assert carc_info(code).category == category


def test_prior_authorization_denial_reads_as_such():
    info = carc_info("197")
    assert info.meaning == "Prior authorization or notification missing"
    assert info.action.startswith("Get a retro authorization")


def test_codes_seen_in_the_shared_samples_are_known():
    assert carc_info("131").category == "contractual"
    assert carc_info("251").category == "documentation"
    assert carc_info("59").category == "contractual"


@pytest.mark.parametrize("code", ["ZZ9", "A7", "999"])
def test_unknown_carc_is_other_with_a_generic_action_never_a_key_error(code):
    info = carc_info(code)
    assert (info.code, info.category, info.action, info.known) == (code, OTHER, GENERIC_ACTION, False)
    assert code in info.meaning


def test_carc_lookup_tolerates_spaces_case_and_none():
    assert carc_info(" b7 ").code == "B7" and carc_info(" b7 ").known
    assert carc_info(None).category == OTHER and carc_info("").meaning == "No adjustment reason given"


@pytest.mark.parametrize("code", DOMAIN_RULES_RARCS)
def test_every_rarc_of_domain_rules_has_our_text(code):
    assert "not in our list" not in rarc_text(code)


def test_rarc_texts_and_unknown_rarc():
    assert rarc_text("N640").startswith("More visits or units than approved")
    assert rarc_text("n670") == "This code is the primary procedure for multiple-procedure (MPPR) purposes"
    assert rarc_text("N999") == "Remark N999 (not in our list; see the X12 RARC list)"


def test_group_labels():
    assert group_label("CO").startswith("Contractual obligation")
    assert group_label("PR").startswith("Patient responsibility")
    assert group_label("OA").startswith("Other adjustment")
    assert group_label("PI").startswith("Payer-initiated")
    assert "not valid in 5010" in group_label("CR")
    assert group_label("XX") == "Unknown adjustment group 'XX'"


@pytest.mark.parametrize(("group", "carc", "denial"), [
    ("PR", "1", False), ("PR", "2", False), ("PR", "3", False),
    ("CO", "45", False), ("PR", "45", False), ("CO", "253", False), ("OA", "23", False), ("CO", "131", False),
    ("CR", "50", False),
    ("CO", "197", True), ("CO", "29", True), ("OA", "18", True), ("CO", "16", True), ("PI", "97", True),
    ("PR", "204", True), ("CO", "ZZ9", True),
])
def test_is_denial(group, carc, denial):
    assert is_denial(group, carc) is denial
