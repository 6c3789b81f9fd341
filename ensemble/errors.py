"""Errors raised by the ensemble package.

Every message names what was wrong, the value seen and what to do about it. Other modules of the package add
their own subclasses of :class:`ShopmeshError` here.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ArtifactIntegrityError",
    "DataError",
    "ImageError",
    "ImageTooLargeError",
    "ModelError",
    "NotAnImageError",
    "RegistryError",
    "SeriesTooShortError",
    "ShopmeshError",
    "UnknownPricingKeyError",
    "UnknownProductForecastError",
    "VersionNotFoundError",
]


class ShopmeshError(Exception):
    """Base class of every error the ensemble package raises on purpose."""


class DataError(ShopmeshError):
    """Input data is unusable: missing or empty file, wrong encoding, missing column, unparsable value.

    Besides the message, the error keeps what it can locate: the file, the 1-based line (the header is line
    1), the column and the offending value, so callers such as the CLI can show or test them.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.column = column
        self.value = value


class ImageError(DataError):
    """Photo bytes cannot be used: empty, too large, not an image, above the pixel limit, truncated or corrupt."""


class ImageTooLargeError(ImageError):
    """Photo bytes above the byte limit (refused unread)."""


class NotAnImageError(ImageError):
    """Bytes in no image format the decoder reads."""


class RegistryError(ShopmeshError):
    """The model registry cannot publish or read a version."""


class ArtifactIntegrityError(RegistryError):
    """A stored version does not match its manifest: a file is missing, or its size or sha256 differs."""


class VersionNotFoundError(RegistryError):
    """The requested member or version is not in the registry."""


class ModelError(ShopmeshError):
    """A model cannot be built, trained or used as asked (wrong labels, missing weights, bad
    configuration)."""


class SeriesTooShortError(DataError):
    """A time series has fewer observations than a forecast evaluation needs (held-out horizon, validation
    window and model input window together)."""


class UnknownPricingKeyError(ModelError):
    """A price recommendation was asked for a store or brand the pricing model has not seen."""


class UnknownProductForecastError(ModelError):
    """A forecast was asked for a product the forecasting version holds no history for."""

    def __init__(self, message: str, *, stock_code: str) -> None:
        super().__init__(message)
        self.stock_code = stock_code
