"""The shared X12 toolkit on the public sample files in shared/x12-samples."""

from pathlib import Path

import pytest

from otbilling.edi.tokenizer import X12SyntaxError, tokenize, transaction_sets
from otbilling.edi.validation import validate_with_pyx12

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "x12-samples"
ALL_SAMPLES = sorted(SAMPLES.rglob("*.edi"))
PYX12_CLEAN = [p for p in ALL_SAMPLES if p.name.startswith(("835", "837", "999"))]
OT_837 = SAMPLES / "generated" / "837P_X222A1_OT-1claim-3lines_generated.edi"


def test_samples_are_present():
    assert len(ALL_SAMPLES) >= 16, f"expected the shared X12 samples in {SAMPLES}"


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=lambda p: p.name)
def test_every_sample_tokenizes_into_closed_transaction_sets(path):
    delimiters, segments = tokenize(path.read_text())
    sets = transaction_sets(segments, strict=False)
    assert segments[0].id == "ISA" and segments[-1].id == "IEA"
    assert len(sets) == 1 and sets[0][0].id == "ST" and sets[0][-1].id == "SE"
    assert delimiters.element == "*"


def test_component_separator_is_read_from_isa16():
    delimiters, _ = tokenize((SAMPLES / "277CA_X214_rejected-pipe-separator_Herophilus.edi").read_text())
    assert delimiters.component == "|"


def test_strict_reading_names_the_mismatched_se02():
    _, segments = tokenize((SAMPLES / "271_X279A1_subscriber-AAA-error_LinuxForHealth.edi").read_text())
    with pytest.raises(X12SyntaxError, match="SE02 at segment 10 does not match ST02 4321"):
        transaction_sets(segments)


def test_truncated_file_is_refused_with_a_reason():
    text = OT_837.read_text()
    with pytest.raises(X12SyntaxError, match="no closing IEA"):
        tokenize(text[: len(text) // 2])


def test_non_x12_file_is_refused():
    with pytest.raises(X12SyntaxError, match="must start with a 106-character ISA"):
        tokenize("patient,dos\n1,2026-01-01\n")


def test_wrong_segment_count_in_se_is_named():
    text = OT_837.read_text().replace("SE*", "SE*99", 1)
    _, segments = tokenize(text)
    with pytest.raises(X12SyntaxError, match="counts 99"):
        transaction_sets(segments)


@pytest.mark.parametrize("path", PYX12_CLEAN, ids=lambda p: p.name)
def test_pyx12_accepts_the_clean_samples(path):
    result = validate_with_pyx12(path.read_bytes())
    assert result.ok, [str(issue) for issue in result.issues]


def test_pyx12_findings_name_segment_and_line():
    result = validate_with_pyx12(OT_837.read_text().replace("CLM*", "CLX*", 1))
    assert not result.ok
    first = result.issues[0]
    assert first.segment == "CLX" and first.line == 21 and "not found" in first.message


def test_pyx12_crash_becomes_a_readable_issue():
    """A 270 has no 5010 map in pyx12: its EngineError must come back as an issue, not an exception."""
    result = validate_with_pyx12((SAMPLES / "270_X279A1_subscriber-benefit-check_LinuxForHealth.edi").read_bytes())
    assert not result.ok
    assert "Map not found" in result.issues[0].message
