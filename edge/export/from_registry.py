"""Export a published intent version from the model registry, so one version id names it on the device too."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edge.export.bundle_writer import BundleInfo, export_intent
from edge.export.signing import BundleSigner
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry

logger = logging.getLogger(__name__)

__all__ = ["export_registry_version"]


def export_registry_version(
    registry: Registry,
    out_dir: str | Path,
    *,
    signer: BundleSigner,
    version: str | None = None,
    **options: Any,
) -> BundleInfo:
    """Load a verified intent version (the newest when ``version`` is None) and export it with its version id.

    ``options`` are passed to :func:`export_intent` (sequence, rollback, quantize, confidence_threshold,
    probe_texts, atol, overwrite).
    """
    model, artifact = load_intent(registry, version)
    version_id = artifact.version.id
    logger.info("exporting registry version %s to %s", version_id, out_dir)
    return export_intent(model, out_dir, version_id=version_id, signer=signer, **options)
