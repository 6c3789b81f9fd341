"""The intent ensemble at prediction time: one encoder pass, three members, three modes.

- ``parallel``: every member answers; all answers are returned and the head's is the primary one.
- ``fusion``: every member answers; the primary answer is the weighted average of their probabilities
  (weights and temperature fitted on validation).
- ``serial``: a cascade. The head answers alone when its confidence reaches ``serial_gate``; otherwise kNN and
  logistic regression run too and the fused answer is the primary one. The members needed by the
  out-of-scope score always run.

Every decision lists the members that ran with their answer, weight and latency. ``out_of_scope`` is true when
the stored out-of-scope score of the message is below the stored threshold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ensemble.intent_ensemble.errors import UnknownModeError
from ensemble.intent_ensemble.fitting import FusionWeights, fuse
from ensemble.intent_ensemble.members import FloatArray, HeadMember, KnnMember, LogRegMember, SharedEncoder
from ensemble.intent_ensemble.oos import OosCalibration

__all__ = ["EnsembleDecision", "EnsembleMode", "IntentEnsemble", "MemberAnswer"]

logger = logging.getLogger(__name__)


class EnsembleMode(StrEnum):
    SERIAL = "serial"
    PARALLEL = "parallel"
    FUSION = "fusion"


def parse_mode(mode: str | EnsembleMode) -> EnsembleMode:
    try:
        return EnsembleMode(mode)
    except ValueError as err:
        raise UnknownModeError(f"unknown ensemble mode {mode!r}; use one of {[m.value for m in EnsembleMode]}") from err


@dataclass(frozen=True)
class MemberAnswer:
    """One member's answer to one message; ``latency_ms`` is its share of the batch (encoder excluded)."""

    name: str
    intent: str
    confidence: float
    weight: float
    latency_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "intent": self.intent,
            "confidence": self.confidence,
            "weight": self.weight,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class EnsembleDecision:
    """The ensemble's answer to one message."""

    intent: str
    confidence: float
    out_of_scope: bool
    oos_score: float
    mode: EnsembleMode
    members: list[MemberAnswer] = field(default_factory=list)
    encoder_latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "out_of_scope": self.out_of_scope,
            "oos_score": self.oos_score,
            "mode": self.mode.value,
            "members": [m.to_dict() for m in self.members],
            "encoder_latency_ms": self.encoder_latency_ms,
        }


@dataclass
class _Run:
    """Member outputs for a batch: probabilities [N, C] and wall time per member."""

    probs: dict[str, FloatArray] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    knn_similarities: FloatArray | None = None  # [N, k], kept for the out-of-scope score


