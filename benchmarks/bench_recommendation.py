"""Recommendation members and their fusion on Online Retail: training seconds and metrics side by side.

Run: ``.venv/bin/python benchmarks/bench_recommendation.py``. Train before 2011-11-01, test from it; fusion
weights fitted on the last 20% of the training interactions (members refitted before that window). Full
ranking over every training item, already-bought items excluded. Writes benchmarks/results/recommendation.json.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from ensemble.datasets import ONLINE_RETAIL_CUTOFF
from ensemble.recommendation import evaluate_recommenders, online_retail_interactions, plan_split

logger = logging.getLogger(__name__)

BASELINES = ("popularity", "item_knn")


def main() -> None:
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO)
    started = time.perf_counter()
    interactions, catalog = online_retail_interactions()
    split = plan_split(interactions, test_from=ONLINE_RETAIL_CUTOFF)
    report = evaluate_recommenders(interactions, split, catalog)
    total = time.perf_counter() - started
    rows = {**report.members, "fusion": report.fusion}
    header = f"{'member':<11} {'fit s (pre-val)':>15} {'fit s (train)':>13} {'HR@10':>7} {'NDCG@10':>8} "
    header += f"{'Rec@20':>7} {'cover':>6}"
    lines = [header]
    for name, row in rows.items():
        if "skipped" in row:
            lines.append(f"{name:<11} skipped: {row['skipped']}")
            continue
        fit_val = report.validation_train_seconds.get(name, float("nan"))
        fit = report.train_seconds.get(name, float("nan"))
        lines.append(
            f"{name:<11} {fit_val:>15.1f} {fit:>13.1f} {row['hr@10']:>7.4f} {row['ndcg@10']:>8.4f} "
            f"{row['recall@20']:>7.4f} {row['coverage']:>6.3f}"
        )
    best = max(BASELINES, key=lambda n: report.members[n]["ndcg@10"])
    ratio = report.fusion["ndcg@10"] / report.members[best]["ndcg@10"]
    lines.append(f"fusion NDCG@10 / best baseline ({best}) NDCG@10 = {ratio:.2f} (goal >= 1.10)")
    lines.append(f"fusion weights {report.fusion['weights']}; test users {report.test.users}; total {total:.0f} s")
    print("\n".join(lines))
    out = Path(__file__).parent / "results" / "recommendation.json"
    result = {
        **report.to_dict(),
        "train_seconds": report.train_seconds,
        "validation_train_seconds": report.validation_train_seconds,
        "fusion_over_best_baseline_ndcg@10": ratio,
        "total_seconds": total,
    }
    out.write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
