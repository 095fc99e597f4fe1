"""Redis stores: the consult, staff and login-session state several server nodes share.

Keys (all under a configurable prefix, ``tc:`` by default):

- ``consult:{id}`` — the consult as JSON; ``consult:{id}:log`` — its session log, a list of JSON events;
- ``consult:{id}:chat_seq`` — the number of its last chat message (``append_numbered``);
  these three expire ``ended_ttl_seconds`` after the consult ends (the session log's retention:
  the record database holds the archived log by then, and chat words must not outlive it here);
- ``consults:open`` — the set of consults that have not ended (the sweep);
- ``consults:open:unit:{unit}`` — those of one unit (a unit's staff list); consults without a unit
  are in none; ``consults:open:host:{staff id}`` — those one staff member hosts;
- ``invites:open`` — hash: an open consult's invitation link id -> the consult's id (revoking a link
  by its id reads one field, not the service);
- ``token:revoked:{token id}`` — revoked join tokens (kept 30 days, longer than any link lives);
- ``staff:{id}`` — a cached copy of an account (the record database holds it), kept a few minutes;
- ``session:{id}`` — a login session, expiring with the session; ``staff:{id}:sessions`` — the ids
  of one account's sessions (to end them all when it is disabled).

A consult is written with compare-and-set on its version inside one Lua script, which also
appends the transition's events and keeps the open sets current, so a write is all-or-nothing and
two nodes applying commands to the same consult cannot both succeed. A consult's unit never changes
and its host is set once (admission), so the unit and host sets need no move, only add and remove.
Consults stored before the unit and host sets existed are added to them by
:meth:`RedisConsultStore.index_open_consults` (run at start-up, idempotent).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from rooms.consult import Consult, ConsultState, Transition
from rooms.session_log import SessionEvent
from rooms.staff import StaffMember, StaffSession
from rooms.store.base import StaffStore, Stores, VersionConflict
from rooms.store.codec import (
    decode_consult,
    decode_session,
    decode_staff,
    encode_consult,
    encode_session,
    encode_staff,
)
from rooms.store.replies import replied

REVOCATION_SECONDS = 30 * 24 * 3600
ENDED_TTL_SECONDS = 30 * 24 * 3600
"""An ended consult's keys live this long (``TC_SESSION_LOG_RETENTION_DAYS``'s default)."""
STAFF_CACHE_SECONDS = 300

# KEYS: consult, log, open set, the consult's unit's open set, its host's open set, invites hash,
# (commit) the chat counter.
# ARGV (add, commit): the consult as JSON, its id, then '1'/'0' flags: open, has a unit, has a host;
# (commit) the expected version and the seconds an ended consult's keys live.
_INDEX = """
local function invites(previous, consult, id, open)
  if previous then
    for _, i in ipairs(cjson.decode(previous).invitees) do
      if i.token_id ~= cjson.null then redis.call('HDEL', KEYS[6], i.token_id) end
    end
  end
  if open == '1' then
    for _, i in ipairs(cjson.decode(consult).invitees) do
      if i.token_id ~= cjson.null then redis.call('HSET', KEYS[6], i.token_id, id) end
    end
  end
end
local function index(open, id, has_unit, has_host)
  if open == '1' then
    redis.call('SADD', KEYS[3], id)
    if has_unit == '1' then redis.call('SADD', KEYS[4], id) end
    if has_host == '1' then redis.call('SADD', KEYS[5], id) end
  else
    redis.call('SREM', KEYS[3], id)
    redis.call('SREM', KEYS[4], id)
    redis.call('SREM', KEYS[5], id)
  end
end
"""

_ADD = (
    _INDEX
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
index(ARGV[3], ARGV[2], ARGV[4], ARGV[5])
invites(nil, ARGV[1], ARGV[2], ARGV[3])
for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
return 1
"""
)

_COMMIT = (
    _INDEX
    + """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if cjson.decode(current)['version'] ~= tonumber(ARGV[6]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
index(ARGV[3], ARGV[2], ARGV[4], ARGV[5])
invites(current, ARGV[1], ARGV[2], ARGV[3])
for i = 8, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
if ARGV[3] == '0' then
  for k = 1, 2 do redis.call('EXPIRE', KEYS[k], ARGV[7]) end
  redis.call('EXPIRE', KEYS[7], ARGV[7])
end
return 1
"""
)

_REINDEX = (
    _INDEX
    + """
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 0 then return 0 end
index(ARGV[2], ARGV[1], ARGV[3], ARGV[4])
return 1
"""
)


