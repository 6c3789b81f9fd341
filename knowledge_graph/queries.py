"""Read-only queries on the product graph and the frozen records they return."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx

from knowledge_graph.errors import UnknownCustomerError, UnknownOrderError, UnknownProductError
from knowledge_graph.schema import (
    EdgeKind,
    NodeKind,
    attribute_id,
    category_id,
    customer_id,
    department_id,
    invoice_id,
    merchant_id,
    product_id,
)


@dataclass(frozen=True, slots=True)
class CoPurchase:
    """A product often bought in the same invoice as another (weight = NPMI, support = shared invoices)."""

    stock_code: str
    description: str
    weight: float
    support: int


@dataclass(frozen=True, slots=True)
class Statement:
    """One fact of the graph as subject, predicate and object; ``object_id`` is the object's node id when the
    object is a node (a category, department, merchant, attribute or co-purchased product)."""

    subject: str
    predicate: str
    object: str | float | int
    object_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class ProductFacts:
    """Everything the graph knows about one product; prices in GBP over its sale lines (``None`` for a
    catalogue product without orders)."""

    stock_code: str
    name: str
    description: str
    merchant: str
    department: str | None
    iconic_image: str | None
    price_min: float | None
    price_median: float | None
    price_max: float | None
    price_mean: float | None
    n_lines: int
    n_orders: int
    quantity: int
    category: str | None
    attributes: tuple[str, ...]
    countries: tuple[str, ...]
    co_purchases: tuple[CoPurchase, ...]
    merchandise: bool

    def statements(self) -> list[Statement]:
        """The facts as statements about ``product:<stock_code>`` (what the graph holds, nothing empty)."""
        subject = product_id(self.stock_code)
        facts = [Statement(subject, "name", self.name)]
        if self.description and self.description != self.name:
            facts.append(Statement(subject, "description", self.description))
        if self.category is not None:
            facts.append(Statement(subject, "in_category", self.category, category_id(self.category)))
        if self.department is not None:
            facts.append(Statement(subject, "in_department", self.department, department_id(self.department)))
        facts.append(Statement(subject, "sold_by", self.merchant, merchant_id(self.merchant)))
        if self.iconic_image is not None:
            facts.append(Statement(subject, "iconic_image", self.iconic_image))
        for attr in ("price_min", "price_median", "price_max"):
            value = getattr(self, attr)
            if value is not None:
                facts.append(Statement(subject, f"{attr}_gbp", float(value)))
        if self.n_orders:
            facts.append(Statement(subject, "n_orders", self.n_orders))
        for attribute in self.attributes:
            facet, _, value = attribute.partition(":")
            facts.append(Statement(subject, "has_attribute", attribute, attribute_id(facet, value)))
        facts.extend(
            Statement(subject, "co_purchased", c.description, product_id(c.stock_code)) for c in self.co_purchases
        )
        return facts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["attributes"] = list(self.attributes)
        data["countries"] = list(self.countries)
        data["co_purchases"] = [asdict(c) for c in self.co_purchases]
        return data


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One product of an order; quantities and amounts are negative on cancellation invoices."""

    stock_code: str
    description: str
    quantity: int
    unit_price: float | None
    amount: float


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """An invoice with its lines."""

    invoice_no: str
    date: str
    customer_id: int | None
    country: str
    cancelled: bool
    total: float
    lines: tuple[OrderLine, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = asdict(self)
        data["lines"] = [asdict(line) for line in self.lines]
        return data


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    """What one customer bought (or returned) of one product."""

    stock_code: str
    description: str
    n_orders: int
    quantity: int
    spend: float
    first_date: str | None
    last_date: str


@dataclass(frozen=True, slots=True)
class CustomerHistory:
    """A customer's purchases (most recent first), returns and invoices."""

    customer_id: int
    country: str | None
    n_orders: int
    first_date: str | None
    last_date: str | None
    purchases: tuple[PurchaseRecord, ...]
    returns: tuple[PurchaseRecord, ...]
    invoices: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = asdict(self)
        data["purchases"] = [asdict(p) for p in self.purchases]
        data["returns"] = [asdict(p) for p in self.returns]
        data["invoices"] = list(self.invoices)
        return data


@dataclass(frozen=True, slots=True)
class GraphStats:
    """Counts of nodes per :class:`NodeKind` and edges per :class:`EdgeKind`."""

    nodes: dict[str, int]
    edges: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"nodes": dict(self.nodes), "edges": dict(self.edges)}


