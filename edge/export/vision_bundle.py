"""The vision member's part of an edge bundle: int8 graph, catalogue, calibration and escalation threshold.

:func:`write_vision` runs inside the bundle writer's staging folder; what it writes is pinned and signed with
the rest of the bundle (:mod:`edge.runtime.vision_spec` describes the files).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from edge.export.cascade import DEFAULT_MAX_LOSS, fit_threshold
from edge.export.errors import ExportError
from edge.export.vision_onnx import (
    VISION_QUANTIZATION,
    export_vision_fp32,
    network_inputs,
    ort_vision_logits,
    preprocessing_of,
    quantize_vision_int8,
    torch_vision_logits,
)
from edge.export.vision_validation import (
    DEFAULT_MAX_ACCURACY_LOSS,
    DEFAULT_VISION_ATOL,
    VisionValidationReport,
    validate_vision_graphs,
)
from edge.runtime.inference import softmax
from edge.runtime.threshold import ThresholdFit
from edge.runtime.vision_spec import VISION_CATALOGUE_FILE, VISION_MODEL_FILE, VisionSpec
from ensemble.vision.config import VisionConfig
from ensemble.vision.data import Catalogue, ImageSet
from ensemble.vision.model import VisionModel
from ensemble.vision.predictor import VisionPredictor

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_CALIBRATION_PHOTOS", "VisionExport", "VisionPart", "catalogue_records", "write_vision"]

DEFAULT_CALIBRATION_PHOTOS = 256


@dataclass(frozen=True)
class VisionExport:
    """What the bundle writer needs to add a vision version: the member's network (its temperature inside),
    configuration, catalogue and out-of-catalogue threshold, and three disjoint photo splits.

    ``calibration`` (train photos) sets the int8 activation ranges; ``threshold_photos`` (validation photos)
    fit the escalation threshold against the torch member, which is what the cluster serves; ``test`` photos
    validate the graphs. ``confidence_threshold`` replaces the fitted threshold when given. Build it from a
    registry version's predictor with :meth:`from_predictor`.
    """

    model: VisionModel
    config: VisionConfig
    catalogue: Catalogue
    ooc_threshold: float
    version_id: str
    calibration: ImageSet
    threshold_photos: ImageSet
    test: ImageSet
    calibration_photos: int = DEFAULT_CALIBRATION_PHOTOS
    max_loss: float = DEFAULT_MAX_LOSS
    max_accuracy_loss: float = DEFAULT_MAX_ACCURACY_LOSS
    atol: float = DEFAULT_VISION_ATOL
    confidence_threshold: float | None = None

    @classmethod
    def from_predictor(
        cls,
        predictor: VisionPredictor,
        version_id: str,
        *,
        calibration: ImageSet,
        threshold_photos: ImageSet,
        test: ImageSet,
        **options: Any,
    ) -> VisionExport:
        """The export of a fitted member (``options``: the optional fields of this class)."""
        return cls(
            predictor.model,
            predictor.config,
            predictor.catalogue,
            predictor.ooc_threshold,
            version_id,
            calibration,
            threshold_photos,
            test,
            **options,
        )


@dataclass(frozen=True)
class VisionPart:
    """What :func:`write_vision` added to a bundle."""

    spec: VisionSpec
    report: VisionValidationReport
    model_size_bytes: int  # int8 vision.onnx
    fp32_size_bytes: int


def catalogue_records(catalogue: Catalogue) -> list[dict[str, object]]:
    """The catalogue in the model's output order, as the device answers with it (no photos travel): the
    version's own records (:meth:`Catalogue.to_records`) with ``description_en`` named ``description``."""
    return [
        {("description" if key == "description_en" else key): value for key, value in record.items()}
        for record in catalogue.to_records()
    ]


def _calibration_sample(images: ImageSet, count: int) -> torch.Tensor:
    """Up to ``count`` train photos, spread over the classes (round-robin over each class's photos, seeded)."""
    if count < 1:
        raise ExportError(f"calibration_photos must be at least 1, got {count}")
    rng = np.random.default_rng(0)
    labels = images.fine.numpy()
    per_class = [rng.permutation(np.flatnonzero(labels == c)).tolist() for c in np.unique(labels)]
    order: list[int] = []
    while len(order) < min(count, len(labels)):
        for rows in per_class:
            if rows and len(order) < count:
                order.append(rows.pop())
    return images.pixels[np.asarray(order)]


def _fit_threshold(export: VisionExport, int8_path: Path) -> ThresholdFit:
    """The lowest threshold whose share of validation photos answered otherwise than torch stays in max_loss."""
    inputs = network_inputs(export.threshold_photos.pixels, export.config.image_size)
    teacher = torch_vision_logits(export.model, inputs).argmax(axis=1)
    session = ort.InferenceSession(str(int8_path), providers=["CPUExecutionProvider"])
    probs = softmax(ort_vision_logits(session, inputs) / np.float32(export.model.temperature.item()))
    names = export.catalogue.names
    fit = fit_threshold(
        probs.max(axis=1),
        [names[int(i)] for i in probs.argmax(axis=1)],
        [names[int(i)] for i in teacher],
        max_loss=export.max_loss,
        teacher_name=f"{export.version_id} (torch fp32)",
    )
    logger.info(
        "vision escalation threshold %.4f: %.1f %% of %s validation photos on device, %.2f %% otherwise than %s",
        fit.threshold,
        100 * fit.device_share,
        fit.n_texts,
        100 * fit.disagreement,
        fit.teacher,
    )
    return fit


def write_vision(staging: Path, export: VisionExport) -> VisionPart:
    """Export, quantize and validate the vision member into ``staging``; returns the manifest's vision entry."""
    config = export.config
    if export.confidence_threshold is not None and not 0.0 <= export.confidence_threshold <= 1.0:
        raise ExportError(f"vision confidence_threshold must lie in [0, 1], got {export.confidence_threshold}")
    if len(export.test) == 0 or len(export.threshold_photos) == 0:
        raise ExportError("the vision export needs test photos to validate on and validation photos to fit on")
    temperature = float(export.model.temperature.item())
    with tempfile.TemporaryDirectory(prefix="vision-fp32-") as scratch:
        fp32 = export_vision_fp32(export.model, Path(scratch) / "vision.fp32.onnx", config.image_size)
        calibration = network_inputs(
            _calibration_sample(export.calibration, export.calibration_photos), config.image_size
        )
        int8 = quantize_vision_int8(fp32, staging / VISION_MODEL_FILE, calibration)
        report = validate_vision_graphs(
            export.model,
            fp32.path,
            int8.path,
            network_inputs(export.test.pixels, config.image_size),
            export.test.fine.numpy(),
            export.catalogue.fine_to_coarse,
            temperature=temperature,
            atol=export.atol,
            max_accuracy_loss=export.max_accuracy_loss,
            quantization=VISION_QUANTIZATION,
        )
    (staging / VISION_CATALOGUE_FILE).write_text(
        json.dumps(catalogue_records(export.catalogue), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    fit = _fit_threshold(export, int8.path) if export.confidence_threshold is None else None
    spec = VisionSpec(
        version_id=export.version_id,
        opset=int8.opset,
        quantization=VISION_QUANTIZATION,
        preprocessing=preprocessing_of(config),
        temperature=temperature,
        ooc_threshold=export.ooc_threshold,
        confidence_threshold=fit.threshold if fit is not None else float(export.confidence_threshold or 0.0),
        threshold_fit=fit,
    )
    return VisionPart(spec=spec, report=report, model_size_bytes=int8.size_bytes, fp32_size_bytes=fp32.size_bytes)
