"""Validate the vision graphs against the torch member on labelled photos (after Optimum's validate_model_outputs).

Two checks: the fp32 ONNX graph must reproduce torch's logits within ``atol`` (else the export is wrong:
:class:`ParityError`); the int8 graph, run one photo at a time as a device runs it, may lose at most
``max_accuracy_loss`` of fine or coarse accuracy against torch (else :class:`QuantizationLossError`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from edge.export.errors import ExportError, ParityError, QuantizationLossError
from edge.export.vision_onnx import FloatArray, ort_vision_logits, torch_vision_logits
from edge.runtime.inference import softmax
from ensemble.vision.model import VisionModel

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_ACCURACY_LOSS",
    "DEFAULT_VISION_ATOL",
    "VisionValidationReport",
    "check_quantization_loss",
    "validate_vision_graphs",
]

DEFAULT_VISION_ATOL = 1e-3  # fp32 ONNX vs torch logits; measured ~1e-5 (convolution order differs)
DEFAULT_MAX_ACCURACY_LOSS = 0.01  # at most one accuracy point lost to int8, fine or coarse


@dataclass(frozen=True)
class VisionValidationReport:
    """Figures of one validation run; every figure was computed on ``n_photos`` labelled photos."""

    n_photos: int
    atol: float
    fp32_max_abs_diff: float  # fp32 ONNX vs torch logits
    int8_max_abs_diff: float  # int8 ONNX vs torch logits
    int8_agreement: float  # share of photos where int8 and torch pick the same class
    torch_accuracy_fine: float
    int8_accuracy_fine: float
    torch_accuracy_coarse: float
    int8_accuracy_coarse: float
    max_accuracy_loss: float
    quantization: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coarse_best(logits: FloatArray, temperature: float, fine_to_coarse: list[int]) -> npt.NDArray[np.int64]:
    """The coarse class whose fine classes' calibrated probabilities sum highest, as the member decides: [N]."""
    probs = softmax(logits / np.float32(temperature))  # [N, C]
    mapping = np.zeros((len(fine_to_coarse), max(fine_to_coarse) + 1), dtype=np.float32)  # [C, K] one-hot
    mapping[np.arange(len(fine_to_coarse)), fine_to_coarse] = 1.0
    best: npt.NDArray[np.int64] = (probs @ mapping).argmax(axis=1)
    return best


def check_quantization_loss(report: VisionValidationReport) -> None:
    """Raise :class:`QuantizationLossError` when int8 loses more accuracy than the report's tolerance."""
    losses = {
        "fine": report.torch_accuracy_fine - report.int8_accuracy_fine,
        "coarse": report.torch_accuracy_coarse - report.int8_accuracy_coarse,
    }
    worst = max(losses, key=lambda name: losses[name])
    if losses[worst] > report.max_accuracy_loss + 1e-12:
        raise QuantizationLossError(
            f"int8 vision model loses {100 * losses[worst]:.2f} points of {worst} accuracy against torch on "
            f"{report.n_photos} photos (torch {report.torch_accuracy_fine:.4f} / {report.torch_accuracy_coarse:.4f}, "
            f"int8 {report.int8_accuracy_fine:.4f} / {report.int8_accuracy_coarse:.4f} fine / coarse), more than "
            f"the tolerance of {100 * report.max_accuracy_loss:.2f} points: calibrate on more train photos, or pass "
            "a larger max_accuracy_loss knowingly"
        )


def validate_vision_graphs(
    model: VisionModel,
    fp32_path: Path,
    int8_path: Path,
    inputs: FloatArray,
    fine: npt.NDArray[np.int64],
    fine_to_coarse: list[int],
    *,
    temperature: float,
    atol: float = DEFAULT_VISION_ATOL,
    max_accuracy_loss: float = DEFAULT_MAX_ACCURACY_LOSS,
    quantization: str,
) -> VisionValidationReport:
    """Compare both graphs with ``model`` on network ``inputs`` [N, 3, R, R] whose fine classes are ``fine``."""
    if len(inputs) == 0 or len(inputs) != len(fine):
        raise ExportError(f"validation needs one label per photo and at least one photo: {len(fine)} vs {len(inputs)}")
    if not 0.0 <= max_accuracy_loss <= 1.0:
        raise ExportError(f"max_accuracy_loss must lie in [0, 1], got {max_accuracy_loss}")
    reference = torch_vision_logits(model, inputs)  # [N, C]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    fp32 = ort.InferenceSession(str(fp32_path), sess_options=options, providers=["CPUExecutionProvider"])
    fp32_diff = float(np.abs(ort_vision_logits(fp32, inputs, batch_size=32) - reference).max())
    if not fp32_diff <= atol:
        raise ParityError(
            f"fp32 vision ONNX logits differ from torch by {fp32_diff:.3g} (> atol {atol:g}) on {len(inputs)} "
            "photos; the export is wrong: do not ship this bundle"
        )
    int8 = ort.InferenceSession(str(int8_path), sess_options=options, providers=["CPUExecutionProvider"])
    device = ort_vision_logits(int8, inputs)  # [N, C], one photo at a time
    coarse_of = np.asarray(fine_to_coarse)
    ref_best, dev_best = reference.argmax(axis=1), device.argmax(axis=1)
    ref_coarse, dev_coarse = (_coarse_best(x, temperature, fine_to_coarse) for x in (reference, device))
    report = VisionValidationReport(
        n_photos=len(inputs),
        atol=atol,
        fp32_max_abs_diff=fp32_diff,
        int8_max_abs_diff=float(np.abs(device - reference).max()),
        int8_agreement=float((ref_best == dev_best).mean()),
        torch_accuracy_fine=float((ref_best == fine).mean()),
        int8_accuracy_fine=float((dev_best == fine).mean()),
        torch_accuracy_coarse=float((ref_coarse == coarse_of[fine]).mean()),
        int8_accuracy_coarse=float((dev_coarse == coarse_of[fine]).mean()),
        max_accuracy_loss=max_accuracy_loss,
        quantization=quantization,
    )
    logger.info("validated the vision graphs: %s", report)
    check_quantization_loss(report)
    return report
