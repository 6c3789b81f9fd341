"""Pricing member in the Dominick's simulator: % of oracle profit per policy, regret curve PNG.

Run: ``.venv/bin/python benchmarks/bench_pricing.py``. Writes benchmarks/results/pricing.json and
benchmarks/results/pricing_regret.png.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ensemble.pricing import evaluate_pricing

logger = logging.getLogger(__name__)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    results = Path(__file__).parent / "results"
    report = evaluate_pricing(weeks=80, seed=0, plot_path=results / "pricing_regret.png")
    (results / "pricing.json").write_text(json.dumps(report, indent=1))
    for name, policy in report["policies"].items():
        logger.info(
            "%s: %.1f %% of oracle (last quarter %.1f %%)",
            name,
            policy["pct_of_oracle"],
            policy["pct_of_oracle_last_quarter"],
        )


if __name__ == "__main__":
    main()
