"""Ed25519 public keys a device trusts, and verification of a bundle manifest's signature.

The platform keeps the private key; a device holds only public keys. Each manifest names the ``key_id`` that
signed it, so a device can trust several keys at once: rotation ships the new public key to devices first, then
signs new bundles with the new key, then drops the old key from the trusted list.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.runtime.errors import BundleSignatureError, TrustError

logger = logging.getLogger(__name__)

__all__ = ["PUBLIC_KEY_BYTES", "SIGNATURE_BYTES", "TrustStore", "TrustedKey", "key_id_of"]

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
_KEY_ID_HEX = 16


def key_id_of(public_key: bytes) -> str:
    """The id of a raw 32-byte Ed25519 public key: the first 16 hex digits of its sha256."""
    return hashlib.sha256(public_key).hexdigest()[:_KEY_ID_HEX]


@dataclass(frozen=True)
class TrustedKey:
    """One Ed25519 public key a device accepts bundle signatures from."""

    key_id: str
    public_key: bytes  # raw, 32 bytes

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_BYTES:
            raise TrustError(
                f"an Ed25519 public key has {PUBLIC_KEY_BYTES} bytes, got {len(self.public_key)}; "
                "pass the platform's public key (e.g. `shopmesh edge public-key`)"
            )
        if self.key_id != key_id_of(self.public_key):
            raise TrustError(
                f"key id {self.key_id!r} does not belong to this public key (its id is "
                f"{key_id_of(self.public_key)!r}); build it with TrustedKey.from_bytes"
            )

    @classmethod
    def from_bytes(cls, public_key: bytes) -> TrustedKey:
        return cls(key_id=key_id_of(public_key), public_key=bytes(public_key))

    @classmethod
    def parse(cls, text: str) -> TrustedKey:
        """A key from 64 hex digits or a ``PUBLIC KEY`` PEM block; a private key is refused."""
        stripped = text.strip()
        if "PRIVATE KEY" in stripped:
            raise TrustError(
                "this is a private key; a device takes only public keys: pass the platform's public key and "
                "keep the private key on the platform"
            )
        if stripped.startswith("-----BEGIN PUBLIC KEY-----"):
            try:
                loaded = serialization.load_pem_public_key(stripped.encode("ascii"))
            except ValueError as err:
                raise TrustError(f"cannot read the PEM public key ({err}); pass an Ed25519 public key") from err
            if not isinstance(loaded, Ed25519PublicKey):
                raise TrustError(f"the PEM key is a {type(loaded).__name__}, not Ed25519; pass an Ed25519 key")
            raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return cls.from_bytes(raw)
        try:
            raw = bytes.fromhex(stripped)
        except ValueError as err:
            raise TrustError(
                f"public key {stripped[:20]!r}... is neither 64 hex digits nor a PEM public key; "
                "pass the platform's public key"
            ) from err
        return cls.from_bytes(raw)

    def hex(self) -> str:
        return self.public_key.hex()


class TrustStore:
    """The public keys a device trusts, by key id."""

    def __init__(self, keys: Iterable[TrustedKey]) -> None:
        self._keys: dict[str, TrustedKey] = {}
        for key in keys:
            if not isinstance(key, TrustedKey):
                raise TrustError(
                    f"trusted keys must be TrustedKey objects (public keys only), got {type(key).__name__}; "
                    "build them with TrustedKey.parse or TrustedKey.from_bytes"
                )
            self._keys[key.key_id] = key
        if not self._keys:
            raise TrustError("no trusted public key given; pass at least the platform's current public key")

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def verify(self, message: bytes, signature_hex: str, key_id: str, source: str) -> None:
        """Raise :class:`BundleSignatureError` unless ``signature_hex`` is ``key_id``'s signature of ``message``."""
        key = self._keys.get(key_id)
        if key is None:
            raise BundleSignatureError(
                f"{source} is signed with key {key_id!r}, which this device does not trust (trusted: "
                f"{list(self._keys)}); add the platform's new public key to the device's trusted keys, or do not "
                "use this bundle"
            )
        try:
            signature = bytes.fromhex(signature_hex)
        except ValueError as err:
            raise BundleSignatureError(f"signature of {source} is not hex ({signature_hex[:16]!r}...)") from err
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, message)
        except InvalidSignature as err:
            raise BundleSignatureError(
                f"signature of {source} does not verify under key {key_id!r}: the bundle was altered or signed "
                "with another key; do not use it, fetch it again from the platform"
            ) from err
