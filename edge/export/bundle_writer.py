"""Write a signed int8 edge bundle for an intent model (the layout is described in edge.runtime.manifest)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from edge.export.cascade import Calibration, fit_threshold
from edge.export.errors import BundleExistsError, ExportError, ParityError
from edge.export.onnx_graph import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    QUANTIZATION,
    export_fp32,
    hf_batches,
    ort_logits,
    quantize_int8,
    torch_logits,
)
from edge.export.oos_fit import fit_oos
from edge.export.signing import BundleSigner
from edge.export.vision_bundle import VisionExport, VisionPart, write_vision
from edge.runtime.inference import IntentRunner, softmax
from edge.runtime.manifest import (
    LABELS_FILE,
    MANIFEST_FILE,
    MODEL_FILE,
    SIGNATURE_FILE,
    TOKENIZER_FILE,
    Manifest,
    OosSpec,
    Probe,
    ThresholdFit,
    file_digest,
)
from ensemble.members.intent import MEMBER, IntentModel

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_PROBE_TEXTS", "BundleInfo", "bundle_tokenizer", "export_intent", "version_sequence"]

DEFAULT_ATOL = 1e-4
DEFAULT_CONFIDENCE_THRESHOLD = 0.7
# Sentences of varied length (one far beyond any max_length) for the fp32 parity check every export runs.
DEFAULT_PROBE_TEXTS: tuple[str, ...] = (
    "hi",
    "where is my order?",
    "I want to return a jacket that arrived damaged",
    "do you have these running shoes in size 44 and in blue",
    "cancel",
    " ".join(["the parcel never arrived and nobody answers the phone"] * 30),
)


_SEQUENCE = re.compile(r":v(\d+)$")


def version_sequence(version_id: str) -> int:
    """The number of a registry version id (``intent:v0012`` -> 12), which orders bundles on devices."""
    match = _SEQUENCE.search(version_id)
    if match is None:
        raise ExportError(
            f"cannot read a version number from {version_id!r} (expected e.g. 'intent:v0012'); "
            "pass sequence= explicitly"
        )
    return int(match.group(1))


@dataclass(frozen=True)
class BundleInfo:
    """A bundle written by :func:`export_intent`."""

    path: Path
    manifest: Manifest
    signature: str
    model_size_bytes: int  # int8 (or fp32 when quantize=False) model.onnx
    fp32_size_bytes: int
    probe_max_abs_diff: float  # fp32 ONNX vs torch logits on the probe texts
    vision: VisionPart | None = None  # the photo model, when the bundle carries one


def bundle_tokenizer(model: IntentModel) -> Tokenizer:
    """The model's fast tokenizer as a tokenizers.Tokenizer: truncates at max_length, pads to the longest."""
    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        raise ExportError(
            f"the model's tokenizer {type(model.tokenizer).__name__} is not a fast tokenizer; "
            "the device needs tokenizer.json: load the model with a fast (Rust) tokenizer"
        )
    tokenizer = Tokenizer.from_str(backend.to_str())
    pad_id = model.tokenizer.pad_token_id
    pad_token = model.tokenizer.pad_token
    if pad_id is None or not isinstance(pad_token, str):
        raise ExportError("the model's tokenizer has no pad token; the device pads batches and needs one")
    tokenizer.enable_truncation(max_length=model.config.max_length)
    tokenizer.enable_padding(pad_id=int(pad_id), pad_token=pad_token, direction="right")
    return tokenizer


def _check_fp32_parity(model: IntentModel, fp32_path: Path, texts: Sequence[str], atol: float) -> float:
    batches = hf_batches(model, texts)
    session = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"])
    diff = float(np.abs(ort_logits(session, batches) - torch_logits(model, batches)).max())
    if not diff <= atol:
        raise ParityError(
            f"fp32 ONNX logits differ from torch by {diff:.3g} (> atol {atol:g}) on {len(texts)} probe "
            "texts; the export is wrong: check that the model has no training-only behaviour and re-export"
        )
    return diff


