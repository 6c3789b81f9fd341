"""The load generator's arithmetic (percentiles, rps, error counting, the bounds) on hand-computed examples."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest


def _load_loadgen() -> ModuleType:
    # benchmarks/ holds scripts, not an installed package: load the module from its file.
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "loadgen.py"
    spec = importlib.util.spec_from_file_location("bench_loadgen", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


loadgen = _load_loadgen()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0, 10.0),
        (50, 25.0),  # rank 1.5: halfway between 20 and 30
        (95, 38.5),  # rank 2.85: 30 + 0.85 * 10
        (99, 39.7),  # rank 2.97
        (100, 40.0),
    ],
)
def test_percentile_interpolates_between_closest_ranks(q: float, expected: float) -> None:
    # Prepare: unsorted on purpose
    samples = [30.0, 10.0, 40.0, 20.0]
    # Execute / Assert
    assert loadgen.percentile(samples, q) == pytest.approx(expected)


def test_percentile_of_one_sample_none_and_bad_q() -> None:
    assert loadgen.percentile([7.0], 95) == 7.0
    assert math.isnan(loadgen.percentile([], 50))
    with pytest.raises(ValueError, match=r"0\.\.100"):
        loadgen.percentile([1.0], 101)


def test_summary_rps_and_percentiles_of_a_hand_made_cell() -> None:
    # Prepare: 4 successes and 1 failure in 2 s
    result = loadgen.LoadResult("cell", 2, 2.0, (10.0, 20.0, 30.0, 40.0), 1, ("RuntimeError: HTTP 500",))
    # Execute
    summary = result.summary()
    # Assert
    assert summary["completed"] == 4
    assert summary["errors"] == 1
    assert summary["rps"] == 2.0
    assert (summary["p50_ms"], summary["p95_ms"], summary["p99_ms"]) == (25.0, 38.5, 39.7)


def test_drive_counts_failures_apart_and_stops_at_the_request_count() -> None:
    # Prepare: every fifth call fails
    seen: list[int] = []

    async def call(index: int) -> None:
        seen.append(index)
        await asyncio.sleep(0)
        if index % 5 == 0:
            raise RuntimeError(f"request {index} failed")

    # Execute
    result = asyncio.run(loadgen.drive(call, label="t", concurrency=3, requests=10, seconds=30.0))
    # Assert
    assert sorted(seen) == list(range(10))
    assert (result.completed, result.errors) == (8, 2)
    assert result.error_samples == ("RuntimeError: request 0 failed", "RuntimeError: request 5 failed")
    assert result.rps == pytest.approx(8 / result.elapsed_s)


def test_drive_stops_taking_requests_at_the_time_limit() -> None:
    # Prepare: calls of 50 ms, a limit of 0.12 s, far more requests than fit
    async def call(index: int) -> None:
        await asyncio.sleep(0.05)

    # Execute
    result = asyncio.run(loadgen.drive(call, label="t", concurrency=1, requests=1000, seconds=0.12))
    # Assert: at most the calls started before the limit (0, 50, 100 ms)
    assert 1 <= result.completed <= 3
    assert result.errors == 0


def test_only_loopback_urls_are_loaded() -> None:
    with pytest.raises(ValueError, match="loopback"):
        asyncio.run(
            loadgen.http_load(
                "http://example.com/v1/chat", [{"text": "hi"}], label="t", concurrency=1, requests=1, seconds=1.0
            )
        )
