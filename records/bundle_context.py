"""What every part of a signed note's Bundle shares: the signed consult, its references and the entries.

The parts (records/bundle_*.py) each add their resources to one :class:`BundleContext`, in the order
:func:`records.fhir_bundle.build_bundle` calls them, which is the order of the Bundle's entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from records.bundle_refs import Resource, derived_id, encounter_id, ref
from records.facts import ConsentFacts, PatientFacts, StaffFacts
from records.notes import Note
from records.templates import TemplateCode, template
from rooms.chat import ChatMessage
from rooms.photos import Photo
from rooms.session_log import EventKind, SessionEvent


@dataclass(frozen=True, slots=True)
class ResourceIds:
    """Ids of the master-data resources, resolved by the store from their identifiers."""

    patient: str
    practitioner: str
    practitioner_role: str
    organization: str


@dataclass(frozen=True, slots=True)
class AmendedNote:
    """What an addendum needs of the signed note it amends."""

    composition_id: str
    encounter_id: str
    template: TemplateCode


@dataclass(frozen=True, slots=True)
class SignedConsult:
    note: Note
    events: Sequence[SessionEvent]
    patient: PatientFacts
    author: StaffFacts
    ids: ResourceIds
    seal: str
    source_address: str
    consent: ConsentFacts | None = None
    amended: AmendedNote | None = None
    photos: Sequence[tuple[Photo, bytes]] = ()
    """Photos the host kept (with the patient's consent): FHIR ``Media`` (records/bundle_media.py)."""
    chat: Sequence[ChatMessage] = ()
    """The chat transcript, when the host chose to keep it: one ``Communication`` per message
    (records/bundle_chat.py)."""


def visit_span(events: Sequence[SessionEvent], fallback: datetime) -> tuple[datetime, datetime | None]:
    """When the visit ran by its session log: from the admission (else the first join, else the first
    event, else ``fallback``) to the consult's end, or None while it goes on."""
    ordered = sorted(events, key=lambda e: e.at)
    start = next((e.at for e in ordered if e.kind is EventKind.ADMITTED), None)
    start = start or next((e.at for e in ordered if e.kind is EventKind.JOINED), None)
    end = next((e.at for e in reversed(ordered) if e.kind is EventKind.ENDED), None)
    return start or (ordered[0].at if ordered else fallback), end


class BundleContext:
    """The signed note being built into a Bundle, the references its resources share, and its entries."""

    def __init__(self, consult: SignedConsult) -> None:
        self.c = consult
        self.note = consult.note
        if self.note.signed_at is None:
            raise ValueError("only signed notes become FHIR resources")
        self.signed_at: datetime = self.note.signed_at
        self.tpl = template(self.note.template)
        self.entries: list[tuple[str, Resource]] = []
        self.ids = consult.ids
        self.scope = f"note:{self.note.note_id}"
        self.encounter = (
            consult.amended.encounter_id if consult.amended else encounter_id(self.note.consult_id)
        )
        local_encounter = consult.amended is None
        local_patient = consult.amended is None
        self.patient_ref = ref("Patient", self.ids.patient, consult.patient.full_name, local=local_patient)
        self.encounter_ref = ref("Encounter", self.encounter, local=local_encounter)
        self.author_ref = ref("PractitionerRole", self.ids.practitioner_role, consult.author.full_name)
        self.practitioner_ref = ref("Practitioner", self.ids.practitioner, consult.author.full_name)
        self.org_ref = ref("Organization", self.ids.organization, consult.author.unit.name)
        self.start = visit_span(consult.events, self.signed_at)[0]

    def add(self, resource: Resource) -> Resource:
        self.entries.append((str(resource["resourceType"]), resource))
        return ref(str(resource["resourceType"]), str(resource["id"]))

    def own_id(self, name: str) -> str:
        return derived_id(self.scope, name)
