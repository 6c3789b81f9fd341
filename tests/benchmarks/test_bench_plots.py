"""The benchmarks' figures are drawn from their saved results JSON: the cascade points of ``bench_edge`` on a
hand-computed example, and both plots from small synthetic results files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from shopmesh.errors import CommandError

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    # benchmarks/ holds scripts that import their siblings by name: load them from their files.
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_plots_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


@pytest.fixture(scope="module")
def bench_edge() -> ModuleType:
    return _load("bench_edge")


def test_cascade_points_by_hand(bench_edge: ModuleType) -> None:
    # Prepare: four messages; the device is right on the two confident ones, the cluster on all but the last.
    confidence = np.array([0.95, 0.8, 0.5, 0.3])
    device_correct = np.array([True, True, False, False])
    cluster_correct = np.array([True, True, True, False])
    # Execute
    points = {p.threshold: p for p in bench_edge.cascade_points(confidence, device_correct, cluster_correct)}
    # Assert
    assert (points[0.0].device_share, points[0.0].device_accuracy, points[0.0].overall_accuracy) == (1.0, 0.5, 0.5)
    assert (points[0.6].device_share, points[0.6].device_accuracy, points[0.6].overall_accuracy) == (0.5, 1.0, 0.75)
    assert (points[1.0].device_share, points[1.0].device_accuracy, points[1.0].overall_accuracy) == (0.0, None, 0.75)


def test_bench_edge_plots_its_saved_results(bench_edge: ModuleType, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.2, 1.0, 200)
    points = bench_edge.cascade_points(confidence, rng.uniform(size=200) < confidence, rng.uniform(size=200) < 0.9)
    results = tmp_path / "bench_edge.json"
    cascade = {"bundle_threshold": 0.7, "points": [p.__dict__ for p in points]}
    results.write_text(json.dumps({"cascade": cascade}), encoding="utf-8")
    out = bench_edge.plot_results(results, tmp_path / "bench_edge.png")
    assert _png_size(out) == (650, 450)
    results.write_text(json.dumps({"cascade": {"points": [{"threshold": 0.5}]}}), encoding="utf-8")
    with pytest.raises(CommandError, match="device_share"):
        bench_edge.plot_results(results, tmp_path / "bad.png")


def test_bench_serving_plots_its_saved_results(tmp_path: Path) -> None:
    bench_serving = _load("bench_serving")
    rng = np.random.default_rng(0)
    cells = [
        {"system": system, "concurrency": c, "p50_ms": 1.0, "latencies_ms": rng.gamma(4, c + 5, 80).round(3).tolist()}
        for system in ("peer (before)", "shopmesh chat (colocated)", "peer (after)")
        for c in (1, 8, 32)
    ]
    results = tmp_path / "bench_serving.json"
    results.write_text(json.dumps({"settings": {}, "cells": cells, "ratios": []}), encoding="utf-8")
    out = bench_serving.plot_results(results, tmp_path / "bench_serving.png")
    assert _png_size(out) == (1800, 400)
