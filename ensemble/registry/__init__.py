"""The model registry: versioned, verified artifacts of every ensemble member, with their lineage."""

from __future__ import annotations

from ensemble.registry.lineage import Lineage, LineageMethod, fingerprint_file, fingerprint_frame
from ensemble.registry.manifest import MANIFEST_NAME
from ensemble.registry.store import (
    CONFIG_NAME,
    LINEAGE_NAME,
    METRICS_NAME,
    WEIGHTS_NAME,
    LoadedArtifact,
    ModelVersion,
    Registry,
)

__all__ = [
    "CONFIG_NAME",
    "LINEAGE_NAME",
    "MANIFEST_NAME",
    "METRICS_NAME",
    "WEIGHTS_NAME",
    "Lineage",
    "LineageMethod",
    "LoadedArtifact",
    "ModelVersion",
    "Registry",
    "fingerprint_file",
    "fingerprint_frame",
]
