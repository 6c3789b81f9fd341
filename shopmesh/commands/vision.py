"""``shopmesh train vision`` and ``shopmesh eval vision``: fine-tune and publish the vision member, and score a
version on a labelled photo table (the Grocery Store data set's ``images.csv`` columns). Registered on the
``train`` and ``eval`` groups by :func:`register_train_vision` and :func:`register_eval_vision`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch

from ensemble.registry import Registry
from ensemble.vision import (
    VisionConfig,
    bundled_grocery_dir,
    decode_photos,
    default_grocery_dir,
    fit_vision,
    linear_probe,
    load_grocery,
)
from ensemble.vision.artifact import load_vision, publish_vision_version
from shopmesh.errors import CommandError

__all__ = ["register_eval_vision", "register_train_vision"]

_COLUMNS_HELP = "CSV with the columns split, path (relative to --images), class_id, coarse_id"


def _add_data_arguments(parser: argparse.ArgumentParser, *, products: bool) -> None:
    parser.add_argument(
        "--images",
        type=Path,
        default=None,
        help=f"folder the photo paths are relative to (default: images/ beside --labels; {default_grocery_dir()})",
    )
    parser.add_argument("--labels", type=Path, default=None, help=f"{_COLUMNS_HELP} (default: images.csv there)")
    if products:
        parser.add_argument(
            "--products", type=Path, default=None, help="catalogue CSV (default: products.csv beside --labels)"
        )
    parser.add_argument(
        "--bundled", action="store_true", help="use the small subset shipped with the package (9 classes)"
    )


def _labels_path(args: argparse.Namespace) -> Path | None:
    if args.bundled:
        if args.labels is not None or args.images is not None:
            raise CommandError("--bundled uses the packaged subset; drop --images/--labels or drop --bundled")
        return bundled_grocery_dir() / "images.csv"
    return args.labels  # type: ignore[no-any-return]


def register_train_vision(members: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vision`` to the ``train`` sub-command group."""
    defaults = VisionConfig()
    parser = members.add_parser(
        "vision", help="EfficientNet-Lite0 fine-tuned on shop photos (Grocery Store), calibrated, with retrieval"
    )
    _add_data_arguments(parser, products=True)
    parser.add_argument("--epochs", type=int, default=defaults.epochs, help="end-to-end fine-tuning epochs")
    parser.add_argument(
        "--warmup-epochs", type=int, default=defaults.warmup_epochs, help="head-only epochs on the frozen backbone"
    )
    parser.add_argument("--image-size", type=int, default=defaults.image_size, help="network input size in pixels")
    parser.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--weights", type=Path, default=None, help="EfficientNet-Lite0 weights file (default: the packaged one)"
    )
    parser.set_defaults(handler=run_train_vision)


def run_train_vision(args: argparse.Namespace) -> int:
    config = dataclasses.replace(
        VisionConfig(),
        epochs=args.epochs,
        warmup_epochs=args.warmup_epochs,
        image_size=args.image_size,
        threads=args.threads,
        seed=args.seed,
    )
    data = load_grocery(args.images, _labels_path(args), args.products)
    fitted = fit_vision(data, config, weights=args.weights)
    name = "grocery-store (bundled subset)" if args.bundled else str(data.labels_path)
    version = publish_vision_version(
        Registry(args.workspace.registry), fitted, data, data_name=name, weights=args.weights
    )
    print(json.dumps({"version": version.id, **fitted.val_metrics}, indent=2))
    return 0


def register_eval_vision(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vision`` to the ``eval`` sub-command group."""
    parser = group.add_parser(
        "vision",
        help="a vision version on labelled photos: accuracy fine/coarse, macro-F1, ECE, confused pairs, recall@5",
    )
    _add_data_arguments(parser, products=False)
    parser.add_argument("--split", default="test", help="rows of this split are scored (default: test)")
    parser.add_argument("--version", default=None, help="vision version (default: latest)")
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also fit frozen features + logistic regression on the table's train/val rows and score it",
    )
    parser.set_defaults(handler=run_eval_vision)


def run_eval_vision(args: argparse.Namespace) -> int:
    predictor = load_vision(Registry(args.workspace.registry), args.version)
    torch.set_num_threads(predictor.config.threads)
    data = load_grocery(args.images, _labels_path(args), catalogue=predictor.catalogue)
    started = time.perf_counter()
    images = decode_photos(data, args.split, predictor.config.cache_size)
    result: dict[str, Any] = {"version": predictor.version_id, "split": args.split, **predictor.evaluate(images)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.baseline:
        train = decode_photos(data, "train", predictor.config.cache_size)
        val = decode_photos(data, "val", predictor.config.cache_size)
        result["frozen_linear_probe"] = linear_probe(train, val, images, data.catalogue, predictor.config)
    print(json.dumps(result, indent=2))
    return 0
