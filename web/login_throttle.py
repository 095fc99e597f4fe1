"""Login throttling: progressive delays per username and per client address.

Why each part is there:

- **Per username**: slows guessing one nurse's password from many addresses.
- **Per address**: slows one address trying a few passwords against many usernames (30 names
  from one address used to get 30 answers).
- **Known addresses**: the per-username delay alone would let anyone lock a nurse out by failing
  on purpose. An address from which she signed in recently is *known* for her; from there only
  the failures made from that same address for her username count, so a correct password from
  her usual workstation is not blocked by someone else's failures.
- **Counted before the check**: :meth:`LoginThrottle.attempt` counts the attempt as a failure
  *before* the password is checked and :meth:`LoginThrottle.succeeded` takes it back, so a
  burst of concurrent guesses cannot all slip through before the first failure is recorded.
- **Progressive**: the first ``*_failures`` attempts are free; from then on each one starts a
  wait of ``delay_seconds``, doubled for every further failure, up to ``max_delay_seconds``.
  Failures are forgotten ``forget_after_seconds`` after the last one. Attempts refused while
  waiting are not counted, so hammering does not lengthen the wait, and a refused attempt
  never reaches the password check (no answer leaks while blocked).

Two implementations share one behaviour (and one test suite): :class:`MemoryLoginThrottle`
(one process, bounded LRU) and :class:`RedisLoginThrottle` (every node sees the same counters;
each call is one Lua script, so it is atomic, and waits are Redis key TTLs, so the nodes' clocks
do not matter). Identifiers are hashed into keys, so keys have a fixed size and no username or
address is stored in clear.

The ``limits`` package was considered: it counts hits in fixed or moving windows, which gives a
flat cap rather than doubling waits, and has no notion of a known address; this module is small
enough to own.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

KNOWN_ADDRESS_DAYS = 30


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    user_failures: int = 5
    """Free failures for one username (from addresses not known for it)."""
    address_failures: int = 20
    """Free failures from one address, across every username tried from it."""
    delay_seconds: float = 1.0
    """The first wait once the free failures are spent; doubles with each further failure."""
    max_delay_seconds: float = 300.0
    forget_after_seconds: float = 3600.0
    known_address_seconds: float = KNOWN_ADDRESS_DAYS * 86400.0

    def delay(self, failures: int, free: int) -> float:
        """The wait that the ``failures``-th failure starts (0 while still free)."""
        if failures < free:
            return 0.0
        return min(self.max_delay_seconds, self.delay_seconds * 2.0 ** min(failures - free, 40))


class LoginThrottle(Protocol):
    async def attempt(self, username: str, address: str) -> float:
        """Seconds to wait before this username may try from this address; 0 to go ahead.

        Going ahead counts as a failure until :meth:`succeeded` is called.
        """

    async def succeeded(self, username: str, address: str) -> None:
        """The password was right: clear the username's failures and remember the address."""


def login_throttle(redis: Redis | None, policy: ThrottlePolicy) -> LoginThrottle:
    """Redis when the nodes share one, so every node enforces the same waits; else memory."""
    return RedisLoginThrottle(redis, policy) if redis is not None else MemoryLoginThrottle(policy)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


@dataclass(slots=True)
class _Counter:
    failures: int
    blocked_until: float
    forget_at: float


