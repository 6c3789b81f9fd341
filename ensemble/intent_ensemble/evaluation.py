"""Evaluating the intent ensemble on labelled messages, optionally with a file of out-of-scope messages."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ensemble.errors import DataError
from ensemble.intent_ensemble.predictor import EnsembleDecision, EnsembleMode, IntentEnsemble
from ensemble.intent_ensemble.scoring import classification_metrics, oos_metrics
from ensemble.metrics import accuracy, expected_calibration_error, macro_f1

__all__ = ["evaluate_intent_ensemble", "evaluate_members", "score_decisions"]

logger = logging.getLogger(__name__)


def evaluate_intent_ensemble(
    ensemble: IntentEnsemble,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    mode: str | EnsembleMode = EnsembleMode.FUSION,
    oos_texts: Sequence[str] | None = None,
) -> dict[str, float]:
    """Accuracy, macro-F1 and ECE of the primary answers in ``mode`` (labels the ensemble does not know count as
    errors), the share of these in-scope rows flagged out of scope, and with ``oos_texts`` the AUROC and recall
    at 95 % precision of flagging those."""
    if len(texts) != len(labels):
        raise DataError(f"got {len(texts)} texts but {len(labels)} labels; they must pair up")
    if not texts:
        raise DataError("no labelled rows to evaluate; give a CSV with at least one row")
    return score_decisions(ensemble, ensemble.predict(texts, mode), labels, mode=mode, oos_texts=oos_texts)


def score_decisions(
    ensemble: IntentEnsemble,
    decisions: Sequence[EnsembleDecision],
    labels: Sequence[str],
    *,
    mode: str | EnsembleMode = EnsembleMode.FUSION,
    oos_texts: Sequence[str] | None = None,
) -> dict[str, float]:
    """The metrics of :func:`evaluate_intent_ensemble` for ``decisions`` already made on the labelled texts
    (one per label, in ``mode``), for a caller that also wants the decisions themselves."""
    if len(decisions) != len(labels):
        raise DataError(f"got {len(decisions)} decisions but {len(labels)} labels; they must pair up")
    if not decisions:
        raise DataError("no labelled rows to evaluate; give a CSV with at least one row")
    predicted = [d.intent for d in decisions]
    confidence = np.array([d.confidence for d in decisions])
    correct = np.array([p == t for p, t in zip(predicted, labels, strict=True)])
    scores = np.array([d.oos_score for d in decisions])
    result = {
        "accuracy": accuracy(list(labels), predicted),
        "macro_f1": macro_f1(list(labels), predicted),
        "ece": expected_calibration_error(confidence, correct),
        "examples": float(len(decisions)),
        "flagged_out_of_scope": float(np.mean([d.out_of_scope for d in decisions])),
        "unknown_labels": float(len(set(labels) - set(ensemble.labels))),
    }
    if oos_texts is not None:
        if not oos_texts:
            raise DataError("the out-of-scope file has no rows; give at least one out-of-scope message")
        oos = ensemble.predict(oos_texts, mode)
        result.update(oos_metrics(scores, np.array([d.oos_score for d in oos])))
        result["oos_examples"] = float(len(oos_texts))
    return result


def evaluate_members(
    ensemble: IntentEnsemble, texts: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Accuracy, macro-F1 and ECE of each member and of the fusion, from one encoder pass."""
    embeddings = ensemble.embed(texts)
    probs = ensemble.member_probabilities(embeddings)
    probs["fusion"] = ensemble.fuse(probs)
    return {name: classification_metrics(ensemble.labels, labels, p) for name, p in probs.items()}
