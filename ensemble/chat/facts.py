"""The second link: entities of a message, the products they name, and what the graph knows about them.

:func:`ground_message` reads the message's entities with :func:`ensemble.entities.extract_entities` (order
and invoice numbers, e-mail addresses, amounts with their currency, and the product mentions the graph links),
and collects product facts, the order (``order_id`` first, else an order number in the text that the graph
holds) and the customer's history. It also returns the two things the reply stage needs:
the facts text of the prompt and the slot values that may fill the reply. A slot value is only ever a value
the graph confirms (an order number that exists and, with a customer given, is theirs); nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from ensemble.entities import Entity, EntityKind
from ensemble.entities import extract_entities as find_entities
from knowledge_graph.errors import UnknownCustomerError, UnknownOrderError
from knowledge_graph.graph import ProductGraph
from knowledge_graph.linking import EntityMatch

__all__ = ["MAX_PRODUCTS", "extract_entities", "ground_message", "order_slot_values"]

MAX_PRODUCTS: Final = 3  # product facts carried per message (the first mentions in text order)

ORDER_SLOTS: Final = (
    "Order Number",
    "Order Number Anonymized",
    "Order ID Anonymized",
    "Purchase ID Anonymized",
    "Purchase Number Anonymized",
    "Invoice Number Anonymized",
    "Bill Number Anonymized",
)


def _values(found: list[Entity], *kinds: EntityKind) -> list[str]:
    return list(dict.fromkeys(e.value for e in found if e.kind in kinds))


def extract_entities(text: str, mentions: Sequence[EntityMatch] | None = None) -> dict[str, Any]:
    """The entities of ``text`` (:func:`ensemble.entities.extract_entities`) grouped for the answer.

    ``order_numbers`` holds invoice and order numbers, each once, in text order (the graph's orders are
    Online Retail invoices); ``amounts`` holds ``{"value", "currency"}``; ``products`` the graph's
    ``mentions`` (when given) as dicts; ``found`` every entity with its kind and span.
    """
    linked = list(mentions) if mentions is not None else None
    found = find_entities(text, (lambda _: linked) if linked is not None else None)
    amounts = [{"value": e.value, "currency": e.currency} for e in found if e.kind is EntityKind.AMOUNT]
    return {
        "order_numbers": _values(found, EntityKind.INVOICE_NUMBER, EntityKind.ORDER_NUMBER),
        "emails": _values(found, EntityKind.EMAIL),
        "amounts": list({(a["value"], a["currency"]): a for a in amounts}.values()),
        "products": [m.to_dict() for m in linked or []],
        "found": [e.to_dict() for e in found],
    }


def order_slot_values(invoice_no: str) -> dict[str, str]:
    """The reply slots an order number may fill."""
    return {slot: invoice_no for slot in ORDER_SLOTS}


def _resolve_order(
    graph: ProductGraph, candidates: list[str], customer_id: int | None
) -> tuple[dict[str, Any] | None, list[str]]:
    """The first candidate order the graph holds (and that belongs to the customer, if one is given)."""
    problems: list[str] = []
    for number in candidates:
        try:
            order = graph.order(number)
        except UnknownOrderError:
            problems.append(f"no order {number} in the graph")
            continue
        if customer_id is not None and order.customer_id != customer_id:
            problems.append(f"order {number} belongs to another customer, not {customer_id}")
            continue
        return order.to_dict(), problems
    return None, problems


def _history(graph: ProductGraph, customer_id: int) -> dict[str, Any]:
    try:
        history = graph.customer_history(customer_id)
    except UnknownCustomerError:
        return {"customer_id": customer_id, "known": False}
    return {
        "customer_id": customer_id,
        "known": True,
        "n_orders": history.n_orders,
        "last_date": history.last_date,
        "recent_invoices": list(history.invoices[:5]),
        "recent_products": [p.stock_code for p in history.purchases[:5]],
    }


def _prompt_facts(order: dict[str, Any] | None, products: list[dict[str, Any]]) -> str | None:
    """The facts text of the reply prompt, in the ``key: value`` form the reply model was trained on."""
    parts = []
    if order is not None:
        parts.append(f"order_id: {order['invoice_no']}")
    parts.extend(f"product: {p['description'].lower()}" for p in products)
    return "; ".join(parts) or None


def ground_message(
    graph: ProductGraph,
    text: str,
    order_id: str | None = None,
    customer_id: int | None = None,
    entities: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Entities, linked products with facts, the order and the customer's history of one message.

    ``entities`` (e.g. from an entity member) are merged over the built-in extraction. Returns
    ``{"entities", "mentions", "products", "order", "order_problems", "customer", "stock_codes",
    "invoice_no", "prompt_facts", "slot_values"}``.
    """
    mentions = graph.mentions(text)
    found: dict[str, Any] = {**extract_entities(text, mentions), **(entities or {})}
    products = [graph.facts(m.stock_code, top_k=3).to_dict() for m in mentions[:MAX_PRODUCTS]]
    candidates = [order_id.strip().upper()] if order_id else list(found.get("order_numbers", []))
    order, problems = _resolve_order(graph, candidates, customer_id)
    invoice_no = order["invoice_no"] if order is not None else None
    return {
        "entities": found,
        "products": products,
        "order": order,
        "order_problems": problems,
        "customer": _history(graph, customer_id) if customer_id is not None else None,
        "stock_codes": [p["stock_code"] for p in products],
        "invoice_no": invoice_no,
        "prompt_facts": _prompt_facts(order, products),
        "slot_values": order_slot_values(invoice_no) if invoice_no else {},
    }
