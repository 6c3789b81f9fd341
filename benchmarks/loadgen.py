"""A bounded asynchronous load generator: N concurrent clients, a fixed request count and a time limit.

:func:`drive` runs any async call (an HTTP request, a deployment-handle call) from ``concurrency`` workers that
share one request counter; a worker stops taking new requests once ``requests`` have been started or
``seconds`` have passed, so a cell never runs much past its limit. :func:`http_load` drives ``POST`` requests to
a loopback URL with httpx, cycling through the given bodies. Latencies are those of successful calls; failures
are counted (with a few samples of what went wrong) and left out of the percentiles.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

__all__ = ["LOOPBACK_HOSTS", "LoadResult", "drive", "http_load", "percentile"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ERROR_SAMPLES = 5


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks (numpy's default).

    With sorted values ``v`` of length ``n`` the rank is ``r = q / 100 * (n - 1)`` and the result is
    ``v[floor(r)] + (r - floor(r)) * (v[ceil(r)] - v[floor(r)])``; NaN when there are no samples.
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in 0..100, got {q}")
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


@dataclass(frozen=True)
class LoadResult:
    """One cell of a benchmark: what was driven, how long it took and the latency of each success (ms)."""

    label: str
    concurrency: int
    elapsed_s: float
    latencies_ms: tuple[float, ...]
    errors: int
    error_samples: tuple[str, ...] = field(default=())

    @property
    def completed(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        """Successful requests per second of wall time."""
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q)

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures of the cell."""
        return {
            "label": self.label,
            "concurrency": self.concurrency,
            "completed": self.completed,
            "errors": self.errors,
            "error_samples": list(self.error_samples),
            "elapsed_s": round(self.elapsed_s, 3),
            "rps": round(self.rps, 2),
            "p50_ms": round(self.p(50), 2),
            "p95_ms": round(self.p(95), 2),
            "p99_ms": round(self.p(99), 2),
        }


async def drive(
    call: Callable[[int], Awaitable[object]],
    *,
    label: str,
    concurrency: int,
    requests: int,
    seconds: float,
) -> LoadResult:
    """Run ``call(i)`` for i = 0, 1, ... from ``concurrency`` workers until ``requests`` calls have started or
    ``seconds`` have passed; a call that raises counts as an error."""
    if concurrency < 1 or requests < 1 or seconds <= 0:
        raise ValueError(
            f"concurrency and requests must be >= 1 and seconds > 0, got {concurrency}, {requests}, {seconds}"
        )
    latencies: list[float] = []
    errors: list[str] = []
    next_index = 0
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal next_index
        while next_index < requests and time.perf_counter() < deadline:
            index = next_index
            next_index += 1
            sent = time.perf_counter()
            try:
                await call(index)
            except Exception as err:  # a failed request is a measurement, not a crash of the benchmark
                errors.append(f"{type(err).__name__}: {err}")
                continue
            latencies.append(1000 * (time.perf_counter() - sent))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return LoadResult(label, concurrency, elapsed, tuple(latencies), len(errors), tuple(errors[:_ERROR_SAMPLES]))


def check_loopback(url: str) -> None:
    """Refuse any URL that does not point at this machine's loopback interface."""
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"load is only sent to loopback, got host {host!r} in {url!r}; use http://127.0.0.1:PORT")


async def http_load(
    url: str,
    bodies: Sequence[dict[str, Any]],
    *,
    label: str,
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int = 0,
    on_json: Callable[[dict[str, Any]], None] | None = None,
    timeout_s: float = 60.0,
    method: Literal["GET", "POST"] = "POST",
) -> LoadResult:
    """``POST`` the bodies (cycled) to ``url`` (``GET`` it when ``method`` says so; the bodies are then
    ignored); a status other than 200 is an error. ``warmup`` requests go first and are not counted;
    ``on_json`` sees every successful answer's body."""
    check_loopback(url)
    if method == "POST" and not bodies:
        raise ValueError("no request bodies given; pass at least one JSON body")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits) as client:

        async def send(index: int) -> httpx.Response:
            if method == "GET":
                return await client.get(url)
            return await client.post(url, json=bodies[index % len(bodies)])

        async def post(index: int) -> None:
            response = await send(index)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            if on_json is not None:
                on_json(response.json())

        for index in range(warmup):
            await send(index)
        return await drive(post, label=label, concurrency=concurrency, requests=requests, seconds=seconds)
