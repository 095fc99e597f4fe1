"""Free text that is safe to store, show and put in FHIR narrative.

Clinical notes are plain text. Whatever renders them (the nurse console, another unit's viewer, a
FHIR client showing ``Narrative``) may forget to escape, so text that *looks like* markup is
refused at the door rather than trusted to every reader: a tag opener (``<`` followed by a letter,
``/``, ``!`` or ``?``), a ``javascript:`` or ``data:text/html`` URL, control characters other than
newline and tab, and Unicode bidirectional overrides (which can make text read differently from
what is stored). A lone ``<`` as in ``glucosa < 100`` or ``<100`` is fine.
"""

from __future__ import annotations

import re
import unicodedata
from html import escape

_MARKUP = re.compile(r"<\s*[A-Za-z/!?]|javascript\s*:|vbscript\s*:|data\s*:\s*text/html", re.IGNORECASE)
_FORBIDDEN_CHARS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb]"
)


def is_safe(text: str) -> bool:
    return _MARKUP.search(text) is None and _FORBIDDEN_CHARS.search(text) is None


def normalize(text: str) -> str:
    """NFC, Unix newlines and no trailing blanks: equal-looking notes compare and hash equal."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def xhtml_div(paragraphs: list[str]) -> str:
    """A FHIR ``Narrative.div``: each paragraph escaped, line breaks kept."""
    body = "".join(f"<p>{escape(p, quote=True).replace(chr(10), '<br/>')}</p>" for p in paragraphs if p)
    return f'<div xmlns="http://www.w3.org/1999/xhtml">{body or "<p>-</p>"}</div>'
