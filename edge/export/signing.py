"""The platform's Ed25519 bundle signer: holds the private key that devices never see."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.export.errors import SigningKeyError
from edge.runtime.trust import TrustedKey

logger = logging.getLogger(__name__)

__all__ = ["BundleSigner"]

_OWNER_ONLY = 0o600


class BundleSigner:
    """Signs manifests with one Ed25519 private key; :attr:`trusted_key` is what devices are given."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.trusted_key = TrustedKey.from_bytes(raw)

    def __repr__(self) -> str:  # never print key material
        return f"BundleSigner(key_id={self.key_id!r})"

    @property
    def key_id(self) -> str:
        return self.trusted_key.key_id

    @classmethod
    def generate(cls) -> BundleSigner:
        return cls(Ed25519PrivateKey.generate())

    def sign(self, message: bytes) -> str:
        """Hex Ed25519 signature of ``message``."""
        return self._private_key.sign(message).hex()

    def save(self, path: Path) -> None:
        """Write the private key as PKCS#8 PEM, readable by the owner only, atomically."""
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".tmp")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _OWNER_ONLY)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(staging, path)

    @classmethod
    def load(cls, path: Path) -> BundleSigner:
        """Read a private key written by :meth:`save`; refuse one that others may read."""
        try:
            mode = path.stat().st_mode & 0o777
            pem = path.read_bytes()
        except OSError as err:
            raise SigningKeyError(f"cannot read the signing key {path}: {err}") from err
        if mode & 0o077:
            raise SigningKeyError(
                f"signing key {path} has mode {mode:o}, readable by others; run `chmod 600 {path}` "
                "(and rotate the key if others may have read it)"
            )
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as err:
            raise SigningKeyError(f"{path} is not an unencrypted PEM private key ({err}); restore it") from err
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(f"{path} holds a {type(key).__name__}, not an Ed25519 key; generate a new one")
        return cls(key)
