"""The served forecaster as a combination of members chosen on validation windows only, with a per-series
fall-back to the best classic baseline.

Candidates are every single member, the mean of the ``k`` members with the lowest pooled validation MASE
(k = 2 .. M) and the median of all members. The candidate with the lowest mean validation MASE (over series
and validation windows) is chosen globally; as every baseline is a candidate, the choice is never worse than
the best baseline on validation. Then, series by series, when the chosen combination's validation MASE is
worse than that of the best baseline (the one with the lowest pooled validation MASE), the series is served
by that baseline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import ModelError
from ensemble.forecasting.members import BASELINES, Member

__all__ = ["Combination", "apply_combination", "choose_combination", "combine_points"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
Combiner = Literal["mean", "median"]


@dataclass(frozen=True)
class Combination:
    """``members`` combined by ``how`` ("mean" or "median"); ``fallback`` maps a series index to the baseline
    serving it instead; ``validation_mase`` is the served forecaster's mean validation MASE."""

    members: tuple[Member, ...]
    how: Combiner
    fallback: dict[int, Member]
    validation_mase: float

    @property
    def name(self) -> str:
        if len(self.members) == 1:
            return str(self.members[0])
        return f"{self.how}({', '.join(self.members)})"

    def describe(self, keys: Sequence[str]) -> dict[str, object]:
        counts: dict[str, int] = {}
        for member in self.fallback.values():
            counts[member] = counts.get(member, 0) + 1
        return {
            "combination": self.name,
            "validation_mase": round(self.validation_mase, 4),
            "series_on_baseline_fallback": len(self.fallback),
            "fallback_members": counts,
            "fallback_examples": [keys[i] for i in sorted(self.fallback)[:5]],
        }


def combine_points(points: Mapping[Member, FloatArray], members: Sequence[Member], how: Combiner) -> FloatArray:
    stacked = np.stack([points[m] for m in members])
    return np.asarray(np.median(stacked, axis=0) if how == "median" else stacked.mean(axis=0), dtype=np.float64)


def _scaled_error(point: FloatArray, actual: FloatArray, scales: FloatArray) -> FloatArray:
    """MASE per (series, window) from (n, V, h) forecasts/actuals and (n, V) scales; nan where the scale is 0."""
    mae = np.abs(point - actual).mean(axis=2)
    return np.asarray(np.where(scales > 0, mae / np.where(scales > 0, scales, 1.0), np.nan), dtype=np.float64)


def choose_combination(
    points: Mapping[Member, FloatArray], actual: FloatArray, scales: FloatArray
) -> tuple[Combination, FloatArray]:
    """Choose on validation windows: ``points`` (member -> (n, V, h)), ``actual`` (n, V, h), ``scales`` (n, V).
    Returns the combination and the served validation forecasts (n, V, h)."""
    if not points:
        raise ModelError("no member forecasts to combine")
    errors = {m: _scaled_error(p, actual, scales) for m, p in points.items()}
    per_series = {m: np.nanmean(e, axis=1) if np.isfinite(e).any() else e[:, 0] for m, e in errors.items()}
    pooled = {m: float(np.nanmean(e)) if np.isfinite(e).any() else float("inf") for m, e in errors.items()}
    ranked = sorted(pooled, key=lambda m: pooled[m])
    candidates: list[tuple[tuple[Member, ...], Combiner]] = [((m,), "mean") for m in ranked]
    candidates += [(tuple(ranked[:k]), "mean") for k in range(2, len(ranked) + 1)]
    if len(ranked) > 2:
        candidates.append((tuple(ranked), "median"))
    best: tuple[float, tuple[Member, ...], Combiner] | None = None
    for members, how in candidates:
        score = _scaled_error(combine_points(points, members, how), actual, scales)
        value = float(np.nanmean(score)) if np.isfinite(score).any() else float("inf")
        if best is None or value < best[0] - 1e-12:
            best = (value, members, how)
    if best is None:
        raise ModelError("no candidate combination could be scored")
    _, members, how = best
    served = combine_points(points, members, how)
    served_series = np.nanmean(_scaled_error(served, actual, scales), axis=1) if served.size else served
    baselines = [m for m in BASELINES if m in points]
    fallback: dict[int, Member] = {}
    if baselines:
        # The best baseline is the one with the lowest pooled validation MASE; a series whose served
        # validation MASE is worse than that baseline's is served by the baseline.
        best_baseline = min(baselines, key=lambda m: pooled[m])
        reference = per_series[best_baseline]
        for i in range(actual.shape[0]):
            if np.isfinite(reference[i]) and np.isfinite(served_series[i]) and served_series[i] > reference[i] + 1e-12:
                fallback[i] = best_baseline
                served[i] = points[best_baseline][i]
    final = _scaled_error(served, actual, scales)
    served_score = float(np.nanmean(final)) if np.isfinite(final).any() else float("nan")
    combination = Combination(members=members, how=how, fallback=fallback, validation_mase=served_score)
    logger.info(
        "chose %s (%s series on a baseline), validation MASE %.4f", combination.name, len(fallback), served_score
    )
    return combination, served


def apply_combination(points: Mapping[Member, FloatArray], combination: Combination) -> FloatArray:
    """The served forecast (n, ...) from member forecasts of the same shape."""
    served = combine_points(points, combination.members, combination.how)
    for i, member in combination.fallback.items():
        served[i] = points[member][i]
    return served
