"""Record seals across key rotation: key ids on seals, old keys verify, unknown keys are reported.

tests/integration/test_secrets_origins.py does the same through the server's configuration and a
restart; here the rule itself, exhaustively.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from records.notes import Note, NoteStatus, content_digest
from records.seal import SealKeys, SealStatus, check, key_id, seal, seal_key, verify
from records.templates import TemplateCode

KEY_A = seal_key(b"a" * 40)
KEY_B = seal_key(b"b" * 40)
KEY_C = seal_key(b"c" * 40)
SIGNED_AT = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
NOTE = Note(
    note_id="n-1",
    consult_id="c-1",
    patient_id="p-1",
    template=TemplateCode.FIRST_CONSULT,
    author_id="nurse-1",
    author_name="Ana María López",
    status=NoteStatus.SIGNED,
    version=3,
    created_at=SIGNED_AT,
    updated_at=SIGNED_AT,
    content={"reason": {"reason": "Control de glucosa"}},
    signed_at=SIGNED_AT,
)


def legacy_seal(note: Note, key: bytes) -> str:
    """A seal as the server made them before key ids: base64 of the bare HMAC."""
    return base64.b64encode(hmac.new(key, content_digest(note).encode(), hashlib.sha256).digest()).decode()


def test_a_seal_names_its_key_and_verifies_after_rotation() -> None:
    sealed = seal(NOTE, SealKeys(KEY_A))
    rotated = check(NOTE, SealKeys(KEY_B, (KEY_A,)), sealed)
    assert rotated.status is SealStatus.VALID
    assert rotated.key_id == key_id(KEY_A).hex()
    assert verify(NOTE, SealKeys(KEY_A), sealed)


def test_a_seal_by_a_key_the_server_does_not_hold_is_unverifiable() -> None:
    sealed = seal(NOTE, SealKeys(KEY_A))
    found = check(NOTE, SealKeys(KEY_B, (KEY_C,)), sealed)
    assert found.status is SealStatus.UNVERIFIABLE and found.key_id == key_id(KEY_A).hex()
    assert not verify(NOTE, SealKeys(KEY_B, (KEY_C,)), sealed)


@pytest.mark.parametrize(
    "change",
    [
        {"content": {"reason": {"reason": "Control de presión"}}},
        {"author_name": "Otra Persona"},
        {"signed_at": datetime(2026, 3, 2, 15, 31, tzinfo=UTC)},
        {"patient_id": "p-2"},
    ],
)
def test_a_changed_note_no_longer_matches_its_seal(change: dict[str, object]) -> None:
    sealed = seal(NOTE, SealKeys(KEY_A))
    changed = replace(NOTE, **change)  # type: ignore[arg-type]
    assert check(changed, SealKeys(KEY_A), sealed).status is SealStatus.INVALID
    assert check(changed, SealKeys(KEY_B, (KEY_A,)), sealed).status is SealStatus.INVALID


def test_seals_made_before_key_ids_verify_with_the_current_key_and_old_ones() -> None:
    old = legacy_seal(NOTE, KEY_A)
    assert check(NOTE, SealKeys(KEY_A), old).status is SealStatus.VALID
    assert check(NOTE, SealKeys(KEY_B, (KEY_A,)), old).status is SealStatus.VALID
    assert check(NOTE, SealKeys(KEY_A), old).key_id is None
    # No key matches: the record changed or its key is gone; without a key id nobody can tell which.
    assert check(NOTE, SealKeys(KEY_B), old).status is SealStatus.UNVERIFIABLE
    assert check(replace(NOTE, author_name="X"), SealKeys(KEY_A), old).status is SealStatus.UNVERIFIABLE


@pytest.mark.parametrize(
    "sealed",
    ["", "not base64!", "AAAA", base64.b64encode(b"\x09" + bytes(40)).decode(), "é"],
)
def test_a_malformed_seal_is_invalid(sealed: str) -> None:
    assert check(NOTE, SealKeys(KEY_A), sealed).status is SealStatus.INVALID


def test_a_new_seal_is_base64_and_seal_keys_are_long_enough() -> None:
    raw = base64.b64decode(seal(NOTE, SealKeys(KEY_B, (KEY_A,))), validate=True)
    assert raw[:1] == b"\x02" and raw[1:9] == key_id(KEY_B) and len(raw) == 41  # sealed by the current key
    assert key_id(KEY_A) != key_id(KEY_B)
    with pytest.raises(ValueError):
        SealKeys(b"short")
    with pytest.raises(ValueError):
        SealKeys(KEY_A, (b"short",))
