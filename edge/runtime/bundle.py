"""A verified, loaded edge bundle: signature and hashes checked, session and tokenizer open."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.runtime.errors import BundleError
from edge.runtime.inference import IntentRunner, softmax
from edge.runtime.manifest import (
    LABELS_FILE,
    MODEL_FILE,
    TOKENIZER_FILE,
    Manifest,
    Probe,
    verify_files,
    verify_signature,
)
from edge.runtime.trust import TrustedKey, TrustStore
from edge.runtime.vision import VisionRunner

logger = logging.getLogger(__name__)

__all__ = ["DevicePrediction", "EdgeBundle"]


@dataclass(frozen=True)
class DevicePrediction:
    """The device model's best intent for one text, its calibrated probability and whether it is out of scope."""

    intent: str
    confidence: float
    out_of_scope: bool = False  # the bundle's out-of-scope score exceeds its threshold (never, without one)
    oos_score: float | None = None  # that score; None when the bundle carries no out-of-scope detection

    def answers_locally(self, threshold: float) -> bool:
        """Whether the device answers this text itself: confident enough and not out of scope."""
        return self.confidence >= threshold and not self.out_of_scope


class EdgeBundle:
    """An intent bundle that passed verification; build it with :meth:`load`."""

    def __init__(
        self, path: Path, manifest: Manifest, runner: IntentRunner, vision: VisionRunner | None = None
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.runner = runner
        self.vision = vision  # the photo model, when the bundle carries one

    @property
    def version_id(self) -> str:
        return self.manifest.version_id

    @property
    def labels(self) -> list[str]:
        return self.runner.labels

    @classmethod
    def load(
        cls,
        bundle_dir: str | Path,
        trusted_keys: TrustStore | Sequence[TrustedKey],
        *,
        intra_op_threads: int = 1,
    ) -> EdgeBundle:
        """Verify the manifest's Ed25519 signature and every file's sha256, then open the model and tokenizer.

        Raises :class:`BundleSignatureError`, :class:`BundleIntegrityError` or :class:`BundleError`.
        """
        path = Path(bundle_dir)
        if not path.is_dir():
            raise BundleError(f"bundle directory {path} does not exist; pass the folder export_intent wrote")
        if intra_op_threads < 1:
            raise BundleError(f"intra_op_threads must be at least 1, got {intra_op_threads}")
        trust = trusted_keys if isinstance(trusted_keys, TrustStore) else TrustStore(trusted_keys)
        manifest = verify_signature(path, trust)
        files = verify_files(path, manifest)
        try:
            labels = json.loads(files[LABELS_FILE].decode("utf-8"))
            tokenizer_json = files[TOKENIZER_FILE].decode("utf-8")
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BundleError(f"{path} holds an unreadable {LABELS_FILE} or {TOKENIZER_FILE}: {err}") from err
        if not isinstance(labels, list):
            raise BundleError(f"{path / LABELS_FILE} must hold a JSON list of labels, got {type(labels).__name__}")
        runner = IntentRunner(
            files[MODEL_FILE],
            tokenizer_json,
            labels,
            intra_op_threads=intra_op_threads,
            output_name=manifest.output_names[0],
            source=str(path),
        )
        vision = None
        if manifest.vision is not None:
            spec = manifest.vision
            try:
                catalogue = json.loads(files[spec.catalogue_file].decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise BundleError(f"{path} holds an unreadable {spec.catalogue_file}: {err}") from err
            vision = VisionRunner(
                files[spec.model_file], catalogue, spec, intra_op_threads=intra_op_threads, source=str(path)
            )
        logger.info(
            "loaded edge bundle %s (%s%s) from %s",
            manifest.version_id,
            manifest.quantization,
            f", photos: {manifest.vision.version_id}" if manifest.vision is not None else "",
            path,
        )
        return cls(path, manifest, runner, vision)

    def predict(self, texts: Sequence[str]) -> list[DevicePrediction]:
        """Best intent and its probability for each text, with the out-of-scope flag when the bundle has one."""
        if not texts:
            return []
        logits = self.runner.logits(self.runner.encode(texts))  # [B, C]
        probs = softmax(logits)  # [B, C]
        best = probs.argmax(axis=-1)
        oos = self.manifest.oos
        if oos is None:
            return [
                DevicePrediction(intent=self.labels[int(i)], confidence=float(p[int(i)]))
                for p, i in zip(probs, best, strict=True)
            ]
        scores = oos.scores(logits)  # [B]
        return [
            DevicePrediction(self.labels[int(i)], float(p[int(i)]), bool(s > oos.threshold), float(s))
            for p, i, s in zip(probs, best, scores, strict=True)
        ]

    def failed_probes(self) -> list[tuple[Probe, str]]:
        """The manifest's probes this bundle now classifies otherwise, with the intent it gave (empty: healthy)."""
        probes = self.manifest.probes
        if not probes:
            return []
        got = self.predict([p.text for p in probes])
        return [(probe, guess.intent) for probe, guess in zip(probes, got, strict=True) if guess.intent != probe.intent]
