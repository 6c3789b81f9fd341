"""Build settings of the product graph (one typed object, parsed once by the caller)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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
            raise ValueError(
                f"min_npmi must be in [-1, 1), got {self.min_npmi}; use 0.0 to keep positive pairs"
            )
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
