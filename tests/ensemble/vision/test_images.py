from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ensemble.errors import DataError, ImageError, ImageTooLargeError, NotAnImageError
from ensemble.vision import decode_image
from ensemble.vision.images import probe_image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_rgb_jpeg_is_returned_as_rgb() -> None:
    data = _encode(Image.new("RGB", (40, 30), (200, 10, 10)), "JPEG")
    image = decode_image(data)
    assert image.mode == "RGB" and image.size == (40, 30)
    assert abs(int(np.asarray(image)[15, 20, 0]) - 200) < 8


@pytest.mark.parametrize(
    ("mode", "color", "fmt"),
    [("CMYK", (0, 255, 255, 0), "JPEG"), ("L", 128, "PNG"), ("P", 3, "PNG"), ("I;16", 40000, "PNG")],
)
def test_other_modes_are_converted_to_rgb(mode: str, color: object, fmt: str) -> None:
    image = decode_image(_encode(Image.new(mode, (16, 16), color), fmt))  # type: ignore[arg-type]
    assert image.mode == "RGB"
    assert np.asarray(image).shape == (16, 16, 3)


def test_transparency_is_composed_on_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))  # fully transparent red
    image = decode_image(_encode(rgba, "PNG"))
    assert image.mode == "RGB"
    assert tuple(np.asarray(image)[4, 4]) == (255, 255, 255)


def test_cmyk_red_stays_red() -> None:
    image = decode_image(_encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"))
    r, g, b = (int(v) for v in np.asarray(image)[8, 8])
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"this is not a photo at all", "not a readable image"),
    ],
)
def test_bad_bytes_are_refused(data: bytes, fragment: str) -> None:
    with pytest.raises(ImageError, match=fragment):
        decode_image(data)


def test_truncated_jpeg_is_refused() -> None:
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_from_its_header() -> None:
    # A real 10,000 x 10,000 PNG compresses to a few kB; its declared size is over the pixel limit.
    data = _encode(Image.new("1", (10_000, 10_000)), "PNG")
    assert len(data) < 100_000
    with pytest.raises(ImageError, match=r"more pixels than the limit|10000x10000"):
        decode_image(data)
    # Under Pillow's own bomb limit, the declared size is still checked before any pixel is decoded.
    smaller = _encode(Image.new("1", (7_000, 7_000)), "PNG")
    with pytest.raises(ImageError, match="7000x7000"):
        decode_image(smaller)


def test_body_over_the_byte_limit_is_refused_unread() -> None:
    data = _encode(Image.new("RGB", (32, 32)), "PNG")
    with pytest.raises(ImageError, match="more than the limit"):
        decode_image(data, max_bytes=len(data) - 1)


def test_image_error_is_a_data_error() -> None:
    assert issubclass(ImageError, DataError)


def test_probe_reads_the_header_only() -> None:
    # The header of a truncated JPEG is whole: the probe reads it, decoding refuses the file.
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)), "JPEG")
    header = probe_image(data[: len(data) // 2])
    assert (header.format, header.width, header.height, header.mode) == ("JPEG", 64, 48, "RGB")
    with pytest.raises(ImageError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_probe_refuses_what_decoding_refuses_before_it_with_the_kind_of_problem() -> None:
    with pytest.raises(NotAnImageError, match="not a readable image"):
        probe_image(b"GIF? no, plain text")
    png = _encode(Image.new("RGB", (32, 32)), "PNG")
    with pytest.raises(ImageTooLargeError, match=f"{len(png):,} bytes"):
        probe_image(png, max_bytes=len(png) - 1)
    with pytest.raises(ImageError, match=r"more pixels than the limit|10000x10000") as bomb:
        probe_image(_encode(Image.new("1", (10_000, 10_000)), "PNG"), max_pixels=50_000_000)
    assert not isinstance(bomb.value, NotAnImageError | ImageTooLargeError)
