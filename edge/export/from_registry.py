"""Export a published intent version from the model registry, so one version id names it on the device too."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.export.bundle_writer import BundleInfo, export_intent
from edge.export.cascade import DEFAULT_MAX_LOSS, Calibration
from edge.export.signing import BundleSigner
from ensemble.intent_ensemble.artifact import ENSEMBLE_MEMBER, load_intent_ensemble
from ensemble.members.intent import predict_proba
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry

logger = logging.getLogger(__name__)

__all__ = ["cluster_calibration", "export_registry_version"]


def cluster_calibration(
    registry: Registry, version_id: str, texts: Sequence[str], *, max_loss: float = DEFAULT_MAX_LOSS
) -> Calibration:
    """The cluster's answers to ``texts`` for a version: the fused intent ensemble built on it (the newest, as
    the cluster serves it), else the intent member itself."""
    for candidate in reversed(registry.list(ENSEMBLE_MEMBER)):
        if registry.load(ENSEMBLE_MEMBER, candidate.id).config.get("intent_version") == version_id:
            ensemble = load_intent_ensemble(registry, candidate.id)
            best = ensemble.predict_proba(texts).argmax(axis=1)
            intents = [ensemble.labels[int(i)] for i in best]
            return Calibration(texts, intents, teacher=f"{candidate.id} (fusion)", max_loss=max_loss)
    model, _ = load_intent(registry, version_id)
    best_member = predict_proba(model, texts).argmax(dim=1).tolist()
    intents = [model.labels[int(i)] for i in best_member]
    return Calibration(texts, intents, teacher=f"{version_id} (torch fp32)", max_loss=max_loss)


def export_registry_version(
    registry: Registry,
    out_dir: str | Path,
    *,
    signer: BundleSigner,
    version: str | None = None,
    calibration_texts: Sequence[str] | None = None,
    max_loss: float = DEFAULT_MAX_LOSS,
    **options: Any,
) -> BundleInfo:
    """Load a verified intent version (the newest when ``version`` is None) and export it with its version id.

    With ``calibration_texts`` (validation texts, never test texts) the escalation threshold is fitted to lose
    at most ``max_loss`` accuracy against the cluster's answers (:func:`cluster_calibration`). ``options`` are
    passed to :func:`export_intent` (sequence, rollback, quantize, confidence_threshold, probe_texts, atol,
    overwrite).
    """
    model, artifact = load_intent(registry, version)
    version_id = artifact.version.id
    if calibration_texts is not None:
        options["calibration"] = cluster_calibration(registry, version_id, calibration_texts, max_loss=max_loss)
    logger.info("exporting registry version %s to %s", version_id, out_dir)
    return export_intent(model, out_dir, version_id=version_id, signer=signer, **options)
