"""The optional vision part of a bundle manifest: which files hold the photo model and its catalogue, how a
photo becomes the model's input, and the calibration that turns its logits into an answer.

The vision model is a second graph beside the intent model::

    vision.onnx             int8 (QDQ, static) graph: pixels float32 [B, 3, R, R] -> logits float32 [B, C]
    vision_catalogue.json   the C catalogue classes in output order (name, coarse class, department, text)

Both files are pinned in the manifest's ``files`` like every other file, so the one signature covers them.
The logits are uncalibrated: the device divides them by ``temperature`` before the softmax.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from edge.runtime.threshold import ThresholdFit, threshold_fit_from

__all__ = [
    "VISION_CATALOGUE_FILE",
    "VISION_INPUT",
    "VISION_MODEL_FILE",
    "VISION_OUTPUT",
    "Preprocessing",
    "VisionSpec",
    "vision_spec_from",
]

VISION_MODEL_FILE = "vision.onnx"
VISION_CATALOGUE_FILE = "vision_catalogue.json"
VISION_INPUT = "pixels"
VISION_OUTPUT = "logits"


@dataclass(frozen=True)
class Preprocessing:
    """Photo -> network input, exactly as the torch member does it.

    The decoded RGB photo is squashed to ``cache_size`` squares with Pillow's ``cache_resample`` filter and
    rounded to uint8 (the member's decoded cache), then resized to ``image_size`` with ``resize`` (bilinear
    with an antialiasing triangle filter as wide as the scale factor, computed in float: torch's
    ``interpolate(..., antialias=True)`` and Pillow's float resize agree), then ``(x - mean) / std`` per
    channel, laid out ``[B, 3, R, R]``. Photos declaring more than ``max_pixels`` or larger than ``max_bytes``
    are refused before decoding.
    """

    cache_size: int
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    cache_resample: str = "bicubic"
    resize: str = "bilinear-antialias"
    layout: str = "NCHW"
    max_pixels: int = 40_000_000
    max_bytes: int = 10 * 1024 * 1024

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data


@dataclass(frozen=True)
class VisionSpec:
    """The vision model of a bundle, as the manifest describes it."""

    version_id: str  # the registry version of the vision member, e.g. "vision:v0003"
    opset: int
    quantization: str  # e.g. "int8-static-qdq-per-channel"
    preprocessing: Preprocessing
    temperature: float  # calibrated probabilities are softmax(logits / temperature)
    ooc_threshold: float  # a calibrated confidence below it flags the photo out of catalogue
    confidence_threshold: float  # the device answers at or above it and escalates the rest
    threshold_fit: ThresholdFit | None = None
    model_file: str = VISION_MODEL_FILE
    catalogue_file: str = VISION_CATALOGUE_FILE
    input_name: str = VISION_INPUT
    output_name: str = VISION_OUTPUT

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocessing"] = self.preprocessing.to_dict()
        return data


def _triple(value: object, name: str) -> tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3:
        raise TypeError(f"preprocessing {name} must list three numbers, got {value!r:.80}")
    first, second, third = (float(v) for v in value)
    return first, second, third


def vision_spec_from(value: object) -> VisionSpec | None:
    """Parse the manifest's ``vision`` entry (absent or null: a text-only bundle); raises TypeError, KeyError or
    ValueError on a malformed one, which the manifest reader turns into a :class:`BundleError`."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"vision must be an object or null, got {value!r:.80}")
    pre = value["preprocessing"]
    if not isinstance(pre, dict):
        raise TypeError(f"vision preprocessing must be an object, got {pre!r:.80}")
    preprocessing = Preprocessing(
        cache_size=int(pre["cache_size"]),
        image_size=int(pre["image_size"]),
        mean=_triple(pre["mean"], "mean"),
        std=_triple(pre["std"], "std"),
        cache_resample=str(pre["cache_resample"]),
        resize=str(pre["resize"]),
        layout=str(pre["layout"]),
        max_pixels=int(pre["max_pixels"]),
        max_bytes=int(pre["max_bytes"]),
    )
    if min(preprocessing.std) <= 0 or preprocessing.image_size < 1 or preprocessing.cache_size < 1:
        raise ValueError(f"vision preprocessing needs positive sizes and std, got {preprocessing}")
    temperature = float(value["temperature"])
    if not temperature > 0:
        raise ValueError(f"vision temperature must be positive, got {temperature}")
    return VisionSpec(
        version_id=str(value["version_id"]),
        opset=int(value["opset"]),
        quantization=str(value["quantization"]),
        preprocessing=preprocessing,
        temperature=temperature,
        ooc_threshold=float(value["ooc_threshold"]),
        confidence_threshold=float(value["confidence_threshold"]),
        threshold_fit=threshold_fit_from(value.get("threshold_fit")),
        model_file=str(value["model_file"]),
        catalogue_file=str(value["catalogue_file"]),
        input_name=str(value["input_name"]),
        output_name=str(value["output_name"]),
    )
