"""Calibrated confidence: temperature scaling fitted on validation logits, coarse probabilities from fine ones,
and the out-of-catalogue threshold on the calibrated confidence."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional

__all__ = ["coarse_probabilities", "fit_ooc_threshold", "fit_temperature"]


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, max_iter: int = 100) -> float:
    """The T > 0 minimising the validation NLL of softmax(logits / T): [N, C], [N] -> T (Guo et al. 2017)."""
    log_t = torch.zeros((), requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")
    detached = logits.detach().float()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = functional.cross_entropy(detached / log_t.exp(), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def coarse_probabilities(fine: NDArray[np.floating], fine_to_coarse: list[int], num_coarse: int) -> NDArray[np.float64]:
    """Sum the fine-class probabilities per coarse class: [N, C_fine] -> [N, C_coarse]."""
    mapping = np.zeros((len(fine_to_coarse), num_coarse))  # [C_fine, C_coarse] one-hot
    mapping[np.arange(len(fine_to_coarse)), fine_to_coarse] = 1.0
    return np.asarray(fine, dtype=np.float64) @ mapping


def fit_ooc_threshold(confidence: NDArray[np.floating], correct: NDArray[np.bool_], quantile: float) -> float:
    """The confidence below which a photo is flagged out of catalogue: the ``quantile`` of the calibrated
    confidence of correctly classified validation photos (so that share of them would be flagged)."""
    chosen = np.asarray(confidence, dtype=np.float64)[np.asarray(correct, dtype=bool)]
    if chosen.size == 0 or quantile == 0.0:
        return 0.0
    return float(np.quantile(chosen, quantile))
