"""The one schema of the product knowledge graph: node kinds, edge kinds, their attributes and node ids.

Node ids are strings ``"<kind>:<key>"`` so that ids of different kinds never collide (stock code ``85123A`` →
``"product:85123A"``, customer ``17850`` → ``"customer:17850"``, invoice ``536365`` → ``"invoice:536365"``).
Every node carries ``kind`` (a :class:`NodeKind`) and ``key`` (the raw key as a string).

The graph holds the products of several merchants (:class:`Merchant`). Online Retail's products, built from
order lines, are sold by :data:`ONLINE_RETAIL` and keep their stock codes as keys; a catalogue added without
orders (:mod:`knowledge_graph.catalogue`) prefixes its merchant's own keys, so the Grocery Store's class 7 is
``"product:gs-7"`` sold by ``"merchant:grocery-store"``. Customers, invoices and co-purchases come from order
lines only. Departments are a node kind of their own, above categories (department ⊃ category ⊃ product):
a facet on category nodes would mix two levels of one hierarchy among the category nodes and their counts.
Category and department ids are shared by every merchant that uses the same name.

The graph is a ``networkx.MultiDiGraph`` whose edge keys are the :class:`EdgeKind` values, so that
``G[u][v][EdgeKind.PURCHASED]`` is the attribute dict of one edge, and at most one edge of each kind joins
two nodes.

A graph read by ``ProductGraph.load`` holds every node and edge except the ``contains`` edges at first (over
half of all edges); they are inserted (from ``edges-contains.parquet``) the first time ``ProductGraph.nx_graph``,
``save()`` or ``add_orders()`` is used, so ``nx_graph`` always shows the full schema below. Until then
``order()`` reads an invoice's lines from the parquet table and ``stats()`` counts its rows; facts, customer
histories, linking and recommendations never need them.

Node attributes (besides ``kind`` and ``key``):

product
    ``name`` (what the product is called: the description for Online Retail, the class name with spaces for a
    catalogue), ``merchant`` (key of the :class:`Merchant` selling it), ``department`` (or ``None``),
    ``iconic_image`` (path of a catalogue photo relative to its data set folder, or ``None``), and
    ``description`` (most frequent description of the product's sale lines, or the catalogue's text),
    ``price_min``, ``price_median``,
    ``price_max``, ``price_mean`` (GBP over sale lines with quantity > 0 and price > 0), ``n_lines`` (those
    lines),
    ``n_orders`` (distinct sale invoices), ``quantity`` (units sold), ``countries`` (sorted tuple of countries
    where it sold), ``category`` (product type or ``None``), ``attributes`` (sorted tuple of
    ``"colour:red"``-style
    strings), ``merchandise`` (False for service codes such as POST, DOT, M, BANK CHARGES). A catalogue
    product without orders has no prices (``None``), zero lines, orders and quantity, no countries or
    attributes, and is merchandise.
customer
    ``country`` (most frequent), ``n_orders``, ``first_date``, ``last_date`` (ISO dates of sale invoices).
invoice
    ``date`` (ISO timestamp), ``customer_id`` (int or ``None``), ``country``, ``cancelled`` (InvoiceNo starts
    with "C"), ``total`` (sum of quantity × unit price), ``n_lines``.
country, category, attribute, department, merchant
    ``name`` (and ``facet`` for attributes: ``"colour"`` or ``"material"``).

Edge attributes:

purchased (customer → product)
    ``n_orders``, ``quantity``, ``spend``, ``first_date``, ``last_date`` over the customer's sale lines.
returned (customer → product, and cancellation invoice → product)
    ``quantity`` (units returned, positive), ``n_lines``, ``unit_price`` (of the first line), ``amount``
    (refunded value, positive), ``last_date``.
contains (sale invoice → product)
    ``quantity``, ``n_lines``, ``unit_price`` (of the first line), ``amount`` (sum of quantity × unit price).
placed (customer → invoice)
    no attributes.
co_purchased (product → product, both directions)
    ``weight`` (NPMI in (0, 1]), ``support`` (invoices containing both), ``lift``.
in_category (product → category), has_attribute (product → attribute), located_in (customer/invoice → country),
sold_by (product → merchant), in_department (category → department)
    no attributes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

SCHEMA_VERSION: Final = 2
"""Bumped whenever a node/edge kind or attribute changes meaning; stored graphs record it (1: one merchant,
no merchant or department nodes; 2: merchants, departments and product names)."""


class NodeKind(StrEnum):
    """Kinds of node in the product graph."""

    PRODUCT = "product"
    CUSTOMER = "customer"
    INVOICE = "invoice"
    COUNTRY = "country"
    CATEGORY = "category"
    ATTRIBUTE = "attribute"
    DEPARTMENT = "department"
    MERCHANT = "merchant"


class EdgeKind(StrEnum):
    """Kinds of edge in the product graph (also the MultiDiGraph edge keys)."""

    PURCHASED = "purchased"
    CONTAINS = "contains"
    RETURNED = "returned"
    PLACED = "placed"
    CO_PURCHASED = "co_purchased"
    IN_CATEGORY = "in_category"
    HAS_ATTRIBUTE = "has_attribute"
    LOCATED_IN = "located_in"
    SOLD_BY = "sold_by"
    IN_DEPARTMENT = "in_department"


@dataclass(frozen=True, slots=True)
class Merchant:
    """A shop whose products are in the graph: ``key`` names its node (``merchant:<key>``), ``product_prefix``
    is put before its own product keys so that two merchants' keys never collide."""

    key: str
    name: str
    product_prefix: str = ""

    def product_key(self, own_key: str | int) -> str:
        """The graph key of one of the merchant's products (``GROCERY_STORE.product_key(7) == "gs-7"``)."""
        return f"{self.product_prefix}{own_key}"


