"""The ensemble built on a tiny intent version: registry round trip, lineage, the three modes, evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from ensemble.datasets import DataSplits
from ensemble.intent_ensemble import (
    ENSEMBLE_MEMBER,
    IntentEnsemble,
    UnknownModeError,
    evaluate_intent_ensemble,
    fuse,
    load_intent_ensemble,
)
from ensemble.registry import ModelVersion, Registry

from .conftest import LABELS, SMALL_CONFIG

TEXTS = ["cancel my order please", "where is my parcel today", "forgot my password again"]


@pytest.fixture(scope="module")
def loaded(tiny_registry: tuple[Registry, ModelVersion]) -> IntentEnsemble:
    registry, _ = tiny_registry
    return load_intent_ensemble(registry)


def test_version_records_its_parent_and_every_part(tiny_registry: tuple[Registry, ModelVersion]) -> None:
    registry, version = tiny_registry
    artifact = registry.load(ENSEMBLE_MEMBER, version.id)
    assert artifact.lineage.parent == "intent:v0001"
    assert set(artifact.tensors) == {"knn.index", "knn.labels", "logreg.coef", "logreg.intercept"}
    assert artifact.tensors["knn.index"].shape[0] == len(LABELS) * 4
    assert sum(artifact.config["fusion"]["weights"]) == pytest.approx(1.0)
    assert artifact.config["oos"]["score"] in {"max_prob", "knn_similarity", "energy", "combined"}
    assert "pseudo_oos" in artifact.metrics and "val_fusion" in artifact.metrics


def test_parallel_returns_every_member_and_the_head_is_primary(loaded: IntentEnsemble) -> None:
    decisions = loaded.predict(TEXTS, "parallel")
    head = loaded.head.predict_proba(TEXTS)
    assert len(decisions) == len(TEXTS)
    for decision, probs in zip(decisions, head, strict=True):
        assert [m.name for m in decision.members] == ["head", "knn", "logreg"]
        assert decision.intent == LABELS[int(probs.argmax())]
        assert decision.confidence == pytest.approx(float(probs.max()), abs=1e-6)
        assert decision.members[0].intent == decision.intent
        assert all(m.latency_ms >= 0 for m in decision.members)


def test_fusion_primary_equals_the_weighted_average_computed_apart(loaded: IntentEnsemble) -> None:
    # Prepare: each member's probabilities through its own stand-alone path.
    each = [loaded.members[name].predict_proba(TEXTS) for name in loaded.fusion.names]
    expected = fuse(each, loaded.fusion.weights, loaded.fusion.temperature)
    # Execute
    decisions = loaded.predict(TEXTS, "fusion")
    # Assert
    assert [d.intent for d in decisions] == [LABELS[int(i)] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose([d.confidence for d in decisions], expected.max(axis=1), atol=1e-6)
    assert [m.weight for m in decisions[0].members] == list(loaded.fusion.weights)


def test_serial_stops_at_a_sure_head_and_falls_through_otherwise(loaded: IntentEnsemble) -> None:
    loaded.serial_gate = 0.0
    sure = loaded.predict(TEXTS, "serial")
    loaded.serial_gate = 1.01
    unsure = loaded.predict(TEXTS, "serial")
    loaded.serial_gate = SMALL_CONFIG.serial_gate
    fused = loaded.predict(TEXTS, "fusion")
    assert all([m.name for m in d.members] == ["head"] for d in sure)
    assert [d.intent for d in sure] == [d.intent for d in loaded.predict(TEXTS, "parallel")]
    assert all(len(d.members) == 3 for d in unsure)
    assert [d.confidence for d in unsure] == pytest.approx([d.confidence for d in fused])


def test_out_of_scope_flag_follows_the_stored_threshold(loaded: IntentEnsemble) -> None:
    decisions = loaded.predict(TEXTS, "fusion")
    assert [d.out_of_scope for d in decisions] == [d.oos_score < loaded.oos.threshold for d in decisions]
    loaded.oos = type(loaded.oos)(loaded.oos.score, float("inf"), {}, 0.0, 0.0, [])
    assert all(d.out_of_scope for d in loaded.predict(TEXTS, "fusion"))


def test_unknown_mode_is_refused(loaded: IntentEnsemble) -> None:
    with pytest.raises(UnknownModeError, match="serial"):
        loaded.predict(TEXTS, "cascade")


def test_evaluation_counts_unknown_labels_as_errors(loaded: IntentEnsemble, tiny_splits: DataSplits) -> None:
    # Prepare: the training rows with the first label renamed to one the ensemble has never seen.
    frame = tiny_splits.train
    labels = ["no_such_intent" if label == LABELS[0] else label for label in frame.intent]
    predicted = [d.intent for d in loaded.predict(frame.instruction.tolist(), "fusion")]
    expected = np.mean([p == t for p, t in zip(predicted, labels, strict=True)])
    # Execute
    result = evaluate_intent_ensemble(
        loaded, frame.instruction.tolist(), labels, mode="fusion", oos_texts=["what is the weather on mars"]
    )
    # Assert
    assert result["accuracy"] == pytest.approx(expected)
    assert result["accuracy"] <= 1 - 4 / len(labels)
    assert result["unknown_labels"] == 1.0
    assert 0.0 <= result["oos_auroc"] <= 1.0 and 0.0 <= result["oos_recall_at_95_precision"] <= 1.0
