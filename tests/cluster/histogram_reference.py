"""Percentiles of Prometheus histograms computed in Python, the reference the console's numbers are checked
against."""

from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["quantile", "reference_summary"]


def quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' histogram_quantile over cumulative (upper bound, count) buckets, as the reference."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def reference_summary(text: str, family: str, key: str) -> dict[str, list[float | None]]:
    groups: dict[str, list[tuple[float, float]]] = {}
    for metrics in text_string_to_metric_families(text):
        for sample in metrics.samples:
            if sample.name == f"{family}_bucket":
                groups.setdefault(sample.labels[key], []).append((float(sample.labels["le"]), sample.value))
    return {label: [quantile(q, buckets) for q in (0.5, 0.9, 0.99)] for label, buckets in groups.items()}
