"""Entity extraction on hand-made customer messages."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ensemble.entities import Entity, EntityKind, extract_entities


def _kinds_values(text: str) -> list[tuple[str, str, str | None]]:
    return [(e.kind.value, e.value, e.currency) for e in extract_entities(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("need assistance to cancel order 732201349959", [("order_number", "732201349959", None)]),
        ("where is invoice 536365?", [("invoice_number", "536365", None)]),
        ("the credit note C536379 is wrong", [("invoice_number", "C536379", None)]),
        ("refund me £24.99 please", [("amount", "24.99", "GBP")]),
        ("I paid $1,299.50 twice", [("amount", "1299.50", "USD")]),
        ("it cost 30 EUR, not 25€", [("amount", "30", "EUR"), ("amount", "25", "EUR")]),
        ("charged GBP 12 and 5 pounds", [("amount", "12", "GBP"), ("amount", "5", "GBP")]),
        ("mail me at Jo.Smith+shop@example.co.uk", [("email", "jo.smith+shop@example.co.uk", None)]),
        ("I want to talk to a person", []),
    ],
)
def test_single_entities(text: str, expected: list[tuple[str, str, str | None]]) -> None:
    assert _kinds_values(text) == expected


def test_amount_digits_are_not_read_as_invoice_numbers() -> None:
    # a 6-digit amount is an amount, not an invoice; a 6-digit number without a currency is an invoice
    assert _kinds_values("I was billed £120000 on invoice 581587") == [
        ("amount", "120000", "GBP"),
        ("invoice_number", "581587", None),
    ]


def test_several_entities_come_back_in_text_order_with_spans() -> None:
    text = "Order 4471902288 was £15, invoice C540001, write to a@b.com"
    entities = extract_entities(text)
    assert [e.kind for e in entities] == [
        EntityKind.ORDER_NUMBER,
        EntityKind.AMOUNT,
        EntityKind.INVOICE_NUMBER,
        EntityKind.EMAIL,
    ]
    assert [text[e.span[0] : e.span[1]] for e in entities] == ["4471902288", "£15", "C540001", "a@b.com"]


def test_short_numbers_dates_and_phone_fragments_are_not_orders() -> None:
    assert _kinds_values("call me at 0207 on 12/05/2021 about 3 mugs") == []


@dataclass(frozen=True)
class _Mention:
    stock_code: str
    span: tuple[int, int]


def test_products_come_from_the_injected_callable() -> None:
    # Prepare: a stand-in for ProductGraph.mentions that finds one product.
    text = "is the white hanging heart t-light holder back in stock?"
    start = text.index("white")

    def mentions(message: str) -> list[_Mention]:
        return [_Mention("85123A", (start, start + len("white hanging heart t-light holder")))]

    # Execute
    entities = extract_entities(text, product_mentions=mentions)
    # Assert
    assert entities == [Entity(EntityKind.PRODUCT, "85123A", (start, start + 34))]
