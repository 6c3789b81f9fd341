from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cluster.chat import answer_chat, answer_recommend
from cluster.errors import NotFoundError, RequestRejectedError
from cluster.schemas import ChatMode, ChatRequest, RecommendRequest

FACTS = {"stock_code": "22423", "description": "REGENCY CAKESTAND 3 TIER"}


class FakeMembers:
    """Member calls that record the order in which they ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def classify(self, text: str) -> dict[str, Any]:
        self.calls.append(f"intent:{text}")
        return {"intent": "track_order", "confidence": 0.75, "version": "intent:v0007"}

    async def lookup(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        self.calls.append(f"graph:{order_id}:{customer_id}")
        return {"mentions": [{"stock_code": "22423"}], "products": [FACTS], "customer_known": True}

    async def recommend(self, customer_id: int, k: int) -> dict[str, Any]:
        if customer_id != 1:
            return {"found": False, "error": f"unknown customer id {customer_id}"}
        item = {
            "stock_code": "1",
            "description": "A",
            "score": 0.5,
            "explanation": "why",
            "via_stock_code": None,
        }
        return {"found": True, "items": [item] * k}


@pytest.mark.parametrize("mode", list(ChatMode))
def test_chat_combines_both_members(mode: ChatMode) -> None:
    # Prepare
    members = FakeMembers()
    request = ChatRequest(text="where is my cakestand", mode=mode, customer_id=5, order_id="536365")

    # Execute
    response = asyncio.run(answer_chat(request, members.classify, members.lookup, 2000))

    # Assert
    assert (response.intent, response.confidence, response.version) == ("track_order", 0.75, "intent:v0007")
    assert response.products == [FACTS]
    assert [m.name for m in response.members] == ["intent", "knowledge_graph"]
    assert response.members[1].output == {
        "mentions": [{"stock_code": "22423"}],
        "customer_known": True,
        "stock_codes": ["22423"],
    }
    assert all(m.latency_ms >= 0 for m in response.members)
    assert sorted(members.calls) == ["graph:536365:5", "intent:where is my cakestand"]


def test_chat_rejects_text_over_the_cluster_limit_before_calling_members() -> None:
    members = FakeMembers()

    with pytest.raises(RequestRejectedError, match="text has 11 characters; this cluster accepts at most 10"):
        asyncio.run(answer_chat(ChatRequest(text="x" * 11), members.classify, members.lookup, 10))
    assert members.calls == []


def test_recommend_returns_k_items_and_404s_an_unknown_customer() -> None:
    members = FakeMembers()

    response = asyncio.run(answer_recommend(RecommendRequest(customer_id=1, k=3), members.recommend))
    assert len(response.items) == 3
    assert response.items[0].explanation == "why"

    with pytest.raises(NotFoundError, match="unknown customer id 99") as caught:
        asyncio.run(answer_recommend(RecommendRequest(customer_id=99, k=3), members.recommend))
    assert (caught.value.what, caught.value.value) == ("customer_id", 99)
