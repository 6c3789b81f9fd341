"""Conformal P10-P90 bands around a point forecast, calibrated on validation windows.

Split conformal prediction on scaled signed errors: on the validation windows, the error of every series
at horizon step k is divided by that series' MASE scale at the window's cutoff, and the errors of all series
are pooled per step. The band at step k is ``point + scale * [q_lo(k), q_hi(k)]`` with ``q_lo``/``q_hi`` the
finite-sample conformal quantiles (ranks ``floor((n + 1) a)`` and ``ceil((n + 1) (1 - a))`` of n scores, a =
0.1), so that a new window exchangeable with the validation ones is covered 80 % of the time. Pooling over
series after scaling gives hundreds of scores per step where one series alone has three windows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import ModelError

__all__ = ["ConformalBand", "band_scales"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]


def band_scales(scales: FloatArray, history_level: FloatArray) -> FloatArray:
    """Scales used to pool errors: the MASE scale, or the mean level (at least 1) where the history never
    changed (scale 0)."""
    fallback = np.maximum(history_level, 1.0)
    return np.asarray(np.where(scales > 0, scales, fallback), dtype=np.float64)


@dataclass(frozen=True)
class ConformalBand:
    """Per-step scaled error quantiles: lower (h,), upper (h,) at ``alpha`` in each tail."""

    lower: FloatArray
    upper: FloatArray
    alpha: float
    scores: int

    @classmethod
    def fit(cls, point: FloatArray, actual: FloatArray, scales: FloatArray, alpha: float = 0.1) -> ConformalBand:
        """``point``/``actual``: (n, V, h) validation forecasts and values; ``scales``: (n, V) band scales."""
        if point.shape != actual.shape or point.ndim != 3 or scales.shape != point.shape[:2]:
            raise ModelError(f"conformal calibration needs (n, V, h) arrays; got {point.shape} and {actual.shape}")
        residual = (actual - point) / scales[:, :, None]  # (n, V, h)
        scores = residual.reshape(-1, residual.shape[2])  # (n V, h)
        n = scores.shape[0]
        if n < math.ceil(1.0 / alpha):
            logger.warning("only %s conformal scores per step: the band is the range of the scores", n)
        ordered = np.sort(scores, axis=0)
        low_rank = max(math.floor((n + 1) * alpha), 1)
        high_rank = min(math.ceil((n + 1) * (1.0 - alpha)), n)
        return cls(lower=ordered[low_rank - 1], upper=ordered[high_rank - 1], alpha=alpha, scores=n)

    def apply(self, point: FloatArray, scales: FloatArray, nonnegative: bool) -> tuple[FloatArray, FloatArray]:
        """P10 and P90 for ``point`` (n, h) with band scales (n,); never crossing the point forecast."""
        lower = point + scales[:, None] * self.lower[None, : point.shape[1]]
        upper = point + scales[:, None] * self.upper[None, : point.shape[1]]
        lower, upper = np.minimum(lower, point), np.maximum(upper, point)
        if nonnegative:
            lower, upper = np.maximum(lower, 0.0), np.maximum(upper, 0.0)
        return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
