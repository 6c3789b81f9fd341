"""Vision member on the full Grocery Store set: frozen features + logistic regression vs the fine-tuned member,
same decoded photos, same run; test split reported once. Prints and writes benchmarks/results/vision.json.

Run: ``.venv/bin/python benchmarks/bench_vision.py [--epochs N]`` (needs ../shared/data/grocery-store).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from pathlib import Path

import torch

from ensemble.vision import VisionConfig, decode_photos, fit_vision, linear_probe, load_grocery

logger = logging.getLogger(__name__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=VisionConfig().epochs, help="fine-tuning epochs")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "vision.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    config = dataclasses.replace(VisionConfig(), epochs=args.epochs)
    torch.set_num_threads(config.threads)
    data = load_grocery()
    started = time.perf_counter()
    splits = {name: decode_photos(data, name, config.cache_size) for name in ("train", "val", "test")}
    decode_seconds = time.perf_counter() - started
    baseline = linear_probe(splits["train"], splits["val"], splits["test"], data.catalogue, config)
    fitted = fit_vision(data, config, train=splits["train"], val=splits["val"])
    test = fitted.predictor.evaluate(splits["test"])
    report = {
        "data": str(data.labels_path),
        "photos": {name: len(images) for name, images in splits.items()},
        "config": config.to_dict(),
        "threads": torch.get_num_threads(),
        "decode_seconds": round(decode_seconds, 1),
        "frozen_linear_probe": baseline,
        "fine_tuned": {
            "test": test,
            "val": fitted.val_metrics,
            "train_seconds": round(fitted.fit.train_seconds, 1),
            "history": [dataclasses.asdict(r) for r in fitted.fit.history],
        },
        "ratio_accuracy_fine_fine_tuned_over_probe": round(test["accuracy_fine"] / baseline["accuracy_fine"], 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    logger.info(
        "test accuracy fine/coarse: probe %.4f / %.4f, fine-tuned %.4f / %.4f (training %.0f s)",
        baseline["accuracy_fine"],
        baseline["accuracy_coarse"],
        test["accuracy_fine"],
        test["accuracy_coarse"],
        fitted.fit.train_seconds,
    )


if __name__ == "__main__":
    main()
