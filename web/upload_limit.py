"""How often a patient may upload a photo: a token bucket per participant, shared by every node.

A photo costs far more than a chat message (up to 8 MB read, decoded and re-encoded on a CPU, a
row in the record database), and a phone's camera takes a few pictures of a rash or a wound in
a row, not dozens. So uploads get a bucket of their own rather than the socket's (which never
sees them): :attr:`UploadPolicy.burst` at once, then one every
:attr:`UploadPolicy.seconds_per_photo`. An upload beyond it is answered ``429 rate_limited`` with
the wait, before its body is read, and nothing is stored. How many photos a consult keeps at all
is a separate rule (``rooms.photos.MAX_PHOTOS_PER_CONSULT``), counted where they are stored.

As for logins (``web/login_throttle.py``), two implementations share one behaviour and one test
suite: :class:`MemoryUploadLimit` (one process, bounded) and :class:`RedisUploadLimit` (one Lua
script per upload, so it is atomic across nodes, on Redis's own clock, so the nodes' clocks do not
matter). Participant ids are hashed into keys.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from signaling.rate_limit import TokenBucket


@dataclass(frozen=True, slots=True)
class UploadPolicy:
    burst: int = 4
    """Photos one participant may send at once (a few views of the same thing)."""
    seconds_per_photo: float = 15.0
    """Then one every this many seconds: taking and sending a picture, not a script."""

    @property
    def refill_per_second(self) -> float:
        return 1.0 / self.seconds_per_photo


class UploadLimit(Protocol):
    async def take(self, participant_id: str) -> float:
        """Seconds to wait before this participant may upload; 0: go ahead (one upload counted)."""


def upload_limit(redis: Redis | None, policy: UploadPolicy, clock: Callable[[], float]) -> UploadLimit:
    """Redis when the nodes share one, so a patient's uploads count on every node; else memory,
    on the app's ``clock`` (in seconds) so tests can move it."""
    if redis is not None:
        return RedisUploadLimit(redis, policy)
    return MemoryUploadLimit(policy, clock=clock)


def _key(participant_id: str) -> str:
    return hashlib.sha256(participant_id.encode()).hexdigest()[:32]


class MemoryUploadLimit:
    """One process's buckets: at most ``max_entries``, the least recently used forgotten first (a
    forgotten bucket is a full one, so forgetting never refuses anyone)."""

    def __init__(
        self,
        policy: UploadPolicy,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._max = max_entries
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    async def take(self, participant_id: str) -> float:
        now = self._clock()
        key = _key(participant_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket.full(self._policy.burst, self._policy.refill_per_second, now)
            self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
        return 0.0 if bucket.take(now) else bucket.wait()


# KEYS: the participant's bucket (a hash: tokens, at in ms). ARGV: burst, refill per ms.
# Returns 0 when a token was taken, else the milliseconds until one is there.
_TAKE = """
local now = redis.call('TIME')
local at = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local burst, rate = tonumber(ARGV[1]), tonumber(ARGV[2])
local kept = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(kept[1]) or burst
local since = math.max(0, at - (tonumber(kept[2]) or at))
tokens = math.min(burst, tokens + since * rate)
local waited = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  waited = math.max(1, math.ceil((1 - tokens) / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', at)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate))
return waited
"""


class RedisUploadLimit:
    """The buckets every node shares. Keys under ``{prefix}photos:`` expire once full again."""

    def __init__(self, redis: Redis, policy: UploadPolicy, *, prefix: str = "tc:") -> None:
        self._policy = policy
        self._prefix = f"{prefix}photos:"
        self._take = redis.register_script(_TAKE)

    async def take(self, participant_id: str) -> float:
        waited = await self._take(
            keys=[f"{self._prefix}{_key(participant_id)}"],
            args=[self._policy.burst, repr(self._policy.refill_per_second / 1000)],
        )
        return int(waited) / 1000
