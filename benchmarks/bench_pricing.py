"""Pricing member in the Dominick's simulator: % of oracle profit per policy, regret curve PNG.

Run: ``.venv/bin/python benchmarks/bench_pricing.py``. Writes benchmarks/results/pricing.json (with every
policy's weekly profit) and benchmarks/results/pricing_regret.png, drawn from that file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ensemble.pricing import evaluate_pricing
from shopmesh.plots import pricing_regret

logger = logging.getLogger(__name__)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    weekly: dict[str, list[float]] = {}

    def keep(profit: Mapping[str, NDArray[np.float64]]) -> None:
        weekly.update({name: values.tolist() for name, values in profit.items()})

    report = evaluate_pricing(weeks=80, seed=0, on_weekly_profit=keep)
    (results / "pricing.json").write_text(json.dumps({**report, "weekly_profit": weekly}, indent=1))
    saved = json.loads((results / "pricing.json").read_text())
    pricing_regret(saved["weekly_profit"], results / "pricing_regret.png")
    for name, policy in report["policies"].items():
        logger.info(
            "%s: %.1f %% of oracle (last quarter %.1f %%)",
            name,
            policy["pct_of_oracle"],
            policy["pct_of_oracle_last_quarter"],
        )


if __name__ == "__main__":
    main()
