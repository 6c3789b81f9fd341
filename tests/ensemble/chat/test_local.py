"""The chain's in-process members on tiny real models, the reference index, entities and the intent adapter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ensemble.chat import (
    ChatMode,
    ChatRequest,
    EnsembleIntentStage,
    ReferenceIndex,
    extract_entities,
    load_local_members,
)
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.members.reply import GenerationSettings, ReplyModel
from ensemble.members.reply_artifact import save_reply
from ensemble.registry import Lineage, Registry
from knowledge_graph.graph import ProductGraph

LINEAGE = Lineage(parent=None, data_fingerprint="test", method="central")


def _references() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "instruction": ["where is my order", "i want a refund", "refund my money back"],
            "intent": ["track_order", "get_refund", "get_refund"],
            "response": ["Track it under {{Order History}}.", "Refund A.", "Refund B: money back soon."],
        }
    )


def test_tiny_models_end_to_end_give_a_checked_reply(tmp_path: Path, graph: ProductGraph) -> None:
    # Prepare: a registry with a random tiny intent model and a random tiny reply model.
    registry = Registry(tmp_path / "registry")
    intent = IntentModel.tiny(["track_order", "get_refund"], seed=0)
    intent_version = save_intent(registry, intent, metrics={}, lineage=LINEAGE).id
    reply = ReplyModel.tiny(["where is my order", "Track it under {{Order History}}.", "refund"], seed=0)
    settings = GenerationSettings(max_new_tokens=12, repetition_penalty=1.3, no_repeat_ngram_size=2)
    reply_version = save_reply(registry, reply, metrics={}, lineage=LINEAGE, generation=settings).id

    # Execute
    members = load_local_members(registry, graph, _references())
    answer = members.answer(ChatRequest(text="where is order 536365?", customer_id=12001))

    # Assert
    assert members.replies.status()["version"] == reply_version
    assert members.replies.status()["generation"]["no_repeat_ngram_size"] == 2
    assert answer.version == intent_version
    assert answer.intent in {"track_order", "get_refund"}
    assert answer.grounding["checked"] is True
    assert answer.grounding["grounded"] is True
    assert answer.entities["order_numbers"] == ["536365"]
    assert [m.name for m in answer.members][:3] == ["intent_head", "knowledge_graph", "reply"]
    assert answer.members[1].output["invoice_no"] == "536365"


def test_without_a_reply_version_the_members_answer_by_retrieval(tmp_path: Path, graph: ProductGraph) -> None:
    registry = Registry(tmp_path / "registry")
    save_intent(registry, IntentModel.tiny(["get_refund", "cancel_order"], seed=0), metrics={}, lineage=LINEAGE)

    members = load_local_members(registry, graph, _references())
    answer = members.answer(ChatRequest(text="i want my money back", mode=ChatMode.PARALLEL))

    assert members.replies.status()["mode"] == "retrieval_only"
    assert answer.fallback is True
    assert answer.reply == "Refund B: money back soon."


def test_reference_index_returns_the_nearest_message_within_the_intent() -> None:
    index = ReferenceIndex.from_frame(_references())

    within = index.nearest("money back please", "get_refund")
    restricted = index.nearest("money back please", "track_order")
    anywhere = index.nearest("money back please", "no_such_intent")

    assert (within.response, within.row) == ("Refund B: money back soon.", 2)
    assert restricted.response == "Track it under {{Order History}}."
    assert anywhere.row == 2
    assert 0.0 < within.similarity <= 1.0


def test_entities_are_read_from_the_text() -> None:
    found = extract_entities("Order C536365 and 536366 cost £12.50 twice; mail me at a.b@shop.co.uk re 536366")

    assert found["order_numbers"] == ["C536365", "536366"]
    assert found["emails"] == ["a.b@shop.co.uk"]
    assert found["amounts"] == [{"value": "12.50", "currency": "GBP"}]
    assert found["products"] == []
    assert [(e["kind"], e["span"]) for e in found["found"]][:2] == [
        ("invoice_number", [6, 13]),
        ("invoice_number", [18, 24]),
    ]


@dataclass
class _Member:
    name: str
    intent: str
    confidence: float
    weight: float


@dataclass
class _Decision:
    intent: str
    confidence: float
    out_of_scope: bool
    members: list[_Member]


class _FakeEnsemble:
    def __init__(self) -> None:
        self.modes: list[str] = []

    def predict(self, texts: list[str], mode: str) -> list[_Decision]:
        self.modes.append(mode)
        parts = [_Member("head", "track_order", 0.8, 0.6), _Member("knn", "track_order", 0.6, 0.4)]
        return [_Decision("track_order", 0.72, mode == "fusion", parts) for _ in texts]


def test_the_intent_ensemble_adapter_passes_the_mode_and_lists_members() -> None:
    ensemble = _FakeEnsemble()
    stage = EnsembleIntentStage(ensemble, "intent:v0003")

    serial: dict[str, Any] = stage.decide(["where is it"], ChatMode.SERIAL)[0]
    fusion: dict[str, Any] = stage.decide(["where is it"], ChatMode.FUSION)[0]

    assert ensemble.modes == ["serial", "fusion"]
    assert (serial["intent"], serial["confidence"], serial["out_of_scope"]) == ("track_order", 0.72, False)
    assert fusion["out_of_scope"] is True
    assert serial["members"] == [
        {"name": "intent_head", "output": {"intent": "track_order", "confidence": 0.8}, "weight": 0.6},
        {"name": "intent_knn", "output": {"intent": "track_order", "confidence": 0.6}, "weight": 0.4},
    ]


def test_a_reference_keeps_no_order_number_of_its_training_request() -> None:
    frame = pd.DataFrame(
        {
            "instruction": ["check invoice 85632", "hi i am ann, track it"],
            "intent": ["check_invoice", "track_order"],
            "entity_type": ["invoice_id", "person_name"],
            "entity_value": ["85632", "Ann"],
            "response": ["Invoice #85632 is under {{Billing}}; #85632 again.", "Hello Ann, tracking is easy."],
        }
    )

    index = ReferenceIndex.from_frame(frame)

    assert index.nearest("check invoice", "check_invoice").response == (
        "Invoice #{{Invoice Number Anonymized}} is under {{Billing}}; #{{Invoice Number Anonymized}} again."
    )
    assert index.nearest("track", "track_order").response == "Hello {{Name Field Anonymized}}, tracking is easy."
