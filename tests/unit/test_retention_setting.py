"""``TC_SESSION_LOG_RETENTION_DAYS``: 30 days by default, at least 1 (chat and unkept photos are
never kept forever)."""

from __future__ import annotations

import pytest

from web.config import ConfigError, Settings


def test_retention_days_default_and_override() -> None:
    assert Settings.from_env({}).session_log_retention_days == 30
    assert Settings.from_env({"TC_SESSION_LOG_RETENTION_DAYS": "7"}).session_log_retention_days == 7


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_retention_days_refuses_forever_and_nonsense(bad: str) -> None:
    with pytest.raises(ConfigError, match="TC_SESSION_LOG_RETENTION_DAYS"):
        Settings.from_env({"TC_SESSION_LOG_RETENTION_DAYS": bad})
