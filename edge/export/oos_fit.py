"""The out-of-scope threshold fitted at export on in-scope validation texts (no out-of-scope data is needed).

The threshold is the ``target`` quantile of the scores (:mod:`edge.runtime.oos`) of validation texts, which are
all in scope: at least that share of them scores at or below it, so about ``1 - target`` of in-scope messages are
flagged and escalated. Held-out out-of-scope sets only measure it (``benchmarks/bench_edge_oos.py``). Messages
written unlike the validation texts score higher, so more than ``1 - target`` of them can be flagged: exports fit
the detection only when asked (``Calibration.oos_score``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.export.errors import ExportError
from edge.runtime.oos import OosScore, OosSpec, oos_scores

__all__ = ["DEFAULT_OOS_TARGET", "fit_oos"]

DEFAULT_OOS_TARGET = 0.95  # share of in-scope validation texts kept in scope


def fit_oos(
    logits: npt.NDArray[np.floating[Any]],
    score: OosScore,
    *,
    target: float = DEFAULT_OOS_TARGET,
    temperature: float = 1.0,
) -> OosSpec:
    """The threshold that keeps ``target`` of the in-scope validation texts whose logits [N, C] are given."""
    if not 0.0 < target < 1.0:
        raise ExportError(f"the out-of-scope target must lie strictly between 0 and 1, got {target}; 0.95 keeps 95 %")
    if not math.isfinite(temperature) or temperature <= 0.0:
        raise ExportError(f"the out-of-scope temperature must be a positive number, got {temperature}; 1.0 is usual")
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim != 2 or len(values) == 0:
        raise ExportError(f"fitting the out-of-scope threshold needs logits [N, C] of N >= 1 texts, got {values.shape}")
    scores = oos_scores(values, score, temperature)  # [N]
    threshold = float(np.quantile(scores, target, method="higher"))  # a score of the set: ties stay in scope
    return OosSpec(
        score=score,
        temperature=temperature,
        threshold=threshold,
        target=target,
        fitted_on=f"{len(scores)} in-scope validation texts",
    )
