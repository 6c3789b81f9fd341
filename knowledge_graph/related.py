"""Related products ("what goes with it"): the graph's neighbours of one product, best first.

Candidates are merchandise products of the same merchant, in three tiers: products bought in the same invoices
(``co_purchased``, by NPMI weight), then products of the same category, then of the same department. Catalogue
products without orders have no co-purchases, so their neighbours come from the catalogue's hierarchy. Within
the last two tiers products are ranked by the cosine similarity of TF-IDF vectors (scikit-learn) of their name
and description, fitted on each merchant's products once per graph; TF-IDF was chosen over MiniLM embeddings
because the graph package stays free of torch and the vectors of a few thousand short texts take well under a
second to fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Final

import networkx as nx
import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge_graph.errors import UnknownProductError
from knowledge_graph.schema import EdgeKind, NodeKind, product_id

_SCORE_DIGITS: Final = 4


def _strongest(pair: tuple[float, str]) -> tuple[float, str]:
    return -pair[0], pair[1]


class Relation(StrEnum):
    """Why a product is related to another (the tiers, strongest first)."""

    CO_PURCHASED = "co_purchased"
    SAME_CATEGORY = "same_category"
    SAME_DEPARTMENT = "same_department"


@dataclass(frozen=True, slots=True)
class RelatedProduct:
    """A neighbour of a product: ``score`` is the NPMI of a co-purchase, else the text cosine in [0, 1]."""

    stock_code: str
    name: str
    relation: Relation
    score: float
    category: str | None
    department: str | None
    merchant: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = asdict(self)
        data["relation"] = self.relation.value
        return data


@dataclass(frozen=True, slots=True)
class _MerchantTexts:
    """One merchant's merchandise products (sorted by key), their category and department, and their
    L2-normalised TF-IDF rows (products × terms)."""

    keys: list[str]
    index: dict[str, int]
    groups: dict[str, list[str | None]]  # "category" / "department" → one value per product
    vectors: sp.csr_matrix


class RelatedIndex:
    """Answers :meth:`related` over one graph; TF-IDF vectors are fitted per merchant on first use."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self._graph = graph
        self._texts: dict[str, _MerchantTexts] = {}

    def _merchant_texts(self, merchant: str) -> _MerchantTexts:
        if merchant not in self._texts:
            products = sorted(
                (d["key"], d)
                for _, d in self._graph.nodes(data=True)
                if d["kind"] == NodeKind.PRODUCT and d["merchant"] == merchant and d["merchandise"]
            )
            keys = [key for key, _ in products]
            groups: dict[str, list[str | None]] = {a: [d[a] for _, d in products] for a in ("category", "department")}
            texts = []
            for _, d in products:
                name, description = d["name"] or "", d["description"] or ""
                texts.append(name if name == description else f"{name}. {description}")
            vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
            try:
                vectors = sp.csr_matrix(vectorizer.fit_transform(texts))
            except ValueError:  # no product has a word outside the stop list: every cosine is 0
                vectors = sp.csr_matrix((len(keys), 1))
            self._texts[merchant] = _MerchantTexts(keys, {k: i for i, k in enumerate(keys)}, groups, vectors)
        return self._texts[merchant]

    def related(self, stock_code: str, k: int = 5) -> list[RelatedProduct]:
        """Up to ``k`` related products of ``stock_code`` (see the module docstring); raises
        :class:`UnknownProductError` for a code that is not a product."""
        graph = self._graph
        node = product_id(stock_code)
        attrs = graph.nodes.get(node)
        if attrs is None or attrs.get("kind") != NodeKind.PRODUCT:
            raise UnknownProductError(stock_code)
        if k <= 0:
            return []
        merchant = attrs["merchant"]
        found: list[RelatedProduct] = []
        taken = {stock_code}
        edges = graph.out_edges(node, keys=True, data=True)
        partners = sorted(((d["weight"], v) for _, v, key, d in edges if key == EdgeKind.CO_PURCHASED), key=_strongest)
        for weight, v in partners:
            found.append(self._related(v, Relation.CO_PURCHASED, float(weight)))
            taken.add(graph.nodes[v]["key"])
        tiers = ((Relation.SAME_CATEGORY, "category"), (Relation.SAME_DEPARTMENT, "department"))
        texts = self._merchant_texts(merchant)
        for relation, attr in tiers:
            if len(found) >= k or attrs[attr] is None:
                continue
            peers = [
                key
                for key, value in zip(texts.keys, texts.groups[attr], strict=True)
                if value == attrs[attr] and key not in taken
            ]
            for score, key in self._by_similarity(texts, stock_code, peers):
                found.append(self._related(product_id(key), relation, score))
                taken.add(key)
        return found[:k]

    def _by_similarity(self, texts: _MerchantTexts, stock_code: str, peers: list[str]) -> list[tuple[float, str]]:
        """``(cosine, key)`` of ``peers`` against ``stock_code``, most similar first (ties by key)."""
        if not peers:
            return []
        rows = [texts.index[p] for p in peers]
        if stock_code in texts.index:
            cosine = (texts.vectors[rows] @ texts.vectors[texts.index[stock_code]].T).toarray().ravel()
        else:  # a service code (not merchandise) has no vector of its own
            cosine = np.zeros(len(rows))
        return sorted(
            ((round(float(c), _SCORE_DIGITS), p) for c, p in zip(cosine, peers, strict=True)),
            key=lambda t: (-t[0], t[1]),
        )

    def _related(self, node: str, relation: Relation, score: float) -> RelatedProduct:
        d = self._graph.nodes[node]
        return RelatedProduct(
            stock_code=d["key"],
            name=d["name"],
            relation=relation,
            score=round(score, _SCORE_DIGITS),
            category=d["category"],
            department=d["department"],
            merchant=d["merchant"],
        )
