"""The intent replica serves the intent ensemble built on its intent version, in the same process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from cluster.intent_deployment import IntentRunner
from ensemble.datasets import DataSplits
from ensemble.intent_ensemble import EnsembleConfig, build_intent_ensemble, load_intent_ensemble
from ensemble.registry import Registry

PHRASES = {
    "track_order": ["where is my parcel", "track my order", "where is my package", "order status"],
    "cancel_order": ["cancel my order", "please cancel the purchase", "stop my order", "call off order"],
    "get_refund": ["i want my money back", "refund me", "give me a refund", "money back please"],
}
SMALL = EnsembleConfig(k=3, oos_groups=2, oos_group_min=1, oos_group_max=1, seed=0)


def _frame(suffix: str) -> pd.DataFrame:
    rows = [(f"{text} {suffix}".strip(), label) for label, texts in PHRASES.items() for text in texts]
    return pd.DataFrame(rows, columns=["instruction", "intent"])


SPLITS = DataSplits(train=_frame(""), val=_frame("now"), test=_frame("today"))


def test_runner_picks_up_an_ensemble_built_on_its_version_and_serves_its_members(
    tmp_path: Path, publish_intent: Callable[[Registry, int], str]
) -> None:
    # Prepare: the runner starts on a registry without an ensemble.
    torch.set_num_threads(1)
    registry = Registry(tmp_path)
    intent = publish_intent(registry, 0)
    runner = IntentRunner(registry)
    head_only = runner.status()
    built = build_intent_ensemble(registry, intent, SPLITS, config=SMALL).id
    texts = ["where is my parcel", "refund me please"]
    expected = load_intent_ensemble(registry, built).predict(texts, "fusion")

    # Execute
    switched = runner.switch(None)
    decisions = runner.decide([(texts[0], "fusion"), (texts[1], "fusion")])
    status = runner.status()

    # Assert
    assert head_only["stage"] == "head_only"
    assert head_only["ensemble_version"] is None
    assert "intent-ensemble" in head_only["reason"]
    assert switched is True
    assert runner.switch(None) is False
    assert (status["stage"], status["version"], status["ensemble_version"]) == ("ensemble", intent, built)
    assert [d["intent"] for d in decisions] == [e.intent for e in expected]
    assert [d["out_of_scope"] for d in decisions] == [e.out_of_scope for e in expected]
    assert [m["name"] for m in decisions[0]["members"]] == ["intent_head", "intent_knn", "intent_logreg"]
    assert {d["version"] for d in decisions} == {intent}


def test_runner_serves_the_head_of_a_new_intent_version_without_an_ensemble(
    tmp_path: Path, publish_intent: Callable[[Registry, int], str]
) -> None:
    # Prepare: an ensemble on the first version only.
    torch.set_num_threads(1)
    registry = Registry(tmp_path)
    first = publish_intent(registry, 0)
    build_intent_ensemble(registry, first, SPLITS, config=SMALL)
    runner = IntentRunner(registry)
    second = publish_intent(registry, 1)

    # Execute
    on_first = runner.status()["stage"]
    runner.switch(second)
    decision = runner.decide([("where is my parcel", "fusion")])[0]

    # Assert
    assert on_first == "ensemble"
    assert runner.status()["stage"] == "head_only"
    assert decision["version"] == second
    assert [m["name"] for m in decision["members"]] == ["intent_head"]


def test_runner_serves_a_named_ensemble_version_on_the_intent_version_it_is_built_on(
    tmp_path: Path, publish_intent: Callable[[Registry, int], str]
) -> None:
    # Prepare: two ensembles on the first intent version, and a newer intent version the runner serves.
    torch.set_num_threads(1)
    registry = Registry(tmp_path)
    first = publish_intent(registry, 0)
    older = build_intent_ensemble(registry, first, SPLITS, config=SMALL).id
    build_intent_ensemble(registry, first, SPLITS, config=SMALL)
    second = publish_intent(registry, 1)
    runner = IntentRunner(registry, second)

    # Execute
    outcome = runner.apply({"version": second, "ensemble_version": older})
    status = runner.status()
    back = runner.apply({"version": second})

    # Assert: the named (older) ensemble on its own intent version, then the head of the second version again
    assert (outcome.member, outcome.serving, outcome.error) == ("intent-ensemble", older, None)
    assert (status["version"], status["ensemble_version"]) == (first, older)
    assert (back.member, back.serving) == ("intent", second) and runner.status()["ensemble_version"] is None
