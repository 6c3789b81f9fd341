"""Pricing member in the Dominick's simulator, over 10 seeds, with historical and with reacting competitors, and
the held-out check of the simulator's demand model.

Run: ``.venv/bin/python benchmarks/bench_pricing.py``. Writes benchmarks/results/pricing.json (with every seed's
weekly profit per policy) and one regret-curve PNG per competitor setting, drawn from that file
(benchmarks/results/pricing_regret_reaction_R.png).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ensemble.pricing import check_demand_model, evaluate_pricing_seeds
from shopmesh.plots import pricing_regret

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
        weekly: list[dict[str, list[float]]] = []

        def keep(
            runs: Sequence[Mapping[str, NDArray[np.float64]]], into: list[dict[str, list[float]]] = weekly
        ) -> None:
            into.extend({name: values.tolist() for name, values in run.items()} for run in runs)

        run = evaluate_pricing_seeds(seeds=SEEDS, weeks=WEEKS, competitor_reaction=reaction, on_weekly_profit=keep)
        report["policies_by_reaction"][f"{reaction:g}"] = {**run, "weekly_profit": weekly}
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
    saved = json.loads((results / "pricing.json").read_text())
    for reaction, run in saved["policies_by_reaction"].items():
        pricing_regret(
            run["weekly_profit"],
            results / f"pricing_regret_reaction_{reaction}.png",
            title=f"Pricing policies on Dominick's odd stores, competitor reaction {reaction}",
        )


if __name__ == "__main__":
    main()
