"""pyx12 validation with maps loaded once per process: same findings as pyx12 itself, and the real reason."""

import io
import logging
import threading
from pathlib import Path

import pytest

from otbilling.edi import validation
from otbilling.edi.validation import clear_map_cache, validate_with_pyx12

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "x12-samples"
OT_837 = SAMPLES / "generated" / "837P_X222A1_OT-1claim-3lines_generated.edi"
EMEDNY_835 = SAMPLES / "835_X221A1_emedny-professional-with-payment_Herophilus.edi"


def _with_st03(text: str) -> str:
    return text.replace("ST*835*1740~", "ST*835*1740*005010X221A1~", 1)


def _pyx12_itself(tmp_path, text: str) -> tuple[bool, str]:
    """pyx12's own entry point, which loads every map again: the reference the cached walk must equal."""
    import pyx12.params
    import pyx12.x12n_document

    path = tmp_path / "ref.x12"
    path.write_text(text, encoding="latin-1")
    report = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(param=pyx12.params.params(), src_file=str(path), fd_997=None,
                                           fd_html=None, fd_json=report)
    return ok, report.getvalue()


def test_a_bad_file_gives_the_same_issues_on_the_first_and_the_second_call():
    bad = OT_837.read_text().replace("CLM*", "CLX*", 1).replace("NM1*85*2*", "NM1*85*9*", 1)
    clear_map_cache()
    first = validate_with_pyx12(bad)
    second = validate_with_pyx12(bad)
    assert not first.ok and first.issues
    assert second == first
    assert (first.issues[0].segment, first.issues[0].line) == ("NM1", 10)


def test_a_good_file_is_ok_twice_and_the_maps_are_loaded_once():
    clear_map_cache()
    assert validate_with_pyx12(OT_837.read_bytes()).ok
    loaded = validation._map.cache_info().misses
    assert validate_with_pyx12(OT_837.read_bytes()).ok
    assert validation._map.cache_info().misses == loaded == 2  # the 5010 control map and the 837P map


def test_an_835_after_an_837_loads_only_its_own_map():
    validate_with_pyx12(OT_837.read_bytes())
    before = validation._map.cache_info().misses
    assert validate_with_pyx12(EMEDNY_835.read_bytes()).ok
    assert validate_with_pyx12(EMEDNY_835.read_bytes()).ok
    assert validation._map.cache_info().misses <= before + 1


@pytest.mark.parametrize("name, edit", [
    ("clean 837P", lambda t: t),
    ("837P with an unknown segment", lambda t: t.replace("CLM*", "CLX*", 1)),
    ("837P with a bad NM102", lambda t: t.replace("NM1*85*2*", "NM1*85*9*", 1)),
    ("837P with a wrong SE count", lambda t: t.replace("SE*", "SE*99", 1)),
    ("837P cut in half", lambda t: t[: len(t) // 2]),
])
def test_the_cached_walk_reports_exactly_what_pyx12_reports(tmp_path, name, edit):
    text = edit(OT_837.read_text())
    path = tmp_path / "ours.x12"
    path.write_text(text, encoding="latin-1")
    assert validation._run_pyx12(str(path)) == _pyx12_itself(tmp_path, text)


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("8*.edi")), ids=lambda p: p.name)
def test_the_cached_walk_equals_pyx12_on_the_835_and_837_samples(tmp_path, path):
    text = path.read_text(encoding="latin-1")
    assert validation._run_pyx12(str(path)) == _pyx12_itself(tmp_path, text)


def test_an_835_with_st03_names_the_element_instead_of_a_bare_rejection():
    result = validate_with_pyx12(_with_st03(EMEDNY_835.read_text()))
    assert not result.ok
    assert [(i.segment, i.line, i.code) for i in result.issues] == [("ST", 3, "10")]
    assert result.issues[0].message == 'Data element "Implementation Convention Reference" (ST03) is marked as Not Used'


def test_a_bad_interchange_date_is_reported_on_the_isa_once_with_its_value():
    result = validate_with_pyx12(EMEDNY_835.read_text().replace("*100101*1000*", "*1001AB*1000*", 1))
    assert [(i.segment, i.line) for i in result.issues] == [("ISA", 1)]
    assert result.issues[0].message == 'Data element "Interchange Date" (ISA09) contains an invalid date (1001AB)'


def test_a_file_that_is_not_x12_says_why():
    result = validate_with_pyx12(b"hello, this is a letter")
    assert not result.ok
    assert result.issues[0].message == "pyx12 could not read the file: First line does not begin with 'ISA': hel"


def test_a_group_without_a_pyx12_map_names_the_gs_segment():
    result = validate_with_pyx12(EMEDNY_835.read_text().replace("005010X221A1", "005010X999A1", 1))
    assert (result.issues[0].segment, result.issues[0].line) == ("GS", 2)
    assert "Map not found" in result.issues[0].message


def test_the_pyx12_logger_is_left_as_the_settings_configured_it():
    logger = logging.getLogger("pyx12")
    before = (logger.level, logger.propagate, list(logger.handlers))
    validate_with_pyx12(_with_st03(EMEDNY_835.read_text()))
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_two_validations_at_once_keep_their_own_findings():
    bad, good = _with_st03(EMEDNY_835.read_text()), EMEDNY_835.read_text()
    results: dict[str, list] = {"bad": [], "good": []}

    def run(kind, text):
        for _ in range(4):
            results[kind].append(validate_with_pyx12(text))

    threads = [threading.Thread(target=run, args=("bad", bad)), threading.Thread(target=run, args=("good", good))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.ok and not r.issues for r in results["good"])
    assert all([i.segment for i in r.issues] == ["ST"] for r in results["bad"])
