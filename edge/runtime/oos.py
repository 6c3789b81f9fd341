"""On-device out-of-scope detection from the intent graph's logits, as a bundle's manifest describes it.

The score is computed from the logits [B, C] the graph already outputs, so it costs no extra model. Higher
means more likely out of scope:

- ``energy``: the free energy ``-T * logsumexp(logits / T)`` (Liu et al., 2020, "Energy-based out-of-distribution
  detection"): low when some intent's logit is large.
- ``max-softmax``: ``-max softmax(logits / T)`` (Hendrycks & Gimpel, 2017), the negated top probability.

A message whose score exceeds ``threshold`` is out of scope. The threshold is fitted at export
(``edge.export.oos_fit``) on in-scope validation texts so that a ``target`` share of them stays in scope.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["OosScore", "OosSpec", "oos_scores", "oos_spec_from"]


class OosScore(StrEnum):
    """How the out-of-scope score is computed from the logits."""

    ENERGY = "energy"
    MAX_SOFTMAX = "max-softmax"


def oos_scores(logits: npt.NDArray[np.floating[Any]], score: OosScore, temperature: float) -> npt.NDArray[np.float64]:
    """Out-of-scope score [B] of logits [B, C] (higher: more likely out of scope)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature  # [B, C]
    top = scaled.max(axis=-1, keepdims=True)  # [B, 1], shifts the exponentials for stability
    exp = np.exp(scaled - top)  # [B, C]
    if score is OosScore.ENERGY:
        lse = top[:, 0] + np.log(exp.sum(axis=-1))  # [B]
        energy: npt.NDArray[np.float64] = -temperature * lse
        return energy
    top_prob: npt.NDArray[np.float64] = -(exp.max(axis=-1) / exp.sum(axis=-1))
    return top_prob


@dataclass(frozen=True)
class OosSpec:
    """The manifest's ``oos`` entry: which score, its temperature and threshold, and how the threshold was fitted."""

    score: OosScore
    temperature: float
    threshold: float  # a score above it is out of scope
    target: float  # share of the in-scope validation texts that the threshold keeps in scope
    fitted_on: str  # what the threshold was fitted on, e.g. "452 in-scope validation texts"

    def scores(self, logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        """Scores [B] of logits [B, C]."""
        return oos_scores(logits, self.score, self.temperature)

    def flags(self, logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.bool_]:
        """Which of B messages are out of scope."""
        flagged: npt.NDArray[np.bool_] = self.scores(logits) > self.threshold
        return flagged

    def to_dict(self) -> dict[str, object]:
        return {
            "score": str(self.score),
            "temperature": self.temperature,
            "threshold": self.threshold,
            "target": self.target,
            "fitted_on": self.fitted_on,
        }


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"oos.{name} must be a finite number, got {value!r:.80}; re-export the bundle")
    return float(value)


def oos_spec_from(value: object) -> OosSpec | None:
    """Parse a manifest's ``oos`` entry (absent or null: the bundle has no out-of-scope detection).

    Raises ValueError or TypeError naming the bad field (the manifest reader turns them into a BundleError).
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"oos must be an object or null, got {value!r:.80}; re-export the bundle")
    expected = {"score", "temperature", "threshold", "target", "fitted_on"}
    if set(value) != expected:
        raise ValueError(
            f"oos must have exactly the fields {sorted(expected)}, got {sorted(value)}; re-export the bundle"
        )
    raw_score = value["score"]
    try:
        score = OosScore(raw_score)
    except ValueError as err:
        choices = [str(s) for s in OosScore]
        raise ValueError(f"oos.score must be one of {choices}, got {raw_score!r:.80}; re-export the bundle") from err
    temperature = _number(value["temperature"], "temperature")
    if temperature <= 0.0:
        raise ValueError(f"oos.temperature must be positive, got {temperature}; re-export the bundle")
    threshold = _number(value["threshold"], "threshold")
    target = _number(value["target"], "target")
    if not 0.0 < target < 1.0:
        raise ValueError(f"oos.target must lie strictly between 0 and 1, got {target}; re-export the bundle")
    fitted_on = value["fitted_on"]
    if not isinstance(fitted_on, str) or not fitted_on.strip():
        raise ValueError(f"oos.fitted_on must name what the threshold was fitted on, got {fitted_on!r:.80}")
    return OosSpec(score, temperature, threshold, target, fitted_on)
