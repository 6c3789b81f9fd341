"""Members on hand-made embeddings: kNN votes, logistic regression against sklearn, temperature fitting."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from ensemble.intent_ensemble import IntentEnsembleError, KnnMember, fit_logreg
from ensemble.intent_ensemble.fitting import fit_temperature, nll

LABELS = ["a", "b", "c"]


def _unit(*rows: tuple[float, float]) -> np.ndarray:
    x = np.array(rows, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_knn_votes_are_similarity_weighted_and_normalised() -> None:
    # Prepare: four index rows; the query is at 0 degrees.
    index = _unit((1, 0), (1, 1), (0, 1), (-1, 0))
    member = KnnMember(index, np.array([0, 1, 1, 2]), LABELS, None, k=3, temperature=1.0)
    query = _unit((1, 0))
    # Execute
    sims, rows = member.neighbours(query)
    votes = member.votes(sims, rows)
    probs = member.proba_from_embeddings(query)
    # Assert: neighbours are rows 0 (cos 1), 1 (cos 0.7071) and 2 (cos 0, clipped to 1e-6).
    assert rows.tolist() == [[0, 1, 2]]
    s = 1.0 + np.sqrt(0.5) + 1e-6
    np.testing.assert_allclose(votes, [[1.0 / s, (np.sqrt(0.5) + 1e-6) / s, 0.0]], atol=1e-9)
    expected = np.exp(votes[0]) / np.exp(votes[0]).sum()
    np.testing.assert_allclose(probs[0], expected)


def test_knn_refuses_k_larger_than_the_index() -> None:
    with pytest.raises(IntentEnsembleError, match="k must lie"):
        KnnMember(_unit((1, 0)), np.array([0]), LABELS, None, k=2)


def test_logreg_member_matches_sklearn_and_keeps_absent_classes_impossible() -> None:
    # Prepare: three separable blobs, but the training targets use only classes 0 and 2.
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal([3, 0], 0.3, (20, 2)), rng.normal([-3, 0], 0.3, (20, 2))])
    y = np.array([0] * 20 + [2] * 20)
    # Execute
    member = fit_logreg(x, y, LABELS)
    reference = LogisticRegression(max_iter=2000).fit(x, y)
    probs = member.proba_from_embeddings(x)
    # Assert
    np.testing.assert_allclose(probs[:, [0, 2]], reference.predict_proba(x), atol=1e-8)
    assert probs[:, 1].max() < 1e-12


def test_temperature_fit_recovers_a_known_temperature() -> None:
    # Prepare: labels sampled from softmax(logits / 2), so T = 2 is the maximum-likelihood temperature.
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, (4000, 4))
    p = np.exp(logits / 2) / np.exp(logits / 2).sum(axis=1, keepdims=True)
    targets = np.array([rng.choice(4, p=row) for row in p])
    # Execute
    temperature = fit_temperature(logits, targets)
    # Assert
    assert temperature == pytest.approx(2.0, rel=0.1)
    assert nll(p, targets) < nll(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), targets)
