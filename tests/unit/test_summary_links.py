"""Summary-link tokens (rooms/summary_links.py) and their setting: a kind of token apart from join
tokens, with a lifetime fixed from the signing, refused when tampered with, expired or of the other kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rooms import summary_links, tokens
from rooms.roles import Role
from web.config import ConfigError, Settings

SECRET = b"unit-test-secret-key-0123456789abcdef"
KEY = summary_links.derive_key(SECRET)
SIGNED = datetime(2026, 3, 2, 16, 40, tzinfo=UTC)


def _claims(days: int = 30, consult_id: str = "c-1") -> summary_links.SummaryClaims:
    return summary_links.SummaryClaims(
        consult_id,
        summary_links.link_id(consult_id),
        int(SIGNED.timestamp()),
        summary_links.expiry(SIGNED, days),
    )


def test_a_summary_link_round_trips_until_it_expires() -> None:
    token = summary_links.issue(KEY, _claims())
    assert token.startswith("s1.") and summary_links.is_summary_token(token)
    assert summary_links.issue(KEY, _claims()) == token  # issued again: the same link
    end = (SIGNED + timedelta(days=30)).timestamp()
    assert summary_links.verify(KEY, token, end - 1) == _claims()
    with pytest.raises(tokens.TokenError) as error:
        summary_links.verify(KEY, token, end)
    assert error.value.code is tokens.TokenErrorCode.EXPIRED


def test_its_key_is_not_the_join_key() -> None:
    assert KEY != SECRET and summary_links.derive_key(b"another-secret-key-0123456789abcdefg") != KEY


@pytest.mark.parametrize(
    "token",
    [
        summary_links.issue(SECRET, _claims()),  # signed with the join key
        summary_links.issue(summary_links.derive_key(b"x" * 40), _claims()),  # another server
        summary_links.issue(KEY, _claims()).replace("s1.", "v1.", 1),  # relabelled as a join token
        summary_links.issue(KEY, _claims())[:-3] + "AAA",  # signature altered
        summary_links.issue(KEY, summary_links.SummaryClaims("c-1", "summary.c-2", 0, 2**40)),  # other id
        "s1.not-json.sig",
        "s1." + "A" * 2000,
        "",
    ],
)
def test_forged_or_foreign_tokens_are_invalid(token: str) -> None:
    with pytest.raises(tokens.TokenError) as error:
        summary_links.verify(KEY, token, SIGNED.timestamp())
    assert error.value.code is tokens.TokenErrorCode.INVALID


def test_join_and_summary_tokens_never_pass_for_each_other() -> None:
    now = SIGNED.timestamp()
    join = tokens.issue(
        SECRET, tokens.JoinClaims("c-1", "p-1", Role.PATIENT, int(now) - 60, int(now) + 3600, "j")
    )
    for key in (KEY, SECRET):
        with pytest.raises(tokens.TokenError):
            summary_links.verify(key, join, now)
    summary = summary_links.issue(KEY, _claims())
    for key in (KEY, SECRET):
        with pytest.raises(tokens.TokenError):
            tokens.verify(key, summary, now)


def test_the_lifetime_setting() -> None:
    assert Settings.from_env({}).summary_link_days == 30
    assert Settings.from_env({"TC_SUMMARY_LINK_DAYS": "7"}).summary_link_days == 7
    for bad in ("0", "31", "-1", "a week"):
        with pytest.raises(ConfigError, match="TC_SUMMARY_LINK_DAYS"):
            Settings.from_env({"TC_SUMMARY_LINK_DAYS": bad})
