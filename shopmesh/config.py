"""The command line's configuration: where a workspace keeps its registry, graph, bundles and runtime state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = ".shopmesh"


@dataclass(frozen=True)
class Workspace:
    """Every path the CLI reads or writes, derived from one root (``--home``, ``SHOPMESH_HOME`` or ./.shopmesh)."""

    root: Path

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def graph(self) -> Path:
        return self.root / "graph"

    @property
    def bundles(self) -> Path:
        return self.root / "bundles"

    @property
    def federation(self) -> Path:
        return self.root / "federation"

    @property
    def outbox(self) -> Path:
        return self.root / "edge-outbox"

    @property
    def ray_tmp(self) -> Path:
        # Ray's socket paths must stay short, so its temp dir lives under /tmp unless RAY_TMPDIR says otherwise.
        return Path(os.environ.get("RAY_TMPDIR", "/tmp/shopmesh-ray"))

    @property
    def signing_key_file(self) -> Path:
        return self.root / "edge-signing.ed25519.pem"  # the platform's private key; owner-only


def workspace_from(home: str | None) -> Workspace:
    """The workspace named on the command line, else by SHOPMESH_HOME, else ./.shopmesh."""
    root = home or os.environ.get("SHOPMESH_HOME") or DEFAULT_HOME
    return Workspace(Path(root).resolve())
