"""Reading a photo out of a ``POST /v1/vision`` request, JSON or multipart, and refusing what is no photo.

:func:`read_photo` takes the request as it came (the body limit has already bounded it), parses the JSON form
against :class:`~cluster.vision_schemas.VisionRequest` or the multipart form's ``image`` file part and ``top_k``
field, and reads the photo's header (:func:`ensemble.vision.images.probe_image`) without decoding a pixel:
bytes over the photo limit answer 413, bytes in no image format 415, an empty photo or one that declares more
pixels than the limit 422, another content type 415. The vision member decodes the photos that pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from python_multipart.exceptions import FormParserError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from cluster.errors import RequestRejectedError
from cluster.vision_schemas import DEFAULT_TOP_K, MAX_TOP_K, VisionRequest
from ensemble.errors import ImageError, ImageTooLargeError, NotAnImageError
from ensemble.vision.images import ImageHeader, probe_image

__all__ = ["Photo", "read_photo"]

logger = logging.getLogger(__name__)

_MULTIPART_FIELDS = frozenset({"image", "top_k"})


@dataclass(frozen=True)
class Photo:
    """A photo to classify: its bytes, what its header declares, the request's ``top_k`` and shopper, and the
    request field it came in (for error messages)."""

    data: bytes
    header: ImageHeader
    top_k: int
    customer_id: int | None
    field: str

    def fingerprint(self) -> str:
        """The sha256 of what the answer depends on (photo and ``top_k``), for idempotent replays."""
        digest = hashlib.sha256(self.data)
        digest.update(f"|top_k={self.top_k}|customer={self.customer_id}".encode())
        return digest.hexdigest()


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _from_json(request: Request) -> tuple[bytes, int, int | None, str]:
    try:
        parsed = VisionRequest.model_validate_json(await request.body())
    except ValidationError as err:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error.get("loc", ()))} for error in err.errors(include_input=False)]
        ) from err
    return parsed.photo(), parsed.top_k, parsed.customer_id, "image_base64"


def _top_k(value: Any) -> int:
    if value is None:
        return DEFAULT_TOP_K
    text = value if isinstance(value, str) else None
    if text is None or not text.strip().isdigit() or not 1 <= int(text) <= MAX_TOP_K:
        raise RequestRejectedError("top_k", f"top_k must be a whole number from 1 to {MAX_TOP_K}, got {value!r}")
    return int(text)


async def _from_multipart(request: Request) -> tuple[bytes, int, int | None, str]:
    # Starlette answers some malformed multipart bodies with 400 itself; the parser's own errors are caught here.
    try:
        form = await request.form(max_files=1, max_fields=len(_MULTIPART_FIELDS))
    except FormParserError as err:
        raise HTTPException(
            400, f"the multipart body could not be parsed ({err}); send multipart/form-data with a file part 'image'"
        ) from err
    try:
        unknown = sorted(set(form.keys()) - _MULTIPART_FIELDS)
        if unknown:
            raise RequestRejectedError(
                unknown[0], f"unknown form fields {unknown}; send a file part 'image' and, optionally, 'top_k'"
            )
        image = form.get("image")
        if not isinstance(image, UploadFile):
            got = "nothing" if image is None else "a text field"
            raise RequestRejectedError("image", f"the form needs a file part 'image' with the photo; it holds {got}")
        top_k = _top_k(form.get("top_k"))
        data = await image.read()
    finally:
        await form.close()  # spooled upload files are removed
    return data, top_k, None, "image"


async def read_photo(request: Request) -> Photo:
    """The photo of a ``POST /v1/vision`` request, or the 4xx error that refuses it (see the module)."""
    media_type = _media_type(request)
    if media_type == "application/json" or media_type.endswith("+json"):
        data, top_k, customer_id, field = await _from_json(request)
    elif media_type == "multipart/form-data":
        data, top_k, customer_id, field = await _from_multipart(request)
    else:
        raise HTTPException(
            415,
            f"content type {media_type or '(none)'!r} is not accepted; send application/json with image_base64, "
            "or multipart/form-data with a file part 'image'",
        )
    try:
        header = await asyncio.to_thread(probe_image, data)
    except ImageTooLargeError as err:
        raise HTTPException(413, f"{field}: {err}") from err
    except NotAnImageError as err:
        raise HTTPException(415, f"{field}: {err}") from err
    except ImageError as err:
        raise RequestRejectedError(field, str(err)) from err
    logger.debug("photo %sx%s %s for customer %s", header.width, header.height, header.format, customer_id)
    return Photo(data, header, top_k, customer_id, field)
