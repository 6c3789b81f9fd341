"""Members that use the real heavy parts: the packaged MiniLM encoder and the product knowledge graph."""

from __future__ import annotations

import pandas as pd
import pytest

from ensemble.errors import DataError
from ensemble.recommendation import ITEM, TEXT, TIME, USER, ContentMember, KnowledgeGraphMember, MiniLMEncoder


@pytest.mark.integration
def test_content_member_with_minilm_prefers_the_related_description() -> None:
    train = pd.DataFrame(
        {
            USER: ["u1", "u2", "u2", "u2"],
            ITEM: ["teapot", "lamp", "mug", "sock"],
            TIME: pd.date_range("2021-01-01", periods=4, freq="D"),
        }
    )
    catalog = pd.DataFrame(
        {
            ITEM: ["mug", "teapot", "lamp", "sock"],
            TEXT: ["white ceramic tea cup", "porcelain teapot for green tea", "bedside reading lamp", "wool socks"],
        }
    )
    member = ContentMember(MiniLMEncoder())
    member.fit(train, catalog)

    ranked = member.recommend("u1", 3)

    # u1 bought only the teapot: the tea cup is the closest description; all three others are ranked.
    assert ranked[0].item == "mug"
    assert {r.item for r in ranked} == {"mug", "lamp", "sock"}
    assert ranked[0].explanation is not None and "teapot" in ranked[0].explanation


def _orders() -> pd.DataFrame:
    """Online Retail layout: customers 1-3 buy 22001 and 22002 together; customer 4 bought only 22001."""
    rows = []
    for n, customer in enumerate([1, 2, 3, 1, 2, 3]):
        invoice = f"5{n:05d}"
        for code in ("22001", "22002"):
            rows.append((invoice, code, f"ITEM {code}", 1, f"2011-01-{n + 1:02d} 10:00", 1.0, customer, "UK"))
    rows.append(("599999", "22001", "ITEM 22001", 1, "2011-02-01 10:00", 1.0, 4, "UK"))
    rows.append(("599998", "22003", "ITEM 22003", 1, "2011-02-02 10:00", 1.0, 5, "UK"))
    columns = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"])
    frame["CustomerID"] = frame["CustomerID"].astype("Int64")
    return frame.assign(**{USER: frame["CustomerID"].astype(str), ITEM: frame["StockCode"], TIME: frame["InvoiceDate"]})


def test_knowledge_graph_member_recommends_the_co_bought_item_with_an_explanation() -> None:
    member = KnowledgeGraphMember()
    member.fit(_orders())

    ranked = member.recommend("4", 1)

    assert [r.item for r in ranked] == ["22002"]
    assert ranked[0].explanation


def test_knowledge_graph_member_needs_the_online_retail_layout() -> None:
    frame = _orders()[[USER, ITEM, TIME]]

    with pytest.raises(DataError, match="Online Retail layout"):
        KnowledgeGraphMember().fit(frame)
