"""A real redis-server for the tests that need one: skipped where it is missing, except in CI."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import support
from tests.support.services import require_or_skip


@contextmanager
def redis_server(directory: Path) -> Iterator[str]:
    """Start redis-server (no persistence) in ``directory`` and yield its URL (``bench.support``'s)."""
    require_or_skip(shutil.which("redis-server") is not None, "redis-server")
    with support.redis_server(directory) as url:
        yield url


@contextmanager
def redis_sentinels(directory: Path) -> Iterator[support.SentinelSet]:
    """A primary, a replica and three sentinels (``bench.support.redis_sentinels``)."""
    require_or_skip(shutil.which("redis-server") is not None, "redis-server")
    require_or_skip(shutil.which("redis-sentinel") is not None, "redis-sentinel")
    with support.redis_sentinels(directory) as sentinels:
        yield sentinels
