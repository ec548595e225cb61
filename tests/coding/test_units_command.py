"""`manage.py units --rule cms|ama CODE=MINUTES ...`: one JSON object of the codes that earn units, or a clear error."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from coding.models import ProcedureCode

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def units(*args) -> dict:
    out = StringIO()
    call_command("units", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1, lines
    return json.loads(lines[0])


def test_the_issue_example_prints_exactly_one_json_object(code_sets):
    out = StringIO()
    call_command("units", "--rule", "cms", "97110=33", "97140=7", stdout=out)
    assert out.getvalue().strip() == '{"97110": 2, "97140": 1}'


def test_ama_counts_each_code_alone_and_leaves_out_codes_without_units(code_sets):
    assert units("--rule", "ama", "97110=33", "97140=7") == {"97110": 2}


def test_cms_v3_and_v5_vectors(code_sets):
    assert units("--rule", "cms", "97112=24", "97110=23") == {"97112": 2, "97110": 1}
    assert units("--rule", "cms", "97110=18", "97140=13", "97116=10", "97035=8") == {
        "97110": 1, "97140": 1, "97116": 1}


def test_repeated_codes_are_summed_before_counting(code_sets):
    # 97530 10 + 13 = 23 minutes → 2 units; on their own 10 and 13 would each be 1.
    assert units("--rule", "ama", "97530=10", "97530=13") == {"97530": 2}


def test_untimed_codes_are_one_unit_and_their_minutes_do_not_count(code_sets):
    assert units("--rule", "cms", "97166=45", "G0283=20", "97530=7") == {"97166": 1, "G0283": 1}


def test_the_cognitive_family_bills_its_first_unit_as_97129(code_sets):
    assert units("--rule", "cms", "97130=40") == {"97129": 1, "97130": 2}


def test_nothing_billable_prints_an_empty_object(code_sets):
    assert units("--rule", "cms", "97530=7") == {}


def test_an_unknown_code_is_an_error_naming_the_argument(code_sets):
    with pytest.raises(CommandError, match=r"97999=10: 97999 is not in the loaded code set\."):
        call_command("units", "--rule", "cms", "97110=33", "97999=10", stdout=StringIO())


def test_negative_minutes_are_an_error(code_sets):
    with pytest.raises(CommandError, match=r"97110=-5: Minutes cannot be negative \(-5\)\."):
        call_command("units", "--rule", "cms", "97110=-5", stdout=StringIO())


@pytest.mark.parametrize("pair", ["97110=12.5", "97110=abc", "97110=1e3"])
def test_minutes_that_are_not_whole_numbers_are_an_error(code_sets, pair):
    with pytest.raises(CommandError, match="Minutes must be a whole number"):
        call_command("units", "--rule", "cms", pair, stdout=StringIO())


def test_an_argument_without_equals_sign_is_an_error(code_sets):
    with pytest.raises(CommandError, match=r"'97110' is not CODE=MINUTES, e.g. 97110=33\."):
        call_command("units", "--rule", "cms", "97110", stdout=StringIO())


def test_a_timed_code_without_minutes_is_an_error(code_sets):
    with pytest.raises(CommandError, match=r"97110=: Enter the minutes of timed code 97110\."):
        call_command("units", "--rule", "cms", "97110=", stdout=StringIO())


def test_an_unknown_rule_is_refused(code_sets):
    with pytest.raises(CommandError, match="invalid choice: 'medicare'"):
        call_command("units", "--rule", "medicare", "97110=33", stdout=StringIO())


def test_empty_code_sets_say_how_to_load_them():
    ProcedureCode.objects.all().delete()  # rolled back with the test
    with pytest.raises(CommandError, match="^Code sets not loaded: run python manage.py load_code_sets$"):
        call_command("units", "--rule", "cms", "97110=33", stdout=StringIO())


def _test_database_url() -> str:
    settings = connection.settings_dict
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    return f"postgres://{auth}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"


def test_a_bad_argument_exits_non_zero_with_the_message_on_stderr():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "otbilling.settings.test", "DATABASE_URL": _test_database_url()}
    result = subprocess.run([sys.executable, "manage.py", "units", "--rule", "cms", "97110=33", "97140=-7"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "97140=-7: Minutes cannot be negative (-7)." in result.stderr
    assert result.stdout == ""
