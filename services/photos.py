"""Photos in a consult: the patient shares one, the staff see it, the host keeps it in the record.

The photo's bytes are checked and re-encoded by the store (``records/photo_images.py`` behind the
:class:`PhotoStore` port); the rules of who may send, see and keep are ``rooms``'. A shared photo is
also a chat message (``services/chat.py``), so it reaches the nurse in order with the conversation,
and a page that reconnects finds it in the chat's history.

Sharing is all or nothing: a photo without its message would sit in the database unseen and
unkept, and docs/api.md promises that a refused upload stores nothing. What can be refused before
storing is refused first (who sends, the consult's state, a full chat); the photo and its message
live in two stores (the record database, the consults' store) with no transaction across them, so
a refusal of the message once the photo is stored removes the photo again before answering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from rooms import photos as rules
from rooms.chat import ChatMessage
from rooms.consult import Actor, Consult
from rooms.errors import DomainError
from rooms.photos import Photo, PhotoConsent
from rooms.store.base import ConsultStore
from services.chat import ChatService
from services.errors import NoSuchConsult

logger = logging.getLogger(__name__)

PHOTO_MESSAGE = "Foto / Photo"
"""The chat message's text that carries a photo (pages show the picture, or "photo sent")."""


class PhotoStore(Protocol):
    async def add(
        self, consult_id: str, uploaded_by: str, data: bytes, at: datetime, *, limit: int
    ) -> Photo | None:
        """Check, clean and store the photo; a DomainError (not an image, too large) stores nothing,
        and so does a consult that already holds ``limit`` photos (None)."""

    async def remove(self, consult_id: str, photo_id: str) -> None:
        """Delete a photo nobody kept (one whose upload was refused after it was stored)."""

    async def get(self, consult_id: str, photo_id: str) -> tuple[Photo, bytes] | None: ...

    async def keep(self, consult_id: str, photo_id: str, consent: PhotoConsent) -> Photo | None:
        """Keep the photo with the consent its keeper noted; None when there is no such photo."""


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
        rules.require_patient(await self._consult(consult_id), actor)
        await self._chat.require_room(actor, consult_id)
        photo = await self._photos.add(
            consult_id, actor.participant_id, data, self._clock(), limit=rules.MAX_PHOTOS_PER_CONSULT
        )
        if photo is None:
            raise rules.PhotosFull()
        try:
            consult, message = await self._chat.post(
                actor, consult_id, name, PHOTO_MESSAGE, photo_id=photo.photo_id
            )
        except BaseException:  # a refusal, the store down, the request cancelled: no photo stays
            await self._remove(photo)
            raise
        await self._chat.deliver(consult, message)
        return photo, message

    async def _remove(self, photo: Photo) -> None:
        """Undo storing ``photo``; shielded, so a cancelled request still removes it. A failure is
        logged (by the photo's opaque id only) and the upload's own error is what the caller sees."""
        try:
            await asyncio.shield(self._photos.remove(photo.consult_id, photo.photo_id))
        except Exception:
            logger.exception("photo %s of a refused upload could not be removed", photo.photo_id)

    async def view(self, actor: Actor, consult_id: str, photo_id: str) -> tuple[Photo, bytes]:
        """A photo for the consult's staff (the unit's until admission, then the host)."""
        rules.require_viewer(await self._consult(consult_id), actor)
        found = await self._photos.get(consult_id, photo_id)
        if found is None:
            raise NoSuchPhoto()
        return found

    async def keep(self, actor: Actor, consult_id: str, photo_id: str, *, consent: bool) -> Photo:
        """The host keeps a photo for the record, noting the patient's consent (refused without)."""
        consult = await self._consult(consult_id)
        rules.require_host(consult, actor)
        noted = rules.note_consent(consent, actor, self._clock())
        kept = await self._photos.keep(consult_id, photo_id, noted)
        if kept is None:
            raise NoSuchPhoto()
        return kept
