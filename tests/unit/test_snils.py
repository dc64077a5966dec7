"""SPEC §1 Children and certificates: the SNILS checksum."""
import pytest

from core.errors import DomainError
from core.snils import format_snils, normalize_snils


@pytest.mark.parametrize("raw", ["112-233-445 95", "11223344595", "112 233 445 95", " 112-233-445-95 "])
def test_valid_snils_is_accepted_with_or_without_dashes_and_spaces(raw):
    assert normalize_snils(raw) == "11223344595"


def test_wrong_control_number_is_refused():
    with pytest.raises(DomainError) as refusal:
        normalize_snils("112-233-445 96")
    assert refusal.value.reason == "snils_checksum"


@pytest.mark.parametrize("raw", ["001-001-998 00", "001-001-998 77", "000-000-001 12"])
def test_numbers_up_to_001_001_998_are_exempt_from_the_checksum(raw):
    assert len(normalize_snils(raw)) == 11


def test_first_number_after_the_exemption_is_checked():
    with pytest.raises(DomainError):
        normalize_snils("001-001-999 00")


@pytest.mark.parametrize("raw", ["", "123", "1122334459", "112233445955", "abc-def-ghi jk", "１１２２３３４４５９５"])
def test_malformed_snils_is_a_format_error(raw):
    with pytest.raises(DomainError) as refusal:
        normalize_snils(raw)
    assert refusal.value.reason == "snils_format"


# First nine digits (above the exemption) whose weighted sums hit the edge cases.
VECTORS = {100: "001019997", 101: "001029888", 102: "001029986", 201: "002999989"}


@pytest.mark.parametrize("first_nine, weighted_sum, control", [
    ("112233445", 95, 95),    # below 100: the sum itself
    (None, 100, 0),           # 100 and 101 give 00
    (None, 101, 0),
    (None, 102, 1),           # above: sum mod 101
    (None, 201, 0),           # 201 mod 101 = 100, which is written 00 too
])
def test_control_number_rule(first_nine, weighted_sum, control):
    from core.snils import control_number

    first_nine = first_nine or VECTORS[weighted_sum]
    assert sum(int(d) * (9 - i) for i, d in enumerate(first_nine)) == weighted_sum
    assert control_number(first_nine) == control
    assert normalize_snils(first_nine + f"{control:02d}") == first_nine + f"{control:02d}"


def test_snils_is_shown_as_xxx_xxx_xxx_yy():
    assert format_snils("11223344595") == "112-233-445 95"
