"""The IMSS affiliate number (NSS, *Número de Seguridad Social*).

Eleven digits: subdelegation (2), year of affiliation (2), year of birth (2, ``97`` when
unknown), a serial (4) and a check digit. The check digit is the Luhn digit of the first ten:
weights 1-2-1-2… from the left, the digits of each product summed, and the check digit is what
brings the total to the next multiple of ten. Public descriptions of the NSS agree on this (e.g.
the worked example 92-91-90-8443-1, whose weighted sum 59 gives check digit 1). Luhn catches every
single mistyped digit and most swaps of neighbours, which is what a patient typing their number on
a phone gets wrong.

The number is not checked against IMSS: a valid NSS is well formed, not necessarily issued.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rooms.errors import DomainError

NSS_LENGTH = 11
_SEPARATORS = re.compile(r"[\s\-.]")


class InvalidNss(DomainError):
    CODE = "invalid_nss"

    def __init__(self, reason_es: str, reason_en: str) -> None:
        super().__init__(
            self.CODE,
            f"El número de seguridad social (NSS) no es válido: {reason_es}.",
            f"The social security number (NSS) is not valid: {reason_en}.",
        )


def luhn_check_digit(payload: str) -> int:
    """The Luhn digit that makes ``payload`` + digit valid; doubled digits are the odd ones from the right."""
    if not payload.isascii() or not payload.isdigit():
        raise ValueError("the Luhn payload is digits only")
    total = 0
    for index, char in enumerate(reversed(payload)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


@dataclass(frozen=True, slots=True)
class Nss:
    """A well-formed NSS: eleven digits whose last is the Luhn check digit of the first ten."""

    value: str

    def __post_init__(self) -> None:
        if not (len(self.value) == NSS_LENGTH and self.value.isascii() and self.value.isdigit()):
            raise ValueError("construct an Nss with parse_nss")
        if luhn_check_digit(self.value[:10]) != int(self.value[10]):
            raise ValueError("construct an Nss with parse_nss")

    @property
    def subdelegation(self) -> str:
        return self.value[0:2]

    @property
    def affiliation_year(self) -> str:
        return self.value[2:4]

    @property
    def birth_year(self) -> str:
        """Two digits, or ``"97"`` when IMSS had no birth date on record."""
        return self.value[4:6]

    def masked(self) -> str:
        """For logs and screens shared with others: only the last four digits."""
        return "*" * (NSS_LENGTH - 4) + self.value[-4:]

    def __str__(self) -> str:
        return self.value


def parse_nss(text: str) -> Nss:
    """Read an NSS as people write it (``"92 91 90 8443-1"``) or say why it is not valid."""
    digits = _SEPARATORS.sub("", text) if len(text) <= 64 else text
    if digits and not (digits.isascii() and digits.isdigit()):
        raise InvalidNss("solo puede contener dígitos", "it may contain digits only")
    if len(digits) != NSS_LENGTH:
        raise InvalidNss(
            f"debe tener {NSS_LENGTH} dígitos y tiene {len(digits)}",
            f"it must have {NSS_LENGTH} digits and has {len(digits)}",
        )
    if luhn_check_digit(digits[:10]) != int(digits[10]):
        raise InvalidNss(
            "el dígito verificador no coincide; revise que esté bien escrito",
            "the check digit does not match; please check for a typo",
        )
    return Nss(digits)


def is_valid_nss(text: str) -> bool:
    try:
        parse_nss(text)
    except InvalidNss:
        return False
    return True
