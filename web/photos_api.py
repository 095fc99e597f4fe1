"""Photos over REST: the patient uploads one from the phone, the consult's staff see it, the host
keeps it in the record.

The upload is the image's bytes as the body, authenticated like the patient's other requests (the
link's join token in ``Authorization: Bearer``), bounded at 8 MB (``413`` beyond, read no further)
and typed from its bytes alone (``415 photo_type`` for anything but JPEG, PNG or WebP). Each
patient's uploads are limited (``web/upload_limit.py``: ``429 rate_limited`` with ``Retry-After``,
checked before the body is read), and each consult stores a bounded number (``409 photos_full``). A photo is
served only as the image it was re-encoded to, ``inline``, with ``nosniff`` and a policy that lets
it run nothing (``default-src 'none'``), to the consult's staff only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from aiohttp import web

from records.errors import RecordError
from rooms.consult import Actor
from rooms.errors import DomainError
from rooms.photos import CONTENT_TYPES, MAX_PHOTO_BYTES
from rooms.roles import Role
from rooms.store.base import ConsultStore
from rooms.tokens import TokenError, verify
from services.photos import PhotoService
from web.auth import Authenticator
from web.errors import ApiError, rate_limited
from web.payloads import answer, read_body
from web.schemas.photos import ChatMessageView, KeepPhotoRequest, KeptPhoto, PhotoView, SharedPhoto
from web.upload_limit import UploadLimit

_STATUS = {
    "forbidden": 403,
    "not_your_consult": 403,
    "wrong_unit": 403,
    "denied": 403,
    "not_found": 404,
    "invalid_state": 409,
    "consult_ended": 409,
    "chat_full": 409,
    "consent_missing": 409,
    "photos_full": 409,
    "photo_too_large": 413,
    "photo_type": 415,
}
_READ_CHUNK = 64 * 1024


def _refused(error: DomainError) -> ApiError:
    status = error.http_status if isinstance(error, RecordError) else _STATUS.get(error.code, 400)
    return ApiError(status, error.code, f"{error.message_es} / {error.message_en}")


def _too_large() -> ApiError:
    mb = MAX_PHOTO_BYTES // (1024 * 1024)
    return ApiError(413, "photo_too_large", f"La foto pasa de {mb} MB. / The photo is larger than {mb} MB.")


class PhotosApi:
    def __init__(
        self,
        *,
        photos: PhotoService,
        consults: ConsultStore,
        auth: Authenticator,
        uploads: UploadLimit,
        token_key: bytes,
        clock: Callable[[], datetime],
    ) -> None:
        self._photos = photos
        self._uploads = uploads
        self._consults = consults
        self._auth = auth
        self._token_key = token_key
        self._clock = clock

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/api/consults/{consult_id}/photos", self.upload),
            web.get("/api/consults/{consult_id}/photos/{photo_id}", self.photo),
            web.post("/api/consults/{consult_id}/photos/{photo_id}/keep", self.keep),
        ]

    async def _patient(self, request: web.Request, consult_id: str) -> Actor:
        """The bearer of the consult's own patient link (as ``GET /api/queue/position`` reads it)."""
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or len(header) > 2048:
            raise ApiError(
                401, "auth_required", "Falta el enlace de la cita. / The appointment link is missing."
            )
        try:
            claims = verify(self._token_key, header[7:].strip(), self._clock().timestamp())
        except TokenError as error:
            raise ApiError(401, error.code, "El enlace no es válido. / The link is not valid.") from None
        if await self._consults.is_token_revoked(claims.token_id):
            raise ApiError(401, "auth_revoked", "Este enlace fue cancelado. / This link has been revoked.")
        if claims.role is not Role.PATIENT:
            raise ApiError(403, "forbidden", "Solo el paciente envía fotos. / Only the patient sends photos.")
        if claims.consult_id != consult_id:
            raise ApiError(
                403, "not_your_consult", "Su enlace es de otra consulta. / Your link is for another consult."
            )
        return Actor(claims.participant_id, Role.PATIENT, via_link=True)

    async def upload(self, request: web.Request) -> web.Response:
        consult_id = request.match_info["consult_id"]
        actor = await self._patient(request, consult_id)
        wait = await self._uploads.take(actor.participant_id)
        if wait > 0:
            raise rate_limited(wait, "Demasiadas fotos; espere {s} s.", "Too many photos; wait {s} s.")
        if request.content_length is not None and request.content_length > MAX_PHOTO_BYTES:
            raise _too_large()
        data = bytearray()
        while chunk := await request.content.read(_READ_CHUNK):
            data.extend(chunk)
            if len(data) > MAX_PHOTO_BYTES:
                raise _too_large()  # read no further than the limit
        consult = await self._consults.get(consult_id)
        name = consult.patient_name if consult is not None else ""
        try:
            photo, message = await self._photos.share(actor, consult_id, name, bytes(data))
        except DomainError as error:
            raise _refused(error) from None
        view = SharedPhoto(
            photo=PhotoView.model_validate(photo.to_json()),
            message=ChatMessageView.model_validate(message.to_json()),
        )
        return answer(view, 201)

    async def _staff(self, request: web.Request) -> Actor:
        member = await self._auth.require_staff(request)
        return Actor(member.staff_id, member.role, unit=member.unit)

    async def photo(self, request: web.Request) -> web.Response:
        actor = await self._staff(request)
        try:
            photo, data = await self._photos.view(
                actor, request.match_info["consult_id"], request.match_info["photo_id"][:64]
            )
        except DomainError as error:
            raise _refused(error) from None
        if photo.content_type not in CONTENT_TYPES:  # never anything but one of the three images
            raise ApiError(404, "not_found", "No existe esa foto. / No such photo.")
        return web.Response(
            body=data,
            headers={
                "Content-Type": photo.content_type,
                "Content-Disposition": "inline",
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'",
                "Cache-Control": "private, no-store",
            },
        )

    async def keep(self, request: web.Request) -> web.Response:
        actor = await self._staff(request)
        body = await read_body(request, KeepPhotoRequest)
        try:
            photo = await self._photos.keep(
                actor,
                request.match_info["consult_id"],
                request.match_info["photo_id"][:64],
                consent=body.consent,
            )
        except DomainError as error:
            raise _refused(error) from None
        return answer(KeptPhoto(photo=PhotoView.model_validate(photo.to_json())))