class MemoryLoginThrottle:
    """One process's throttle: at most ``max_entries`` counters and as many known addresses,
    the least recently used dropped first, so a flood of made-up names cannot grow memory."""

    def __init__(
        self,
        policy: ThrottlePolicy,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._policy = policy
        self._max = max_entries
        self._clock = clock
        self._counters: OrderedDict[str, _Counter] = OrderedDict()
        self._known: OrderedDict[str, float] = OrderedDict()

    async def attempt(self, username: str, address: str) -> float:
        now = self._clock()
        user, addr, pair = _keys(username, address)
        gates = [pair] if self._is_known(pair, now) else [user, addr]
        wait = max(self._wait(key, now) for key in gates)
        if wait > 0:
            return wait
        policy = self._policy
        self._fail(user, policy.user_failures, now)
        self._fail(addr, policy.address_failures, now)
        self._fail(pair, policy.user_failures, now)
        return 0.0

    async def succeeded(self, username: str, address: str) -> None:
        now = self._clock()
        user, addr, pair = _keys(username, address)
        self._counters.pop(user, None)
        self._counters.pop(pair, None)
        counter = self._live(addr, now)
        if counter is not None:
            counter.failures = max(0, counter.failures - 1)
            if counter.failures < self._policy.address_failures:
                counter.blocked_until = 0.0
        self._known[pair] = now + self._policy.known_address_seconds
        self._known.move_to_end(pair)
        while len(self._known) > self._max:
            self._known.popitem(last=False)

    def _is_known(self, pair: str, now: float) -> bool:
        until = self._known.get(pair)
        if until is None:
            return False
        if until <= now:
            del self._known[pair]
            return False
        return True

    def _live(self, key: str, now: float) -> _Counter | None:
        counter = self._counters.get(key)
        if counter is not None and counter.forget_at <= now:
            del self._counters[key]
            return None
        return counter

    def _wait(self, key: str, now: float) -> float:
        counter = self._live(key, now)
        return max(0.0, counter.blocked_until - now) if counter is not None else 0.0

    def _fail(self, key: str, free: int, now: float) -> None:
        counter = self._live(key, now) or _Counter(0, 0.0, 0.0)
        counter.failures += 1
        counter.forget_at = now + self._policy.forget_after_seconds
        delay = self._policy.delay(counter.failures, free)
        if delay:
            counter.blocked_until = now + delay
        self._counters[key] = counter
        self._counters.move_to_end(key)
        while len(self._counters) > self._max:
            self._counters.popitem(last=False)


def _keys(username: str, address: str) -> tuple[str, str, str]:
    return f"u:{_digest(username)}", f"a:{_digest(address)}", f"p:{_digest(username, address)}"


# KEYS: per username, per address, per (username, address): failures then block, each; then known.
# ARGV: free failures for a username, for an address; first delay, max delay, forget after (ms).
_ATTEMPT = """
local function wait(block)
  local ttl = redis.call('PTTL', block)
  if ttl > 0 then return ttl end
  return 0
end
local waited
if redis.call('EXISTS', KEYS[7]) == 1 then
  waited = wait(KEYS[6])
else
  waited = math.max(wait(KEYS[2]), wait(KEYS[4]))
end
if waited > 0 then return waited end
local first, most, forget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local function fail(failures, block, free)
  local n = redis.call('INCR', failures)
  redis.call('PEXPIRE', failures, forget)
  if n >= free then
    local delay = math.min(most, first * 2 ^ math.min(n - free, 40))
    redis.call('SET', block, '1', 'PX', math.max(1, math.floor(delay)))
  end
end
fail(KEYS[1], KEYS[2], tonumber(ARGV[1]))
fail(KEYS[3], KEYS[4], tonumber(ARGV[2]))
fail(KEYS[5], KEYS[6], tonumber(ARGV[1]))
return 0
"""

# KEYS: as for _ATTEMPT. ARGV: free failures for an address, how long the address stays known (ms).
_SUCCEEDED = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[5], KEYS[6])
local n = tonumber(redis.call('GET', KEYS[3]) or '0')
if n > 0 then n = redis.call('DECR', KEYS[3]) end
if n < tonumber(ARGV[1]) then redis.call('DEL', KEYS[4]) end
redis.call('SET', KEYS[7], '1', 'PX', ARGV[2])
return 0
"""


class RedisLoginThrottle:
    """The throttle every node shares. Keys under ``{prefix}login:`` expire on their own."""

    def __init__(self, redis: Redis, policy: ThrottlePolicy, *, prefix: str = "tc:") -> None:
        self._policy = policy
        self._prefix = f"{prefix}login:"
        self._attempt = redis.register_script(_ATTEMPT)
        self._succeeded = redis.register_script(_SUCCEEDED)

    async def attempt(self, username: str, address: str) -> float:
        policy = self._policy
        waited = await self._attempt(
            keys=self._redis_keys(username, address),
            args=[
                policy.user_failures,
                policy.address_failures,
                _ms(policy.delay_seconds),
                _ms(policy.max_delay_seconds),
                _ms(policy.forget_after_seconds),
            ],
        )
        return int(waited) / 1000

    async def succeeded(self, username: str, address: str) -> None:
        await self._succeeded(
            keys=self._redis_keys(username, address),
            args=[self._policy.address_failures, _ms(self._policy.known_address_seconds)],
        )

    def _redis_keys(self, username: str, address: str) -> list[str]:
        p = self._prefix
        user, addr, pair = _keys(username, address)
        return [
            *(f"{p}{kind}:{key}" for key in (user, addr, pair) for kind in ("fail", "block")),
            f"{p}known:{pair}",
        ]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
