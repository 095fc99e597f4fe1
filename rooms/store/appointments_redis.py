"""The appointment store in Redis, shared by every server process.

Atomicity: adding an appointment and saving a changed one are each one Lua script that reads the
patient's overlapping appointments and the unit's slot counters, checks the slot's capacity and the
patient's other bookings, and writes (counters included), with no other command in between. A
booking costs the same in an empty slot and in a full one: the script reads how many hold each of
the few slots around the time, never the slot's appointments. So two processes booking
the last place in a slot, or one patient booking two overlapping slots from two tabs, cannot both
succeed. Saving is also compare-and-set on the stored version.

Keys (prefix ``tc:appt:`` by default):

=============================  ======  =========================================================
``tc:appt:all``                hash    appointment id -> appointment (JSON; times ISO 8601, plus
                                       ``s``/``e`` start and end in epoch microseconds and
                                       ``holds``, whether it occupies its slot)
``tc:appt:unit:{U}``           zset    the unit's appointment ids, scored by start (microseconds)
``tc:appt:patient:{P}``        zset    the patient's appointment ids, scored by start
``tc:appt:patients``           hash    patient id (NSS) -> patient (JSON)
``tc:appt:held:{U}``           hash    ``start:end`` (microseconds) -> how many of the unit's
                                       appointments hold that slot (only slots held at all)
``tc:appt:slots:{U}``          zset    the same ``start:end`` members, scored by start
``tc:appt:booked``             zset    booked appointments' ids, scored by the end of their
                                       check-in window: the due no-shows are its head
=============================  ======  =========================================================

Microsecond timestamps are below 2**53, so Lua's doubles hold them exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from rooms.appointments import Appointment, AppointmentStatus, DoubleBooking, SlotTaken
from rooms.patients import Patient
from rooms.store.appointments import (
    MAX_APPOINTMENT,
    decode_appointment,
    decode_patient,
    encode_appointment,
    encode_patient,
)
from rooms.store.base import VersionConflict
from rooms.store.replies import replied

DEFAULT_PREFIX = "tc:appt:"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

_WRITE = """
-- KEYS: 1 all, 2 unit zset, 3 patient zset, 4 unit's held-slot counters, 5 unit's held slots zset,
--       6 booked appointments by window end
-- ARGV: 1 id, 2 json, 3 start us, 4 end us, 5 capacity, 6 lookback us, 7 holds '1'/'0',
--       8 expected version ('' for a new appointment), 9 window end us if booked, else ''
local current = redis.call('HGET', KEYS[1], ARGV[1])
local check = ARGV[7] == '1'
local old = nil
if ARGV[8] == '' then
  if current then return {'err', 'exists'} end
else
  if not current then return {'err', 'version_conflict'} end
  old = cjson.decode(current)
  if tostring(old.version) ~= ARGV[8] then return {'err', 'version_conflict'} end
  if old.s == ARGV[3] and old.e == ARGV[4] then check = false end
end
local s = tonumber(ARGV[3])
local e = tonumber(ARGV[4])
local low = s - tonumber(ARGV[6])
if check then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], low, '(' .. ARGV[4])) do
    if id ~= ARGV[1] then
      local raw = redis.call('HGET', KEYS[1], id)
      if raw then
        local a = cjson.decode(raw)
        if a.holds and tonumber(a.e) > s then return {'err', 'double_booking'} end
      end
    end
  end
  local held = 0
  for _, slot in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], low, '(' .. ARGV[4])) do
    local slot_end = tonumber(string.sub(slot, string.find(slot, ':') + 1))
    if slot_end > s then held = held + tonumber(redis.call('HGET', KEYS[4], slot) or '0') end
  end
  if old and old.holds and tonumber(old.s) < e and tonumber(old.e) > s then held = held - 1 end
  if held >= tonumber(ARGV[5]) then return {'err', 'slot_taken'} end
end
local function count(slot_start, slot_end, delta)
  local slot = slot_start .. ':' .. slot_end
  if redis.call('HINCRBY', KEYS[4], slot, delta) > 0 then
    redis.call('ZADD', KEYS[5], slot_start, slot)
  else
    redis.call('HDEL', KEYS[4], slot)
    redis.call('ZREM', KEYS[5], slot)
  end
