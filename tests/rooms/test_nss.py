from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rooms.nss import InvalidNss, Nss, is_valid_nss, luhn_check_digit, parse_nss

PAYLOADS = st.text(alphabet="0123456789", min_size=10, max_size=10)


def test_the_published_worked_example() -> None:
    # 9-2-9-1-9-0-8-4-4-3 weighted 1-2-1-2... sums to 59: the check digit is 1.
    assert luhn_check_digit("9291908443") == 1
    nss = parse_nss("92-91-90-8443-1")
    assert nss == Nss("92919084431")
    assert (nss.subdelegation, nss.affiliation_year, nss.birth_year) == ("92", "91", "90")
    assert nss.masked() == "*******4431"
    assert str(nss) == "92919084431"


def test_products_over_nine_have_their_digits_summed() -> None:
    # 5*2 = 10 counts 1, 9*2 = 18 counts 9: the classic Luhn test number 79927398713.
    assert luhn_check_digit("7992739871") == 3


@pytest.mark.parametrize("text", ["92 91 90 8443 1", "92919084431", " 92.91.90.8443-1 "])
def test_people_write_it_with_separators(text: str) -> None:
    assert parse_nss(text).value == "92919084431"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("92919084432", "check digit"),
        ("9291908443", "11 digits and has 10"),
        ("929190844311", "11 digits and has 12"),
        ("9291908443A", "digits only"),
        ("\uff19\uff12\uff19\uff11\uff19\uff10\uff18\uff14\uff14\uff13\uff11", "digits only"),  # full-width
        ("", "has 0"),
        ("1" * 100, "has 100"),
    ],
)
def test_invalid_numbers_say_why(text: str, fragment: str) -> None:
    with pytest.raises(InvalidNss) as caught:
        parse_nss(text)
    assert caught.value.code == "invalid_nss"
    assert fragment in caught.value.message_en
    assert caught.value.message_es.startswith("El número de seguridad social")
    assert not is_valid_nss(text)


def test_an_nss_cannot_be_built_unchecked() -> None:
    for raw in ("92919084432", "123"):
        with pytest.raises(ValueError):
            Nss(raw)
    with pytest.raises(ValueError):
        luhn_check_digit("12a")


@given(PAYLOADS)
def test_the_check_digit_completes_any_payload(payload: str) -> None:
    assert is_valid_nss(payload + str(luhn_check_digit(payload)))


@given(PAYLOADS, st.integers(0, 10), st.integers(1, 9))
def test_every_single_mistyped_digit_is_caught(payload: str, position: int, shift: int) -> None:
    valid = payload + str(luhn_check_digit(payload))
    typo = valid[:position] + str((int(valid[position]) + shift) % 10) + valid[position + 1 :]
    assert not is_valid_nss(typo)


@given(PAYLOADS, st.integers(0, 9))
def test_swapping_neighbours_is_caught_unless_they_are_0_and_9(payload: str, position: int) -> None:
    valid = payload + str(luhn_check_digit(payload))
    a, b = valid[position], valid[position + 1]
    swapped = valid[:position] + b + a + valid[position + 2 :]
    if a != b and {a, b} != {"0", "9"}:  # Luhn's one known blind spot
        assert not is_valid_nss(swapped)
