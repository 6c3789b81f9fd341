"""Out-of-scope detection without outside out-of-scope data.

Several random groups of intents are held out in turn; the cheap members (head recipe, kNN, logistic
regression) are refitted without them on the training rows, and the validation rows of the held-out intents
play the out-of-scope messages. Each candidate in-scope score is computed there, the one with the best mean
AUROC is chosen, and its threshold is the one with the highest out-of-scope recall at 95 % precision, pooled
over the groups. A message is out of scope when its score is below that threshold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray
from scipy.special import logsumexp, softmax
from sklearn.metrics import precision_recall_curve, roc_auc_score

from ensemble.intent_ensemble.errors import IntentEnsembleError
from ensemble.intent_ensemble.fitting import FusionWeights, fit_knn, fit_linear_head, fit_logreg, fuse
from ensemble.intent_ensemble.members import FloatArray

__all__ = [
    "OosCalibration",
    "ScoreKind",
    "calibrate_oos",
    "in_scope_scores",
    "oos_auroc",
    "recall_at_precision",
]

logger = logging.getLogger(__name__)

ScoreKind = Literal["max_prob", "knn_similarity", "energy", "combined"]
SCORE_KINDS: tuple[ScoreKind, ...] = get_args(ScoreKind)
TARGET_PRECISION = 0.95


def in_scope_scores(
    fused: FloatArray, knn_similarities: FloatArray, logreg_logits: FloatArray
) -> dict[ScoreKind, FloatArray]:
    """Every candidate score [N] (higher = more in scope): the fused top probability, the mean cosine
    similarity of the k nearest training utterances, the energy ``logsumexp`` of the logistic-regression
    logits, and the mean of the first two."""
    max_prob = fused.max(axis=1)
    knn = knn_similarities.mean(axis=1)
    return {
        "max_prob": max_prob,
        "knn_similarity": knn,
        "energy": logsumexp(logreg_logits, axis=1),
        "combined": 0.5 * (max_prob + knn),
    }


def oos_auroc(is_oos: NDArray[np.bool_], in_scope_score: FloatArray) -> float:
    """AUROC of detecting out-of-scope rows by a low in-scope score."""
    if is_oos.all() or not is_oos.any():
        raise IntentEnsembleError("AUROC needs both in-scope and out-of-scope rows")
    return float(roc_auc_score(is_oos, -in_scope_score))


def recall_at_precision(
    is_oos: NDArray[np.bool_], in_scope_score: FloatArray, precision: float = TARGET_PRECISION
) -> tuple[float, float]:
    """The highest out-of-scope recall whose precision is at least ``precision``, and the in-scope score
    threshold achieving it (out of scope = score below it). (0.0, -inf) when no threshold is precise enough."""
    prec, rec, thresholds = precision_recall_curve(is_oos, -in_scope_score)
    # prec/rec have one more entry than thresholds (the final point recall 0, precision 1 has no threshold)
    ok = np.flatnonzero(prec[:-1] >= precision)
    if ok.size == 0:
        return 0.0, float("-inf")
    best = ok[np.argmax(rec[:-1][ok])]
    # flagged when -score >= thresholds[best], i.e. score <= -thresholds[best]
    return float(rec[best]), float(np.nextafter(-thresholds[best], np.inf))


@dataclass(frozen=True)
class OosCalibration:
    """The chosen score, its threshold and what was measured on the pseudo-out-of-scope groups."""

    score: ScoreKind
    threshold: float
    auroc: dict[str, float]  # mean AUROC over groups, per candidate score
    recall_at_95_precision: float  # pooled over groups, for the chosen score
    false_alarm_rate: float  # share of in-scope validation rows flagged, pooled
    groups: list[list[str]]

    def to_dict(self) -> dict[str, object]:
        return {
            "score": self.score,
            "threshold": self.threshold,
            "auroc": dict(self.auroc),
            "recall_at_95_precision": self.recall_at_95_precision,
            "false_alarm_rate": self.false_alarm_rate,
            "groups": [list(g) for g in self.groups],
        }


def _group_scores(
    held: NDArray[np.int64],
    train: tuple[FloatArray, NDArray[np.int64]],
    val: tuple[FloatArray, NDArray[np.int64]],
    labels: Sequence[str],
    fusion: FusionWeights,
    k: int,
) -> tuple[NDArray[np.bool_], dict[ScoreKind, FloatArray]]:
    train_emb, train_y = train
    val_emb, val_y = val
    kept = np.setdiff1d(np.arange(len(labels)), held)
    remap = np.full(len(labels), -1)
    remap[kept] = np.arange(len(kept))
    kept_labels = [labels[i] for i in kept]
    tr = np.isin(train_y, kept)
    va_in = np.isin(val_y, kept)
    tr_emb, tr_y = train_emb[tr], remap[train_y[tr]]
    va_emb_in, va_y_in = val_emb[va_in], remap[val_y[va_in]]
    knn = fit_knn(tr_emb, tr_y, kept_labels, va_emb_in, va_y_in, k=k)
    logreg = fit_logreg(tr_emb, tr_y, kept_labels)
    weight, bias, temperature = fit_linear_head(tr_emb, tr_y, len(kept), va_emb_in, va_y_in)
    probs = {
        "head": softmax((val_emb @ weight.T + bias) / temperature, axis=1),
        "knn": knn.proba_from_embeddings(val_emb),
        "logreg": logreg.proba_from_embeddings(val_emb),
    }
    fused = fuse([probs[n] for n in fusion.names], fusion.weights, fusion.temperature)
    sims, _ = knn.neighbours(val_emb)
    return ~va_in, in_scope_scores(fused, sims, logreg.logits(val_emb))


def calibrate_oos(
    train: tuple[FloatArray, NDArray[np.int64]],
    val: tuple[FloatArray, NDArray[np.int64]],
    labels: Sequence[str],
    fusion: FusionWeights,
    *,
    k: int = 10,
    groups: int = 5,
    group_size: tuple[int, int] = (3, 5),
    seed: int = 0,
    prefer: ScoreKind | None = None,
) -> OosCalibration:
    """Hold out ``groups`` random groups of ``group_size`` intents in turn, score the validation rows, choose
    the score (``prefer`` forces one) and its threshold."""
    if len(labels) < group_size[1] + 2:
        raise IntentEnsembleError(
            f"pseudo out-of-scope calibration needs at least {group_size[1] + 2} intents, got {len(labels)}"
        )
    rng = np.random.default_rng(seed)
    flags: list[NDArray[np.bool_]] = []
    scores: dict[ScoreKind, list[FloatArray]] = {kind: [] for kind in SCORE_KINDS}
    held_names: list[list[str]] = []
    for _ in range(groups):
        size = int(rng.integers(group_size[0], group_size[1] + 1))
        held = np.sort(rng.choice(len(labels), size=size, replace=False))
        held_names.append([labels[i] for i in held])
        is_oos, group = _group_scores(held, train, val, labels, fusion, k)
        flags.append(is_oos)
        for kind in SCORE_KINDS:
            scores[kind].append(group[kind])
    auroc: dict[str, float] = {
        kind: float(np.mean([oos_auroc(f, s) for f, s in zip(flags, scores[kind], strict=True)]))
        for kind in SCORE_KINDS
    }
    chosen: ScoreKind = prefer if prefer is not None else max(SCORE_KINDS, key=lambda kind: auroc[kind])
    pooled_flags = np.concatenate(flags)
    pooled = np.concatenate(scores[chosen])
    recall, threshold = recall_at_precision(pooled_flags, pooled)
    false_alarms = float(np.mean(pooled[~pooled_flags] < threshold))
    logger.info(
        "pseudo-OOS over %d groups: AUROC %s; chose %s, threshold %.4f, recall@95P %.3f",
        groups,
        _rounded(auroc),
        chosen,
        threshold,
        recall,
    )
    return OosCalibration(chosen, threshold, auroc, recall, false_alarms, held_names)


def _rounded(values: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}
