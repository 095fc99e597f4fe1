"""Photos in a consult: the patient shares one, the staff see it, the host keeps it in the record.

The photo's bytes are checked and re-encoded by the store (``records/photo_images.py`` behind the
:class:`PhotoStore` port); the rules of who may send, see and keep are ``rooms``'. A shared photo is
also a chat message (``services/chat.py``), so it reaches the nurse in order with the conversation,
and a page that reconnects finds it in the chat's history.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from rooms import chat as chat_rules
from rooms import photos as rules
from rooms.chat import ChatMessage
from rooms.consult import Actor, Consult
from rooms.errors import DomainError
from rooms.photos import Photo
from rooms.store.base import ConsultStore
from services.chat import ChatService
from services.errors import NoSuchConsult

PHOTO_MESSAGE = "Foto / Photo"
"""The chat message's text that carries a photo (pages show the picture, or "photo sent")."""


class PhotoStore(Protocol):
    async def add(self, consult_id: str, uploaded_by: str, data: bytes, at: datetime) -> Photo:
        """Check, clean and store the photo; a DomainError (not an image, too large) stores nothing."""

    async def get(self, consult_id: str, photo_id: str) -> tuple[Photo, bytes] | None: ...

    async def keep(self, consult_id: str, photo_id: str, kept_by: str, at: datetime) -> Photo | None: ...


class NoSuchPhoto(DomainError):
    CODE = "not_found"

    def __init__(self) -> None:
        super().__init__(self.CODE, "No existe esa foto en esta consulta.", "No such photo in this consult.")


class PhotoService:
    def __init__(
        self,
        *,
        consults: ConsultStore,
        photos: PhotoStore,
        chat: ChatService,
        clock: Callable[[], datetime],
    ) -> None:
        self._consults = consults
        self._photos = photos
        self._chat = chat
        self._clock = clock

    async def _consult(self, consult_id: str) -> Consult:
        consult = await self._consults.get(consult_id)
        if consult is None:
            raise NoSuchConsult()
        return consult

    async def share(self, actor: Actor, consult_id: str, name: str, data: bytes) -> tuple[Photo, ChatMessage]:
        """The patient's photo, stored clean and announced in the chat."""
        consult = await self._consult(consult_id)
        rules.require_patient(consult, actor)
        chat_rules.require_chat(consult, actor)
        photo = await self._photos.add(consult_id, actor.participant_id, data, self._clock())
        message = await self._chat.send(actor, consult_id, name, PHOTO_MESSAGE, photo_id=photo.photo_id)
        return photo, message

    async def view(self, actor: Actor, consult_id: str, photo_id: str) -> tuple[Photo, bytes]:
        """A photo for the consult's staff (the unit's until admission, then the host)."""
        rules.require_viewer(await self._consult(consult_id), actor)
        found = await self._photos.get(consult_id, photo_id)
        if found is None:
            raise NoSuchPhoto()
        return found

    async def keep(self, actor: Actor, consult_id: str, photo_id: str) -> Photo:
        """The host keeps a photo for the record, the patient having consented (the caller checked)."""
        consult = await self._consult(consult_id)
        rules.require_host(consult, actor)
        kept = await self._photos.keep(consult_id, photo_id, actor.participant_id, self._clock())
        if kept is None:
            raise NoSuchPhoto()
        return kept
