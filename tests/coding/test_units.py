"""domain-rules §1.3 vectors V1–V18 for both unit rules, plus property tests of the invariants."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coding.units import AMA, CMS, Family, compute_units, units_for_minutes

COGNITIVE = Family(first="97129", additional="97130")


def units(timed, rule, untimed=()):
    return compute_units(timed, rule=rule, untimed=untimed, families=[COGNITIVE]).nonzero()


@pytest.mark.parametrize(("timed", "cms_any_of", "ama"), [
    ({"97110": 33, "97140": 7}, [{"97110": 2, "97140": 1}], {"97110": 2}),  # V1
    ({"97112": 7, "97110": 7, "97140": 7}, [{"97112": 1}, {"97110": 1}, {"97140": 1}], {}),  # V2
    ({"97112": 24, "97110": 23}, [{"97112": 2, "97110": 1}], {"97112": 2, "97110": 2}),  # V3
    ({"97112": 20, "97110": 20}, [{"97112": 2, "97110": 1}, {"97112": 1, "97110": 2}],
     {"97112": 1, "97110": 1}),  # V4
    ({"97110": 18, "97140": 13, "97116": 10, "97035": 8}, [{"97110": 1, "97140": 1, "97116": 1}],
     {"97110": 1, "97140": 1, "97116": 1, "97035": 1}),  # V5
    ({"97112": 7, "97110": 8}, [{"97110": 1}], {"97110": 1}),  # V6
    ({"97530": 7}, [{}], {}),  # V7
    ({"97530": 22}, [{"97530": 1}], {"97530": 1}),  # V8
    ({"97530": 23}, [{"97530": 2}], {"97530": 2}),  # V9
    ({"97110": 30, "97140": 8}, [{"97110": 2, "97140": 1}], {"97110": 2, "97140": 1}),  # V10
    ({"97535": 10, "97530": 5}, [{"97535": 1}], {"97535": 1}),  # V11
    ({"97530": 52}, [{"97530": 3}], {"97530": 3}),  # V12
    ({"97530": 53}, [{"97530": 4}], {"97530": 4}),  # V13
    ({"97530": 38, "97535": 38}, [{"97530": 3, "97535": 2}, {"97530": 2, "97535": 3}],
     {"97530": 3, "97535": 3}),  # V14
], ids=[f"V{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)])
def test_timed_vectors(timed, cms_any_of, ama):
    assert units(timed, CMS) in cms_any_of
    assert units(timed, AMA) == ama


def test_v15_untimed_minutes_never_count():
    untimed = ["97166", "G0283"]
    timed = {"97530": 25, "97535": 10}
    assert units(timed, CMS, untimed) in [
        {"97166": 1, "G0283": 1, "97530": 2},
        {"97166": 1, "G0283": 1, "97530": 1, "97535": 1},
    ]
    assert units(timed, AMA, untimed) == {"97166": 1, "G0283": 1, "97530": 2, "97535": 1}


def test_v16_group_untimed_with_timed():
    assert units({"97110": 10}, CMS, ["97150"]) == {"97150": 1, "97110": 1}
    assert units({"97110": 10}, AMA, ["97150"]) == {"97150": 1, "97110": 1}


def test_v17_cognitive_family_pools_as_one_code():
    assert units({"97129": 20, "97530": 20}, CMS) in [
        {"97129": 1, "97130": 1, "97530": 1},
        {"97129": 1, "97530": 2},
    ]
    assert units({"97129": 20, "97530": 20}, AMA) == {"97129": 1, "97530": 1}


@pytest.mark.parametrize(("minutes", "expected"), [
    (7, {}), (8, {"97129": 1}), (22, {"97129": 1}), (23, {"97129": 1, "97130": 1}),
    (40, {"97129": 1, "97130": 2}), (53, {"97129": 1, "97130": 3}),
])
def test_v18_cognitive_family_alone(minutes, expected):
    assert units({"97129": minutes}, CMS) == expected
    assert units({"97129": minutes}, AMA) == expected


def test_family_minutes_entered_on_both_codes_are_pooled():
    assert units({"97129": 15, "97130": 15}, CMS) == {"97129": 1, "97130": 1}


def test_negative_minutes_are_refused():
    with pytest.raises(ValueError, match="negative"):
        compute_units({"97110": -1}, rule=CMS)


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="Unknown unit rule"):
        compute_units({"97110": 10}, rule="full15")


@pytest.mark.parametrize(("minutes", "expected"), [(0, 0), (7, 0), (8, 1), (22, 1), (23, 2), (37, 2), (38, 3),
                                                   (52, 3), (53, 4), (67, 4), (68, 5), (113, 8), (127, 8)])
def test_cms_table(minutes, expected):
    assert units_for_minutes(minutes) == expected


CODES = ["97110", "97112", "97140", "97530", "97535", "97129"]
minutes_by_code = st.dictionaries(st.sampled_from(CODES), st.integers(min_value=0, max_value=120), max_size=6)


@given(minutes_by_code)
def test_cms_units_equal_the_table_value_of_total_minutes(timed):
    result = compute_units(timed, rule=CMS, families=[COGNITIVE])
    assert sum(result.units.values()) == units_for_minutes(sum(timed.values()))


@given(minutes_by_code, st.sampled_from([CMS, AMA]))
def test_no_code_gets_a_unit_it_has_no_minutes_for(timed, rule):
    result = compute_units(timed, rule=rule, families=[COGNITIVE])
    for code, count in result.units.items():
        pool = timed.get(code, 0) + (timed.get("97130", 0) if code == "97129" else 0)
        if code == "97130":
            pool = timed.get("97129", 0) + timed.get("97130", 0)
        if count:
            assert pool > 0, (code, timed)


@given(minutes_by_code)
def test_cms_never_gives_a_code_more_units_than_its_minutes_round_up_to(timed):
    result = compute_units(timed, rule=CMS)
    for code, count in result.units.items():
        assert count <= timed[code] // 15 + 1
