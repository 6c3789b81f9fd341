"""Pricing member in the Dominick's simulator, over 10 seeds, with historical and with reacting competitors, and
the held-out check of the simulator's demand model.

Run: ``.venv/bin/python benchmarks/bench_pricing.py``. Writes benchmarks/results/pricing.json and one regret-curve
PNG per competitor setting (benchmarks/results/pricing_regret_reaction_R.png).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ensemble.pricing import check_demand_model, evaluate_pricing_seeds

logger = logging.getLogger(__name__)

SEEDS = 10
WEEKS = 80
REACTIONS = (0.0, 0.5)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    report: dict[str, Any] = {"demand_check": check_demand_model(), "policies_by_reaction": {}}
    for reaction in REACTIONS:
        plot = results / f"pricing_regret_reaction_{reaction:g}.png"
        run = evaluate_pricing_seeds(seeds=SEEDS, weeks=WEEKS, competitor_reaction=reaction, plot_path=plot)
        report["policies_by_reaction"][f"{reaction:g}"] = run
        for name, policy in run["policies"].items():
            share = policy["pct_of_oracle"]
            logger.info(
                "reaction %g, %s: %.2f %% of oracle (95 %% CI %.2f-%.2f)",
                reaction,
                name,
                share["mean"],
                share["low"],
                share["high"],
            )
        paired = run["thompson_minus_greedy_pt"]
        logger.info(
            "reaction %g, thompson - greedy: %+.2f pt (%.2f to %.2f)",
            reaction,
            paired["mean"],
            paired["low"],
            paired["high"],
        )
    (results / "pricing.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
