"""The Redis clients of a node: one bounded pool for the stores, one for the socket.io manager.

Both come from ``TC_REDIS_URL``: ``redis://…`` for one Redis server, or the
``redis+sentinel://host:port,host:port/db/master`` form that :class:`web.config.Settings` builds
from ``TC_REDIS_SENTINELS`` and ``TC_REDIS_SENTINEL_MASTER`` (the form python-socketio's own manager
reads). Through Sentinel, the client asks the sentinels where the primary is and asks again when
a connection to it fails, so a failover costs the requests in flight during the switch, not the
node.

The pools block instead of failing: redis-py's default pool answers ``MaxConnectionsError`` the
moment more requests than connections are in flight, which under a burst turned a short wait into
a failed event (and every socket dropped at 1,000 events/s per node, issue #13). A
:class:`~redis.asyncio.BlockingConnectionPool` makes the request wait up to
``TC_REDIS_POOL_TIMEOUT_SECONDS`` for a connection, then fail with a ``ConnectionError`` like any
other unreachable Redis. Its size (``TC_REDIS_POOL_SIZE``) comes from ``bench.signaling``: see
docs/operations.md, "Sizing a node".
"""

from __future__ import annotations

from typing import Any

import socketio
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from socketio.redis_manager import parse_redis_sentinel_url

SENTINEL_SCHEME = "redis+sentinel://"
SOCKET_TIMEOUT_SECONDS = 5.0
"""A command unanswered this long fails (a primary that died without closing its sockets)."""
SOCKETIO_CHANNEL = "socketio"


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (connections follow the primary) that waits for a free connection."""


def redis_client(url: str, *, pool_size: int, pool_timeout: float, redis_class: type[Redis] = Redis) -> Redis:
    """A client of ``redis_class`` on a blocking pool of ``pool_size`` connections, for ``url``."""
    options: dict[str, Any] = {
        "max_connections": pool_size,
        "timeout": pool_timeout,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
    }
    if url.startswith(SENTINEL_SCHEME):
        sentinels, master, credentials = parse_redis_sentinel_url(url)
        sentinel = Sentinel(
            sentinels,
            sentinel_kwargs={"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
            **credentials,
        )
        client: Redis = sentinel.master_for(
            master or SOCKETIO_CHANNEL,
            redis_class=redis_class,
            connection_pool_class=BlockingSentinelPool,
            **options,
        )
        return client
    return redis_class.from_pool(BlockingConnectionPool.from_url(url, **options))


class RedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis manager on a client from :func:`redis_client` (a blocking pool, and
    Sentinel the same way as the stores) instead of one it builds itself."""

    def __init__(self, url: str, *, pool_size: int, pool_timeout: float) -> None:
        super().__init__(url, channel=SOCKETIO_CHANNEL)
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout

    def _redis_connect(self) -> None:
        self.redis = redis_client(self.redis_url, pool_size=self._pool_size, pool_timeout=self._pool_timeout)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True
