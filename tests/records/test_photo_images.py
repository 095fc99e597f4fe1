"""A photo is typed from its bytes and re-encoded clean (records/photo_images.py): upright, bounded,
without metadata; anything else is refused before it is decoded in full."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from records.photo_images import MAX_SIDE, NotAPhoto, PhotoTooLarge, clean_photo
from rooms.photos import MAX_PHOTO_BYTES


def _encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def test_a_rotated_photo_comes_out_upright_and_without_exif() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: rotate 90°
    exif[0x0131] = "PhoneSoftware 1.0"
    exif.get_ifd(0x8825)[2] = (19.0, 25.0, 42.0)
    clean = clean_photo(_encoded(Image.new("RGB", (300, 100), "red"), "JPEG", exif=exif))
    image = Image.open(io.BytesIO(clean.data))
    assert (clean.width, clean.height) == image.size == (100, 300)
    assert len(image.getexif()) == 0 and b"PhoneSoftware" not in clean.data
    assert clean.content_type == "image/jpeg" and len(clean.sha256) == 64


def test_a_large_photo_is_scaled_down_and_png_keeps_transparency() -> None:
    clean = clean_photo(_encoded(Image.new("RGBA", (MAX_SIDE * 2, 100), (0, 0, 255, 0)), "PNG"))
    image = Image.open(io.BytesIO(clean.data))
    assert image.size == (MAX_SIDE, 50) and image.mode == "RGBA" and clean.content_type == "image/png"
    text_chunk = _encoded(Image.new("RGB", (8, 8)), "PNG", pnginfo=_png_text("Comment", "gps here"))
    assert b"gps here" not in clean_photo(text_chunk).data


def _png_text(key: str, value: str) -> PngInfo:
    info = PngInfo()
    info.add_text(key, value)
    return info


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"%PDF-1.7\n",
    ],
)
def test_anything_else_is_not_a_photo(data: bytes) -> None:
    with pytest.raises(NotAPhoto):
        clean_photo(data)


def test_a_decompression_bomb_and_an_oversized_upload_are_refused() -> None:
    bomb = _encoded(Image.new("1", (20_000, 20_000)), "PNG")  # tiny file, 400 M pixels declared
    assert len(bomb) < MAX_PHOTO_BYTES
    with pytest.raises(NotAPhoto):
        clean_photo(bomb)
    with pytest.raises(PhotoTooLarge):
        clean_photo(b"\xff\xd8" + b"\x00" * MAX_PHOTO_BYTES)
