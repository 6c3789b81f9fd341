"""The co-located chat chain without Ray: the same answers as the chain composed member by member."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from cluster.colocated import ColocatedChain
from cluster.graph_deployment import GraphService
from cluster.handles import HandleMembers, ReplyModelAbsence
from cluster.intent_deployment import IntentRunner
from ensemble.chat import ChatMode, ChatRequest, LocalMembers, ReferenceIndex, ReplyService, answer_message
from ensemble.chat.ensemble_intent import load_intent_stage
from ensemble.members.intent_adapter import ServedAdapter
from ensemble.registry import Registry
from knowledge_graph.graph import ProductGraph

REFERENCES = pd.DataFrame(
    {
        "instruction": ["where is my order", "i want a refund", "cancel my order now"],
        "intent": ["track_order", "get_refund", "cancel_order"],
        "response": [
            "I can help you track order {{Order Number}}. Open {{Order History}}.",
            "I'm sorry to hear that. Refunds are handled by {{Customer Support Phone Number}}.",
            "I can cancel order {{Order Number}} for you.",
        ],
    }
)

REQUESTS = [
    ChatRequest("Where is my regency cakestand 3 tier?", ChatMode.SERIAL, customer_id=12001),
    ChatRequest("where is my order 536366?", ChatMode.PARALLEL, customer_id=12001),
    ChatRequest("refund please", ChatMode.FUSION),
    ChatRequest("cancel order 536365", ChatMode.SERIAL, customer_id=12001, order_id="536365"),
    ChatRequest("is the white metal lantern in stock?", ChatMode.PARALLEL, customer_id=99999),
]


class ScriptedReplies(ReplyService):
    """A reply service whose model writes a fixed text (one that states a price the graph does not hold)."""

    def __init__(self, text: str, references: ReferenceIndex) -> None:
        super().__init__(None, references)
        self.text = text

    def generate(self, prompts: Sequence[str]) -> list[dict[str, Any]]:
        return [{"text": self.text, "version": "reply:v0001"} for _ in prompts]


def _rounded(value: Any) -> Any:
    # A batch pads its texts to the longest one, which moves the encoder's floats in the 7th digit.
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _without_latencies(answer: dict[str, Any]) -> dict[str, Any]:
    members = [{k: v for k, v in m.items() if k != "latency_ms"} for m in answer["members"]]
    rounded: dict[str, Any] = _rounded({**answer, "members": members})
    return rounded


def _composed(registry: Registry, graph_dir: Path, replies: ReplyService) -> list[dict[str, Any]]:
    members = LocalMembers(load_intent_stage(registry, None), ProductGraph.load(graph_dir), replies)
    return [asyncio.run(answer_message(request, members)).to_dict() for request in REQUESTS]


@pytest.fixture(scope="module")
def graph(graph_dir: Path) -> GraphService:
    return GraphService.load(graph_dir)


@pytest.mark.parametrize("reply_text", [None, "It costs £1.00.", "Thank you, we will look into it."])
def test_one_batch_answers_every_request_as_the_composed_chain_does(
    registry: Registry, graph: GraphService, graph_dir: Path, reply_text: str | None
) -> None:
    # Prepare
    references = ReferenceIndex.from_frame(REFERENCES)
    replies = ReplyService(None, references) if reply_text is None else ScriptedReplies(reply_text, references)
    chain = ColocatedChain(IntentRunner(registry), graph, replies)

    # Execute
    colocated = chain.answer_batch(REQUESTS)
    composed = _composed(registry, graph_dir, replies)

    # Assert
    assert [_without_latencies(a) for a in colocated] == [_without_latencies(a) for a in composed]
    assert {a["mode"] for a in colocated} == {"serial", "parallel", "fusion"}
    assert all(m["latency_ms"] >= 0 for a in colocated for m in a["members"])
    if reply_text is None:
        assert all("no reply model" in a["fallback_reason"] for a in colocated)


class BrokenIntent(IntentRunner):
    """An intent runner whose model pass fails (a replica that lost its weights)."""

    def decide(
        self,
        requests: Sequence[tuple[str, str]],
        units: Sequence[str | None] | None = None,
        request_ids: Sequence[str] | None = None,
        adapter: ServedAdapter | None = None,
        merchants: Sequence[str | None] | None = None,
        adapter_error: str | None = None,
    ) -> list[dict[str, Any]]:
        raise RuntimeError("intent weights are gone")


def test_a_failed_intent_pass_degrades_every_answer_of_its_batch(registry: Registry, graph: GraphService) -> None:
    chain = ColocatedChain(BrokenIntent(registry), graph, ReplyService(None, ReferenceIndex.from_frame(REFERENCES)))

    answers = chain.answer_batch(REQUESTS[:2])

    assert [a["intent"] for a in answers] == ["unknown", "unknown"]
    assert all(a["degraded"][0].startswith("intent member failed (RuntimeError: intent weights") for a in answers)
    assert all(a["reply"] and a["grounding"]["checked"] for a in answers)


class CountingReply:
    """A stand-in for the reply deployment's handle: ``generate.remote`` answers "no model" and counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.generate = self

    def remote(self, item: tuple[str, str]) -> Any:
        self.calls += 1

        async def answer() -> dict[str, Any]:
            return {"text": None, "version": None, "reason": "no reply model loaded", "batch_size": 1}

        return asyncio.ensure_future(answer())


def test_reply_calls_are_skipped_while_the_reply_member_has_no_model_and_asked_again_after() -> None:
    # Prepare
    reply = CountingReply()
    absence = ReplyModelAbsence(recheck_s=0.2)
    handles: dict[str, Any] = {"intent": None, "graph": None, "reply": reply}

    async def three_chains() -> list[dict[str, Any]]:
        answers = [await HandleMembers(handles, f"r{i}", 5.0, absence).reply("prompt") for i in range(2)]
        await asyncio.sleep(0.25)
        answers.append(await HandleMembers(handles, "r3", 5.0, absence).reply("prompt"))
        return answers

    # Execute
    answers = asyncio.run(three_chains())

    # Assert
    assert reply.calls == 2  # the first chain asked, the second did not, the third asked again after recheck_s
    assert answers[1] == {"text": None, "version": None, "reason": "no reply model loaded"}
    assert all(a["reason"] == "no reply model loaded" and a["text"] is None for a in answers)
    absence.observe({"text": "Hello", "version": "reply:v0002"})
    assert absence.known() is None  # a reply model answered: every chain asks again