class IntentEnsemble:
    """Head, kNN and logistic-regression members over one shared encoder, with fusion and OOS detection."""

    def __init__(
        self,
        encoder: SharedEncoder,
        head: HeadMember,
        knn: KnnMember,
        logreg: LogRegMember,
        fusion: FusionWeights,
        oos: OosCalibration,
        *,
        serial_gate: float = 0.9,
        version: str | None = None,
        intent_version: str | None = None,
    ) -> None:
        self.encoder = encoder
        self.head = head
        self.knn = knn
        self.logreg = logreg
        self.fusion = fusion
        self.oos = oos
        self.serial_gate = serial_gate
        self.version = version
        self.intent_version = intent_version
        self.labels = list(head.labels)

    @property
    def members(self) -> dict[str, HeadMember | KnnMember | LogRegMember]:
        return {"head": self.head, "knn": self.knn, "logreg": self.logreg}

    def embed(self, texts: Sequence[str]) -> FloatArray:
        return self.encoder.embed(texts)

    def member_probabilities(self, embeddings: FloatArray) -> dict[str, FloatArray]:
        """Every member's probabilities [N, C] from one batch of embeddings."""
        return {name: member.proba_from_embeddings(embeddings) for name, member in self.members.items()}

    def fuse(self, member_probs: dict[str, FloatArray]) -> FloatArray:
        return fuse([member_probs[n] for n in self.fusion.names], self.fusion.weights, self.fusion.temperature)

    def scores(
        self, embeddings: FloatArray, member_probs: dict[str, FloatArray], knn_similarities: FloatArray | None = None
    ) -> FloatArray:
        """The stored out-of-scope score [N] (higher = more in scope), from the members it needs."""
        kind = self.oos.score
        knn: FloatArray | None = None
        if kind != "energy":
            sims = self.knn.neighbours(embeddings)[0] if knn_similarities is None else knn_similarities
            knn = np.asarray(sims.mean(axis=1), dtype=np.float64)
        if kind == "knn_similarity" and knn is not None:
            return knn
        if kind == "energy":
            energy: FloatArray = logsumexp(self.logreg.logits(embeddings), axis=1)
            return energy
        max_prob: FloatArray = np.asarray(self.fuse(member_probs).max(axis=1), dtype=np.float64)
        if kind == "max_prob" or knn is None:
            return max_prob
        combined: FloatArray = 0.5 * (max_prob + knn)
        return combined

    def predict_proba(self, texts: Sequence[str], mode: str | EnsembleMode = EnsembleMode.FUSION) -> FloatArray:
        """The primary answer's probabilities [N, C] in ``mode``."""
        embeddings = self.embed(texts)
        run = self._run(embeddings, set(self.members))
        return self._primary(parse_mode(mode), run)

    def predict(self, texts: Sequence[str], mode: str | EnsembleMode = EnsembleMode.FUSION) -> list[EnsembleDecision]:
        """One decision per text; see the module docstring for the modes."""
        chosen = parse_mode(mode)
        if not texts:
            return []
        start = time.perf_counter()
        embeddings = self.embed(texts)
        encoder_ms = (time.perf_counter() - start) * 1000.0 / len(texts)
        wanted = {"head"} | self._oos_needs() if chosen is EnsembleMode.SERIAL else set(self.members)
        run = self._run(embeddings, wanted)
        if chosen is EnsembleMode.SERIAL and (run.probs["head"].max(axis=1) < self.serial_gate).any():
            run = self._run(embeddings, set(self.members) - set(run.probs), run)
        primary = self._primary(chosen, run)
        scores = self._oos_scores(embeddings, run)
        return [self._decision(i, chosen, run, primary, scores, encoder_ms, len(texts)) for i in range(len(texts))]

    def _oos_needs(self) -> set[str]:
        return {"max_prob": set(self.members), "combined": set(self.members), "knn_similarity": {"knn"}}.get(
            self.oos.score, {"logreg"}
        )

    def _run(self, embeddings: FloatArray, names: set[str], run: _Run | None = None) -> _Run:
        run = run or _Run()
        for name, member in self.members.items():
            if name in names and name not in run.probs:
                start = time.perf_counter()
                if isinstance(member, KnnMember):
                    sims, rows = member.neighbours(embeddings)
                    run.knn_similarities = sims
                    run.probs[name] = member.proba_from_neighbours(sims, rows)
                else:
                    run.probs[name] = member.proba_from_embeddings(embeddings)
                run.seconds[name] = time.perf_counter() - start
        return run

    def _primary(self, mode: EnsembleMode, run: _Run) -> FloatArray:
        head = run.probs["head"]
        if mode is EnsembleMode.PARALLEL:
            return head
        if mode is EnsembleMode.FUSION:
            return self.fuse(run.probs)
        if len(run.probs) < len(self.members):
            return head
        sure = head.max(axis=1, keepdims=True) >= self.serial_gate  # [N, 1]
        result: FloatArray = np.where(sure, head, self.fuse(run.probs))
        return result

    def _oos_scores(self, embeddings: FloatArray, run: _Run) -> FloatArray:
        if self.oos.score in ("max_prob", "combined") and len(run.probs) < len(self.members):
            run = self._run(embeddings, set(self.members), run)
        return self.scores(embeddings, run.probs, run.knn_similarities)

    def _decision(
        self,
        i: int,
        mode: EnsembleMode,
        run: _Run,
        primary: FloatArray,
        scores: FloatArray,
        encoder_ms: float,
        batch: int,
    ) -> EnsembleDecision:
        ran = run.probs
        if mode is EnsembleMode.SERIAL and float(ran["head"][i].max()) >= self.serial_gate:
            ran = {"head": ran["head"]}
        answers = [
            MemberAnswer(
                name=name,
                intent=self.labels[int(probs[i].argmax())],
                confidence=float(probs[i].max()),
                weight=self.fusion.weight_of(name),
                latency_ms=run.seconds[name] * 1000.0 / batch,
            )
            for name, probs in ran.items()
        ]
        best = int(primary[i].argmax())
        return EnsembleDecision(
            intent=self.labels[best],
            confidence=float(primary[i, best]),
            out_of_scope=bool(scores[i] < self.oos.threshold),
            oos_score=float(scores[i]),
            mode=mode,
            members=answers,
            encoder_latency_ms=encoder_ms,
        )
