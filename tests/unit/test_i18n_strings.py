"""Every string a page shows exists in Spanish and in English, with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.i18n import PLACEHOLDER, strings

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"


def test_spanish_and_english_have_the_same_keys_and_placeholders() -> None:
    es, en = strings()["es"], strings()["en"]
    assert len(es) > 300
    assert set(es) ^ set(en) == set(), "keys in one language only"
    for key in es:
        assert es[key].strip() and en[key].strip(), f"{key} is empty"
        assert set(PLACEHOLDER.findall(es[key])) == set(PLACEHOLDER.findall(en[key])), key


def test_every_key_the_pages_use_is_in_the_dictionary() -> None:
    known = set(strings()["es"])
    used: set[str] = set()
    for page in STATIC.glob("*.html"):
        used |= set(re.findall(r'data-i18n(?:-[a-z]+)?="([^"]+)"', page.read_text(encoding="utf-8")))
    for script in (STATIC / "js").glob("*.js"):
        text = script.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("([A-Za-z0-9_.-]+)"\)', text))
        used |= set(re.findall(r'data-i18n(?:-[a-z]+)?="([^"]+)"', text))
    assert len(used) > 100
    assert sorted(used - known) == [], "keys used by a page but missing from i18n.js"
