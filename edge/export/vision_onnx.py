"""torch -> fp32 ONNX for the vision member, then static int8 (QDQ, per-channel weights) calibrated on photos.

The graph takes the network's input, ``pixels`` float32 [B, 3, R, R] already resized and normalised, and gives
the head's uncalibrated logits [B, C]; the bundle's manifest carries the temperature and the preprocessing.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn
from torch.export import Dim

from edge.export.errors import ExportError
from edge.export.onnx_graph import OPSET, OnnxGraph, opset_of
from edge.runtime.vision_spec import VISION_INPUT, VISION_OUTPUT, Preprocessing
from ensemble.vision.augment import INPUT_MEAN, INPUT_STD, resize_batch
from ensemble.vision.config import VisionConfig
from ensemble.vision.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from ensemble.vision.model import VisionModel

logger = logging.getLogger(__name__)

__all__ = [
    "VISION_QUANTIZATION",
    "export_vision_fp32",
    "network_inputs",
    "ort_vision_logits",
    "preprocessing_of",
    "quantize_vision_int8",
    "torch_vision_logits",
]

VISION_QUANTIZATION = "int8-static-qdq-per-channel"
_BATCH = 64

FloatArray = npt.NDArray[np.float32]


class _UncalibratedLogits(nn.Module):
    """The member's network without its temperature: [B, 3, R, R] -> [B, C]."""

    def __init__(self, model: VisionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.classify(self.model.embed(pixels))


def preprocessing_of(config: VisionConfig) -> Preprocessing:
    """The member's photo -> input steps (``ensemble.vision.data.image_to_tensor`` then ``resize_batch``)."""
    return Preprocessing(
        cache_size=config.cache_size,
        image_size=config.image_size,
        mean=(INPUT_MEAN, INPUT_MEAN, INPUT_MEAN),
        std=(INPUT_STD, INPUT_STD, INPUT_STD),
        max_pixels=MAX_IMAGE_PIXELS,
        max_bytes=MAX_IMAGE_BYTES,
    )


def network_inputs(pixels: torch.Tensor, image_size: int) -> FloatArray:
    """Decoded uint8 photos [N, 3, S, S] -> the network's input [N, 3, R, R] as the torch member computes it."""
    chunks = [resize_batch(pixels[i : i + _BATCH], image_size).numpy() for i in range(0, len(pixels), _BATCH)]
    return np.concatenate(chunks).astype(np.float32)


def export_vision_fp32(model: VisionModel, path: Path, image_size: int) -> OnnxGraph:
    """Export the uncalibrated logits as one fp32 ONNX file (opset :data:`OPSET`) with a dynamic batch axis, with
    the torch.export-based exporter (``dynamo=True``) as the intent export."""
    wrapper = _UncalibratedLogits(model)
    was_training = model.training
    wrapper.eval()  # the outermost module, so that dropout and batch-norm stay in inference mode
    example = torch.zeros((2, 3, image_size, image_size))
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Notices from the exporter's internals that say nothing about this model's graph.
            warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used", category=UserWarning)
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`", category=FutureWarning)
            torch.onnx.export(
                wrapper,
                (example,),
                str(path),
                dynamo=True,
                external_data=False,
                verbose=False,
                opset_version=OPSET,
                input_names=[VISION_INPUT],
                output_names=[VISION_OUTPUT],
                dynamic_shapes={"pixels": {0: Dim("batch")}},
            )
    except Exception as err:  # the exporter raises many unrelated types; all mean the same to the caller
        raise ExportError(f"torch.onnx.export of the vision model to {path} failed: {err}") from err
    finally:
        model.train(was_training)
    graph = OnnxGraph(path=path, opset=opset_of(path), size_bytes=path.stat().st_size)
    logger.info("exported fp32 vision ONNX %s (%.1f MB, opset %s)", path, graph.size_bytes / 1e6, graph.opset)
    return graph


class _PhotoReader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no type hints
    """Feeds calibration photos to ONNX Runtime's quantizer one at a time, as a device runs them."""

    def __init__(self, inputs: FloatArray) -> None:
        self._inputs = inputs
        self._rows: Iterator[int] = iter(range(len(inputs)))

    def get_next(self) -> dict[str, FloatArray] | None:
        row = next(self._rows, None)
        return None if row is None else {VISION_INPUT: self._inputs[row : row + 1]}

    def rewind(self) -> None:
        self._rows = iter(range(len(self._inputs)))


def quantize_vision_int8(fp32: OnnxGraph, path: Path, calibration: FloatArray) -> OnnxGraph:
    """Static int8 quantization in QDQ form: weights per output channel (int8), activations (uint8) with ranges
    observed on ``calibration`` inputs [N, 3, R, R]; the graph is first prepared by ORT's quant_pre_process
    (symbolic shape inference and constant folding)."""
    if len(calibration) == 0:
        raise ExportError("static int8 quantization needs calibration photos; pass some train photos")
    with tempfile.TemporaryDirectory(prefix="vision-quant-") as scratch:
        prepared = Path(scratch) / "model.pre.onnx"
        try:
            quant_pre_process(str(fp32.path), str(prepared), skip_symbolic_shape=False)
            quantize_static(
                str(prepared),
                str(path),
                _PhotoReader(calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
            )
        except Exception as err:  # onnxruntime.quantization raises plain Exceptions and onnx errors
            raise ExportError(f"static int8 quantization of {fp32.path} failed: {err}") from err
    graph = OnnxGraph(path=path, opset=opset_of(path), size_bytes=path.stat().st_size)
    logger.info("quantized %s -> %s (%.1f MB, %s photos)", fp32.path, path, graph.size_bytes / 1e6, len(calibration))
    return graph


@torch.no_grad()
def torch_vision_logits(model: VisionModel, inputs: FloatArray) -> FloatArray:
    """The torch member's uncalibrated logits [N, C] on network inputs [N, 3, R, R], in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        chunks = [
            model.classify(model.embed(torch.from_numpy(inputs[i : i + _BATCH]))).numpy()
            for i in range(0, len(inputs), _BATCH)
        ]
    finally:
        model.train(was_training)
    return np.concatenate(chunks).astype(np.float32)


def ort_vision_logits(session: ort.InferenceSession, inputs: FloatArray, batch_size: int = 1) -> FloatArray:
    """An ONNX Runtime session's logits [N, C]; one photo at a time by default, as a device classifies."""
    chunks = [
        session.run([VISION_OUTPUT], {VISION_INPUT: inputs[i : i + batch_size]})[0]
        for i in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(chunks).astype(np.float32)