# Whatever is appended to an ended consult's log (or counter) expires with the consult.
_FOLLOW_EXPIRY = """
local function follow_expiry(key)
  local left = redis.call('PTTL', KEYS[1])
  if left > 0 then redis.call('PEXPIRE', key, left) end
end
"""

# KEYS: consult, log. ARGV: the events as JSON.
_APPEND = (
    _FOLLOW_EXPIRY
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
follow_expiry(KEYS[2])
return 1
"""
)

# KEYS: consult, log, the consult's chat counter. ARGV: the event as JSON, the cap.
_APPEND_NUMBERED = (
    _FOLLOW_EXPIRY
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local count = tonumber(redis.call('GET', KEYS[3]) or '0')
if count >= tonumber(ARGV[2]) then return 0 end
count = redis.call('INCR', KEYS[3])
local event = cjson.decode(ARGV[1])
event['detail']['seq'] = tostring(count)
redis.call('RPUSH', KEYS[2], cjson.encode(event))
follow_expiry(KEYS[2])
follow_expiry(KEYS[3])
return count
"""
)


class RedisConsultStore:
    def __init__(
        self, redis: Redis, prefix: str = "tc:", *, ended_ttl_seconds: int = ENDED_TTL_SECONDS
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ended_ttl = ended_ttl_seconds
        self._add = redis.register_script(_ADD)
        self._commit = redis.register_script(_COMMIT)
        self._reindex = redis.register_script(_REINDEX)
        self._append = redis.register_script(_APPEND)
        self._append_numbered = redis.register_script(_APPEND_NUMBERED)

    def _keys(self, consult_id: str) -> list[str]:
        return [f"{self._prefix}consult:{consult_id}", f"{self._prefix}consult:{consult_id}:log", self._open]

    def _index_keys(self, consult: Consult) -> list[str]:
        """Every key the write scripts touch: consult, log, and the open, unit and host sets."""
        return [
            *self._keys(consult.consult_id),
            self._unit(consult.unit),
            self._host(consult.host_id or ""),
            self._invites,
        ]

    @staticmethod
    def _index_args(consult: Consult) -> list[str]:
        is_open = consult.state is not ConsultState.ENDED
        return [consult.consult_id, _flag(is_open), _flag(bool(consult.unit)), _flag(bool(consult.host_id))]

    @property
    def _open(self) -> str:
        return f"{self._prefix}consults:open"

    @property
    def _invites(self) -> str:
        return f"{self._prefix}invites:open"

    def _unit(self, unit: str) -> str:
        return f"{self._prefix}consults:open:unit:{unit}"

    def _host(self, host_id: str) -> str:
        return f"{self._prefix}consults:open:host:{host_id}"

    async def add(self, transition: Transition) -> None:
        consult = transition.consult
        events = [_event_json(e) for e in transition.events]
        added = await self._add(
            keys=self._index_keys(consult),
            args=[encode_consult(consult), *self._index_args(consult), *events],
        )
        if not added:
            raise VersionConflict(f"consult {consult.consult_id} exists")

    async def get(self, consult_id: str) -> Consult | None:
        text = await self._redis.get(self._keys(consult_id)[0])
        return decode_consult(text) if text is not None else None

    async def commit(self, transition: Transition, expected_version: int) -> None:
        consult = transition.consult
        if consult.version == expected_version and not transition.events:
            if await self.get(consult.consult_id) is None:
                raise VersionConflict(consult.consult_id)
            return
        stored = replace(consult, version=expected_version + 1)
        events = [_event_json(e) for e in transition.events]
        done = await self._commit(
            keys=[*self._index_keys(stored), self._chat_seq(consult.consult_id)],
            args=[
                encode_consult(stored),
                *self._index_args(stored),
                expected_version,
                self._ended_ttl,
                *events,
            ],
        )
        if not done:
            raise VersionConflict(consult.consult_id)

    async def log(self, consult_id: str) -> list[SessionEvent]:
        entries = await replied(self._redis.lrange(self._keys(consult_id)[1], 0, -1))
        return [SessionEvent.from_json(json.loads(entry)) for entry in entries]

    async def append_log(self, consult_id: str, events: Sequence[SessionEvent]) -> None:
        key, log, _ = self._keys(consult_id)
        if events:
            await self._append(keys=[key, log], args=[_event_json(e) for e in events])

    async def append_numbered(self, consult_id: str, event: SessionEvent, cap: int) -> int | None:
        key, log, _ = self._keys(consult_id)
        number = await self._append_numbered(
            keys=[key, log, self._chat_seq(consult_id)], args=[_event_json(event), cap]
        )
        return int(number) or None

    def _chat_seq(self, consult_id: str) -> str:
        return f"{self._prefix}consult:{consult_id}:chat_seq"

    async def open_consults(self) -> list[Consult]:
        return await self._members(self._open)

    async def open_in_unit(self, unit: str) -> list[Consult]:
        if not unit:
            return []
        return [c for c in await self._members(self._unit(unit)) if c.unit == unit]

    async def open_hosted_by(self, host_id: str) -> list[Consult]:
        return [c for c in await self._members(self._host(host_id)) if c.host_id == host_id]

    async def _members(self, key: str) -> list[Consult]:
        """The open consults whose ids the set ``key`` holds (one SMEMBERS, one MGET)."""
        ids = sorted(_text(i) for i in await replied(self._redis.smembers(key)))
        if not ids:
            return []
        texts = await self._redis.mget([self._keys(i)[0] for i in ids])
        consults = [decode_consult(text) for text in texts if text is not None]
        return [c for c in consults if c.state is not ConsultState.ENDED]

    async def index_open_consults(self) -> int:
        """Put every open consult in its unit's and host's sets (those stored before the sets
        existed); idempotent, one pass over the open consults. Returns how many were indexed."""
        consults = await self.open_consults()
        for consult in consults:
            await self._reindex(keys=self._index_keys(consult), args=self._index_args(consult))
            for invitee in consult.invitees:
                if invitee.token_id is not None:
                    await replied(self._redis.hset(self._invites, invitee.token_id, consult.consult_id))
        return len(consults)

    async def invited_to(self, token_id: str) -> Consult | None:
        consult_id = await replied(self._redis.hget(self._invites, token_id))
        return await self.get(_text(consult_id)) if consult_id is not None else None

    async def revoke_token(self, token_id: str) -> None:
        await self._redis.set(f"{self._prefix}token:revoked:{token_id}", "1", ex=REVOCATION_SECONDS)

    async def is_token_revoked(self, token_id: str) -> bool:
        return bool(await self._redis.exists(f"{self._prefix}token:revoked:{token_id}"))


class RedisStaffCache:
    """Accounts read recently, shared by every node; an entry lives ``ttl`` seconds at most, and any
    change to the account (``records/staff.py``) deletes it, so every node sees the change at once."""

    def __init__(self, redis: Redis, prefix: str = "tc:", ttl: int = STAFF_CACHE_SECONDS) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl

    async def get(self, staff_id: str) -> StaffMember | None:
        text = await self._redis.get(f"{self._prefix}staff:{staff_id}")
        return decode_staff(text) if text is not None else None

    async def put(self, member: StaffMember) -> None:
        await self._redis.set(f"{self._prefix}staff:{member.staff_id}", encode_staff(member), ex=self._ttl)

    async def forget(self, staff_id: str) -> None:
        await self._redis.delete(f"{self._prefix}staff:{staff_id}")


class RedisLoginSessionStore:
    def __init__(self, redis: Redis, prefix: str = "tc:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def add(self, session: StaffSession) -> None:
        seconds = max(1, int((session.expires_at - datetime.now(UTC)).total_seconds()))
        mine = self._of_staff(session.staff_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{self._prefix}session:{session.session_id}", encode_session(session), ex=seconds)
            pipe.sadd(mine, session.session_id)
            pipe.expire(mine, seconds)  # sessions all last as long: the newest ends last
            await pipe.execute()

    async def get(self, session_id: str) -> StaffSession | None:
        text = await self._redis.get(f"{self._prefix}session:{session_id}")
        return decode_session(text) if text is not None else None

    async def remove(self, session_id: str) -> None:
        await self._redis.delete(f"{self._prefix}session:{session_id}")

    async def remove_staff(self, staff_id: str) -> int:
        mine = self._of_staff(staff_id)
        ids = [_text(i) for i in await replied(self._redis.smembers(mine))]
        if not ids:
            return 0
        ended = await self._redis.delete(*[f"{self._prefix}session:{i}" for i in ids])
        await self._redis.delete(mine)
        return int(ended)

    def _of_staff(self, staff_id: str) -> str:
        return f"{self._prefix}staff:{staff_id}:sessions"


def redis_stores(
    redis: Redis, staff: StaffStore, prefix: str = "tc:", *, ended_ttl_seconds: int = ENDED_TTL_SECONDS
) -> Stores:
    """Consults and login sessions in Redis; ``staff`` is the record database's accounts."""
    return Stores(
        consults=RedisConsultStore(redis, prefix, ended_ttl_seconds=ended_ttl_seconds),
        staff=staff,
        sessions=RedisLoginSessionStore(redis, prefix),
    )


def _event_json(event: SessionEvent) -> str:
    return json.dumps(event.to_json(), separators=(",", ":"))


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
