"""Entity linking: from free text to products, by stock code, exact description or fuzzy description.

Descriptions and queries share one normal form (:func:`knowledge_graph.taxonomy.normalise_text`: lower case,
alphanumeric tokens, singular), which handles case, punctuation and plurals; ``rapidfuzz``'s token-based
scorers
handle typos, word order and a dropped word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import networkx as nx
import numpy as np
from rapidfuzz import fuzz, process

from knowledge_graph.schema import NodeKind
from knowledge_graph.taxonomy import normalise_text

MatchMethod = Literal["code", "exact", "fuzzy"]
Scorer = Callable[..., float]

_CODE_RE: Final = re.compile(r"\b(?:\d{5}[A-Za-z]{0,3}|DCGS[A-Za-z0-9]+)\b", re.IGNORECASE)
_STOP: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "i",
        "me",
        "is",
        "it",
        "of",
        "to",
        "in",
        "on",
        "for",
        "and",
        "or",
        "with",
        "where",
        "what",
        "when",
        "how",
        "do",
        "does",
        "did",
        "can",
        "you",
        "your",
        "our",
        "this",
        "that",
        "have",
        "has",
        "had",
        "be",
        "was",
        "are",
        "am",
        "please",
        "hi",
        "hello",
        "order",
        "ordered",
        "buy",
        "bought",
        "want",
        "need",
        "set",
        "pack",
    ]
)


@dataclass(frozen=True, slots=True)
class EntityMatch:
    """A product found in text: ``description`` is the product's name as linked (an Online Retail product's
    description); ``score`` in [0, 1]; ``span`` is the matched character range when known."""

    stock_code: str
    description: str
    score: float
    method: MatchMethod
    span: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data = asdict(self)
        data["span"] = list(self.span) if self.span else None
        return data


class EntityLinker:
    """Links text to products. Build with :meth:`from_graph` or from parallel lists of codes and
    descriptions."""

    def __init__(
        self,
        stock_codes: Sequence[str],
        descriptions: Sequence[str],
        scorer: Scorer = fuzz.token_sort_ratio,
        min_score: float = 0.6,
        mention_min_score: float = 0.85,
    ) -> None:
        self._codes = list(stock_codes)
        self._descriptions = list(descriptions)
        self._normal = [normalise_text(d) for d in self._descriptions]
        self._by_code = {c.upper(): i for i, c in enumerate(self._codes)}
        self._by_normal: dict[str, int] = {}
        for i, norm in enumerate(self._normal):
            self._by_normal.setdefault(norm, i)
        self._index: dict[str, list[int]] = {}
        for i, norm in enumerate(self._normal):
            for tok in set(norm.split()):
                if len(tok) >= 3 and tok not in _STOP:
                    self._index.setdefault(tok, []).append(i)
        self._scorer = scorer
        self._min_score = min_score
        self._mention_min_score = mention_min_score

    @classmethod
    def from_graph(cls, graph: nx.MultiDiGraph, **kwargs: Any) -> EntityLinker:
        """A linker over every product of ``graph`` that has a name (the description of an Online Retail
        product, the class name of a catalogue product: "Granny Smith" links to ``gs-1``)."""
        items = sorted(
            (d["key"], d["name"])
            for _, d in graph.nodes(data=True)
            if d.get("kind") == NodeKind.PRODUCT and d.get("name")
        )
        return cls([c for c, _ in items], [d for _, d in items], **kwargs)

    def __len__(self) -> int:
        return len(self._codes)

    def _match(self, i: int, score: float, method: MatchMethod, span: tuple[int, int] | None) -> EntityMatch:
        return EntityMatch(self._codes[i], self._descriptions[i], round(float(score), 4), method, span)

    def code_mentions(self, text: str) -> list[EntityMatch]:
        """Stock codes written in ``text`` (tokens like 85123A or 22423) that are products."""
        found: list[EntityMatch] = []
        for m in _CODE_RE.finditer(text):
            i = self._by_code.get(m.group(0).upper())
            if i is not None and all(f.stock_code != self._codes[i] for f in found):
                found.append(self._match(i, 1.0, "code", m.span()))
        return found

    def link(self, text: str, k: int = 5, min_score: float | None = None) -> list[EntityMatch]:
        """Up to ``k`` products that ``text`` names: stock codes first, then an exact normalised description,
        then
        fuzzy description matches scoring at least ``min_score`` (default 0.6)."""
        cutoff = self._min_score if min_score is None else min_score
        results = self.code_mentions(text)
        norm = normalise_text(text)
        exact = self._by_normal.get(norm)
        if exact is not None:
            results.append(self._match(exact, 1.0, "exact", None))
        if norm:
            for _, score, i in process.extract(
                norm, self._normal, scorer=self._scorer, limit=k + len(results), score_cutoff=100 * cutoff
            ):
                results.append(self._match(i, score / 100, "fuzzy", None))
        unique: dict[str, EntityMatch] = {}
        for match in results:
            unique.setdefault(match.stock_code, match)
        return list(unique.values())[:k]

    def mentions(self, text: str, max_words: int = 8) -> list[EntityMatch]:
        """Products mentioned inside a longer message, each once, in text order.

        Stock codes count first. Then every window of up to ``max_words`` words that starts and ends on a
        content
        word is scored against the descriptions sharing a word with the message (token-sort ratio); the best
        non-overlapping windows scoring at least ``mention_min_score`` win.
        """
        found = self.code_mentions(text)
        words = [(m.group(0), m.start(), m.end()) for m in re.finditer(r"[A-Za-z0-9]+", text)]
        norm_words = [normalise_text(w) for w, _, _ in words]
        content = [i for i, w in enumerate(norm_words) if w not in _STOP and not w.isdigit()]
        candidates = sorted({c for i in content for c in self._index.get(norm_words[i], ())})
        if not candidates or not content:
            return sorted(found, key=lambda m: m.span or (0, 0))
        windows: list[tuple[int, int]] = [(a, b) for a in content for b in content if a <= b and b - a < max_words]
        queries = [" ".join(norm_words[a : b + 1]) for a, b in windows]
        choices = [self._normal[c] for c in candidates]
        scores = process.cdist(queries, choices, scorer=self._scorer, dtype=np.uint8)
        best = scores.argmax(axis=1)
        ranked = sorted(
            ((int(scores[w, best[w]]), windows[w][1] - windows[w][0], w) for w in range(len(windows))),
            reverse=True,
        )
        used: set[int] = set()
        taken = {m.stock_code for m in found}
        for score, _, w in ranked:
            if score < 100 * self._mention_min_score:
                break
            a, b = windows[w]
            if used.intersection(range(a, b + 1)):
                continue
            i = candidates[int(best[w])]
            if self._codes[i] in taken:
                continue
            used.update(range(a, b + 1))
            taken.add(self._codes[i])
            found.append(self._match(i, score / 100, "fuzzy", (words[a][1], words[b][2])))
        return sorted(found, key=lambda m: m.span or (0, 0))
