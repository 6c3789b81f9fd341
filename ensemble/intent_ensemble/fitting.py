"""Fitting the cheap members and the fusion on cached embeddings.

Everything here works on embeddings [N, H] and integer targets [N]; nothing re-runs the encoder. Temperatures
and fusion weights are fitted on validation rows only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression

from ensemble.intent_ensemble.errors import IntentEnsembleError
from ensemble.intent_ensemble.members import FloatArray, KnnMember, LogRegMember

__all__ = [
    "FusionWeights",
    "fit_fusion",
    "fit_knn",
    "fit_linear_head",
    "fit_logreg",
    "fit_temperature",
    "fuse",
    "nll",
]

logger = logging.getLogger(__name__)

_EPS = 1e-12


def nll(probs: FloatArray, targets: NDArray[np.int64]) -> float:
    """Mean negative log-likelihood of the targets under probabilities [N, C]."""
    picked = probs[np.arange(len(targets)), targets]
    return float(-np.mean(np.log(np.clip(picked, _EPS, None))))


def fit_temperature(scores: FloatArray, targets: NDArray[np.int64]) -> float:
    """The T > 0 minimising the NLL of ``softmax(scores / T)`` (searched over log T in [-5, 5])."""
    if len(scores) == 0:
        raise IntentEnsembleError("cannot fit a temperature on zero validation rows")

    def loss(log_t: float) -> float:
        logp = log_softmax(scores / np.exp(log_t), axis=1)
        return float(-np.mean(logp[np.arange(len(targets)), targets]))

    result = minimize_scalar(loss, bounds=(-5.0, 5.0), method="bounded")
    return float(np.exp(result.x))


def fit_knn(
    index: FloatArray,
    index_targets: NDArray[np.int64],
    labels: Sequence[str],
    val_embeddings: FloatArray,
    val_targets: NDArray[np.int64],
    *,
    k: int = 10,
) -> KnnMember:
    """A kNN member over ``index`` whose softmax temperature is fitted on validation."""
    member = KnnMember(index, index_targets, labels, None, k=min(k, len(index)))
    sims, rows = member.neighbours(val_embeddings)
    member.temperature = fit_temperature(member.votes(sims, rows), val_targets)
    logger.info("kNN k=%d over %d rows: temperature %.4f", member.k, len(index), member.temperature)
    return member


def fit_logreg(
    embeddings: FloatArray, targets: NDArray[np.int64], labels: Sequence[str], *, c: float = 1.0
) -> LogRegMember:
    """sklearn's multinomial logistic regression with its defaults (L2, C=1, lbfgs) on frozen embeddings.

    Classes missing from ``targets`` get a zero coefficient row and a very negative intercept, so the member
    keeps the full label list.
    """
    present = np.unique(targets)
    if len(present) < 2:
        raise IntentEnsembleError(f"logistic regression needs at least two classes, got {len(present)}")
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(embeddings, targets)
    coef = np.zeros((len(labels), embeddings.shape[1]))
    intercept = np.full(len(labels), -1e4)
    if len(model.classes_) == 2:
        # the binary model has one row w: p(second class) = sigmoid(w.x + b) = softmax([0, w.x + b])[1]
        coef[model.classes_[0]] = 0.0
        intercept[model.classes_[0]] = 0.0
        coef[model.classes_[1]] = model.coef_[0]
        intercept[model.classes_[1]] = model.intercept_[0]
    else:
        coef[model.classes_] = model.coef_
        intercept[model.classes_] = model.intercept_
    return LogRegMember(coef, intercept, labels, None)


def fit_linear_head(
    embeddings: FloatArray,
    targets: NDArray[np.int64],
    n_classes: int,
    val_embeddings: FloatArray,
    val_targets: NDArray[np.int64],
    *,
    epochs: int = 300,
    seed: int = 0,
) -> tuple[FloatArray, FloatArray, float]:
    """The head member's recipe on cached embeddings: full-batch AdamW (lr 1e-2, weight decay 0.01) on a
    linear layer behind dropout 0.1, then a temperature on validation. Returns (weight [C, H], bias [C], T);
    used to retrain the head without held-out intents for pseudo-OOS calibration."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(embeddings.shape[1], n_classes)
    dropout = torch.nn.Dropout(0.1)
    features = torch.from_numpy(embeddings).float()
    y = torch.from_numpy(targets).long()
    optimiser = torch.optim.AdamW(head.parameters(), lr=1e-2, weight_decay=0.01)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(dropout(features)), y)
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    weight = head.weight.detach().numpy().astype(np.float64)
    bias = head.bias.detach().numpy().astype(np.float64)
    temperature = fit_temperature(val_embeddings @ weight.T + bias, val_targets)
    return weight, bias, temperature


@dataclass(frozen=True)
class FusionWeights:
    """Member weights on the simplex (same order as ``names``) and the temperature applied after averaging."""

    names: tuple[str, ...]
    weights: tuple[float, ...]
    temperature: float

    def weight_of(self, name: str) -> float:
        return self.weights[self.names.index(name)]


def fuse(member_probs: Sequence[FloatArray], weights: Sequence[float], temperature: float) -> FloatArray:
    """``softmax(log(sum_m w_m p_m) / T)``: the weighted average of probabilities, then temperature."""
    mixed = sum(w * p for w, p in zip(weights, member_probs, strict=True))
    logits = np.log(np.clip(np.asarray(mixed), _EPS, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    fused: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return fused


def fit_fusion(names: Sequence[str], member_probs: Sequence[FloatArray], targets: NDArray[np.int64]) -> FusionWeights:
    """Weights on the simplex minimising validation NLL of the weighted average (SLSQP), then a temperature."""
    if len(names) != len(member_probs) or not names:
        raise IntentEnsembleError(f"need one probability matrix per member, got {len(member_probs)} for {names}")
    start = np.full(len(names), 1.0 / len(names))

    def loss(w: FloatArray) -> float:
        return nll(sum(wi * p for wi, p in zip(w, member_probs, strict=True)), targets)  # type: ignore[arg-type]

    result = minimize(
        loss,
        start,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * len(names),
        constraints=[{"type": "eq", "fun": lambda w: float(np.sum(w) - 1.0)}],
    )
    weights = np.clip(result.x if result.success else start, 0.0, 1.0)
    weights = weights / weights.sum()
    mixed = sum(w * p for w, p in zip(weights, member_probs, strict=True))
    temperature = fit_temperature(np.log(np.clip(np.asarray(mixed), _EPS, None)), targets)
    logger.info("fusion weights %s, temperature %.4f", dict(zip(names, weights.round(4), strict=True)), temperature)
    return FusionWeights(tuple(names), tuple(float(w) for w in weights), temperature)
