"""The intent encoder on ONNX Runtime: the same sentence embeddings as torch, from an fp32 or int8 ONNX graph.

A served intent model can run its encoder (token ids -> mean-pooled, L2-normalised embeddings [B, H]) through
ONNX Runtime instead of torch eager: :func:`attach_encoder` exports ``model.embed`` once per registry version
(cached on disk, keyed by the version's manifest digest), opens a session with as many threads as torch
uses, checks it against torch on probe texts and attaches it to the model, whose :meth:`IntentModel.embed` then
uses it whenever no gradient is wanted. The head (a linear layer over the embedding) stays in torch: it costs
microseconds. Every consumer of the model — the head alone, the intent ensemble's kNN and logistic regression
— gets its embeddings from the attached engine.

Engines (:class:`EncoderEngine`): ``torch`` (eager, the default), ``onnx`` (fp32 graph: the same embeddings to
~1e-6) and ``onnx-int8`` (weights quantized per output channel with ONNX Runtime's dynamic quantization;
embeddings within the stated cosine of torch's, checked at load).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
import warnings
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from torch import nn
from torch.export import Dim

from ensemble.errors import ModelError
from ensemble.members.intent import IntentModel

__all__ = [
    "INPUTS",
    "OPSET",
    "EncoderEngine",
    "OnnxEncoder",
    "attach_encoder",
    "cached_encoder_path",
    "check_against_torch",
    "export_encoder",
    "export_token_graph",
]

logger = logging.getLogger(__name__)

OPSET = 18
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "embeddings"
# Lowest cosine between torch's and the engine's embedding of any probe text that the check accepts.
MIN_COSINE = {"onnx": 0.9999, "onnx-int8": 0.95}
_EXAMPLE_TEXTS = (
    "where is my order",
    "I would like to return the shoes I bought last week, they are too small",
)
PROBE_TEXTS = (
    "where is my parcel",
    "cancel my order please",
    "I want a refund for the broken lamp I received yesterday",
    "hello",
)


class EncoderEngine(StrEnum):
    """What computes the intent encoder's embeddings in a served replica."""

    TORCH = "torch"
    ONNX = "onnx"
    ONNX_INT8 = "onnx-int8"


