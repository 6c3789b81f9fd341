"""The intent stage the chain serves: the intent ensemble built on the served intent version, else the head."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from ensemble.chat import (
    HEAD_ONLY_REASON,
    ChatMode,
    ChatRequest,
    EnsembleIntentStage,
    HeadIntentStage,
    ensemble_version_for,
    extract_entities,
    load_intent_stage,
    load_local_members,
)
from ensemble.datasets import DataSplits
from ensemble.intent_ensemble import EnsembleConfig, build_intent_ensemble, load_intent_ensemble
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from ensemble.training import TrainConfig, train_head
from knowledge_graph.graph import ProductGraph

LABELS = ["track_order", "get_refund", "cancel_order"]
PHRASES = {
    "track_order": ["where is my parcel", "track my order", "where is my package", "order status"],
    "get_refund": ["i want my money back", "refund me", "give me a refund", "money back please"],
    "cancel_order": ["cancel my order", "please cancel the purchase", "stop my order", "call off order"],
}
SMALL = EnsembleConfig(k=3, oos_groups=2, oos_group_min=1, oos_group_max=1, seed=0)
LINEAGE = Lineage(parent=None, data_fingerprint="test", method="central")
REFERENCES = pd.DataFrame(
    {
        "instruction": ["where is my order", "i want a refund", "cancel it"],
        "intent": ["track_order", "get_refund", "cancel_order"],
        "response": ["Track it on our {{Website Name}}.", "Refund requested.", "Cancelled as asked."],
    }
)


def _frame(suffix: str) -> pd.DataFrame:
    rows = [(f"{text} {suffix}".strip(), label) for label, texts in PHRASES.items() for text in texts]
    return pd.DataFrame(rows, columns=["instruction", "intent"])


def _publish_intent(registry: Registry, seed: int) -> str:
    torch.manual_seed(seed)
    model = IntentModel.tiny(LABELS, seed=seed)
    train = _frame("")
    train_head(model, train.instruction.tolist(), train.intent.tolist(), TrainConfig(head_epochs=20))
    return save_intent(registry, model, metrics={}, lineage=LINEAGE).id


SPLITS = DataSplits(train=_frame(""), val=_frame("now"), test=_frame("today"))


@pytest.fixture(scope="module")
def ensemble_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, str, str]:
    """A registry with an intent version and an intent-ensemble version built on it."""
    torch.set_num_threads(1)
    registry = Registry(tmp_path_factory.mktemp("registry"))
    intent = _publish_intent(registry, 0)
    built = build_intent_ensemble(registry, intent, SPLITS, config=SMALL)
    return registry, intent, built.id


def test_without_an_ensemble_the_head_serves_alone_and_says_so(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    intent = save_intent(registry, IntentModel.tiny(LABELS, seed=0), metrics={}, lineage=LINEAGE).id

    # Execute
    stage = load_intent_stage(registry)
    decision = stage.decide(["where is my parcel"], ChatMode.FUSION)[0]

    # Assert
    assert isinstance(stage, HeadIntentStage)
    assert stage.status() == {
        "stage": "head_only",
        "version": intent,
        "ensemble_version": None,
        "reason": HEAD_ONLY_REASON,
    }
    assert decision["stage"] == "head_only"
    assert decision["out_of_scope"] is False
    assert [m["name"] for m in decision["members"]] == ["intent_head"]
    assert decision["members"][0]["output"]["note"] == HEAD_ONLY_REASON


@pytest.mark.parametrize("mode", list(ChatMode))
def test_the_ensemble_built_on_the_intent_version_decides_in_each_mode(
    ensemble_registry: tuple[Registry, str, str], mode: ChatMode
) -> None:
    # Prepare
    registry, intent, built = ensemble_registry
    texts = ["where is my parcel", "refund me now", "what is the weather on mars"]
    expected = load_intent_ensemble(registry, built).predict(texts, mode.value)

    # Execute
    stage = load_intent_stage(registry)
    decisions = stage.decide(texts, mode)

    # Assert
    assert isinstance(stage, EnsembleIntentStage)
    assert stage.status() == {"stage": "ensemble", "version": intent, "ensemble_version": built}
    assert [d["intent"] for d in decisions] == [e.intent for e in expected]
    assert [d["out_of_scope"] for d in decisions] == [e.out_of_scope for e in expected]
    assert [d["oos_score"] for d in decisions] == pytest.approx([e.oos_score for e in expected])
    for decision, want in zip(decisions, expected, strict=True):
        assert decision["version"] == intent
        assert decision["ensemble_version"] == built
        assert [m["name"] for m in decision["members"]] == [f"intent_{m.name}" for m in want.members]
        assert [m["weight"] for m in decision["members"]] == pytest.approx([m.weight for m in want.members])


def test_an_ensemble_on_another_intent_version_is_not_used(ensemble_registry: tuple[Registry, str, str]) -> None:
    # Prepare
    registry, intent, built = ensemble_registry

    # Execute / Assert
    found = ensemble_version_for(registry, intent)
    assert found is not None
    assert found.id == built
    assert ensemble_version_for(registry, "intent:v0099") is None


def test_local_members_answer_with_the_ensemble_members(
    ensemble_registry: tuple[Registry, str, str], graph: ProductGraph
) -> None:
    # Prepare
    registry, intent, _ = ensemble_registry
    members = load_local_members(registry, graph, REFERENCES)

    # Execute
    answer = members.answer(ChatRequest(text="where is my parcel 536365?", mode=ChatMode.FUSION, customer_id=12001))

    # Assert
    names = [m.name for m in answer.members]
    assert names[:3] == ["intent_head", "intent_knn", "intent_logreg"]
    assert answer.version == intent
    assert answer.entities["order_numbers"] == ["536365"]
    assert answer.entities["found"] == extract_entities("where is my parcel 536365?")["found"]
