"""The queue store in Redis, shared by every server process (redis-py asyncio).

Atomicity: every operation that changes a unit's queue is one Lua script. Redis runs a script
from start to end with no other command in between, so "find the head of this nurse's eligible
queue, remove it, mark it served and put the nurse in the consult" happens as one step even with
many server processes calling ``next_patient`` at once: two callers can never read the same head.
No locks, no retries. The current time is an argument (the caller's clock), as in the pure rules.

The scripts implement the rules of :mod:`rooms.queue` (eligibility, the order key, the nurse
transition table, which is passed in from :data:`rooms.nurses.ALLOWED_FROM` rather than copied);
the shared store suite and its property tests check them against the pure functions.

Keys, for unit ``U`` with the default prefix ``tc:queue:`` (``{U}`` is a hash tag: all of a
unit's keys live on one Redis Cluster slot, so its scripts are cluster-safe):

=====================================  ========  ===================================================
``tc:queue:{U}:waiting``               zset      members are order keys, all scores 0, so the set is
                                                 sorted by member: urgent flag (``0`` urgent, ``1``
                                                 not), appointment start and check-in time (UTC
                                                 microseconds, 17 digits each), appointment id
``tc:queue:{U}:entries``               hash      appointment id -> entry (JSON)
``tc:queue:{U}:nurses``                hash      nurse id -> state, since, appointment (JSON)
``tc:queue:{U}:served``                zset      appointment ids already paired, scored by when;
                                                 pruned after ``served_ttl`` at each pairing
``tc:queue:{U}:durations``             list      recent consult durations (microseconds), newest
                                                 first, at most ``recent_consults``
``tc:queue:{U}:version``               string    the unit's change number (:class:`QueueChange`),
                                                 incremented by every script that changes
                                                 something, in the same script
``tc:queue:{U}:dropped``               zset      order keys of the waiting patients whose
                                                 connection dropped, scored by when: a patient's
                                                 place counts who is absent ahead from here,
                                                 without reading the entries ahead
=====================================  ========  ===================================================

One key is not a unit's: ``tc:queue:occupied``, a set of the units with someone waiting, added to
after a script put someone in a queue and removed from by :meth:`RedisQueueStore.close` (which
looks again after removing, so an arrival racing the close is never lost). The sweep reads it
instead of scanning units; keeping it outside the scripts keeps each script on one cluster slot.

Times inside Redis are integer microseconds since the epoch, kept as decimal strings in JSON so
no float rounding ever touches them (Lua numbers are doubles; microsecond timestamps fit exactly,
but cjson would print them with 14 significant digits).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from rooms import queue as rules
from rooms.errors import DomainError
from rooms.nurses import ALLOWED_FROM, ON_DUTY, InvalidNurseTransition, Nurse, NurseNotAvailable, NurseState
from rooms.queue import (
    AlreadyServed,
    NotInQueue,
    Pairing,
    QueueChange,
    QueueEntry,
    QueuePolicy,
    QueuePosition,
    UnitQueue,
    WrongUnit,
)
from rooms.store.queue import ChangeListener
from rooms.store.replies import replied
from rooms.zones import require_utc

DEFAULT_PREFIX = "tc:queue:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_KEY_DIGITS = 17
_ID_OFFSET = 1 + 2 * _KEY_DIGITS  # where the appointment id starts in an order key
_UNIT = re.compile(r"[^{}\s]{1,128}")

# Every script gets the unit's seven keys in this order: waiting, entries, nurses, served, durations,
# version, dropped. A script that changes something replies with the new version (``bump()``) so the
# change it announces is numbered atomically with it.
_LUA_HELPERS = """
local function bump() return tostring(redis.call('INCR', KEYS[6])) end
local function set_of(csv)
  local s = {}
  for item in string.gmatch(csv, '[^,]+') do s[item] = true end
  return s
end
"""

_CHECK_IN = (
    _LUA_HELPERS
    + """
-- ARGV: appointment id, order key, entry json
if redis.call('ZSCORE', KEYS[4], ARGV[1]) then return {'err', 'already_served'} end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if raw then
  local e = cjson.decode(raw)
  if e.k then return {'ok', raw, ''} end
  e.k = true
  e.d = cjson.null
  raw = cjson.encode(e)
  redis.call('HSET', KEYS[2], ARGV[1], raw)
  redis.call('ZREM', KEYS[7], e.z)
  return {'ok', raw, bump()}
