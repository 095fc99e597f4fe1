"""Free text as the nurse wrote it, stored safely and escaped wherever it is shown.

Clinical notes are plain text, and ordinary clinical text is full of characters that look like markup
to a careless reader: ``glucosa < 130``, ``TA > 140/90``, ``Ondansetrón = 4 mg``, ``onset=2 days``,
even a pasted ``<img src=x onerror=alert(1)>``. None of it is refused: every reader escapes it (the
FHIR narrative through :func:`xhtml_div`, the pages through ``textContent`` or form values), so text
is only ever text.

What is refused are characters that are not text at all and would change what a reader sees or break
the record: control characters other than tab and newline, Unicode bidirectional controls (which make
text read differently from what is stored: U+202E turns ``txt.exe`` around), lone surrogates and
the two non-characters XML forbids. :func:`forbidden_character` finds the first one so the refusal can
name it and where it is, and the nurse can delete exactly that character.

:func:`normalize` makes equal-looking text equal (NFC, Unix newlines, no trailing blanks) and turns
invisible look-alikes into what they look like (no-break and other Unicode spaces into spaces, line
and paragraph separators into newlines, zero-width spaces, byte-order and bidirectional marks into
nothing), so pasted text is stored as it appears on screen.

Names (of patients, staff and units) are identity data, not free text: they follow the stricter
rule of ``rooms/names.py`` (no invisible characters at all, no ``<`` or ``>``), which
:func:`records.facts.clean_name` applies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html import escape

_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufff9-\ufffb\ufffe\uffff]"
)
"""C0 and C1 controls (tab, newline, carriage return and next line are line layout, kept or made
newlines), bidirectional embeddings, overrides and isolates, interlinear annotation controls,
surrogates, and U+FFFE/U+FFFF."""
_INVISIBLE = re.compile("[\u061c\u200b\u200e\u200f\u2060\ufeff]")
"""Zero-width space, word joiner, byte-order mark and the bidirectional *marks* (which only nudge
neutral characters): they arrive with pasted text, show nothing, and are dropped when stored."""
_SPACES = re.compile("[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029\x85]")


@dataclass(frozen=True, slots=True)
class ForbiddenCharacter:
    """Where the first refused character is: its code point and its 1-based position in the text."""

    codepoint: str
    """``U+202E``: names the character without reproducing it (errors are logged)."""
    position: int


def forbidden_character(text: str) -> ForbiddenCharacter | None:
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    return ForbiddenCharacter(f"U+{ord(found.group()):04X}", found.start() + 1)


def normalize(text: str) -> str:
    """NFC, Unix newlines, no invisible characters and no trailing blanks: what the reader sees."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _SPACES.sub(" ", _INVISIBLE.sub("", text))
    text = unicodedata.normalize("NFC", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def xhtml_div(paragraphs: list[str]) -> str:
    """A FHIR ``Narrative.div``: each paragraph escaped, line breaks kept."""
    body = "".join(f"<p>{escape(p, quote=True).replace(chr(10), '<br/>')}</p>" for p in paragraphs if p)
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{body or "<p>-</p>"}</div>'
