"""Scores of the vision member on labelled photos: fine and coarse accuracy, macro-F1, ECE, confused pairs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import confusion_matrix, f1_score

from ensemble.metrics import expected_calibration_error
from ensemble.vision.calibration import coarse_probabilities
from ensemble.vision.data import Catalogue

__all__ = ["ClassScores", "classification_report", "confused_pairs"]


@dataclass(frozen=True)
class ClassScores:
    """Calibrated fine probabilities [N, C] of labelled photos with their fine [N] and coarse [N] labels."""

    probabilities: NDArray[np.float64]
    fine: NDArray[np.int64]
    coarse: NDArray[np.int64]


def confused_pairs(
    true: NDArray[np.int64], pred: NDArray[np.int64], names: list[str], top: int = 5
) -> list[dict[str, Any]]:
    """The most frequent (true, predicted) mistakes, most frequent first."""
    matrix = confusion_matrix(true, pred, labels=np.arange(len(names)))
    np.fill_diagonal(matrix, 0)
    flat = np.argsort(-matrix, axis=None)[:top]
    pairs = []
    for index in flat:
        t, p = np.unravel_index(index, matrix.shape)
        if matrix[t, p] == 0:
            break
        pairs.append({"true": names[int(t)], "predicted": names[int(p)], "count": int(matrix[t, p])})
    return pairs


def classification_report(scores: ClassScores, catalogue: Catalogue, *, ooc_threshold: float) -> dict[str, Any]:
    """One JSON-ready dict: accuracy_fine, accuracy_coarse (fine probabilities summed per coarse class),
    macro_f1 (fine), ece (fine, 15 bins), the share flagged out of catalogue and the most confused pairs."""
    fine_pred = scores.probabilities.argmax(axis=1)
    confidence = scores.probabilities.max(axis=1)
    coarse = coarse_probabilities(scores.probabilities, catalogue.fine_to_coarse, len(catalogue.coarse_ids))
    correct = fine_pred == scores.fine
    flagged = confidence < ooc_threshold
    return {
        "photos": len(scores.fine),
        "accuracy_fine": round(float(correct.mean()), 4),
        "accuracy_coarse": round(float((coarse.argmax(axis=1) == scores.coarse).mean()), 4),
        "accuracy_coarse_of_fine_argmax": round(
            float((np.asarray(catalogue.fine_to_coarse)[fine_pred] == scores.coarse).mean()), 4
        ),
        "macro_f1": round(float(f1_score(scores.fine, fine_pred, average="macro", labels=np.unique(scores.fine))), 4),
        "ece": round(expected_calibration_error(confidence, correct), 4),
        "ooc_flagged_share": round(float(flagged.mean()), 4),
        "accuracy_fine_not_flagged": round(float(correct[~flagged].mean()), 4) if (~flagged).any() else None,
        "most_confused": confused_pairs(scores.fine, fine_pred, catalogue.names),
    }
