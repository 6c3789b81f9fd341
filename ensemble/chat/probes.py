"""Grounding probes: test-split customer messages that name real products and real orders.

Bitext utterances never mention a catalogue product or a real invoice, so :func:`grounding_probes` rewrites
them with Online Retail records. Each probe takes the next Bitext test utterance (cycling through a seeded
shuffle) and a seeded random invoice of the Online Retail test period (from 2011-11-01; not cancelled, with a
customer) and one of its products, and is one of three kinds, in turn:

- ``text_order``: the invoice number is written in the message (replacing the utterance's own order or invoice
  number where it has one, else appended as "My order is N."), the product is appended ("It is about the
  <description>."), and the request carries the invoice's customer id;
- ``field_order``: the product is appended and the invoice number travels in the request's ``order_id``
  field, without a customer id;
- ``product_only``: only the product is appended.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from ensemble.chat.errors import ChatError

__all__ = ["GroundingProbe", "ProbeKind", "grounding_probes"]

ProbeKind = Literal["text_order", "field_order", "product_only"]
_KINDS: tuple[ProbeKind, ...] = ("text_order", "field_order", "product_only")
_ORDER_ENTITIES = ("order_id", "invoice_id")


@dataclass(frozen=True)
class GroundingProbe:
    """One probe message, its request context and the records it was made from."""

    text: str
    kind: ProbeKind
    intent: str
    customer_id: int | None
    order_id: str | None
    invoice_no: str
    stock_code: str
    source_row: int


def _with_order(row: pd.Series, invoice_no: str) -> str:
    text = str(row["instruction"])
    kind = str(row.get("entity_type", "") or "")
    start, end = row.get("start_offset"), row.get("end_offset")
    if kind in _ORDER_ENTITIES and pd.notna(start) and pd.notna(end) and 0 <= int(start) < int(end) <= len(text):
        return text[: int(start)] + invoice_no + text[int(end) :]
    return f"{text.rstrip()} My order is {invoice_no}."


def grounding_probes(
    bitext_test: pd.DataFrame, retail_test: pd.DataFrame, n: int, seed: int = 0
) -> list[GroundingProbe]:
    """``n`` probes from the Bitext test split and the Online Retail test period (see the module doc)."""
    lines = retail_test.loc[
        ~retail_test["InvoiceNo"].astype(str).str.startswith("C")
        & retail_test["CustomerID"].notna()
        & (retail_test["Quantity"] > 0)
        & retail_test["Description"].fillna("").str.strip().astype(bool)
    ]
    if lines.empty or bitext_test.empty:
        raise ChatError(
            f"probes need test rows: got {len(bitext_test)} Bitext rows and {len(lines)} usable Online Retail "
            "lines (not cancelled, with a customer and a description)"
        )
    rng = random.Random(seed)
    rows = list(range(len(bitext_test)))
    rng.shuffle(rows)
    invoices = sorted(lines["InvoiceNo"].astype(str).unique())
    by_invoice = {k: g for k, g in lines.groupby(lines["InvoiceNo"].astype(str))}
    probes = []
    for i in range(n):
        source = rows[i % len(rows)]
        row = bitext_test.iloc[source]
        invoice_no = rng.choice(invoices)
        line = by_invoice[invoice_no].iloc[rng.randrange(len(by_invoice[invoice_no]))]
        kind = _KINDS[i % len(_KINDS)]
        product = f" It is about the {str(line['Description']).strip().lower()}."
        base = _with_order(row, invoice_no) if kind == "text_order" else str(row["instruction"]).rstrip()
        probes.append(
            GroundingProbe(
                text=base + product,
                kind=kind,
                intent=str(row["intent"]),
                customer_id=int(line["CustomerID"]) if kind == "text_order" else None,
                order_id=invoice_no if kind == "field_order" else None,
                invoice_no=invoice_no,
                stock_code=str(line["StockCode"]),
                source_row=source,
            )
        )
    return probes
