"""The one rule for a person's or a unit's name, wherever one is accepted.

Names are shown to other people: in the waiting room, the console, the inter-unit page, the
record. A name is identity, not free text, so it may hold letters of any script (accents, ñ,
CJK), spaces, apostrophes, hyphens, dots, digits and ordinary punctuation, but never a character
that changes how the text *looks* rather than what it says:

- control characters (``\\x00``-``\\x1f``, ``\\x7f``-``\\x9f``, newlines and tabs included);
- format characters (Unicode ``Cf``): bidirectional overrides and isolates such as U+202E, which
  make ``Ana`` render as something else; zero-width spaces and joiners, U+FEFF, soft hyphens;
- line and paragraph separators, surrogates, private-use and unassigned code points;
- ``<`` and ``>``, which no real name needs and which look like markup to a careless reader;
- more than :data:`MAX_COMBINING_MARKS` combining marks in a row (stacked "Zalgo" text).

A name must also contain a letter and, once its spaces are collapsed (Unicode spaces such as
no-break space become one space) and it is put in NFC, be 1 to :data:`MAX_NAME_LENGTH`
characters long. The same function serves booking, invitations (socket and REST), inter-unit
sites and staff accounts, so a name refused in one place is refused in all of them.
"""

from __future__ import annotations

import unicodedata
from typing import ClassVar

from rooms.errors import DomainError

MAX_NAME_LENGTH = 120
MAX_COMBINING_MARKS = 3
"""Vietnamese stacks two marks on a letter; nothing real needs more than three in a row."""

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

NAME_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff<>]+$"
"""A JSON-schema approximation of the rule, for API descriptions; :func:`clean_name` is the rule."""


class InvalidName(DomainError):
    CODE: ClassVar[str] = "invalid_name"

    def __init__(self, reason_es: str, reason_en: str) -> None:
        super().__init__(self.CODE, f"Nombre no válido: {reason_es}.", f"Invalid name: {reason_en}.")
        self.reason_es = reason_es
        self.reason_en = reason_en


def clean_name(text: str) -> str:
    """The name as it is stored and shown, or :class:`InvalidName` naming the first problem.

    Messages name a refused character by its code point, never by the text itself (errors may be
    logged, and the point of refusing it is that it does not show as what it is).
    """
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES or char in "<>":
            code = f"U+{ord(char):04X}"
            raise InvalidName(
                f"contiene un carácter que no puede ir en un nombre ({code})",
                f"it contains a character a name cannot hold ({code})",
            )
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if not name:
        raise InvalidName("escriba el nombre", "the name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"hasta {MAX_NAME_LENGTH} caracteres", f"up to {MAX_NAME_LENGTH} characters")
    if not any(unicodedata.category(char).startswith("L") for char in name):
        raise InvalidName("debe contener letras", "it must contain letters")
    marks = 0
    for char in name:
        marks = marks + 1 if unicodedata.category(char).startswith("M") else 0
        if marks > MAX_COMBINING_MARKS:
            raise InvalidName("demasiados acentos seguidos", "too many combining marks in a row")
    return name
