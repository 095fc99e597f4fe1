"""Fixtures for the domain tests: a real redis-server for the session, and both queue stores.

The Redis server is started once, on a free loopback port in a temporary directory, and stopped
at the end. Without ``redis-server`` the Redis cases are skipped with a clear message, except in
CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rooms.queue import QueuePolicy
from rooms.store.queue import QueueStore
from rooms.store.queue_memory import MemoryQueueStore
from rooms.store.queue_redis import RedisQueueStore
from tests.support.redis_server import redis_server

STORES = ["memory", "redis"]


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(Path(tmp_path_factory.mktemp("redis"))) as url:
        yield url


def make_store(kind: str, url: str | None, policy: QueuePolicy | None = None) -> QueueStore:
    """A fresh store; Redis ones get their own key prefix, so tests never see each other's data."""
    if kind == "memory":
        return MemoryQueueStore(policy)
    assert url is not None
    return RedisQueueStore.from_url(url, policy, prefix=f"test:{uuid.uuid4().hex[:12]}:")


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(store_kind: str, request: pytest.FixtureRequest) -> str | None:
    """The Redis URL when the store under test is Redis (starting the server on first use)."""
    return str(request.getfixturevalue("redis_url")) if store_kind == "redis" else None


@pytest.fixture
async def queue_store(store_kind: str, store_url: str | None) -> AsyncIterator[QueueStore]:
    store = make_store(store_kind, store_url)
    try:
        yield store
    finally:
        await store.aclose()
