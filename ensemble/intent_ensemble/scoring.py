"""Task metrics of an intent predictor: accuracy, macro-F1, ECE, and out-of-scope detection quality."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ensemble.intent_ensemble.members import FloatArray
from ensemble.intent_ensemble.oos import oos_auroc, recall_at_precision
from ensemble.metrics import accuracy, expected_calibration_error, macro_f1

__all__ = ["classification_metrics", "oos_metrics"]


def classification_metrics(labels: Sequence[str], truth: Sequence[str], probs: FloatArray) -> dict[str, float]:
    """Accuracy, macro-F1 and ECE of the argmax of ``probs`` [N, C]; true labels outside ``labels`` count as
    errors (they can never be predicted)."""
    predicted = [labels[int(i)] for i in probs.argmax(axis=1)]
    correct = np.array([p == t for p, t in zip(predicted, truth, strict=True)])
    return {
        "accuracy": accuracy(list(truth), predicted),
        "macro_f1": macro_f1(list(truth), predicted),
        "ece": expected_calibration_error(probs.max(axis=1), correct),
        "examples": float(len(truth)),
    }


def oos_metrics(in_scope_scores: FloatArray, oos_scores: FloatArray) -> dict[str, float]:
    """AUROC and recall at 95 % precision of flagging the out-of-scope rows by a low in-scope score."""
    scores = np.concatenate([in_scope_scores, oos_scores])
    is_oos = np.concatenate([np.zeros(len(in_scope_scores), bool), np.ones(len(oos_scores), bool)])
    recall, _ = recall_at_precision(is_oos, scores)
    return {"oos_auroc": oos_auroc(is_oos, scores), "oos_recall_at_95_precision": recall}
