"""Decoding untrusted photo bytes into RGB images: size checked before any pixel is decoded, every mode made RGB."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from ensemble.errors import ImageError, ImageTooLargeError, NotAnImageError

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "ImageHeader", "decode_image", "probe_image"]

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # a shop photo is far smaller; larger bodies are refused unread
MAX_IMAGE_PIXELS = 40_000_000  # about 7,300 x 5,500; a decompression bomb declares far more


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header declares: its format (``JPEG``, ``PNG``, ...), size and colour mode."""

    format: str
    width: int
    height: int
    mode: str


def _open(data: bytes, max_bytes: int, max_pixels: int) -> Image.Image:
    """The image in ``data``, opened but not decoded, after the byte and declared-pixel checks."""
    if len(data) == 0:
        raise ImageError("the image is empty (0 bytes); send the bytes of a JPEG, PNG or WebP photo.")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"the image has {len(data):,} bytes, more than the limit of {max_bytes:,}; send a smaller photo."
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(
            f"the image declares more pixels than the limit of {max_pixels:,} ({err}); send a photo downscaled "
            "below it."
        ) from err
    except UnidentifiedImageError as err:
        raise NotAnImageError(f"the bytes are not a readable image ({err}); send a JPEG, PNG or WebP photo.") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"the image header is truncated or corrupt ({err}); send the complete file.") from err
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"the image declares {width}x{height} pixels, more than the limit of {max_pixels:,}; "
            "send a photo downscaled below it."
        )
    return image


def probe_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS) -> ImageHeader:
    """The header of the photo in ``data``, read without decoding a pixel.

    Raises :class:`ImageTooLargeError` above ``max_bytes``, :class:`NotAnImageError` for bytes in no known
    image format and :class:`ImageError` for empty input or a declared size above ``max_pixels``.
    """
    image = _open(data, max_bytes, max_pixels)
    return ImageHeader(str(image.format), image.size[0], image.size[1], image.mode)


def decode_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """The photo in ``data`` as an RGB image (EXIF orientation applied).

    Raises :class:`ImageError` for empty or oversized input, bytes that are not an image, a declared size above
    ``max_pixels`` (checked from the header, before decoding) and truncated or corrupt files (subclasses as in
    :func:`probe_image`). CMYK, greyscale, palette and 16-bit photos are converted; transparency is composed
    onto white.
    """
    image = _open(data, max_bytes, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(
            f"the image declares more pixels than the limit of {max_pixels:,} ({err}); send a photo downscaled "
            "below it."
        ) from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"the image is truncated or corrupt ({err}); send the complete file.") from err
    return _to_rgb(ImageOps.exif_transpose(image))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # 16-bit and float greyscale: scale to 8 bits before making it RGB.
        return image.point(lambda value: value / 256).convert("L").convert("RGB")
    return image.convert("RGB")
