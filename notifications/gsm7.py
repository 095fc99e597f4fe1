"""SMS text in the GSM 03.38 alphabet ("GSM-7"), so one part carries 160 characters, not 70.

A single character outside that alphabet (``á``, ``í``, ``ó``, ``ú``, which Spanish is full of)
makes the provider send the whole SMS as UCS-2: 70 characters a part, 67 once it is split, and a
message of three parts costs three. :func:`transliterate` keeps what GSM-7 has (``ñ``, ``é``,
``ü``, ``¿``, ``¡``) and writes the rest without its accent (``á`` → ``a``); anything with no
plain-letter form becomes ``?``. :func:`parts` counts what the provider will bill.
"""

from __future__ import annotations

import unicodedata

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The basic character set: one septet each."""
EXTENSION = "^{}\\[~]|€\f"
"""The extension table: an escape and the character, two septets each."""
SINGLE_PART = 160
"""Septets in an SMS sent whole."""
CONCATENATED_PART = 153
"""Septets in each part of a long SMS (the rest of the part is the header that joins them)."""

_ALPHABET = frozenset(BASIC + EXTENSION)
_SPELLED = {
    "\u201c": '"',  # left double quotation mark
    "\u201d": '"',
    "\u2018": "'",
    "\u2019": "'",
    "\u2013": "-",  # en dash
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",  # no-break space
}
"""Punctuation word processors put in, written as the plain characters GSM-7 has."""


def _plain(character: str) -> str:
    if character in _ALPHABET:
        return character
    if character in _SPELLED:
        return _SPELLED[character]
    # "á" is "a" and a combining accent once decomposed; what is left without the marks is kept.
    bare = "".join(c for c in unicodedata.normalize("NFKD", character) if not unicodedata.combining(c))
    return bare if bare and all(c in _ALPHABET for c in bare) else "?"


def transliterate(text: str) -> str:
    """``text`` in GSM-7 characters only: ``á`` → ``a``, ``ñ`` and ``é`` kept (GSM-7 has them)."""
    return "".join(_plain(character) for character in text)


def is_gsm7(text: str) -> bool:
    return all(character in _ALPHABET for character in text)


def septets(text: str) -> int:
    """How many septets ``text`` takes (an extension character takes two); ``text`` must be GSM-7."""
    return sum(2 if character in EXTENSION else 1 for character in text)


def parts(text: str) -> int:
    """How many SMS parts a GSM-7 ``text`` is sent as."""
    length = septets(text)
    return 1 if length <= SINGLE_PART else -(-length // CONCATENATED_PART)
