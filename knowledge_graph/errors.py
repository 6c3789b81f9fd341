"""Errors raised by the knowledge graph package.

Every error derives from :class:`KnowledgeGraphError`, so callers at a boundary (an HTTP handler, the CLI)
can catch
one class. Messages name what was wrong, the value seen and what to do.
"""

from __future__ import annotations


class KnowledgeGraphError(Exception):
    """Base class of every error raised by ``knowledge_graph``."""


class InvalidOrdersError(KnowledgeGraphError, ValueError):
    """The order-lines DataFrame given to the builder lacks columns or has the wrong dtypes."""


class InvalidCatalogueError(KnowledgeGraphError, ValueError):
    """A merchant's catalogue frame lacks columns, repeats a class id, or names products another merchant has."""


class UnknownProductError(KnowledgeGraphError, KeyError):
    """A stock code that is not a product of the graph."""

    def __init__(self, stock_code: str) -> None:
        self.stock_code = stock_code
        super().__init__(
            f"unknown product stock code {stock_code!r}: it is not in the graph; "
            "check the code (e.g. '85123A') or use link()/mentions() to find products by description"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownCustomerError(KnowledgeGraphError, KeyError):
    """A customer id that has no purchases in the graph."""

    def __init__(self, customer_id: int) -> None:
        self.customer_id = customer_id
        super().__init__(
            f"unknown customer id {customer_id!r}: no order lines of this customer are in the graph; "
            "pass a CustomerID present in the orders the graph was built from"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownOrderError(KnowledgeGraphError, KeyError):
    """An invoice number that is not an order of the graph."""

    def __init__(self, invoice_no: str) -> None:
        self.invoice_no = invoice_no
        super().__init__(
            f"unknown order (invoice) number {invoice_no!r}: it is not in the graph; "
            "invoice numbers look like '536365' (cancellations 'C536379')"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class GraphStoreError(KnowledgeGraphError, OSError):
    """A saved graph directory is missing, corrupt, or of an unsupported format version."""


class PageRankInputError(KnowledgeGraphError, ValueError):
    """Personalised PageRank was given a setting or matrix it cannot walk (see :mod:`knowledge_graph.pagerank`)."""
