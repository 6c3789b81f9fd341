"""Fusion weights on the simplex, and the out-of-scope metrics and calibration on synthetic clusters."""

from __future__ import annotations

import numpy as np
import pytest

from ensemble.intent_ensemble import calibrate_oos, fit_fusion, fuse
from ensemble.intent_ensemble.fitting import FusionWeights
from ensemble.intent_ensemble.oos import oos_auroc, recall_at_precision


def test_fuse_is_the_tempered_weighted_average() -> None:
    a = np.array([[0.8, 0.2]])
    b = np.array([[0.2, 0.8]])
    fused = fuse([a, b], [0.75, 0.25], 0.5)
    mixed = np.array([0.65, 0.35])
    expected = mixed**2 / (mixed**2).sum()
    np.testing.assert_allclose(fused[0], expected)


def test_fusion_weights_favour_the_informative_member() -> None:
    # Prepare: member "good" puts 0.9 on the true class, member "noise" is uniform.
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 3, 300)
    good = np.full((300, 3), 0.05)
    good[np.arange(300), targets] = 0.9
    noise = np.full((300, 3), 1 / 3)
    # Execute
    weights = fit_fusion(["good", "noise"], [good, noise], targets)
    # Assert
    assert sum(weights.weights) == pytest.approx(1.0)
    assert weights.weight_of("good") > 0.95
    assert weights.temperature > 0


def test_recall_at_precision_on_a_hand_ranked_example() -> None:
    # Prepare: in-scope scores; lower = more out of scope. Ranking by -score: o, o, i, o, i, i.
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    is_oos = np.array([True, True, False, True, False, False])
    # Execute
    recall, threshold = recall_at_precision(is_oos, scores, precision=0.95)
    recall_75, _ = recall_at_precision(is_oos, scores, precision=0.75)
    # Assert: only the first two flags are 100 % precise (recall 2/3); 3/4 precision reaches recall 1.
    assert recall == pytest.approx(2 / 3)
    assert 0.2 < threshold <= 0.3
    assert recall_75 == pytest.approx(1.0)
    # AUROC: of the 9 (oos, in) pairs, only (0.4, 0.3) is ordered wrongly -> 8/9.
    assert oos_auroc(is_oos, scores) == pytest.approx(8 / 9)


def test_pseudo_oos_calibration_separates_held_out_clusters() -> None:
    # Prepare: 8 well separated clusters on the unit sphere in 16 dimensions.
    rng = np.random.default_rng(0)
    centres = np.linalg.qr(rng.normal(size=(16, 16)))[0][:8]

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(8), n)
        x = centres[y] + rng.normal(0, 0.15, (len(y), 16))
        return x / np.linalg.norm(x, axis=1, keepdims=True), y

    labels = [f"c{i}" for i in range(8)]
    fusion = FusionWeights(("head", "knn", "logreg"), (1 / 3, 1 / 3, 1 / 3), 1.0)
    # Execute
    result = calibrate_oos(sample(20), sample(10), labels, fusion, k=5, groups=2, group_size=(2, 3))
    # Assert
    assert result.score in result.auroc
    assert result.auroc[result.score] == max(result.auroc.values())
    assert result.auroc["knn_similarity"] > 0.9
    assert len(result.groups) == 2 and all(2 <= len(g) <= 3 for g in result.groups)
    assert 0.0 <= result.false_alarm_rate <= 1.0
