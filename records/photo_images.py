"""A patient's photo made safe to keep and to show: its type read from the bytes, re-encoded clean.

Nothing about an upload is trusted but its pixels. Pillow identifies the format from the bytes
(never from a name or a ``Content-Type``) and verifies the file; only JPEG, PNG and WebP pass. The
pixels are then copied into a new image, turned upright by their EXIF orientation, scaled down to
:data:`MAX_SIDE`, and encoded again in the same format, so no EXIF (GPS position, camera serial),
XMP, ICC or text chunk, and nothing appended after the image (a polyglot's payload), survives.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from records.errors import RecordError
from rooms.photos import MAX_PHOTO_BYTES

MAX_SIDE = 2048
"""Longest side kept, in pixels: enough to see a wound or a rash, small enough for the record."""
MAX_PIXELS = 50_000_000
"""Larger declared sizes are refused before decoding (a decompression bomb)."""
_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class PhotoTooLarge(RecordError):
    CODE = "photo_too_large"
    HTTP_STATUS = 413
    FHIR_CODE = "too-costly"

    def __init__(self) -> None:
        mb = MAX_PHOTO_BYTES // (1024 * 1024)
        super().__init__(f"La foto pasa de {mb} MB.", f"The photo is larger than {mb} MB.")


class NotAPhoto(RecordError):
    CODE = "photo_type"
    HTTP_STATUS = 415
    FHIR_CODE = "invalid"

    def __init__(self) -> None:
        super().__init__(
            "El archivo no es una foto JPEG, PNG o WebP.", "The file is not a JPEG, PNG or WebP photo."
        )


@dataclass(frozen=True, slots=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str


def clean_photo(data: bytes) -> CleanPhoto:
    """The photo re-encoded without metadata, or :class:`NotAPhoto` / :class:`PhotoTooLarge`."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoTooLarge()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(_FORMATS)) as probe:
                kind = probe.format or ""
                if kind not in _FORMATS or probe.width * probe.height > MAX_PIXELS:
                    raise NotAPhoto()
                probe.verify()
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                image.load()
                upright = ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise NotAPhoto() from error
    except Image.DecompressionBombWarning as error:
        raise NotAPhoto() from error
    return _encode(upright, kind)


def _encode(image: Image.Image, kind: str) -> CleanPhoto:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    mode = "RGBA" if has_alpha and kind != "JPEG" else "RGB"
    pixels = image.convert(mode)
    pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    # A new image from the pixels alone: it carries no info dictionary (EXIF, XMP, ICC, text).
    fresh = Image.frombytes(mode, pixels.size, pixels.tobytes())
    out = io.BytesIO()
    if kind == "JPEG":
        fresh.save(out, "JPEG", quality=85, optimize=True)
    elif kind == "PNG":
        fresh.save(out, "PNG", optimize=True)
    else:
        fresh.save(out, "WEBP", quality=85)
    encoded = out.getvalue()
    return CleanPhoto(encoded, _FORMATS[kind], fresh.width, fresh.height, hashlib.sha256(encoded).hexdigest())
