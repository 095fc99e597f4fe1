"""The pages' strings, read from web/static/js/i18n.js, for tests that check what people read."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

I18N = Path(__file__).resolve().parents[2] / "web" / "static" / "js" / "i18n.js"
_ENTRY = re.compile(r'^\s*"([A-Za-z0-9_.-]+)":\s*"((?:[^"\\]|\\.)*)",?\s*$')
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


@cache
def strings() -> dict[str, dict[str, str]]:
    """Language -> key -> text, as the pages' dictionary holds them (one entry per line)."""
    languages: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in I18N.read_text(encoding="utf-8").splitlines():
        opening = re.match(r"^  (es|en): \{\s*$", line)
        if opening:
            current = languages.setdefault(opening.group(1), {})
            continue
        if current is not None and re.match(r"^  \},?\s*$", line):
            current = None
            continue
        entry = _ENTRY.match(line)
        if current is not None and entry:
            current[entry.group(1)] = entry.group(2)
    return languages


def keys() -> set[str]:
    return set(strings()["es"]) | set(strings()["en"])


def raw_keys_in(text: str) -> list[str]:
    """Dictionary keys or unfilled ``{placeholders}`` shown to a person instead of a sentence."""
    words = set(re.findall(r"[A-Za-z0-9_.-]+", text))
    found = sorted(key for key in keys() if "." in key and key in words)
    return found + PLACEHOLDER.findall(text)
