"""Settings of an :class:`~edge.runtime.client.EdgeClient`, validated once."""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypedDict

from edge.runtime.errors import EdgeError
from edge.runtime.resilience import RetryPolicy
from edge.runtime.trust import TrustedKey, TrustStore

__all__ = ["ClientOptions", "EdgeClientConfig", "config_from_arguments", "default_device_id"]

_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# An API key as the cluster issues them: printable ASCII without spaces (it travels in a header).
_API_KEY = re.compile(r"^[!-~]{8,512}$")


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
    ``breaker_reset_s`` seconds (see :mod:`edge.runtime.resilience`). ``api_key`` (the merchant's key that
    ``shopmesh tenants add`` printed) goes as ``Authorization: Bearer`` with every call to the cluster:
    escalations, outbox replays and updates.
    """

    bundle_dir: Path
    cluster_url: str
    trusted_keys: tuple[TrustedKey, ...]
    outbox_dir: Path
    confidence_threshold: float | None = None
    vision_confidence_threshold: float | None = None  # photos; None takes the bundle's fitted one
    timeout_s: float = 2.0
    device_id: str = field(default_factory=default_device_id)
    intra_op_threads: int = 1
    install_dir: Path | None = None  # where update() installs versions; None serves bundle_dir as it is
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_failures: int = 1  # failed calls in a row that open the circuit
    breaker_reset_s: float = 30.0  # how long an open circuit answers on the device before trying again
    api_key: str | None = field(default=None, repr=False)  # the merchant's key, sent on every call to the cluster

    def __post_init__(self) -> None:
        if not self.cluster_url.startswith(("http://", "https://")):
            raise EdgeError(f"cluster_url must start with http:// or https://, got {self.cluster_url!r}")
        TrustStore(self.trusted_keys)  # raises TrustError for an empty list or anything but public keys
        for name, value in (
            ("confidence_threshold", self.confidence_threshold),
            ("vision_confidence_threshold", self.vision_confidence_threshold),
        ):
            if value is not None and not 0.0 <= value <= 1.0:
                raise EdgeError(f"{name} must lie in [0, 1], got {value}")
        if self.timeout_s <= 0:
            raise EdgeError(f"timeout_s must be positive, got {self.timeout_s}")
        if self.api_key is not None and not _API_KEY.match(self.api_key):
            raise EdgeError(
                "api_key must be the key `shopmesh tenants add` printed (8-512 printable characters, no spaces); "
                f"got one of {len(self.api_key)} characters"
            )
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

    def threshold(self, bundle_threshold: float) -> float:
        """The confidence at or above which the device answers: the configured one, else the bundle's."""
        return self.confidence_threshold if self.confidence_threshold is not None else bundle_threshold

    def vision_threshold(self, bundle_threshold: float) -> float:
        """The calibrated confidence at or above which a photo is answered on the device."""
        configured = self.vision_confidence_threshold
        return configured if configured is not None else bundle_threshold


class ClientOptions(TypedDict, total=False):
    """The optional keyword settings of :class:`EdgeClient` and :meth:`AsyncEdgeClient.open`.

    Each is the :class:`EdgeClientConfig` field of the same name; ``None`` (or leaving it out) takes the
    field's default.
    """

    confidence_threshold: float | None
    vision_confidence_threshold: float | None
    timeout_s: float
    device_id: str | None
    intra_op_threads: int
    install_dir: str | Path | None
    retry: RetryPolicy | None
    breaker_failures: int
    breaker_reset_s: float
    api_key: str | None


def config_from_arguments(
    bundle_dir: str | Path,
    cluster_url: str,
    trusted_keys: Sequence[TrustedKey],
    outbox_dir: str | Path,
    options: ClientOptions,
) -> EdgeClientConfig:
    """The one place the clients' keyword arguments become an :class:`EdgeClientConfig`."""
    known = {f.name for f in fields(EdgeClientConfig)} & set(ClientOptions.__annotations__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise EdgeError(f"unknown client options {unknown}; the options are {sorted(known)}")
    given = {name: value for name, value in options.items() if value is not None and name != "install_dir"}
    install_dir = options.get("install_dir")
    return EdgeClientConfig(
        bundle_dir=Path(bundle_dir),
        cluster_url=cluster_url.rstrip("/"),
        trusted_keys=tuple(trusted_keys),
        outbox_dir=Path(outbox_dir),
        install_dir=Path(install_dir) if install_dir is not None else None,
        **given,  # type: ignore[arg-type]
    )