def product_facts(graph: nx.MultiDiGraph, stock_code: str, top_k: int = 10) -> ProductFacts:
    """Facts of one product with its ``top_k`` co-purchases by weight."""
    node = product_id(stock_code)
    attrs = graph.nodes.get(node)
    if attrs is None or attrs.get("kind") != NodeKind.PRODUCT:
        raise UnknownProductError(stock_code)
    partners = [
        (data["weight"], data["support"], v)
        for _, v, k, data in graph.out_edges(node, keys=True, data=True)
        if k == EdgeKind.CO_PURCHASED
    ]
    partners.sort(key=lambda t: (-t[0], -t[1], t[2]))
    co = tuple(
        CoPurchase(graph.nodes[v]["key"], graph.nodes[v]["description"], float(w), int(s))
        for w, s, v in partners[:top_k]
    )
    return ProductFacts(
        stock_code=stock_code,
        name=attrs["name"],
        description=attrs["description"],
        merchant=attrs["merchant"],
        department=attrs["department"],
        iconic_image=attrs["iconic_image"],
        price_min=attrs["price_min"],
        price_median=attrs["price_median"],
        price_max=attrs["price_max"],
        price_mean=attrs["price_mean"],
        n_lines=int(attrs["n_lines"]),
        n_orders=int(attrs["n_orders"]),
        quantity=int(attrs["quantity"]),
        category=attrs["category"],
        attributes=tuple(attrs["attributes"]),
        countries=tuple(attrs["countries"]),
        co_purchases=co,
        merchandise=bool(attrs["merchandise"]),
    )


_ORDER_KINDS = (EdgeKind.CONTAINS, EdgeKind.RETURNED)


def order_summary(
    graph: nx.MultiDiGraph,
    invoice_no: str,
    deferred: Iterable[tuple[str, Mapping[str, Any]]] = (),
) -> OrderSummary:
    """An invoice and its lines (sorted by stock code).

    ``deferred`` gives ``(product node, attributes)`` of the invoice's ``contains`` edges when the graph does not
    hold them yet (a freshly loaded graph, see :mod:`knowledge_graph.schema`).
    """
    node = invoice_id(invoice_no)
    attrs = graph.nodes.get(node)
    if attrs is None or attrs.get("kind") != NodeKind.INVOICE:
        raise UnknownOrderError(invoice_no)
    sign = -1 if attrs["cancelled"] else 1
    lines = []
    edges = [(v, data) for _, v, k, data in graph.out_edges(node, keys=True, data=True) if k in _ORDER_KINDS]
    for v, data in [*edges, *deferred]:
        product = graph.nodes[v]
        lines.append(
            OrderLine(
                product["key"],
                product["description"],
                sign * int(data["quantity"]),
                data["unit_price"],
                sign * float(data["amount"]),
            )
        )
    lines.sort(key=lambda line: line.stock_code)
    return OrderSummary(
        invoice_no=invoice_no,
        date=attrs["date"],
        customer_id=attrs["customer_id"],
        country=attrs["country"],
        cancelled=bool(attrs["cancelled"]),
        total=float(attrs["total"]),
        lines=tuple(lines),
    )


def customer_history(graph: nx.MultiDiGraph, customer: int) -> CustomerHistory:
    """A customer's purchases, returns and invoices."""
    node = customer_id(customer)
    attrs = graph.nodes.get(node)
    if attrs is None or attrs.get("kind") != NodeKind.CUSTOMER:
        raise UnknownCustomerError(customer)
    purchases: list[PurchaseRecord] = []
    returns: list[PurchaseRecord] = []
    invoices: list[str] = []
    for _, v, k, data in graph.out_edges(node, keys=True, data=True):
        if k == EdgeKind.PLACED:
            invoices.append(graph.nodes[v]["key"])
        elif k == EdgeKind.PURCHASED:
            purchases.append(
                PurchaseRecord(
                    graph.nodes[v]["key"],
                    graph.nodes[v]["description"],
                    int(data["n_orders"]),
                    int(data["quantity"]),
                    float(data["spend"]),
                    data["first_date"],
                    data["last_date"],
                )
            )
        elif k == EdgeKind.RETURNED:
            returns.append(
                PurchaseRecord(
                    graph.nodes[v]["key"],
                    graph.nodes[v]["description"],
                    int(data["n_lines"]),
                    int(data["quantity"]),
                    float(data["amount"]),
                    None,
                    data["last_date"],
                )
            )
    purchases.sort(key=lambda p: (p.last_date, p.stock_code), reverse=True)
    returns.sort(key=lambda p: (p.last_date, p.stock_code), reverse=True)
    return CustomerHistory(
        customer_id=int(customer),
        country=attrs["country"],
        n_orders=int(attrs["n_orders"]),
        first_date=attrs["first_date"],
        last_date=attrs["last_date"],
        purchases=tuple(purchases),
        returns=tuple(returns),
        invoices=tuple(sorted(invoices)),
    )


def graph_stats(graph: nx.MultiDiGraph, deferred: Mapping[str, int] | None = None) -> GraphStats:
    """Node counts per kind and edge counts per kind (every kind listed, zero if absent); ``deferred`` adds
    counts of edges not inserted yet."""
    nodes = Counter(kind for _, kind in graph.nodes(data="kind"))
    edges = Counter(k for _, _, k in graph.edges(keys=True))
    edges.update(deferred or {})
    return GraphStats(
        nodes={k.value: nodes.get(k, 0) for k in NodeKind},
        edges={k.value: edges.get(k, 0) for k in EdgeKind},
    )
