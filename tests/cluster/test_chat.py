from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cluster.chat import answer_chat, answer_recommend
from cluster.errors import NotFoundError, RequestRejectedError
from cluster.schemas import ChatMode, ChatRequest, RecommendRequest
from ensemble.chat import ChatMode as ChainMode

PRODUCT = {"stock_code": "22423", "description": "REGENCY CAKESTAND 3 TIER"}


class FakeMembers:
    """Chain members that record the order in which they ran; the reply states an unsupported price."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def classify(self, text: str, mode: ChainMode) -> dict[str, Any]:
        self.calls.append(f"intent:{mode}")
        member = {"name": "intent_head", "output": {"intent": "track_order"}, "weight": 1.0}
        return {
            "intent": "track_order",
            "confidence": 0.75,
            "out_of_scope": False,
            "version": "intent:v0007",
            "members": [member],
        }

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        self.calls.append(f"graph:{order_id}:{customer_id}")
        return {
            "entities": {"order_numbers": []},
            "products": [PRODUCT],
            "stock_codes": ["22423"],
            "invoice_no": None,
            "prompt_facts": "product: regency cakestand 3 tier",
            "slot_values": {},
        }

    async def reply(self, prompt: str) -> dict[str, Any]:
        self.calls.append("reply")
        return {"text": "It costs £1.00.", "version": "reply:v0001"}

    async def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        self.calls.append("verify")
        supported = "£" not in reply
        claims = [] if supported else [{"kind": "price", "text": "£1.00", "supported": False, "reason": "x"}]
        return {"grounded": supported, "claims": claims}

    async def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        self.calls.append("reference")
        return {"response": "Track it in {{Order History}}.", "intent": intent, "row": 3, "similarity": 0.5}

    async def recommend(self, customer_id: int, k: int, mode: str) -> dict[str, Any]:
        if customer_id != 1:
            # what the ingress's call raises when the graph deployment answers with a miss
            raise NotFoundError("customer_id", customer_id, f"unknown customer id {customer_id}")
        item = {
            "stock_code": "1",
            "description": "A",
            "score": 0.5,
            "explanation": "why",
            "via_stock_code": None,
        }
        run = {"name": "graph", "status": "ran", "reason": "r", "weight": 4.0, "items": k, "latency_ms": 0.1}
        return {
            "customer_id": customer_id,
            "mode": mode,
            "items": [item] * k,
            "lists": {},
            "members": [run],
            "weights": {"graph": 4.0},
            "weights_source": "fixed",
            "fallback": None,
            "fallback_reason": None,
            "reason": f"{mode} mode",
        }


def test_serial_chat_runs_the_chain_in_order_and_falls_back_on_an_unsupported_price() -> None:
    # Prepare
    members = FakeMembers()
    request = ChatRequest(text="where is my cakestand", customer_id=5, order_id="536365")

    # Execute
    response = asyncio.run(answer_chat(request, members, 2000))

    # Assert
    assert members.calls == ["intent:serial", "graph:536365:5", "reply", "verify", "reference", "verify"]
    assert (response.intent, response.confidence, response.version) == ("track_order", 0.75, "intent:v0007")
    assert response.mode is ChatMode.SERIAL
    assert response.products == [PRODUCT]
    assert response.reply == "Track it in Order History."
    assert response.fallback is True
    assert "£1.00" in (response.fallback_reason or "")
    assert response.grounding.grounded is True
    assert [m.name for m in response.members] == [
        "intent_head",
        "knowledge_graph",
        "reply",
        "verifier",
        "verifier",
        "reference",
    ]
    assert [m.weight for m in response.members] == [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("mode", list(ChatMode))
def test_every_mode_reaches_the_intent_member(mode: ChatMode) -> None:
    members = FakeMembers()

    response = asyncio.run(answer_chat(ChatRequest(text="where is it", mode=mode), members, 2000))

    assert members.calls[0] == f"intent:{mode.value}" or f"intent:{mode.value}" in members.calls
    assert response.mode is mode
    assert response.reply == "Track it in Order History."


def test_chat_rejects_text_over_the_cluster_limit_before_calling_members() -> None:
    members = FakeMembers()

    with pytest.raises(RequestRejectedError, match="text has 11 characters; this cluster accepts at most 10"):
        asyncio.run(answer_chat(ChatRequest(text="x" * 11), members, 10))
    assert members.calls == []


def test_recommend_returns_k_items_in_the_mode_asked_and_404s_when_nothing_answers() -> None:
    members = FakeMembers()

    response = asyncio.run(answer_recommend(RecommendRequest(customer_id=1, k=3), members.recommend))
    assert len(response.items) == 3
    assert response.items[0].explanation == "why"
    assert response.mode == "graph"
    assert response.members[0].name == "graph"

    fused = asyncio.run(answer_recommend(RecommendRequest(customer_id=1, k=2, mode="fusion"), members.recommend))
    assert (fused.mode, fused.reason) == ("fusion", "fusion mode")

    with pytest.raises(NotFoundError, match="unknown customer id 99") as caught:
        asyncio.run(answer_recommend(RecommendRequest(customer_id=99, k=3), members.recommend))
    assert (caught.value.what, caught.value.value) == ("customer_id", 99)
