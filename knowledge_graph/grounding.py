"""Grounding verifier: check the facts a generated reply states against the product graph.

Claims are extracted with patterns (prices "£2.55"/"2.55 GBP", stock codes, six-digit invoice numbers,
quantities
"12 units", dates "2011-10-03"/"3 October 2011") and with entity linking (product names). Each claim is
checked:
a product code must exist; an order must exist, belong to the context customer and contain the products named
with it; a price must lie within the observed min..max of a product in scope (or equal an order's total, a
line's
unit price or amount); a quantity must equal a line of the order in scope; a date must be the order's date (or
one of the customer's purchase dates). Anything that cannot be checked is reported unsupported with the
reason.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from knowledge_graph.errors import UnknownCustomerError, UnknownOrderError
from knowledge_graph.graph import ProductGraph
from knowledge_graph.queries import OrderSummary

_PRICE_RE: Final = re.compile(r"£\s?(\d+(?:\.\d{1,2})?)|\b(\d+(?:\.\d{1,2})?)\s?(?:GBP|gbp|pounds?)\b")
# Amounts in other currencies: the shop's catalogue and orders are in GBP, so the graph never supports them.
_FOREIGN_PRICE_RE: Final = re.compile(
    r"[$€]\s?\d[\d,]*(?:\.\d{1,2})?|\b\d[\d,]*(?:\.\d{1,2})?\s?(?:USD|EUR|dollars?|euros?)\b", re.IGNORECASE
)
_CODE_RE: Final = re.compile(r"\b\d{5}[A-Za-z]{0,3}\b")
_INVOICE_RE: Final = re.compile(r"\b[Cc]?\d{6}\b")
_QTY_RE: Final = re.compile(r"\b(\d+)\s*(?:x\b|units?\b|items?\b|pieces?\b|pcs\b)", re.IGNORECASE)
_ISO_RE: Final = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_LONG_DATE_RE: Final = re.compile(
    r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?,?\s+(\d{4})\b",
    re.IGNORECASE,
)
_PRICE_TOL: Final = 0.005


class ClaimKind(StrEnum):
    """Kinds of checkable statement in a reply."""

    PRICE = "price"
    STOCK_CODE = "stock_code"
    PRODUCT = "product"
    ORDER = "order"
    QUANTITY = "quantity"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class GroundingContext:
    """What the reply is about: the graph, and optionally the customer, the order and products in
    discussion."""

    graph: ProductGraph
    customer_id: int | None = None
    invoice_no: str | None = None
    stock_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Claim:
    """One extracted statement and the verdict on it."""

    kind: ClaimKind
    text: str
    span: tuple[int, int]
    supported: bool
    reason: str


@dataclass(frozen=True, slots=True)
class GroundingReport:
    """All claims of a reply; ``grounded`` when every claim is supported."""

    claims: tuple[Claim, ...] = field(default_factory=tuple)

    @property
    def supported(self) -> tuple[Claim, ...]:
        """Claims the graph supports."""
        return tuple(c for c in self.claims if c.supported)

    @property
    def unsupported(self) -> tuple[Claim, ...]:
        """Claims the graph does not support, with reasons."""
        return tuple(c for c in self.claims if not c.supported)

    @property
    def grounded(self) -> bool:
        """True when no claim is unsupported."""
        return not self.unsupported

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "grounded": self.grounded,
            "claims": [asdict(c) | {"span": list(c.span)} for c in self.claims],
        }


def _parse_date(match: re.Match[str]) -> str | None:
    try:
        if match.re is _ISO_RE:
            return datetime.strptime(match.group(1), "%Y-%m-%d").date().isoformat()
        day, month, year = match.groups()
        return datetime.strptime(f"{day} {month[:3].title()} {year}", "%d %b %Y").date().isoformat()
    except ValueError:
        return None


def verify(reply: str, context: GroundingContext) -> GroundingReport:
    """Extract the claims of ``reply`` and check each against ``context.graph``."""
    graph = context.graph
    claims: list[Claim] = []
    orders: list[OrderSummary] = []
    for m in _INVOICE_RE.finditer(reply):
        number = m.group(0).upper()
        try:
            summary = graph.order(number)
        except UnknownOrderError:
            claims.append(Claim(ClaimKind.ORDER, m.group(0), m.span(), False, f"no order {number} in the graph"))
            continue
        if context.customer_id is not None and summary.customer_id != context.customer_id:
            reason = f"order {number} belongs to customer {summary.customer_id}, not {context.customer_id}"
            claims.append(Claim(ClaimKind.ORDER, m.group(0), m.span(), False, reason))
            continue
        orders.append(summary)
        claims.append(Claim(ClaimKind.ORDER, m.group(0), m.span(), True, f"order {number} exists"))
    if not orders and context.invoice_no is not None and graph.has_order(context.invoice_no):
        orders.append(graph.order(context.invoice_no))

    products: list[str] = []
    for m in _CODE_RE.finditer(reply):
        code = m.group(0).upper()
        if graph.has_product(code):
            products.append(code)
            claims.append(Claim(ClaimKind.STOCK_CODE, m.group(0), m.span(), True, f"product {code} exists"))
        else:
            claims.append(Claim(ClaimKind.STOCK_CODE, m.group(0), m.span(), False, f"no product with code {code}"))
    for match in graph.mentions(reply):
        if match.method == "code" or match.span is None:
            continue
        products.append(match.stock_code)
        text = reply[match.span[0] : match.span[1]]
        claims.append(_check_product(match.stock_code, match.description, text, match.span, orders))
    scope = list(dict.fromkeys([*products, *context.stock_codes]))

    for m in _PRICE_RE.finditer(reply):
        value = float(m.group(1) or m.group(2))
        claims.append(_check_price(graph, value, m.group(0), m.span(), scope, orders))
    for m in _FOREIGN_PRICE_RE.finditer(reply):
        reason = "an amount in a currency other than GBP; the shop's prices and orders are in GBP"
        claims.append(Claim(ClaimKind.PRICE, m.group(0), m.span(), False, reason))
    for m in _QTY_RE.finditer(reply):
        claims.append(_check_quantity(int(m.group(1)), m.group(0), m.span(), products, orders))
    for pattern in (_ISO_RE, _LONG_DATE_RE):
        for m in pattern.finditer(reply):
            claims.append(_check_date(graph, _parse_date(m), m.group(0), m.span(), orders, context.customer_id))
    claims.sort(key=lambda c: c.span)
    return GroundingReport(tuple(claims))


def _check_product(code: str, description: str, text: str, span: tuple[int, int], orders: list[OrderSummary]) -> Claim:
    if orders and not any(line.stock_code == code for o in orders for line in o.lines):
        numbers = ", ".join(o.invoice_no for o in orders)
        return Claim(ClaimKind.PRODUCT, text, span, False, f"{description} ({code}) is not in order {numbers}")
    return Claim(ClaimKind.PRODUCT, text, span, True, f"names product {code} {description}")


def _check_price(
    graph: ProductGraph,
    value: float,
    text: str,
    span: tuple[int, int],
    scope: list[str],
    orders: list[OrderSummary],
) -> Claim:
    for o in orders:
        amounts = [abs(o.total)] + [abs(x) for line in o.lines for x in (line.unit_price or 0.0, line.amount)]
        if any(abs(value - a) <= _PRICE_TOL + 0.005 for a in amounts):
            return Claim(ClaimKind.PRICE, text, span, True, f"matches a price or total of order {o.invoice_no}")
    checked = []
    for code in scope:
        facts = graph.facts(code, top_k=0)
        if facts.price_min is None or facts.price_max is None:
            continue
        if facts.price_min - _PRICE_TOL <= value <= facts.price_max + _PRICE_TOL:
            reason = f"within observed prices of {code} (£{facts.price_min:.2f}..£{facts.price_max:.2f})"
            return Claim(ClaimKind.PRICE, text, span, True, reason)
        checked.append(f"{code} £{facts.price_min:.2f}..£{facts.price_max:.2f}")
    if not checked and not orders:
        return Claim(ClaimKind.PRICE, text, span, False, "no product or order in scope to check the price against")
    return Claim(ClaimKind.PRICE, text, span, False, f"£{value:.2f} is outside observed prices ({'; '.join(checked)})")


def _check_quantity(
    value: int, text: str, span: tuple[int, int], products: list[str], orders: list[OrderSummary]
) -> Claim:
    if not orders:
        return Claim(ClaimKind.QUANTITY, text, span, False, "no order in scope to check the quantity against")
    lines = [line for o in orders for line in o.lines if not products or line.stock_code in products]
    if any(abs(line.quantity) == value for line in lines):
        return Claim(ClaimKind.QUANTITY, text, span, True, "equals a line quantity of the order")
    seen = sorted({abs(line.quantity) for line in lines})
    return Claim(ClaimKind.QUANTITY, text, span, False, f"no line of the order has quantity {value} (seen {seen})")


def _check_date(
    graph: ProductGraph,
    iso: str | None,
    text: str,
    span: tuple[int, int],
    orders: list[OrderSummary],
    customer: int | None,
) -> Claim:
    if iso is None:
        return Claim(ClaimKind.DATE, text, span, False, "not a valid calendar date")
    if orders:
        if any(o.date.startswith(iso) for o in orders):
            return Claim(ClaimKind.DATE, text, span, True, "is the order's date")
        return Claim(ClaimKind.DATE, text, span, False, f"order dates are {[o.date[:10] for o in orders]}")
    if customer is not None:
        try:
            history = graph.customer_history(customer)
        except UnknownCustomerError:
            return Claim(ClaimKind.DATE, text, span, False, f"customer {customer} is not in the graph")
        dates = {graph.order(i).date[:10] for i in history.invoices}
        if iso in dates:
            return Claim(ClaimKind.DATE, text, span, True, "is the date of one of the customer's orders")
        return Claim(ClaimKind.DATE, text, span, False, f"none of customer {customer}'s orders is dated {iso}")
    return Claim(ClaimKind.DATE, text, span, False, "no order or customer in scope to check the date against")