class _Embedder(nn.Module):
    """``model.embed`` as a module's forward, for the exporter: token ids [B, T], mask [B, T] -> [B, H]."""

    def __init__(self, model: IntentModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.embed(input_ids, attention_mask)


def export_token_graph(module: nn.Module, model: IntentModel, path: Path, output_name: str) -> None:
    """Export ``module`` (token ids [B, T], mask [B, T] -> one output) as one fp32 ONNX file with dynamic batch
    and sequence axes, traced on ``model``'s tokenisation of example texts of different lengths (so the traced
    batch has padding and neither axis is 1). Uses the torch.export-based exporter (``dynamo=True``); the caller
    puts the module in evaluation mode."""
    example = model.tokenize(list(_EXAMPLE_TEXTS))
    batch, sequence = Dim("batch"), Dim("sequence")
    with torch.no_grad(), warnings.catch_warnings():
        # Notices from the exporter's internals that say nothing about this model's graph.
        warnings.filterwarnings("ignore", message=r"# The axis name: .* will not be used", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)`", category=FutureWarning)
        torch.onnx.export(
            module,
            (example["input_ids"], example["attention_mask"]),
            str(path),
            dynamo=True,
            external_data=False,
            verbose=False,
            opset_version=OPSET,
            input_names=list(INPUTS),
            output_names=[output_name],
            dynamic_shapes={"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}},
        )


def export_encoder(model: IntentModel, path: Path, engine: EncoderEngine) -> Path:
    """Write ``model``'s encoder as an ONNX graph (dynamic batch and sequence axes) to ``path``; ``onnx-int8``
    quantizes the fp32 export's weights per output channel. The file appears whole or not at all."""
    if engine is EncoderEngine.TORCH:
        raise ModelError("the torch engine has no ONNX graph to export; choose onnx or onnx-int8")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fp32 = staging.with_suffix(".fp32.onnx")
    was_training = model.training
    model.eval()
    try:
        export_token_graph(_Embedder(model).eval(), model, fp32, OUTPUT)
        if engine is EncoderEngine.ONNX_INT8:
            quantize_dynamic(str(fp32), str(staging), per_channel=True, weight_type=QuantType.QInt8)
        else:
            fp32.replace(staging)
        staging.replace(path)
    except Exception as err:  # the exporter and the quantizer raise many unrelated types; all mean one thing here
        raise ModelError(f"exporting the intent encoder to {path} ({engine.value}) failed: {err}") from err
    finally:
        model.train(was_training)
        for leftover in (fp32, staging):
            leftover.unlink(missing_ok=True)
    logger.info("exported the intent encoder to %s (%s, %.1f MB)", path, engine.value, path.stat().st_size / 1e6)
    return path


class OnnxEncoder:
    """An ONNX Runtime session computing the intent encoder's embeddings; implements
    :class:`ensemble.members.intent.EmbeddingEngine`."""

    def __init__(self, path: Path, engine: EncoderEngine, threads: int) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime's exceptions share no base class
            reason = f"onnxruntime cannot open the encoder graph {path}: {err}; delete it to re-export"
            raise ModelError(reason) from err
        names = sorted(i.name for i in self.session.get_inputs())
        if names != sorted(INPUTS) or [o.name for o in self.session.get_outputs()] != [OUTPUT]:
            raise ModelError(f"{path} is not an intent encoder graph (inputs {names}); delete it to re-export")
        self.path = path
        self.engine = engine

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Embeddings [B, H] (float32) for token ids [B, T] and mask [B, T]."""
        feeds = {
            "input_ids": input_ids.numpy().astype(np.int64, copy=False),
            "attention_mask": attention_mask.numpy().astype(np.int64, copy=False),
        }
        out: npt.NDArray[np.float32] = np.asarray(self.session.run([OUTPUT], feeds)[0], dtype=np.float32)
        return torch.from_numpy(out)


def cached_encoder_path(cache_dir: Path, version_id: str, digest: str, engine: EncoderEngine) -> Path:
    """Where the encoder graph of one registry version and engine is cached."""
    safe = version_id.replace(":", "-")
    return cache_dir / f"{safe}-{digest[:12]}-{engine.value}.onnx"


def _manifest_digest(version_dir: Path) -> str:
    manifest = version_dir / "manifest.json"
    try:
        return hashlib.sha256(manifest.read_bytes()).hexdigest()
    except OSError as err:
        raise ModelError(f"cannot read {manifest} to key the encoder cache: {err}") from err


@torch.no_grad()
def check_against_torch(model: IntentModel, encoder: OnnxEncoder, texts: Sequence[str] = PROBE_TEXTS) -> float:
    """The lowest cosine between torch's and ``encoder``'s embedding over ``texts``; :class:`ModelError` when it
    is below the engine's :data:`MIN_COSINE`."""
    was_training = model.training
    model.eval()
    try:
        batch = model.tokenize(list(texts))
        reference = model.embed(batch["input_ids"], batch["attention_mask"])  # torch: no engine attached yet
        candidate = encoder.embed(batch["input_ids"], batch["attention_mask"])
    finally:
        model.train(was_training)
    cosine = float(torch.nn.functional.cosine_similarity(reference, candidate, dim=-1).min())
    if not np.isfinite(cosine) or cosine < MIN_COSINE[encoder.engine.value]:
        raise ModelError(
            f"the {encoder.engine.value} encoder {encoder.path} disagrees with torch (lowest cosine {cosine:.5f} < "
            f"{MIN_COSINE[encoder.engine.value]}); serve this version with the torch engine"
        )
    return cosine


def attach_encoder(
    model: IntentModel, version_id: str, version_dir: Path, cache_dir: Path, engine: EncoderEngine | str
) -> float | None:
    """Run ``model``'s encoder on ``engine`` from now on (exported into ``cache_dir`` unless cached there);
    returns the lowest probe cosine against torch (``None`` for the torch engine, which detaches any engine).
    Raises :class:`ModelError` when the export fails or disagrees with torch; the model then encodes on torch."""
    try:
        chosen = EncoderEngine(engine)
    except ValueError as err:
        known = [e.value for e in EncoderEngine]
        raise ModelError(f"unknown encoder engine {engine!r}; choose one of {known}") from err
    model.embedding_engine = None
    if chosen is EncoderEngine.TORCH:
        return None
    path = cached_encoder_path(cache_dir, version_id, _manifest_digest(version_dir), chosen)
    if not path.is_file():
        export_encoder(model, path, chosen)
    encoder = OnnxEncoder(path, chosen, torch.get_num_threads())
    cosine = check_against_torch(model, encoder)
    model.embedding_engine = encoder
    logger.info("intent %s encodes on %s (lowest probe cosine to torch %.5f)", version_id, chosen.value, cosine)
    return cosine
