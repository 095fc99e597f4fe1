"""Redis settings: one server by URL, or a highly available one through Sentinel, and bounded pools."""

from __future__ import annotations

import pytest

from web.config import ConfigError, Settings
from web.redis_connection import BlockingSentinelPool, redis_client

POSTGRES = {"TC_DATABASE_URL": "postgresql+asyncpg://db/tc"}
"""Several nodes share PostgreSQL (a SQLite file with Redis is refused)."""


def test_sentinels_become_the_url_both_the_stores_and_socketio_read() -> None:
    settings = Settings.from_env(
        {
            "TC_REDIS_SENTINELS": "10.0.0.1:26379, 10.0.0.2:26379",
            "TC_REDIS_SENTINEL_MASTER": "tc-main",
            **POSTGRES,
        }
    )
    assert settings.redis_url == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/0/tc-main"
    assert Settings.from_env({"TC_REDIS_URL": "redis://r:6379/0", **POSTGRES}).redis_url == "redis://r:6379/0"
    with pytest.raises(ConfigError, match="TC_ALLOW_SQLITE_WITH_REDIS"):  # sentinels mean many nodes too
        Settings.from_env({"TC_REDIS_SENTINELS": "10.0.0.1:26379", "TC_REDIS_SENTINEL_MASTER": "tc-main"})
    assert Settings.from_env({}).redis_url == ""


def test_back_pressure_is_on_in_a_configured_server_unless_turned_off() -> None:
    assert Settings.from_env({}).overload_lag_seconds == 0.25
    assert Settings.from_env({"TC_OVERLOAD_LAG_MS": "400"}).overload_lag_seconds == 0.4
    assert Settings.from_env({"TC_OVERLOAD_LAG_MS": "0"}).overload_lag_seconds == 0
    assert Settings().overload_lag_seconds == 0


@pytest.mark.parametrize(
    "env",
    [
        {"TC_REDIS_SENTINELS": "10.0.0.1:26379"},
        {"TC_REDIS_SENTINEL_MASTER": "tc"},
        {"TC_REDIS_SENTINELS": "10.0.0.1", "TC_REDIS_SENTINEL_MASTER": "tc"},
        {"TC_REDIS_SENTINELS": "10.0.0.1:99999", "TC_REDIS_SENTINEL_MASTER": "tc"},
        {"TC_REDIS_SENTINELS": "10.0.0.1:26379", "TC_REDIS_SENTINEL_MASTER": "tc/0"},
        {"TC_REDIS_SENTINELS": "a:1", "TC_REDIS_SENTINEL_MASTER": "tc", "TC_REDIS_URL": "redis://r"},
        {"TC_REDIS_POOL_SIZE": "0"},
        {"TC_REDIS_POOL_TIMEOUT_SECONDS": "0"},
        {"TC_OVERLOAD_LAG_MS": "-1"},
        {"TC_OVERLOAD_LAG_MS": "fast"},
    ],
)
def test_a_wrong_redis_setting_is_refused_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**POSTGRES, **env})
    assert "TC_ALLOW_SQLITE_WITH_REDIS" not in str(refused.value)  # refused for the setting itself


async def test_the_pools_wait_for_a_connection_rather_than_fail() -> None:
    plain = redis_client("redis://127.0.0.1:1/0", pool_size=7, pool_timeout=0.5)
    pool = plain.connection_pool
    assert type(pool).__name__ == "BlockingConnectionPool"
    assert pool.max_connections == 7 and pool.timeout == 0.5  # type: ignore[attr-defined]
    await plain.aclose()
    ha = redis_client("redis+sentinel://127.0.0.1:1,127.0.0.1:2/0/tc", pool_size=9, pool_timeout=0.25)
    assert isinstance(ha.connection_pool, BlockingSentinelPool)
    assert ha.connection_pool.max_connections == 9 and ha.connection_pool.timeout == 0.25
    assert ha.connection_pool.service_name == "tc"
    await ha.aclose()
