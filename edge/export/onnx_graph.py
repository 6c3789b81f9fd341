"""torch -> fp32 ONNX for the intent member, per-channel int8 quantization, torch/ORT logits on inputs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic

from edge.export.errors import ExportError
from ensemble.members.intent import IntentModel
from ensemble.members.intent_onnx import INPUTS, OPSET, export_token_graph

logger = logging.getLogger(__name__)

__all__ = [
    "INPUT_NAMES",
    "OPSET",
    "OUTPUT_NAMES",
    "QUANTIZATION",
    "OnnxGraph",
    "export_fp32",
    "hf_batches",
    "opset_of",
    "ort_logits",
    "quantize_int8",
    "torch_logits",
]

INPUT_NAMES = INPUTS
OUTPUT_NAMES = ("logits",)  # calibrated logits [B, C]; the device applies the softmax
QUANTIZATION = "int8-dynamic-per-channel"

Batch = dict[str, npt.NDArray[np.int64]]


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX file written by :func:`export_fp32` or :func:`quantize_int8`."""

    path: Path
    opset: int
    size_bytes: int


def opset_of(path: Path) -> int:
    proto = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), OPSET)


def export_fp32(model: IntentModel, path: Path) -> OnnxGraph:
    """Export the calibrated logits of ``model`` as one fp32 ONNX file with dynamic batch and sequence axes.

    Uses the torch.export-based exporter (``dynamo=True``). The outermost module is put in evaluation mode for
    the export (dropout off) and its training flag restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        export_token_graph(model, model, path, OUTPUT_NAMES[0])
    except Exception as err:  # the exporter raises many unrelated types; all mean the same to the caller
        raise ExportError(f"torch.onnx.export of the intent model to {path} failed: {err}") from err
    finally:
        model.train(was_training)
    graph = OnnxGraph(path=path, opset=opset_of(path), size_bytes=path.stat().st_size)
    logger.info("exported fp32 ONNX %s (%.1f MB, opset %s)", path, graph.size_bytes / 1e6, graph.opset)
    return graph


def quantize_int8(fp32: OnnxGraph, path: Path) -> OnnxGraph:
    """Dynamic int8 quantization of the weights, one scale per output channel, on the unfused fp32 graph."""
    try:
        quantize_dynamic(str(fp32.path), str(path), per_channel=True, weight_type=QuantType.QInt8)
    except Exception as err:  # onnxruntime.quantization raises plain Exceptions and onnx errors
        raise ExportError(f"int8 quantization of {fp32.path} failed: {err}") from err
    graph = OnnxGraph(path=path, opset=opset_of(path), size_bytes=path.stat().st_size)
    logger.info("quantized %s -> %s (%.1f MB)", fp32.path, path, graph.size_bytes / 1e6)
    return graph


def hf_batches(model: IntentModel, texts: Sequence[str], batch_size: int = 32) -> list[Batch]:
    """The model's own (Hugging Face) tokenisation of ``texts`` in batches, as int64 numpy arrays [B, T]."""
    batches: list[Batch] = []
    for i in range(0, len(texts), batch_size):
        encoded = model.tokenize(texts[i : i + batch_size])
        batches.append({name: encoded[name].numpy().astype(np.int64) for name in INPUT_NAMES})
    return batches


@torch.no_grad()
def torch_logits(model: IntentModel, batches: Sequence[Batch]) -> npt.NDArray[np.float32]:
    """The torch model's calibrated logits [N, C] in evaluation mode."""
    was_training = model.training
    model.eval()
    try:
        chunks = [model(**{k: torch.from_numpy(v) for k, v in b.items()}).numpy() for b in batches]
    finally:
        model.train(was_training)
    return np.concatenate(chunks).astype(np.float32)


def ort_logits(session: ort.InferenceSession, batches: Sequence[Batch]) -> npt.NDArray[np.float32]:
    """An ONNX Runtime session's logits [N, C] on the same batches."""
    chunks = [session.run([OUTPUT_NAMES[0]], dict(b))[0] for b in batches]
    return np.concatenate(chunks).astype(np.float32)
