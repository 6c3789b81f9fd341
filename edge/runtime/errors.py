"""Errors raised by the device SDK.

Every message names what was wrong, the value seen and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BundleError",
    "BundleIntegrityError",
    "BundleSignatureError",
    "ClusterError",
    "EdgeError",
    "InvalidTextError",
    "OutboxError",
]


class EdgeError(Exception):
    """Base class of every error the device SDK raises on purpose."""


class InvalidTextError(EdgeError, ValueError):
    """A message to classify is empty, blank or not a string."""


class BundleError(EdgeError):
    """A bundle cannot be used: missing files, unreadable manifest, unsupported format."""


class BundleSignatureError(BundleError):
    """``manifest.sig`` is missing or does not match the manifest under the device's signing key."""


class BundleIntegrityError(BundleError):
    """A file listed in the manifest is missing or its size or sha256 differs from the manifest."""


class ClusterError(EdgeError):
    """The cluster could not be reached, timed out, or answered with an error or an unusable body.

    ``status`` is the HTTP status when the cluster answered one (None for transport errors and bad bodies).
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class OutboxError(EdgeError):
    """The durable outbox cannot be written or read."""
