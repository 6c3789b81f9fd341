"""Grounding probes name real invoices and products and cycle through the three kinds."""

from __future__ import annotations

import pandas as pd

from ensemble.chat.probes import grounding_probes


def test_probes_rewrite_messages_with_real_orders_and_products() -> None:
    # Prepare
    bitext = pd.DataFrame(
        {
            "instruction": ["cancel purchase 732201349959", "where is my stuff"],
            "intent": ["cancel_order", "track_order"],
            "entity_type": ["order_id", ""],
            "start_offset": [16, None],
            "end_offset": [28, None],
        }
    )
    retail = pd.DataFrame(
        {
            "InvoiceNo": ["581000", "581000", "C581001", "581002"],
            "StockCode": ["71053", "22423", "71053", "84879"],
            "Description": ["WHITE METAL LANTERN", "REGENCY CAKESTAND 3 TIER", "WHITE METAL LANTERN", ""],
            "Quantity": [2, 1, -2, 4],
            "CustomerID": pd.array([12001, 12001, 12001, 12002], dtype="Int64"),
        }
    )

    # Execute
    probes = grounding_probes(bitext, retail, 6, seed=3)

    # Assert: only invoice 581000 is usable (C581001 is cancelled, 581002's line has no description).
    assert [p.kind for p in probes] == ["text_order", "field_order", "product_only"] * 2
    assert {p.invoice_no for p in probes} == {"581000"}
    descriptions = {"71053": "white metal lantern", "22423": "regency cakestand 3 tier"}
    for probe in probes:
        assert probe.text.endswith(f" It is about the {descriptions[probe.stock_code]}.")
        assert ("581000" in probe.text) is (probe.kind == "text_order")
        assert probe.order_id == ("581000" if probe.kind == "field_order" else None)
        assert probe.customer_id == (12001 if probe.kind == "text_order" else None)
    texts = {p.text.split(" It is about")[0] for p in probes if p.kind == "text_order"}
    assert texts <= {"cancel purchase 581000", "where is my stuff My order is 581000."}