end
redis.call('ZADD', KEYS[1], 0, ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return {'ok', ARGV[3], bump()}
"""
)

_NEXT_PATIENT = (
    _LUA_HELPERS
    + """
-- ARGV: nurse id, now (us), served cutoff (us), states that may take a patient, on-duty states
local me = ARGV[1]
local nraw = redis.call('HGET', KEYS[3], me)
if not nraw then return {'err', 'wrong_unit'} end
local nurse = cjson.decode(nraw)
if not set_of(ARGV[4])[nurse.s] then return {'err', 'nurse_not_available', nurse.s} end
local now = tonumber(ARGV[2])
local on_duty = set_of(ARGV[5])
local pinned_state = {}
local function pin_holds(e)
  if e.n == cjson.null or e.t == cjson.null or now >= tonumber(e.t) then return false end
  local state = pinned_state[e.n]
  if state == nil then
    local r = redis.call('HGET', KEYS[3], e.n)
    state = r and cjson.decode(r).s or ''
    pinned_state[e.n] = state
  end
  return on_duty[state] == true
end
local offset = 0
while true do
  local members = redis.call('ZRANGE', KEYS[1], offset, offset + 63)
  if #members == 0 then break end
  local ids = {}
  for i, m in ipairs(members) do ids[i] = string.sub(m, ID_START) end
  local raws = redis.call('HMGET', KEYS[2], unpack(ids))
  for i = 1, #members do
    local raw = raws[i]
    if raw then
      local e = cjson.decode(raw)
      if e.k and (e.n == me or not pin_holds(e)) then
        redis.call('ZREM', KEYS[1], members[i])
        redis.call('HDEL', KEYS[2], ids[i])
        redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[3])
        redis.call('ZADD', KEYS[4], ARGV[2], ids[i])
        nurse.s = 'in_consult'
        nurse.t = ARGV[2]
        nurse.a = ids[i]
        local encoded = cjson.encode(nurse)
        redis.call('HSET', KEYS[3], me, encoded)
        return {'ok', raw, encoded, bump()}
      end
    end
  end
  offset = offset + 64
end
return {'none'}
"""
).replace("ID_START", str(_ID_OFFSET + 1))

_REGISTER_NURSE = (
    _LUA_HELPERS
    + """
-- ARGV: nurse id, json of a new (away) nurse
if redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[2]) == 1 then return {'ok', ARGV[2], bump()} end
return {'ok', redis.call('HGET', KEYS[3], ARGV[1]), ''}
"""
)

_REMOVE_NURSE = (
    _LUA_HELPERS
    + """
-- ARGV: nurse id
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'none'} end
local n = cjson.decode(raw)
if n.s == 'in_consult' then return {'err', 'invalid_nurse_transition', n.s, 'away'} end
redis.call('HDEL', KEYS[3], ARGV[1])
return {'ok', bump()}
"""
)

_SET_NURSE_STATE = (
    _LUA_HELPERS
    + """
-- ARGV: nurse id, target state, now (us), states the target may be entered from
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'err', 'wrong_unit'} end
local n = cjson.decode(raw)
if not set_of(ARGV[4])[n.s] then return {'err', 'invalid_nurse_transition', n.s, ARGV[2]} end
if n.s == ARGV[2] then return {'ok', raw, ''} end
n.s = ARGV[2]
n.t = ARGV[3]
n.a = cjson.null
raw = cjson.encode(n)
redis.call('HSET', KEYS[3], ARGV[1], raw)
return {'ok', raw, bump()}
"""
)

_FINISH_CONSULT = (
    _LUA_HELPERS
    + """
-- ARGV: nurse id, now (us), how many durations to keep
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'err', 'wrong_unit'} end
local n = cjson.decode(raw)
if n.s ~= 'in_consult' or n.t == cjson.null then
  return {'err', 'invalid_nurse_transition', n.s, 'wrap_up'}
end
local duration = tonumber(ARGV[2]) - tonumber(n.t)
if duration < 0 then duration = 0 end
local text = string.format('%.0f', duration)
n.s = 'wrap_up'
n.t = ARGV[2]
n.a = cjson.null
raw = cjson.encode(n)
redis.call('HSET', KEYS[3], ARGV[1], raw)
redis.call('LPUSH', KEYS[5], text)
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[3]) - 1)
return {'ok', raw, text, bump()}
"""
)

_RELEASE_NURSE = (
    _LUA_HELPERS
    + """
