"""The platform's edge-bundle signing key, kept in the workspace; devices get only its public key."""

from __future__ import annotations

import logging

from edge.export import BundleSigner
from edge.runtime import TrustedKey
from shopmesh.config import Workspace

logger = logging.getLogger(__name__)

__all__ = ["bundle_signer", "trusted_keys"]


def bundle_signer(workspace: Workspace) -> BundleSigner:
    """The workspace's Ed25519 signer, its private key created on first use (owner read/write only)."""
    path = workspace.signing_key_file
    if not path.exists():
        BundleSigner.generate().save(path)
        logger.debug("created the edge signing key %s", path)
    return BundleSigner.load(path)


def trusted_keys(workspace: Workspace) -> tuple[TrustedKey, ...]:
    """The public keys a device of this workspace trusts: the signer's."""
    return (bundle_signer(workspace).trusted_key,)
