"""Power and false-positive rate of the experiment tests on held-out Online Retail baskets, over repeated runs.

The outcomes are real: the invoices of the held-out period (from 2011-11-01; cancellations and non-positive
lines dropped), each invoice's value in GBP. Numeric experiments record that value (basket value, heavy
tailed); binary ones record whether it reaches the median invoice value of the training period (a threshold
fixed before the held-out data is looked at). Each simulated experiment draws each arm's outcomes with
replacement from the held-out invoices:

- **no difference**: both arms draw the same baskets' values, so every "better" decision is a false positive;
- **known difference**: arm B's baskets are worth ``1 + lift`` times as much (5 % and 20 %), so the true
  difference is known exactly on the pool (for a binary outcome, the share of baskets that the lift carries
  over the threshold).

For each, :func:`cluster.experiment_simulation.replay` runs the sequential test (mixture SPRT, checked after
every pair of outcomes) and the fixed-horizon test peeked at every ``PEEK_EVERY`` pairs and looked at once at
the planned size. The intent member's per-text correctness under two modes would be the other natural outcome;
it needs trained intent models, which this script does not train.

Run: ``.venv/bin/python benchmarks/bench_experiments.py [--runs 500] [--pairs 4000]``. Prints one line per
scenario and writes benchmarks/results/experiments.json.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cluster.experiment_simulation import ReplayResult, clopper_pearson, replay
from cluster.experiment_stats import Decision, OutcomeKind, StopRule
from ensemble.datasets.online_retail import clean_online_retail, load_online_retail, split_online_retail

logger = logging.getLogger(__name__)

LIFTS = (0.05, 0.20)
PEEK_EVERY = 200
ALPHA = 0.05


def invoice_values() -> tuple[NDArray[np.float64], float]:
    """Held-out invoice values (GBP) and the training period's median invoice value."""
    lines = clean_online_retail(load_online_retail(), require_customer=False)
    lines = lines.assign(value=lines["Quantity"] * lines["UnitPrice"])
    train, test = split_online_retail(lines)
    threshold = float(train.groupby("InvoiceNo")["value"].sum().median())
    return test.groupby("InvoiceNo")["value"].sum().to_numpy(dtype=np.float64), threshold


def _rate(count: int, runs: int) -> dict[str, float]:
    low, high = clopper_pearson(count, runs)
    return {"rate": count / runs, "ci95_low": low, "ci95_high": high}


def summarise(result: ReplayResult, difference: float) -> dict[str, Any]:
    """Rates with exact 95 % intervals; "found" counts the right direction under a difference and either
    direction (a false positive) under none."""
    found = (
        result.sequential[Decision.B_BETTER] + result.sequential[Decision.A_BETTER]
        if difference == 0
        else result.sequential[Decision.B_BETTER]
    )
    pairs = result.pairs_at(Decision.B_BETTER if difference > 0 else Decision.NO_DIFFERENCE)
    return {
        "true_difference": difference,
        "sequential": _rate(found, result.runs),
        "sequential_wrong_direction": result.sequential[Decision.A_BETTER] if difference > 0 else None,
        "sequential_no_difference": result.sequential[Decision.NO_DIFFERENCE],
        # runs that found B better (under a difference) or settled on no difference (under none)
        "sequential_pairs_to_decision": {
            "median": float(np.median(pairs)) if len(pairs) else None,
            "p90": float(np.percentile(pairs, 90)) if len(pairs) else None,
        },
        "fixed_peeking": _rate(result.fixed_peeking_rejections, result.runs),
        "fixed_one_look": _rate(result.fixed_final_rejections, result.runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=500, help="simulated experiments per scenario")
    parser.add_argument("--pairs", type=int, default=4000, help="outcomes per arm at most (the planned size)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    values, threshold = invoice_values()
    rule = StopRule(alpha=ALPHA, min_samples=100, max_samples=args.pairs)
    rng = np.random.default_rng(args.seed)
    report: dict[str, Any] = {
        "data": "Online Retail invoices from 2011-11-01 (held out), value in GBP",
        "invoices": len(values),
        "binary_threshold_gbp": threshold,
        "lifts": list(LIFTS),
        "runs": args.runs,
        "pairs": args.pairs,
        "peek_every": PEEK_EVERY,
        "rule": rule.describe(),
        "scenarios": {},
    }
    for kind in (OutcomeKind.BINARY, OutcomeKind.NUMERIC):

        def outcome(v: NDArray[np.float64], kind: OutcomeKind = kind) -> NDArray[np.float64]:
            return (v >= threshold).astype(np.float64) if kind is OutcomeKind.BINARY else v

        for lift in (0.0, *LIFTS):
            a = outcome(rng.choice(values, size=(args.runs, args.pairs)))
            b = outcome(rng.choice(values, size=(args.runs, args.pairs)) * (1.0 + lift))
            difference = float(outcome(values * (1.0 + lift)).mean() - outcome(values).mean())
            summary = summarise(replay(a, b, kind, rule, peek_every=PEEK_EVERY), difference)
            name = f"{kind}-{f'lift{lift:.0%}' if lift else 'null'}"
            report["scenarios"][name] = summary
            logger.info(
                "%-15s true diff %9.4f | sequential %.3f [%.3f, %.3f], median %s pairs | fixed peeked %.3f | "
                "fixed one look %.3f",
                name,
                difference,
                summary["sequential"]["rate"],
                summary["sequential"]["ci95_low"],
                summary["sequential"]["ci95_high"],
                summary["sequential_pairs_to_decision"]["median"],
                summary["fixed_peeking"]["rate"],
                summary["fixed_one_look"]["rate"],
            )
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "experiments.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
