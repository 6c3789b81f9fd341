"""Top-k ranking metrics over full rankings: hit rate, NDCG, recall and catalogue coverage.

Each user's relevant set is the items of their test window that they had not bought in training (bought items
are excluded from the rankings, so the target is new items). With ``rank`` counted from 0:

- HR@k: 1 if any of the top k is relevant;
- NDCG@k: ``sum_{rank<k, relevant} 1/log2(rank+2)`` divided by the same sum for ``min(|relevant|, k)`` hits;
- Recall@k: relevant items in the top k divided by ``|relevant|``;
- coverage@k: distinct items in all users' top k divided by the number of rankable items.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

import numpy as np

__all__ = ["coverage", "hit_rate", "ndcg", "ranking_metrics", "recall"]


def _check(rankings: Sequence[Sequence[str]], relevant: Sequence[Set[str]]) -> None:
    if len(rankings) != len(relevant):
        raise ValueError(f"got {len(rankings)} rankings for {len(relevant)} relevant sets; pass one per user")


def hit_rate(rankings: Sequence[Sequence[str]], relevant: Sequence[Set[str]], k: int) -> float:
    """Share of users with at least one relevant item in their top ``k``."""
    _check(rankings, relevant)
    if not rankings:
        return float("nan")
    return float(
        np.mean([any(item in rel for item in ranked[:k]) for ranked, rel in zip(rankings, relevant, strict=True)])
    )


def ndcg(rankings: Sequence[Sequence[str]], relevant: Sequence[Set[str]], k: int) -> float:
    """Mean NDCG@``k`` with binary relevance."""
    _check(rankings, relevant)
    if not rankings:
        return float("nan")
    discounts = 1.0 / np.log2(np.arange(k) + 2.0)
    values = []
    for ranked, rel in zip(rankings, relevant, strict=True):
        ideal = discounts[: min(len(rel), k)].sum()
        gain = sum(discounts[r] for r, item in enumerate(ranked[:k]) if item in rel)
        values.append(gain / ideal if ideal > 0 else 0.0)
    return float(np.mean(values))


def recall(rankings: Sequence[Sequence[str]], relevant: Sequence[Set[str]], k: int) -> float:
    """Mean share of each user's relevant items found in their top ``k``."""
    _check(rankings, relevant)
    if not rankings:
        return float("nan")
    return float(
        np.mean(
            [
                sum(item in rel for item in ranked[:k]) / len(rel) if rel else 0.0
                for ranked, rel in zip(rankings, relevant, strict=True)
            ]
        )
    )


def coverage(rankings: Sequence[Sequence[str]], n_items: int, k: int) -> float:
    """Distinct items in the top ``k`` of all rankings over ``n_items``."""
    if n_items <= 0:
        return float("nan")
    return len({item for ranked in rankings for item in ranked[:k]}) / n_items


def ranking_metrics(rankings: Sequence[Sequence[str]], relevant: Sequence[Set[str]], n_items: int) -> dict[str, float]:
    """The reported set: ``hr@10``, ``ndcg@10``, ``recall@20``, ``coverage`` (of the top 10)."""
    return {
        "hr@10": hit_rate(rankings, relevant, 10),
        "ndcg@10": ndcg(rankings, relevant, 10),
        "recall@20": recall(rankings, relevant, 20),
        "coverage": coverage(rankings, n_items, 10),
    }
