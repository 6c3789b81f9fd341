"""Fixtures of the chat-chain tests: a tiny product graph, a small reference set and stub members."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import pytest

from ensemble.chat import ChatMode, LocalMembers, ReferenceIndex, ReplyService
from knowledge_graph.build import build_graph
from knowledge_graph.config import BuildConfig
from knowledge_graph.graph import ProductGraph

PRODUCTS = {
    "85123A": ("WHITE HANGING HEART T-LIGHT HOLDER", 2.55),
    "71053": ("WHITE METAL LANTERN", 3.39),
    "22423": ("REGENCY CAKESTAND 3 TIER", 12.75),
}
# invoice -> (customer, products); every line has quantity 6
ORDERS = {
    "536365": (12001, ["85123A", "71053"]),
    "536366": (12001, ["22423"]),
    "536367": (12002, ["71053", "22423"]),
}

REFERENCES = pd.DataFrame(
    {
        "instruction": [
            "where is my order",
            "track my package please",
            "i want a refund",
            "cancel my order now",
        ],
        "intent": ["track_order", "track_order", "get_refund", "cancel_order"],
        "response": [
            "I can help you track order {{Order Number}}. Open {{Order History}} on {{Website Name}}.",
            "Your package can be tracked under {{Track Order}}.",
            "I'm sorry to hear that. Refunds are handled by {{Customer Support Phone Number}}.",
            "I can cancel order {{Order Number}} for you.",
        ],
    }
)


def orders_frame() -> pd.DataFrame:
    rows = []
    for offset, (invoice, (customer, codes)) in enumerate(ORDERS.items()):
        for code in codes:
            description, price = PRODUCTS[code]
            day = pd.Timestamp("2011-01-03") + pd.Timedelta(days=offset)
            rows.append((invoice, code, description, 6, day, price, customer, "United Kingdom"))
    frame = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    return frame.astype({"Quantity": "int64", "UnitPrice": "float64", "CustomerID": "Int64"})


class FixedIntent:
    """An intent stage that always decides ``intent`` (out of scope when asked) and records the modes."""

    def __init__(self, intent: str = "track_order", out_of_scope: bool = False) -> None:
        self.intent = intent
        self.out_of_scope = out_of_scope
        self.modes: list[ChatMode] = []

    def decide(self, texts: Sequence[str], mode: ChatMode) -> list[dict[str, Any]]:
        self.modes.append(mode)
        member = {"name": "fixed", "output": {"intent": self.intent}, "weight": 1.0}
        return [
            {
                "intent": self.intent,
                "confidence": 0.9,
                "out_of_scope": self.out_of_scope,
                "version": "intent:v0001",
                "members": [member],
            }
            for _ in texts
        ]


class ScriptedReplies(ReplyService):
    """A reply service whose 'model' returns a fixed text (or raises when ``fail`` is set)."""

    def __init__(self, text: str | None, references: ReferenceIndex, fail: bool = False) -> None:
        super().__init__(None, references)
        self.text = text
        self.fail = fail
        self.prompts: list[str] = []

    def generate(self, prompts: Sequence[str]) -> list[dict[str, Any]]:
        self.prompts.extend(prompts)
        if self.fail:
            raise RuntimeError("reply replica lost its model")
        if self.text is None:
            return super().generate(prompts)
        return [{"text": self.text, "version": "reply:v0001"} for _ in prompts]


@pytest.fixture(scope="session")
def graph() -> ProductGraph:
    return build_graph(orders_frame(), BuildConfig(min_support=1, min_category_products=1))


@pytest.fixture(scope="session")
def references() -> ReferenceIndex:
    return ReferenceIndex.from_frame(REFERENCES)


MakeMembers = Callable[..., LocalMembers]


@pytest.fixture
def make_members(graph: ProductGraph, references: ReferenceIndex) -> MakeMembers:
    """In-process members with a scripted reply: ``make_members(reply_text, fail=, intent=, out_of_scope=)``."""

    def make(
        reply: str | None, *, fail: bool = False, intent: str = "track_order", out_of_scope: bool = False
    ) -> LocalMembers:
        return LocalMembers(FixedIntent(intent, out_of_scope), graph, ScriptedReplies(reply, references, fail))

    return make
