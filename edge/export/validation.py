"""Validate a written bundle against its torch model on real, labelled texts (after Optimum's
validate_model_outputs).

Two checks: a freshly exported fp32 ONNX graph must match torch's logits within ``atol`` (else the export is
wrong and :class:`ParityError` is raised); then the bundle's int8 graph, fed by the bundle's own tokenizer
exactly as a device would, is compared with torch on the task metric (argmax agreement, accuracy,
confidence drift).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge.export.errors import ExportError, ParityError, TokenizerMismatchError
from edge.export.onnx_graph import export_fp32, hf_batches, ort_logits, torch_logits
from edge.runtime.inference import IntentRunner, softmax
from edge.runtime.manifest import LABELS_FILE, MANIFEST_FILE, MODEL_FILE, TOKENIZER_FILE, Manifest
from ensemble.members.intent import IntentModel

logger = logging.getLogger(__name__)

__all__ = ["ValidationReport", "validate_bundle"]

_BATCH = 32


@dataclass(frozen=True)
class ValidationReport:
    """Figures of one validation run; every figure was computed on ``n_texts`` labelled texts."""

    n_texts: int
    atol: float
    fp32_max_abs_diff: float  # fp32 ONNX vs torch logits
    int8_max_abs_diff: float  # bundle model vs torch logits
    int8_agreement: float  # share of texts where bundle and torch pick the same intent
    torch_accuracy: float
    int8_accuracy: float
    mean_confidence_diff: float  # mean |top-1 probability (bundle) - top-1 probability (torch)|
    quantization: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_bundle(bundle_dir: Path) -> tuple[Manifest, IntentRunner]:
    manifest_path = bundle_dir / MANIFEST_FILE
    try:
        manifest = Manifest.from_bytes(manifest_path.read_bytes(), manifest_path)
        labels = json.loads((bundle_dir / LABELS_FILE).read_text(encoding="utf-8"))
        tokenizer_json = (bundle_dir / TOKENIZER_FILE).read_text(encoding="utf-8")
        model_bytes = (bundle_dir / MODEL_FILE).read_bytes()
    except (OSError, json.JSONDecodeError) as err:
        raise ExportError(f"cannot read the bundle at {bundle_dir}: {err}; export it with export_intent") from err
    runner = IntentRunner(
        model_bytes, tokenizer_json, labels, output_name=manifest.output_names[0], source=str(bundle_dir)
    )
    return manifest, runner


def validate_bundle(
    bundle_dir: str | Path,
    model: IntentModel,
    texts: Sequence[str],
    labels: Sequence[str],
    atol: float = 1e-4,
) -> ValidationReport:
    """Compare the bundle with ``model`` on ``texts`` whose true intents are ``labels``."""
    path = Path(bundle_dir)
    if len(texts) != len(labels) or not texts:
        raise ExportError(f"validation needs as many labels as texts (and at least one): {len(texts)} vs {len(labels)}")
    unknown = sorted(set(labels) - set(model.labels))
    if unknown:
        raise ExportError(f"labels {unknown[:5]} are not intents of the model ({model.labels}); fix the validation set")
    manifest, runner = _read_bundle(path)
    if runner.labels != model.labels:
        raise ExportError(f"bundle labels {runner.labels} differ from the model's {model.labels}; re-export the bundle")

    batches = hf_batches(model, texts, _BATCH)
    reference = torch_logits(model, batches)  # [N, C]

    with tempfile.TemporaryDirectory(prefix="edge-validate-") as scratch:
        fp32 = export_fp32(model, Path(scratch) / "model.fp32.onnx")
        session = ort.InferenceSession(str(fp32.path), providers=["CPUExecutionProvider"])
        fp32_diff = float(np.abs(ort_logits(session, batches) - reference).max())
    if not fp32_diff <= atol:
        raise ParityError(
            f"fp32 ONNX logits differ from torch by {fp32_diff:.3g} (> atol {atol:g}) on {len(texts)} texts; "
            "the export is wrong: do not ship this bundle"
        )

    device_chunks = []
    for start, batch in zip(range(0, len(texts), _BATCH), batches, strict=True):
        encoded = runner.encode(texts[start : start + _BATCH])
        if not (
            np.array_equal(encoded.input_ids, batch["input_ids"])
            and np.array_equal(encoded.attention_mask, batch["attention_mask"])
        ):
            raise TokenizerMismatchError(
                f"the bundle tokenizer's ids differ from the model's tokenizer on texts "
                f"{start}..{start + _BATCH - 1}; "
                "re-export the bundle so tokenizer.json matches the model"
            )
        device_chunks.append(runner.logits(encoded))
    device = np.concatenate(device_chunks)  # [N, C]

    gold = np.asarray([model.labels.index(label) for label in labels])
    ref_probs, dev_probs = softmax(reference), softmax(device)
    ref_best, dev_best = ref_probs.argmax(axis=-1), dev_probs.argmax(axis=-1)
    report = ValidationReport(
        n_texts=len(texts),
        atol=atol,
        fp32_max_abs_diff=fp32_diff,
        int8_max_abs_diff=float(np.abs(device - reference).max()),
        int8_agreement=float((ref_best == dev_best).mean()),
        torch_accuracy=float((ref_best == gold).mean()),
        int8_accuracy=float((dev_best == gold).mean()),
        mean_confidence_diff=float(np.abs(dev_probs.max(axis=-1) - ref_probs.max(axis=-1)).mean()),
        quantization=manifest.quantization,
    )
    logger.info("validated %s: %s", path, report)
    return report
