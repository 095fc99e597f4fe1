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

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import socketio
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from socketio.redis_manager import parse_redis_sentinel_url

from cluster.pubsub import messages
from signaling.guard import LogThrottle

logger = logging.getLogger(__name__)

SENTINEL_SCHEME = "redis+sentinel://"
SOCKET_TIMEOUT_SECONDS = 5.0
"""A command unanswered this long fails (a primary that died without closing its sockets)."""
SOCKETIO_CHANNEL = "socketio"
MAX_BATCH = 500
"""Announcements sent in one pipelined round trip."""
MAX_QUEUED_ANNOUNCEMENTS = 20_000
"""While Redis cannot be reached, at most this many announcements wait (then the oldest half go)."""
RETRY_SECONDS = 0.2


class BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (connections follow the primary) that waits for a free connection."""


def redis_client(
    url: str,
    *,
    pool_size: int,
    pool_timeout: float,
    redis_class: type[Redis] = Redis,
    socket_timeout: float = SOCKET_TIMEOUT_SECONDS,
) -> Redis:
    """A client of ``redis_class`` on a blocking pool of ``pool_size`` connections, for ``url``."""
    options: dict[str, Any] = {
        "max_connections": pool_size,
        "timeout": pool_timeout,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
    }
    if url.startswith(SENTINEL_SCHEME):
        sentinels, master, credentials = parse_redis_sentinel_url(url)
        sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py 7 leaves its constructor untyped
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
    """python-socketio's Redis manager, with three changes: one keeps other nodes' events from
    being lost, two keep a busy node's events cheap:

    * it hears the other nodes through :func:`cluster.pubsub.messages`: upstream read the
      subscription with the client's socket timeout, so every five quiet seconds it lost the
      subscription and, for the second it took to subscribe again, every event another node sent
      (a patient's return on another node never reached the nurse);
    * its client comes from :func:`redis_client` (a blocking pool, Sentinel as for the stores),
      made once: upstream builds a whole new client, pool and pub/sub after any failed publish,
      which under load (a pool timeout) became a storm of new connections;
    * announcements to other nodes are published in batches: an emit queues its message and returns,
      and one task sends whatever has queued in a single pipelined round trip, in order. One Redis
      round trip per announcement, each holding a pooled connection, was a fifth of a node's CPU at
      2,000 sockets and what exhausted the pool.
    """

    redis: Redis | None

    def __init__(
        self, url: str, *, pool_size: int, pool_timeout: float, socket_timeout: float = SOCKET_TIMEOUT_SECONDS
    ) -> None:
        super().__init__(url, channel=SOCKETIO_CHANNEL)
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._socket_timeout = socket_timeout
        self._outbox: list[str] = []
        self._sender: asyncio.Task[None] | None = None
        self._failures = LogThrottle()

    def _redis_connect(self) -> None:
        if self.redis is None:
            self.redis = redis_client(
                self.redis_url,
                pool_size=self._pool_size,
                pool_timeout=self._pool_timeout,
                socket_timeout=self._socket_timeout,
            )
        self.connected = True

    async def _listen(self) -> AsyncIterator[bytes]:
        if self.redis is None:
            self._redis_connect()
        assert self.redis is not None
        async for _, data in messages(self.redis, [self.channel]):
            yield data

    async def _publish(self, data: object) -> None:
        if len(self._outbox) >= MAX_QUEUED_ANNOUNCEMENTS:  # Redis is away: the oldest go first
            del self._outbox[: len(self._outbox) // 2]
        self._outbox.append(self.json.dumps(data))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_queued())

    async def flush(self) -> None:
        """Returns once every announcement queued so far has been published (or dropped): what
        must reach the other nodes before a message on another channel does."""
        sender = self._sender
        if sender is not None and not sender.done():
            await asyncio.shield(sender)

    async def _send_queued(self) -> None:
        while self._outbox:
            batch = self._outbox[:MAX_BATCH]
            del self._outbox[:MAX_BATCH]
            for attempt in range(2):
                try:
                    if self.redis is None:
                        self._redis_connect()
                    assert self.redis is not None
                    pipe = self.redis.pipeline(transaction=False)
                    for message in batch:
                        pipe.publish(self.channel, message)
                    await pipe.execute()
                    break
                except Exception as error:  # Redis away or switching primary: retry once, then drop
                    if self._failures.allow(time.monotonic()):
                        logger.error(
                            "publishing %d announcements to Redis failed (%s)%s",
                            len(batch),
                            type(error).__name__,
                            "; retrying" if attempt == 0 else "; dropped",
                        )
                    await asyncio.sleep(RETRY_SECONDS)
