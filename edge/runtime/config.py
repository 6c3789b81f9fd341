"""Settings of an :class:`~edge.runtime.client.EdgeClient`, validated once."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

from edge.runtime.errors import EdgeError
from edge.runtime.resilience import RetryPolicy
from edge.runtime.trust import TrustedKey, TrustStore

__all__ = ["EdgeClientConfig", "default_device_id"]

_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def default_device_id() -> str:
    """The host name, reduced to the characters allowed in a device id."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()).lstrip("._-")
    return name[:128] or "device"


@dataclass(frozen=True)
class EdgeClientConfig:
    """Where the bundle, the cluster and the outbox are, and when the device answers on its own.

    ``confidence_threshold`` None takes the bundle manifest's suggested threshold; answers whose calibrated
    confidence is at or above the threshold come from the device, the others go to the cluster.
    ``trusted_keys`` are the platform's Ed25519 public keys; the device never holds a private key.
    ``install_dir`` enables over-the-air updates (:meth:`EdgeClient.update`): the active version then persists
    there across restarts, and ``bundle_dir`` only seeds an empty install directory. ``retry`` governs retries of
    quick failures; after ``breaker_failures`` failed calls in a row the client stops calling the cluster for
    ``breaker_reset_s`` seconds (see :mod:`edge.runtime.resilience`).
    """

    bundle_dir: Path
    cluster_url: str
    trusted_keys: tuple[TrustedKey, ...]
    outbox_dir: Path
    confidence_threshold: float | None = None
    timeout_s: float = 2.0
    device_id: str = field(default_factory=default_device_id)
    intra_op_threads: int = 1
    install_dir: Path | None = None  # where update() installs versions; None serves bundle_dir as it is
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_failures: int = 1  # failed calls in a row that open the circuit
    breaker_reset_s: float = 30.0  # how long an open circuit answers on the device before trying again

    def __post_init__(self) -> None:
        if not self.cluster_url.startswith(("http://", "https://")):
            raise EdgeError(f"cluster_url must start with http:// or https://, got {self.cluster_url!r}")
        TrustStore(self.trusted_keys)  # raises TrustError for an empty list or anything but public keys
        if self.confidence_threshold is not None and not 0.0 <= self.confidence_threshold <= 1.0:
            raise EdgeError(f"confidence_threshold must lie in [0, 1], got {self.confidence_threshold}")
        if self.timeout_s <= 0:
            raise EdgeError(f"timeout_s must be positive, got {self.timeout_s}")
        if not _DEVICE_ID.match(self.device_id):
            raise EdgeError(
                f"device_id {self.device_id!r} must be 1-128 letters, digits, '.', '_' or '-' "
                "(it names the outbox file)"
            )
        if self.breaker_failures < 1 or self.breaker_reset_s <= 0:
            raise EdgeError(
                f"breaker_failures must be >= 1 and breaker_reset_s > 0, got {self.breaker_failures} and "
                f"{self.breaker_reset_s}"
            )
        if self.intra_op_threads < 1:
            raise EdgeError(f"intra_op_threads must be at least 1, got {self.intra_op_threads}")