def _int8_probes(staging: Path, model: IntentModel, texts: Sequence[str]) -> tuple[Probe, ...]:
    """The probe texts with the intents the exported graph itself gives them: the device's health check."""
    session = ort.InferenceSession(str(staging / MODEL_FILE), providers=["CPUExecutionProvider"])
    best = ort_logits(session, hf_batches(model, texts)).argmax(axis=-1)
    return tuple(Probe(text=t, intent=model.labels[int(i)]) for t, i in zip(texts, best, strict=True))


def _fit_threshold(staging: Path, model: IntentModel, calibration: Calibration) -> tuple[ThresholdFit, OosSpec | None]:
    """Fit the escalation threshold (and out-of-scope detection) with the staged graph and tokenizer, run as a
    device runs them."""
    unknown = sorted(set(calibration.teacher_intents) - set(model.labels))
    if unknown:
        raise ExportError(f"teacher intents {unknown[:5]} are not labels of the model ({model.labels})")
    runner = IntentRunner(
        staging / MODEL_FILE, (staging / TOKENIZER_FILE).read_text(encoding="utf-8"), model.labels, source="staging"
    )
    # One message at a time, as a device classifies them: dynamic int8 quantizes each batch's activations with
    # that batch's range, so batch composition moves the probabilities slightly.
    logits = np.concatenate([runner.logits(runner.encode([text])) for text in calibration.texts])  # [N, C]
    probs = softmax(logits)
    fit = fit_threshold(
        probs.max(axis=-1),
        [model.labels[int(i)] for i in probs.argmax(axis=-1)],
        list(calibration.teacher_intents),
        max_loss=calibration.max_loss,
        teacher_name=calibration.teacher,
    )
    logger.info(
        "escalation threshold %.4f: %.1f %% of %s validation texts on device, %.2f %% answered otherwise than %s",
        fit.threshold,
        100 * fit.device_share,
        fit.n_texts,
        100 * fit.disagreement,
        fit.teacher,
    )
    if calibration.oos_score is None:
        return fit, None
    oos = fit_oos(logits, calibration.oos_score, target=calibration.oos_target)
    logger.info(
        "out-of-scope threshold %.4f (%s) keeps %.0f %% of %s",
        oos.threshold,
        oos.score,
        100 * oos.target,
        oos.fitted_on,
    )
    return fit, oos


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _fsync_tree(folder: Path) -> None:
    for child in folder.iterdir():
        with child.open("rb") as fh:
            os.fsync(fh.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(staging: Path, out_dir: Path, overwrite: bool) -> None:
    """Rename the finished staging folder onto out_dir (an existing one is moved aside first if allowed)."""
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    if not overwrite:
        raise BundleExistsError(f"{out_dir} already exists; pass overwrite=True or choose another folder")
    old = out_dir.with_name(f".{out_dir.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(out_dir, old)
    os.rename(staging, out_dir)
    shutil.rmtree(old)


def export_intent(
    model: IntentModel,
    out_dir: str | Path,
    *,
    version_id: str,
    signer: BundleSigner,
    sequence: int | None = None,
    rollback: bool = False,
    quantize: bool = True,
    confidence_threshold: float | None = None,
    calibration: Calibration | None = None,
    probe_texts: Sequence[str] = DEFAULT_PROBE_TEXTS,
    atol: float = DEFAULT_ATOL,
    overwrite: bool = False,
    vision: VisionExport | None = None,
) -> BundleInfo:
    """Export ``model`` to a signed bundle folder at ``out_dir``.

    The fp32 graph must reproduce torch's logits on ``probe_texts`` within ``atol`` (else
    :class:`ParityError`); then it is quantized to per-channel int8 (unless ``quantize`` is False). Files
    are written to a temporary sibling folder and renamed onto ``out_dir`` when complete, so a reader never
    sees half a bundle.
    ``manifest.sig`` is ``signer``'s Ed25519 signature of manifest.json; devices verify it with the public key
    only. ``sequence`` (default: the number in ``version_id``) orders bundles: devices refuse a lower one unless
    ``rollback`` is set. The probe texts, with the intents the exported graph gives them, travel in the manifest
    for the device's post-install health check.
    The manifest's escalation threshold is fitted on ``calibration`` (validation texts and the cluster's intents
    for them, :mod:`edge.export.cascade`) with the exported int8 graph, or is ``confidence_threshold``, or,
    with neither, the fixed 0.7 of bundles made before fitting. When ``calibration.oos_score`` is set, the
    manifest also carries out-of-scope detection fitted on the same texts (:mod:`edge.export.oos_fit`).
    With ``vision``, the vision member joins the bundle as a second, statically quantized int8 graph with its
    catalogue, validated against torch on test photos (:mod:`edge.export.vision_bundle`).
    """
    out = Path(out_dir)
    if not version_id:
        raise ExportError("version_id is empty; pass the registry version id, e.g. 'intent:v0002'")
    if not isinstance(signer, BundleSigner):
        raise ExportError(f"signer must be a BundleSigner (the platform's private key), got {type(signer).__name__}")
    seq = version_sequence(version_id) if sequence is None else sequence
    if seq < 0:
        raise ExportError(f"sequence must be non-negative, got {seq}")
    if confidence_threshold is not None and calibration is not None:
        raise ExportError("pass confidence_threshold or calibration (to fit it), not both")
    if confidence_threshold is not None and not 0.0 <= confidence_threshold <= 1.0:
        raise ExportError(f"confidence_threshold must lie in [0, 1], got {confidence_threshold}")
    if calibration is not None:
        n_texts, n_intents = len(calibration.texts), len(calibration.teacher_intents)
        if not n_texts or n_texts != n_intents:
            raise ExportError(
                f"calibration needs validation texts and one teacher intent per text: {n_intents} intents for "
                f"{n_texts} texts"
            )
    if out.exists() and not overwrite:
        raise BundleExistsError(f"{out} already exists; pass overwrite=True or choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="edge-fp32-") as scratch:
            fp32 = export_fp32(model, Path(scratch) / "model.fp32.onnx")
            probe_diff = _check_fp32_parity(model, fp32.path, probe_texts, atol)
            if quantize:
                graph = quantize_int8(fp32, staging / MODEL_FILE)
            else:
                shutil.copyfile(fp32.path, staging / MODEL_FILE)
                graph = fp32
        bundle_tokenizer(model).save(str(staging / TOKENIZER_FILE))
        _write_json(staging / LABELS_FILE, model.labels)
        fit, oos = _fit_threshold(staging, model, calibration) if calibration is not None else (None, None)
        vision_part = write_vision(staging, vision) if vision is not None else None
        pinned = [MODEL_FILE, TOKENIZER_FILE, LABELS_FILE]
        if vision_part is not None:
            pinned += [vision_part.spec.model_file, vision_part.spec.catalogue_file]
        if fit is not None:
            threshold = fit.threshold
        else:
            threshold = DEFAULT_CONFIDENCE_THRESHOLD if confidence_threshold is None else confidence_threshold
        manifest = Manifest(
            member=MEMBER,
            version_id=version_id,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            max_length=model.config.max_length,
            opset=graph.opset,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            confidence_threshold=threshold,
            quantization=QUANTIZATION if quantize else "none",
            key_id=signer.key_id,
            sequence=seq,
            rollback=rollback,
            probes=_int8_probes(staging, model, probe_texts),
            files={name: file_digest(staging / name) for name in pinned},
            threshold_fit=fit,
            vision=vision_part.spec if vision_part is not None else None,
            oos=oos,
        )
        raw = manifest.to_bytes()
        (staging / MANIFEST_FILE).write_bytes(raw)
        signature = signer.sign(raw)
        (staging / SIGNATURE_FILE).write_text(signature + "\n", encoding="ascii")
        _fsync_tree(staging)
        _publish(staging, out, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("wrote edge bundle %s for %s (fp32 probe diff %.2e)", out, version_id, probe_diff)
    return BundleInfo(
        path=out,
        manifest=manifest,
        signature=signature,
        model_size_bytes=manifest.files[MODEL_FILE].size,
        fp32_size_bytes=fp32.size_bytes,
        probe_max_abs_diff=probe_diff,
        vision=vision_part,
    )
