"""Build settings of the product graph (one typed object, parsed once by the caller)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """How the graph is derived from order lines.

    Co-purchase edges join products bought in the same sale invoice (merchandise only) and are weighted by
    normalised
    pointwise mutual information, ``NPMI = log(p_ij / (p_i p_j)) / -log(p_ij)`` with probabilities over sale
    invoices; a pair needs ``min_support`` shared invoices and ``NPMI > min_npmi``, and each product keeps its
    ``top_k_copurchase`` best partners. A product type becomes a category when ``min_category_products``
    products
    share it (see :mod:`knowledge_graph.taxonomy`).
    """

    min_support: int = 5
    min_npmi: float = 0.0
    top_k_copurchase: int = 20
    min_category_products: int = 5

    def __post_init__(self) -> None:
        if self.min_support < 1:
            raise ValueError(f"min_support must be >= 1, got {self.min_support}; use e.g. 5 invoices")
        if not -1.0 <= self.min_npmi < 1.0:
            raise ValueError(f"min_npmi must be in [-1, 1), got {self.min_npmi}; use 0.0 to keep positive pairs")
        if self.top_k_copurchase < 1:
            raise ValueError(f"top_k_copurchase must be >= 1, got {self.top_k_copurchase}")
        if self.min_category_products < 1:
            raise ValueError(f"min_category_products must be >= 1, got {self.min_category_products}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for the store manifest)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


class EdgeWeight(StrEnum):
    """Weight of a customer—product edge in the recommender's walk."""

    BINARY = "binary"
    """1 per customer—product pair (each buyer counts once)."""
    ORDERS = "orders"
    """The number of the customer's orders that contained the product."""


@dataclass(frozen=True, slots=True)
class RecommendConfig:
    """How :class:`~knowledge_graph.recommend.GraphRecommender` scores products (personalised PageRank).

    ``alpha`` is the probability of following an edge at each step (``1 - alpha`` restarts at the customer's
    purchases). Walk edges: customer—product weighted per ``edge_weight``, product—product weighted by
    ``copurchase_weight × NPMI`` (0 leaves co-purchases out of the walk; they still explain recommendations).
    The restart distribution weighs each purchased product by its number of orders, times
    ``0.5 ** (age_days / recency_half_life_days)`` when a half-life is set (age counted from the graph's last
    purchase). A product's final score is its PageRank divided by ``buyers ** popularity_exponent`` (0 keeps
    plain PageRank). Iteration stops when the PageRank mass still to be distributed is below ``tol``, which
    bounds the L1 error of the scores.

    The defaults were chosen on a validation window (train before 2011-10-01, validate 2011-10-01 to
    2011-11-01) of Online Retail; see ``benchmarks/bench_knowledge_graph.py``.
    """

    alpha: float = 0.1
    edge_weight: EdgeWeight = EdgeWeight.BINARY
    copurchase_weight: float = 0.0
    popularity_exponent: float = 0.5
    recency_half_life_days: float | None = None
    tol: float = 1e-6

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}; 0.1 is the tuned default")
        if not isinstance(self.edge_weight, EdgeWeight):
            raise ValueError(
                f"edge_weight must be an EdgeWeight, got {self.edge_weight!r}; use one of {list(EdgeWeight)}"
            )
        if self.copurchase_weight < 0.0:
            raise ValueError(f"copurchase_weight must be >= 0, got {self.copurchase_weight}")
        if self.popularity_exponent < 0.0:
            raise ValueError(f"popularity_exponent must be >= 0, got {self.popularity_exponent}")
        if self.recency_half_life_days is not None and self.recency_half_life_days <= 0.0:
            raise ValueError(f"recency_half_life_days must be > 0 or None, got {self.recency_half_life_days}")
        if not 0.0 < self.tol < 1.0:
            raise ValueError(f"tol must be in (0, 1), got {self.tol}; use e.g. 1e-6")
