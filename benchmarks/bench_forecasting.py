"""Forecasting member on the real data: MASE / sMAPE / P10-P90 coverage per model, and fit times.

Run: ``.venv/bin/python benchmarks/bench_forecasting.py``. Writes JSON to benchmarks/results/forecasting.json.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ensemble.datasets import load_dominicks, load_online_retail, shared_data_dir
from ensemble.forecasting import NeuralConfig, dominicks_weekly_units, evaluate_forecast, weekly_product_units

logger = logging.getLogger(__name__)


def main() -> None:
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO)
    # Season 1 (naive) for weekly data: Online Retail has ~52 weeks, less than two years, so an annual (52)
    # season cannot be estimated; Dominick's OJ demand is driven by promotions rather than by the calendar.
    config = NeuralConfig(input_window=8)
    results = {
        "online_retail_top100_weekly": evaluate_forecast(
            weekly_product_units(load_online_retail(), top_n=100, select_before="2011-10-01"),
            horizon=8,
            season_length=1,
            config=config,
        )
    }
    if (shared_data_dir() / "dominicks-orange-juice" / "orangeJuice_yx.csv.gz").exists():
        frame = dominicks_weekly_units(load_dominicks())
        ids = frame["unique_id"].unique()
        even = [i for i in ids if int(i.split("-")[0]) % 2 == 0]
        odd = [i for i in ids if int(i.split("-")[0]) % 2 == 1]
        results["dominicks_even_learn_odd_report"] = evaluate_forecast(
            frame, 8, 1, config, learn_ids=even, report_ids=odd
        )
    out = Path(__file__).parent / "results" / "forecasting.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    for name, report in results.items():
        for model, metrics in report["models"].items():
            logger.info(
                "%s %s: MASE %.3f sMAPE %.1f coverage %.3f fit %.1fs",
                name,
                model,
                metrics["mase"],
                metrics["smape"],
                metrics["coverage_p10_p90"],
                metrics["fit_seconds"],
            )
        logger.info("%s neural/naive MASE ratio %.3f", name, report["neural_vs_seasonal_naive_mase"])


if __name__ == "__main__":
    main()
