"""Forecasting member on the real data: rolling-origin MASE per member and window, conformal coverage, the
served/seasonal-naive MASE ratio, fit times, and the inventory simulation.

Run: ``.venv/bin/python benchmarks/bench_forecasting.py``. Writes JSON to benchmarks/results/forecasting.json.
Dominick's (learn on even stores, report on odd) runs when the shared data is present; it takes minutes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ensemble.datasets import load_dominicks, load_online_retail, shared_data_dir
from ensemble.forecasting import (
    RollingConfig,
    build_panel,
    dominicks_weekly_units,
    online_retail_frame,
    rolling_forecasts,
    simulate_inventory,
)
from ensemble.forecasting.evaluation import summarise

logger = logging.getLogger(__name__)


def _run(frame: Any, config: RollingConfig, learn: list[str] | None, report: list[str] | None) -> dict[str, Any]:
    panel = build_panel(frame, min_length=config.horizon + config.min_train + 1)
    keys = set(panel.keys)
    learn = None if learn is None else [k for k in learn if k in keys]
    report = None if report is None else [k for k in report if k in keys]
    result = rolling_forecasts(panel, config, learn, report)
    return {"forecast": summarise(result), "inventory": simulate_inventory(result)}


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    # Season 1 (naive) for weekly data: Online Retail has ~52 weeks, less than two years, so an annual (52)
    # season cannot be estimated; Dominick's OJ demand is driven by promotions rather than by the calendar.
    config = RollingConfig()
    results = {
        "online_retail_top100_weekly": _run(online_retail_frame(load_online_retail(), 100, config), config, None, None)
    }
    if (shared_data_dir() / "dominicks-orange-juice" / "orangeJuice_yx.csv.gz").exists():
        frame = dominicks_weekly_units(load_dominicks())
        ids = sorted(frame["unique_id"].unique())
        even = [i for i in ids if int(i.split("-")[0]) % 2 == 0]
        odd = [i for i in ids if int(i.split("-")[0]) % 2 == 1]
        results["dominicks_even_learn_odd_report"] = _run(frame, config, even, odd)
    out = Path(__file__).parent / "results" / "forecasting.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    for name, report in results.items():
        forecast = report["forecast"]
        for model, metrics in forecast["models"].items():
            logger.info(
                "%s %s: MASE %s per window %s, coverage native %s conformal %s",
                name,
                model,
                metrics["mase"],
                metrics["mase_per_window"],
                metrics["coverage_native"],
                metrics["coverage_conformal"],
            )
        logger.info(
            "%s served/naive MASE per window %s", name, forecast["goals"]["served_vs_seasonal_naive_mase_per_window"]
        )
        logger.info("%s fit seconds %s", name, forecast["fit_seconds"])
        for model, row in report["inventory"]["models"].items():
            logger.info("%s inventory %s: %s", name, model, row)


if __name__ == "__main__":
    main()