-- ARGV: nurse id, appointment id, now (us), entry json to requeue ('' for none), its order key
-- Replies the nurse, the version ('' when unchanged) and '1' when the entry went back in the queue.
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'err', 'wrong_unit'} end
local n = cjson.decode(raw)
if n.s ~= 'in_consult' or n.a ~= ARGV[2] then return {'ok', raw, '', '0'} end
n.s = 'available'
n.t = ARGV[3]
n.a = cjson.null
raw = cjson.encode(n)
redis.call('HSET', KEYS[3], ARGV[1], raw)
local requeued = '0'
if ARGV[4] ~= '' then
  redis.call('ZREM', KEYS[4], ARGV[2])
  if not redis.call('HGET', KEYS[2], ARGV[2]) then
    redis.call('ZADD', KEYS[1], 0, ARGV[5])
    redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
    requeued = '1'
  end
end
return {'ok', raw, bump(), requeued}
"""
)

_TAKE_DIRECTLY = (
    _LUA_HELPERS
    + """
-- ARGV: nurse id, appointment id, now (us), served cutoff (us)
-- Replies the nurse, the version, '1' if the entry left the queue, then each other nurse released
-- (id, json).
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'err', 'wrong_unit'} end
local released = {}
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    local other = cjson.decode(all[i + 1])
    if other.s == 'in_consult' and other.a == ARGV[2] then
      other.s = 'available'
      other.t = ARGV[3]
      other.a = cjson.null
      local encoded = cjson.encode(other)
      redis.call('HSET', KEYS[3], all[i], encoded)
      released[#released + 1] = all[i]
      released[#released + 1] = encoded
    end
  end
end
local n = cjson.decode(raw)
if n.s ~= 'in_consult' or n.a ~= ARGV[2] then
  n.s = 'in_consult'
  n.t = ARGV[3]
  n.a = ARGV[2]
  raw = cjson.encode(n)
  redis.call('HSET', KEYS[3], ARGV[1], raw)
end
local entry = redis.call('HGET', KEYS[2], ARGV[2])
local left = '0'
if entry then
  local z = cjson.decode(entry).z
  redis.call('ZREM', KEYS[1], z)
  redis.call('ZREM', KEYS[7], z)
  redis.call('HDEL', KEYS[2], ARGV[2])
  left = '1'
end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
local out = {'ok', raw, bump(), left}
for _, item in ipairs(released) do out[#out + 1] = item end
return out
"""
)

_DROP = (
    _LUA_HELPERS
    + """
-- ARGV: appointment id, now (us)
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'none'} end
local e = cjson.decode(raw)
if not e.k then return {'ok', raw, ''} end
e.k = false
e.d = ARGV[2]
raw = cjson.encode(e)
redis.call('HSET', KEYS[2], ARGV[1], raw)
redis.call('ZADD', KEYS[7], ARGV[2], e.z)
return {'ok', raw, bump()}
"""
)

_REJOIN = (
    _LUA_HELPERS
    + """
-- ARGV: appointment id
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'none'} end
local e = cjson.decode(raw)
if e.k then return {'ok', raw, ''} end
e.k = true
e.d = cjson.null
raw = cjson.encode(e)
redis.call('HSET', KEYS[2], ARGV[1], raw)
redis.call('ZREM', KEYS[7], e.z)
return {'ok', raw, bump()}
"""
)

_CANCEL = (
    _LUA_HELPERS
    + """
-- ARGV: appointment id
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'none'} end
local z = cjson.decode(raw).z
redis.call('ZREM', KEYS[1], z)
redis.call('ZREM', KEYS[7], z)
redis.call('HDEL', KEYS[2], ARGV[1])
return {'ok', raw, bump()}
"""
)

_SET_URGENT = (
    _LUA_HELPERS
    + """
-- ARGV: appointment id, '1' urgent or '0' not
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'err', 'not_in_queue'} end
local e = cjson.decode(raw)
local urgent = ARGV[2] == '1'
if e.u == urgent then return {'ok', raw, ''} end
redis.call('ZREM', KEYS[1], e.z)
redis.call('ZREM', KEYS[7], e.z)
e.u = urgent
e.z = (urgent and '0' or '1') .. string.sub(e.z, 2)
raw = cjson.encode(e)
redis.call('ZADD', KEYS[1], 0, e.z)
if not e.k then redis.call('ZADD', KEYS[7], e.d, e.z) end
redis.call('HSET', KEYS[2], ARGV[1], raw)
return {'ok', raw, bump()}
"""
)

_CLOSE = (
    _LUA_HELPERS
    + """
