"""JSON encoding of the domain's values for stores that keep them as text (Redis)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rooms.consult import Consult, ConsultKind, ConsultState, Invitee
from rooms.roles import Role
from rooms.staff import StaffMember, StaffSession


def encode_consult(consult: Consult) -> str:
    return json.dumps(
        {
            "consult_id": consult.consult_id,
            "patient_id": consult.patient_id,
            "patient_nss": consult.patient_nss,
            "patient_name": consult.patient_name,
            "appointment_start": consult.appointment_start.isoformat(),
            "appointment_end": consult.appointment_end.isoformat(),
            "state": consult.state.value,
            "host_id": consult.host_id,
            "host_name": consult.host_name,
            "invitees": [
                {
                    "participant_id": i.participant_id,
                    "role": i.role.value,
                    "name": i.name,
                    "token_id": i.token_id,
                    "unit_clues": i.unit_clues,
                    "unit_name": i.unit_name,
                }
                for i in consult.invitees
            ],
            "in_call": sorted(consult.in_call),
            "checked_in_at": consult.checked_in_at.isoformat() if consult.checked_in_at else None,
            "version": consult.version,
            "kind": consult.kind.value,
            "locked": consult.locked,
            "lobby": sorted(consult.lobby),
            "denied": sorted(consult.denied),
            "admitted": sorted(consult.admitted),
            "meta": [list(pair) for pair in consult.meta],
            "unit": consult.unit,
            "receive_only": sorted(consult.receive_only),
        },
        separators=(",", ":"),
    )


def decode_consult(text: str | bytes) -> Consult:
    data: dict[str, Any] = json.loads(text)
    return Consult(
        consult_id=data["consult_id"],
        patient_id=data["patient_id"],
        patient_name=data["patient_name"],
        appointment_start=datetime.fromisoformat(data["appointment_start"]),
        appointment_end=datetime.fromisoformat(data["appointment_end"]),
        state=ConsultState(data["state"]),
        host_id=data["host_id"],
        host_name=data["host_name"],
        invitees=tuple(
            Invitee(
                i["participant_id"],
                Role(i["role"]),
                i["name"],
                i.get("token_id"),
                i.get("unit_clues"),
                i.get("unit_name"),
            )
            for i in data["invitees"]
        ),
        in_call=frozenset(data["in_call"]),
        checked_in_at=datetime.fromisoformat(data["checked_in_at"]) if data["checked_in_at"] else None,
        version=data["version"],
        kind=ConsultKind(data.get("kind", ConsultKind.CONSULT.value)),
        locked=bool(data.get("locked", False)),
        lobby=frozenset(data.get("lobby", ())),
        denied=frozenset(data.get("denied", ())),
        admitted=frozenset(data.get("admitted", ())),
        meta=tuple((str(k), str(v)) for k, v in data.get("meta", ())),
        unit=str(data.get("unit") or ""),  # consults stored before units: tied to no unit
        # Consults stored before it: "" (Consult.record_nss then falls back to patient_id).
        patient_nss=str(data.get("patient_nss") or ""),
        receive_only=frozenset(data.get("receive_only", ())),
    )


def encode_staff(member: StaffMember) -> str:
    return json.dumps({**asdict(member), "role": member.role.value}, separators=(",", ":"))


def decode_staff(text: str | bytes) -> StaffMember:
    data: dict[str, Any] = json.loads(text)
    return StaffMember(**{**data, "role": Role(data["role"])})


def encode_session(session: StaffSession) -> str:
    return json.dumps(
        {
            "session_id": session.session_id,
            "staff_id": session.staff_id,
            "created_at": session.created_at.isoformat(),
            "expires_at": session.expires_at.isoformat(),
        },
        separators=(",", ":"),
    )


def decode_session(text: str | bytes) -> StaffSession:
    data: dict[str, Any] = json.loads(text)
    return StaffSession(
        data["session_id"],
        data["staff_id"],
        datetime.fromisoformat(data["created_at"]),
        datetime.fromisoformat(data["expires_at"]),
    )