ONLINE_RETAIL: Final = Merchant("online-retail", "Online Retail")
"""The merchant of the products built from order lines (stock codes are their keys)."""
GROCERY_STORE: Final = Merchant("grocery-store", "Grocery Store", "gs-")
"""The Grocery Store catalogue (fine classes of its photos): products ``product:gs-<class_id>``."""


ORDER_COLUMNS: Final[dict[str, str]] = {
    "InvoiceNo": "object",
    "StockCode": "object",
    "Description": "object",
    "Quantity": "int64",
    "InvoiceDate": "datetime64[ns]",
    "UnitPrice": "float64",
    "CustomerID": "Int64",
    "Country": "object",
}
"""Columns (and dtypes) of the order-lines DataFrame the builder takes (the Online Retail layout)."""


def node_id(kind: NodeKind, key: str | int) -> str:
    """Return the node id of ``key`` for ``kind`` (``node_id(NodeKind.PRODUCT, "85123A") ==
    "product:85123A"``)."""
    return f"{kind.value}:{key}"


def product_id(stock_code: str) -> str:
    """Node id of a product."""
    return f"product:{stock_code}"


def customer_id(customer: int) -> str:
    """Node id of a customer."""
    return f"customer:{int(customer)}"


def invoice_id(invoice_no: str) -> str:
    """Node id of an invoice."""
    return f"invoice:{invoice_no}"


def country_id(name: str) -> str:
    """Node id of a country."""
    return f"country:{name}"


def category_id(name: str) -> str:
    """Node id of a category (a product type such as ``"LUNCH BAG"``)."""
    return f"category:{name}"


def department_id(name: str) -> str:
    """Node id of a department (``department_id("Fruit") == "department:Fruit"``)."""
    return f"department:{name}"


def merchant_id(key: str) -> str:
    """Node id of a merchant (``merchant_id("grocery-store") == "merchant:grocery-store"``)."""
    return f"merchant:{key}"


def attribute_id(facet: str, value: str) -> str:
    """Node id of an attribute value (``attribute_id("colour", "red") == "attribute:colour:red"``)."""
    return f"attribute:{facet}:{value}"


def split_node_id(node: str) -> tuple[NodeKind, str]:
    """Split a node id into its kind and key; raises ``ValueError`` for ids of no known kind."""
    kind, sep, key = node.partition(":")
    if not sep:
        raise ValueError(f"node id {node!r} has no '<kind>:' prefix; build ids with node_id()")
    return NodeKind(kind), key
