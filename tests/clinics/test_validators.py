import pytest
from django.core.exceptions import ValidationError

from clinics.validators import npi_is_valid, validate_ein, validate_zip, validate_zip9


@pytest.mark.parametrize("npi", ["1234567893", "1558598797", "1000000020"])
def test_valid_npis_from_domain_rules_pass(npi):
    assert npi_is_valid(npi)


@pytest.mark.parametrize("npi", ["1234567890", "123456789", "3234567893", "12345678931", "12345X7893", ""])
def test_invalid_npis_fail(npi):
    assert not npi_is_valid(npi)


@pytest.mark.parametrize("ein", ["12-3456789", "013456789", "993456789", "713456789"])
def test_ein_with_issued_prefix_passes(ein):
    validate_ein(ein)


@pytest.mark.parametrize("prefix", ["00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70",
                                    "78", "79", "89", "96", "97"])
def test_ein_with_never_issued_prefix_is_refused(prefix):
    with pytest.raises(ValidationError, match=f"prefix {prefix}"):
        validate_ein(prefix + "3456789")


@pytest.mark.parametrize("ein", ["1234567", "12345678A", "123-45-6789x"])
def test_ein_of_wrong_shape_is_refused(ein):
    with pytest.raises(ValidationError, match="9 digits"):
        validate_ein(ein)


def test_zip9_requires_plus_four():
    validate_zip9("97201-1234")
    validate_zip9("972011234")
    with pytest.raises(ValidationError):
        validate_zip9("97201")


@pytest.mark.parametrize("value", ["9720", "97201-12", "ABCDE"])
def test_bad_zip_is_refused(value):
    with pytest.raises(ValidationError):
        validate_zip(value)