-- no ARGV; returns the version ('' if nobody waited) and the waiting entries in queue order, and
-- empties the queue
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
if #members == 0 then return {'ok', ''} end
local out = {'ok', bump()}
for start = 1, #members, 256 do
  local ids = {}
  for i = start, math.min(start + 255, #members) do ids[#ids + 1] = string.sub(members[i], ID_START) end
  local raws = redis.call('HMGET', KEYS[2], unpack(ids))
  for i = 1, #ids do
    if raws[i] then out[#out + 1] = raws[i] end
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[7])
return out
"""
).replace("ID_START", str(_ID_OFFSET + 1))


def _text(value: str | bytes) -> str:
    """Replies are ``str`` with ``decode_responses=True``, ``bytes`` without: accept either client."""
    return value.decode() if isinstance(value, bytes) else value


_POSITION = (
    _LUA_HELPERS
    + """
-- ARGV: appointment id, now (us), absent_after (us), on-duty states
-- Returns the entry, its 1-based place, how many ahead are not absent, the on-duty nurses as
-- 'state,since;...' and the recent durations as 'us,us,...' (newest first): all the wait estimate needs.
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return {'none'} end
local rank = redis.call('ZRANK', KEYS[1], cjson.decode(raw).z)
if not rank then return {'none'} end
-- Everyone before the patient counts but the absent (dropped at least absent_after ago): those are
-- read from the unit's dropped index, not by reading the entries ahead.
local ahead = rank
for _, z in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))) do
  local before = redis.call('ZRANK', KEYS[1], z)
  if before and before < rank then ahead = ahead - 1 end
