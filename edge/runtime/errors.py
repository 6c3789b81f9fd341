"""Errors raised by the device SDK.

Every message names what was wrong, the value seen and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BundleDowngradeError",
    "BundleError",
    "BundleIntegrityError",
    "BundleSignatureError",
    "ClusterError",
    "ClusterUnavailableError",
    "EdgeError",
    "HealthCheckError",
    "InvalidImageError",
    "InvalidTextError",
    "MissingExtraError",
    "OutboxError",
    "TrustError",
    "UpdateError",
]


class EdgeError(Exception):
    """Base class of every error the device SDK raises on purpose."""


class InvalidTextError(EdgeError, ValueError):
    """A message to classify is empty, blank or not a string."""


class InvalidImageError(EdgeError, ValueError):
    """A photo to classify is empty, too large, not an image, truncated, or declares too many pixels."""


class MissingExtraError(EdgeError):
    """A feature needs an optional dependency of the SDK that is not installed (e.g. Pillow for photos)."""


class BundleError(EdgeError):
    """A bundle cannot be used: missing files, unreadable manifest, unsupported format."""


class BundleSignatureError(BundleError):
    """``manifest.sig`` is missing, names an untrusted key, or does not verify under the trusted public key."""


class BundleDowngradeError(BundleError):
    """A bundle is older than the installed one and was not signed as a rollback."""


class TrustError(EdgeError):
    """A trusted key given to the device is not an Ed25519 public key (or is a private key)."""


class UpdateError(EdgeError):
    """An over-the-air update could not be downloaded or installed; the previous version keeps serving."""


class HealthCheckError(UpdateError):
    """A newly installed bundle failed its probe texts; the device rolled back to the previous version."""


class BundleIntegrityError(BundleError):
    """A file listed in the manifest is missing or its size or sha256 differs from the manifest."""


class ClusterError(EdgeError):
    """The cluster could not be reached, timed out, or answered with an error or an unusable body.

    ``status`` is the HTTP status when the cluster answered one (None for transport errors and bad bodies);
    ``retryable`` says whether trying again soon may succeed (a refused connection, HTTP 5xx or 429).
    """

    def __init__(self, message: str, status: int | None = None, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class ClusterUnavailableError(ClusterError):
    """The circuit breaker is open: the cluster failed recently, so no request was sent."""


class OutboxError(EdgeError):
    """The durable outbox cannot be written or read."""