end
if old and old.holds then count(old.s, old.e, -1) end
if ARGV[7] == '1' then count(ARGV[3], ARGV[4], 1) end
if ARGV[9] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[9], ARGV[1])
else
  redis.call('ZREM', KEYS[6], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return {'ok'}
"""


def _us(instant: datetime) -> int:
    return (instant - _EPOCH) // _US


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisAppointmentStore:
    """:class:`~rooms.store.appointments.AppointmentStore` on one Redis server."""

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX, owns_client: bool = False) -> None:
        self.client = client
        self.prefix = prefix
        self._owns_client = owns_client
        self._write = client.register_script(_WRITE)

    @classmethod
    def from_url(cls, url: str, *, prefix: str = DEFAULT_PREFIX) -> RedisAppointmentStore:
        pool = BlockingConnectionPool.from_url(url, max_connections=32, timeout=10)
        return cls(Redis.from_pool(pool), prefix=prefix, owns_client=True)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    @property
    def _all(self) -> str:
        return f"{self.prefix}all"

    def _keys(self, appointment: Appointment) -> list[str]:
        return [
            self._all,
            f"{self.prefix}unit:{appointment.unit}",
            f"{self.prefix}patient:{appointment.patient_id}",
            f"{self.prefix}held:{appointment.unit}",
            f"{self.prefix}slots:{appointment.unit}",
            f"{self.prefix}booked",
        ]

    async def _run(self, appointment: Appointment, capacity: int, expected: str) -> None:
        data = encode_appointment(appointment)
        data["s"], data["e"] = str(_us(appointment.start)), str(_us(appointment.end))
        reply = await self._write(
            keys=self._keys(appointment),
            args=[
                appointment.appointment_id,
                json.dumps(data, separators=(",", ":")),
                data["s"],
                data["e"],
                capacity,
                _us(_EPOCH + MAX_APPOINTMENT),
                "1" if data["holds"] else "0",
                expected,
                str(_us(appointment.check_in_window.not_after))
                if appointment.status is AppointmentStatus.BOOKED
                else "",
            ],
        )
        parts = [_text(p) for p in reply]
        if parts[0] == "ok":
            return
        if parts[1] == "double_booking":
            raise DoubleBooking()
        if parts[1] == "slot_taken":
            raise SlotTaken()
        raise VersionConflict(appointment.appointment_id)

    async def add(self, appointment: Appointment, capacity: int) -> None:
        await self._run(appointment, capacity, "")

    async def save(self, appointment: Appointment, expected_version: int, capacity: int) -> None:
        await self._run(appointment, capacity, str(expected_version))

    async def get(self, appointment_id: str) -> Appointment | None:
        raw = await replied(self.client.hget(self._all, appointment_id))
        return decode_appointment(json.loads(raw)) if raw is not None else None

    async def _many(self, key: str, low: float | str, high: float | str) -> list[Appointment]:
        ids = await self.client.zrangebyscore(key, low, high)
        if not ids:
            return []
        raws = await replied(
            self.client.hmget(self._all, [_text(i) for i in ids if isinstance(i, str | bytes)])
        )
        found = [decode_appointment(json.loads(raw)) for raw in raws if raw is not None]
        return sorted(found, key=lambda a: (a.start, a.appointment_id))

    async def for_unit(self, unit: str, start: datetime, end: datetime) -> list[Appointment]:
        return await self._many(f"{self.prefix}unit:{unit}", _us(start), f"({_us(end)}")

    async def for_patient(self, patient_id: str) -> list[Appointment]:
        return await self._many(f"{self.prefix}patient:{patient_id}", "-inf", "+inf")

    async def due(self, until: datetime) -> list[Appointment]:
        return await self._many(f"{self.prefix}booked", "-inf", _us(until))

    async def put_patient(self, patient: Patient) -> None:
        await replied(self.client.hset(f"{self.prefix}patients", patient.patient_id, encode_patient(patient)))

    async def get_patient(self, patient_id: str) -> Patient | None:
        raw: Any = await replied(self.client.hget(f"{self.prefix}patients", patient_id))
        return decode_patient(raw) if raw is not None else None
