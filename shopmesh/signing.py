"""The operator's edge-bundle signing key, kept in the workspace."""

from __future__ import annotations

import secrets

from shopmesh.config import Workspace

KEY_BYTES = 32


def signing_key(workspace: Workspace) -> bytes:
    """The workspace's HMAC key for edge bundles, created on first use (owner read/write only)."""
    path = workspace.signing_key_file
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_name(path.name + ".tmp")
        staging.write_bytes(secrets.token_bytes(KEY_BYTES))
        staging.chmod(0o600)
        staging.replace(path)
    return path.read_bytes()