end
local on_duty = set_of(ARGV[4])
local duty = {}
for _, n in ipairs(redis.call('HVALS', KEYS[3])) do
  local nurse = cjson.decode(n)
  if on_duty[nurse.s] then
    duty[#duty + 1] = nurse.s .. ',' .. (nurse.t == cjson.null and '' or nurse.t)
  end
end
local durations = redis.call('LRANGE', KEYS[5], 0, -1)
return {'ok', raw, tostring(rank + 1), tostring(ahead), table.concat(duty, ';'), table.concat(durations, ',')}
"""
).replace("ID_START", str(_ID_OFFSET + 1))


def _us(instant: datetime) -> int:
    value = (instant - _EPOCH) // _US
    if value < 0:
        raise ValueError("times before 1970 cannot be queued")
    return value


def _time(text: str | None) -> datetime | None:
    return None if text is None else _EPOCH + int(text) * _US


def _required_time(text: str) -> datetime:
    return _EPOCH + int(text) * _US


def order_key(entry: QueueEntry) -> str:
    """The sorted-set member of ``entry``: byte order equals :attr:`QueueEntry.order_key` order."""
    return (
        f"{0 if entry.urgent else 1}{_us(entry.appointment_start):0{_KEY_DIGITS}d}"
        f"{_us(entry.checked_in_at):0{_KEY_DIGITS}d}{entry.appointment_id}"
    )


def _encode_entry(entry: QueueEntry) -> str:
    return json.dumps(
        {
            "a": entry.appointment_id,
            "p": entry.patient_id,
            "s": str(_us(entry.appointment_start)),
            "c": str(_us(entry.checked_in_at)),
            "u": entry.urgent,
            "n": entry.pinned_nurse,
            "t": None if entry.pinned_until is None else str(_us(entry.pinned_until)),
            "k": entry.connected,
            "d": None if entry.dropped_at is None else str(_us(entry.dropped_at)),
            "z": order_key(entry),
        },
        separators=(",", ":"),
    )


def _decode_entry(unit: str, raw: str) -> QueueEntry:
    data = json.loads(raw)
    return QueueEntry(
        appointment_id=data["a"],
        patient_id=data["p"],
        unit=unit,
        appointment_start=_required_time(data["s"]),
        checked_in_at=_required_time(data["c"]),
        urgent=bool(data["u"]),
        pinned_nurse=data["n"],
        pinned_until=_time(data["t"]),
        connected=bool(data["k"]),
        dropped_at=_time(data["d"]),
    )


def _encode_nurse(nurse: Nurse) -> str:
    since = None if nurse.since is None else str(_us(nurse.since))
    return json.dumps({"s": nurse.state.value, "t": since, "a": nurse.appointment_id}, separators=(",", ":"))


def _decode_nurse(unit: str, nurse_id: str, raw: str) -> Nurse:
    data = json.loads(raw)
    return Nurse(nurse_id, unit, NurseState(data["s"]), _time(data["t"]), data["a"])


def _csv(states: frozenset[NurseState]) -> str:
    return ",".join(sorted(s.value for s in states))


class RedisQueueStore:
    """:class:`~rooms.store.queue.QueueStore` on one Redis (or a cluster: keys are hash-tagged per unit)."""

    def __init__(
        self, client: Redis, policy: QueuePolicy | None = None, *, prefix: str = DEFAULT_PREFIX
    ) -> None:
        self.client = client
        self.policy = policy or QueuePolicy()
        self.prefix = prefix
        self._listener: ChangeListener | None = None
        register = client.register_script
        self._check_in = register(_CHECK_IN)
        self._next = register(_NEXT_PATIENT)
        self._register = register(_REGISTER_NURSE)
        self._remove = register(_REMOVE_NURSE)
        self._nurse_state = register(_SET_NURSE_STATE)
        self._finish = register(_FINISH_CONSULT)
        self._release = register(_RELEASE_NURSE)
        self._take = register(_TAKE_DIRECTLY)
        self._drop = register(_DROP)
        self._rejoin = register(_REJOIN)
        self._cancel = register(_CANCEL)
        self._urgent = register(_SET_URGENT)
        self._close = register(_CLOSE)
        self._position = register(_POSITION)

    @classmethod
    def from_url(
        cls,
        url: str,
        policy: QueuePolicy | None = None,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_connections: int = 64,
    ) -> RedisQueueStore:
        """A store with its own pool; a burst of callers waits for a connection instead of failing."""
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=10)
        return cls(Redis.from_pool(pool), policy, prefix=prefix)  # the client owns (and closes) the pool

    async def aclose(self) -> None:
        await self.client.aclose()

    def listen(self, listener: ChangeListener) -> None:
        self._listener = listener

    async def _announce(
        self,
        unit: str,
        version: str,
        *,
        entries: tuple[QueueEntry, ...] = (),
        removed: tuple[str, ...] = (),
        nurses: tuple[Nurse, ...] = (),
        nurses_removed: tuple[str, ...] = (),
    ) -> None:
        """Hand the listener the change a script made, built from the script's own reply."""
        if version and self._listener is not None:
            await self._listener(QueueChange(unit, int(version), entries, removed, nurses, nurses_removed))

    async def bump(self, unit: str) -> QueueChange:
        return QueueChange(unit, int(await self.client.incr(self.keys(unit)[5])))

    def keys(self, unit: str) -> list[str]:
        """The unit's keys, in the order every script takes them."""
        if not _UNIT.fullmatch(unit):
            raise ValueError("a unit id is 1-128 characters without braces or spaces")
        base = f"{self.prefix}{{{unit}}}:"
        names = ("waiting", "entries", "nurses", "served", "durations", "version", "dropped")
        return [base + name for name in names]

    async def _run(self, script: Any, unit: str, *args: str | int) -> list[str]:
        reply = [_text(part) for part in await script(keys=self.keys(unit), args=args)]
        if reply[0] == "err":
            raise _error(unit, reply[1:])
        return reply

    # --- nurses ---------------------------------------------------------------------------------

    async def register_nurse(self, unit: str, nurse_id: str) -> Nurse:
        reply = await self._run(self._register, unit, nurse_id, _encode_nurse(Nurse(nurse_id, unit)))
        nurse = _decode_nurse(unit, nurse_id, reply[1])
        await self._announce(unit, reply[2], nurses=(nurse,))
        return nurse

    async def remove_nurse(self, unit: str, nurse_id: str) -> None:
        reply = await self._run(self._remove, unit, nurse_id)
        if reply[0] == "ok":
            await self._announce(unit, reply[1], nurses_removed=(nurse_id,))

    async def set_nurse_state(self, unit: str, nurse_id: str, state: NurseState, now: datetime) -> Nurse:
        if state not in (NurseState.AVAILABLE, NurseState.AWAY):
            raise ValueError("nurses enter and leave consults through next_patient and finish_consult")
        reply = await self._run(
            self._nurse_state, unit, nurse_id, state.value, _us(now), _csv(ALLOWED_FROM[state])
        )
        return await self._nurse_changed(unit, nurse_id, reply[1], reply[2])

    async def _nurse_changed(self, unit: str, nurse_id: str, raw: str, version: str) -> Nurse:
        nurse = _decode_nurse(unit, nurse_id, raw)
        await self._announce(unit, version, nurses=(nurse,))
        return nurse

    async def finish_consult(self, unit: str, nurse_id: str, now: datetime) -> tuple[Nurse, timedelta]:
        reply = await self._run(self._finish, unit, nurse_id, _us(now), self.policy.recent_consults)
        return await self._nurse_changed(unit, nurse_id, reply[1], reply[3]), int(reply[2]) * _US

    async def release_nurse(
        self, unit: str, nurse_id: str, appointment_id: str, now: datetime, requeue: QueueEntry | None = None
    ) -> Nurse:
        if requeue is not None and (requeue.unit != unit or requeue.appointment_id != appointment_id):
            raise WrongUnit(unit)
        entry = "" if requeue is None else _encode_entry(requeue)
        key = "" if requeue is None else order_key(requeue)
        reply = await self._run(self._release, unit, nurse_id, appointment_id, _us(now), entry, key)
        nurse = _decode_nurse(unit, nurse_id, reply[1])
        back = (requeue,) if requeue is not None and reply[3] == "1" else ()
        if back:
            await replied(self.client.sadd(self._occupied, unit))
        await self._announce(unit, reply[2], entries=back, nurses=(nurse,))
        return nurse

    async def take_directly(self, unit: str, nurse_id: str, appointment_id: str, now: datetime) -> Nurse:
        now = require_utc(now)
        cutoff = _us(now - self.policy.served_ttl)
        reply = await self._run(self._take, unit, nurse_id, appointment_id, _us(now), cutoff)
        nurse = _decode_nurse(unit, nurse_id, reply[1])
        others = [reply[i : i + 2] for i in range(4, len(reply), 2)]
        released = tuple(_decode_nurse(unit, other_id, raw) for other_id, raw in others)
        removed = (appointment_id,) if reply[3] == "1" else ()
        await self._announce(unit, reply[2], removed=removed, nurses=(*released, nurse))
        return nurse

    # --- patients -------------------------------------------------------------------------------

    async def check_in(self, entry: QueueEntry) -> QueueEntry:
        reply = await self._run(
            self._check_in, entry.unit, entry.appointment_id, order_key(entry), _encode_entry(entry)
        )
        kept = _decode_entry(entry.unit, reply[1])
        if reply[2] and kept == entry:  # a new entry (not a reconnection): the unit is occupied
            await replied(self.client.sadd(self._occupied, entry.unit))
        await self._announce(entry.unit, reply[2], entries=(kept,))
        return kept

    async def next_patient(self, unit: str, nurse_id: str, now: datetime) -> Pairing | None:
        now = require_utc(now)
        reply = await self._run(
            self._next,
            unit,
            nurse_id,
            _us(now),
            _us(now - self.policy.served_ttl),
            _csv(rules.CAN_TAKE_PATIENT),
            _csv(ON_DUTY),
        )
        if reply[0] == "none":
            return None
        pairing = Pairing(_decode_entry(unit, reply[1]), _decode_nurse(unit, nurse_id, reply[2]), now)
        await self._announce(unit, reply[3], removed=(pairing.entry.appointment_id,), nurses=(pairing.nurse,))
        return pairing

    async def _entry_op(self, script: Any, unit: str, *args: str | int) -> QueueEntry | None:
        """Drop, rejoin: the entry as it is now, announced as changed when the script changed it."""
        reply = await self._run(script, unit, *args)
        if reply[0] == "none":
            return None
        entry = _decode_entry(unit, reply[1])
        await self._announce(unit, reply[2], entries=(entry,))
        return entry

    async def drop(self, unit: str, appointment_id: str, now: datetime) -> QueueEntry | None:
        return await self._entry_op(self._drop, unit, appointment_id, _us(now))

    async def rejoin(self, unit: str, appointment_id: str) -> QueueEntry | None:
        return await self._entry_op(self._rejoin, unit, appointment_id)

    async def cancel(self, unit: str, appointment_id: str) -> QueueEntry | None:
        reply = await self._run(self._cancel, unit, appointment_id)
        if reply[0] == "none":
            return None
        await self._announce(unit, reply[2], removed=(appointment_id,))
        return _decode_entry(unit, reply[1])

    async def set_urgent(self, unit: str, appointment_id: str, urgent: bool) -> QueueEntry:
        reply = await self._run(self._urgent, unit, appointment_id, "1" if urgent else "0")
        entry = _decode_entry(unit, reply[1])
        await self._announce(unit, reply[2], entries=(entry,))
        return entry

    async def close(self, unit: str) -> tuple[QueueEntry, ...]:
        reply = await self._run(self._close, unit)
        left = tuple(_decode_entry(unit, raw) for raw in reply[2:])
        await replied(self.client.srem(self._occupied, unit))
        if await self.client.zcard(self.keys(unit)[0]):
            await replied(self.client.sadd(self._occupied, unit))  # someone arrived since: still occupied
        await self._announce(unit, reply[1], removed=tuple(e.appointment_id for e in left))
        return left

    # --- reading --------------------------------------------------------------------------------

    @property
    def _occupied(self) -> str:
        return f"{self.prefix}occupied"

    async def occupied(self) -> list[str]:
        return sorted(_text(unit) for unit in await replied(self.client.smembers(self._occupied)))

    async def nurses(self, unit: str) -> dict[str, Nurse]:
        raw = await replied(self.client.hgetall(self.keys(unit)[2]))
        return {_text(k): _decode_nurse(unit, _text(k), _text(v)) for k, v in raw.items()}

    async def snapshot(self, unit: str) -> UnitQueue:
        """All of the unit's keys read in one MULTI, so the parts are consistent with each other."""
        waiting_key, entries_key, nurses_key, served_key, durations_key, version_key, _ = self.keys(unit)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.zrange(waiting_key, 0, -1)
            pipe.hgetall(entries_key)
            pipe.hgetall(nurses_key)
            pipe.lrange(durations_key, 0, -1)
            pipe.zrange(served_key, 0, -1, withscores=True)
            pipe.get(version_key)
            replies = await pipe.execute()
        entries = {_text(k): _text(v) for k, v in replies[1].items()}
        waiting = []
        for member in replies[0]:
            raw = entries.get(_text(member)[_ID_OFFSET:])
            if raw is not None:
                waiting.append(_decode_entry(unit, raw))
        return UnitQueue(
            unit=unit,
            waiting=tuple(waiting),
            nurses={_text(k): _decode_nurse(unit, _text(k), _text(v)) for k, v in replies[2].items()},
            served={_text(m): _EPOCH + int(score) * _US for m, score in replies[4]},
            durations=tuple(int(d) * _US for d in reversed(replies[3])),
            version=int(replies[5] or 0),
        )

    async def position(self, unit: str, appointment_id: str, now: datetime) -> QueuePosition | None:
        """Counted inside Redis, which returns only what the estimate needs: the hot read of waiting rooms."""
        now = require_utc(now)
        reply = await self._run(
            self._position, unit, appointment_id, _us(now), self.policy.absent_after // _US, _csv(ON_DUTY)
        )
        if reply[0] == "none":
            return None
        _, raw, place, ahead, duty, durations = reply
        entry = _decode_entry(unit, raw)
        nurses = {}
        for index, item in enumerate(duty.split(";") if duty else ()):
            state, since = item.split(",")
            nurses[str(index)] = Nurse(str(index), unit, NurseState(state), _time(since or None))
        recent = tuple(int(d) * _US for d in reversed(durations.split(","))) if durations else ()
        context = UnitQueue(unit, nurses=nurses, durations=recent)
        return QueuePosition(
            appointment_id=appointment_id,
            place=int(place),
            ahead=int(ahead),
            connected=entry.connected,
            absent=entry.is_absent(now, self.policy),
            estimate=rules.expected_wait(context, int(ahead), now, self.policy),
        )


def _error(unit: str, details: list[str]) -> DomainError:
    code = details[0]
    if code == WrongUnit.CODE:
        return WrongUnit(unit)
    if code == AlreadyServed.CODE:
        return AlreadyServed()
    if code == NotInQueue.CODE:
        return NotInQueue()
    if code == NurseNotAvailable.CODE:
        return NurseNotAvailable(NurseState(details[1]))
    if code == InvalidNurseTransition.CODE:
        return InvalidNurseTransition(NurseState(details[1]), NurseState(details[2]))
    raise RuntimeError(f"unexpected reply from a queue script: {details!r}")
