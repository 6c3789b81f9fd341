"""Export published versions from the model registry (the intent member and, optionally, the vision member), so
one version id names each on the device too."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.export.bundle_writer import BundleInfo, export_intent
from edge.export.cascade import DEFAULT_MAX_LOSS, Calibration
from edge.export.errors import ExportError
from edge.export.signing import BundleSigner
from edge.export.vision_bundle import VisionExport
from edge.runtime.oos import OosScore
from ensemble.errors import DataError
from ensemble.intent_ensemble.artifact import ENSEMBLE_MEMBER, load_intent_ensemble
from ensemble.members.intent import predict_proba
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry
from ensemble.vision.artifact import MEMBER as VISION_MEMBER
from ensemble.vision.artifact import vision_from_artifact
from ensemble.vision.data import decode_photos, load_grocery

logger = logging.getLogger(__name__)

__all__ = ["cluster_calibration", "export_registry_version", "vision_export_from_registry"]


def cluster_calibration(
    registry: Registry,
    version_id: str,
    texts: Sequence[str],
    *,
    max_loss: float = DEFAULT_MAX_LOSS,
    oos_score: OosScore | None = None,
) -> Calibration:
    """The cluster's answers to ``texts`` for a version: the fused intent ensemble built on it (the newest, as
    the cluster serves it), else the intent member itself. With ``oos_score`` the export also fits on-device
    out-of-scope detection on ``texts``."""
    for candidate in reversed(registry.list(ENSEMBLE_MEMBER)):
        if registry.load(ENSEMBLE_MEMBER, candidate.id).config.get("intent_version") == version_id:
            ensemble = load_intent_ensemble(registry, candidate.id)
            best = ensemble.predict_proba(texts).argmax(axis=1)
            intents = [ensemble.labels[int(i)] for i in best]
            return Calibration(
                texts, intents, teacher=f"{candidate.id} (fusion)", max_loss=max_loss, oos_score=oos_score
            )
    model, _ = load_intent(registry, version_id)
    best_member = predict_proba(model, texts).argmax(dim=1).tolist()
    intents = [model.labels[int(i)] for i in best_member]
    return Calibration(texts, intents, teacher=f"{version_id} (torch fp32)", max_loss=max_loss, oos_score=oos_score)


def export_registry_version(
    registry: Registry,
    out_dir: str | Path,
    *,
    signer: BundleSigner,
    version: str | None = None,
    calibration_texts: Sequence[str] | None = None,
    max_loss: float = DEFAULT_MAX_LOSS,
    oos_score: OosScore | None = None,
    **options: Any,
) -> BundleInfo:
    """Load a verified intent version (the newest when ``version`` is None) and export it with its version id.

    With ``calibration_texts`` (validation texts, never test texts) the escalation threshold is fitted to lose
    at most ``max_loss`` accuracy against the cluster's answers (:func:`cluster_calibration`), and with
    ``oos_score`` out-of-scope detection is fitted on them too. ``options`` are
    passed to :func:`export_intent` (sequence, rollback, quantize, confidence_threshold, probe_texts, atol,
    overwrite).
    """
    model, artifact = load_intent(registry, version)
    version_id = artifact.version.id
    if calibration_texts is not None:
        options["calibration"] = cluster_calibration(
            registry, version_id, calibration_texts, max_loss=max_loss, oos_score=oos_score
        )
    logger.info("exporting registry version %s to %s", version_id, out_dir)
    return export_intent(model, out_dir, version_id=version_id, signer=signer, **options)


def vision_export_from_registry(
    registry: Registry,
    version: str | None = None,
    *,
    images_dir: Path | None = None,
    labels: Path | None = None,
    **options: Any,
) -> VisionExport:
    """A verified vision version (the newest when ``version`` is None) with its photo splits, ready to join a
    bundle: int8 calibration on ``train``, the escalation threshold on ``val``, validation on ``test``.

    The photos are those the version was trained on (its lineage names the photo table and folder) unless
    ``labels`` (a table with the data set's ``images.csv`` columns) and ``images_dir`` are given. ``options``
    are the optional fields of :class:`VisionExport`.
    """
    artifact = registry.load(VISION_MEMBER, version)
    predictor = vision_from_artifact(artifact)
    details = artifact.lineage.details
    table = labels if labels is not None else _lineage_path(details, "labels", artifact.version.id)
    folder = images_dir if images_dir is not None else _lineage_path(details, "images", artifact.version.id)
    try:
        data = load_grocery(folder, table, catalogue=predictor.catalogue)
        size = predictor.config.cache_size
        splits = {name: decode_photos(data, name, size) for name in ("train", "val", "test")}
    except DataError as err:
        raise ExportError(
            f"cannot read the photos of {artifact.version.id} ({err}); pass the photo table and folder it was "
            "trained on (--vision-labels FILE.csv --vision-images DIR)"
        ) from err
    logger.info("exporting vision version %s with photos from %s", artifact.version.id, table)
    return VisionExport.from_predictor(
        predictor,
        artifact.version.id,
        calibration=splits["train"],
        threshold_photos=splits["val"],
        test=splits["test"],
        **options,
    )


def _lineage_path(details: dict[str, Any], key: str, version_id: str) -> Path:
    value = details.get(key)
    if not isinstance(value, str) or not value:
        raise ExportError(
            f"the lineage of {version_id} names no photo {key!r}; pass --vision-labels FILE.csv --vision-images DIR"
        )
    return Path(value)
