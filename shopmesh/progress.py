"""Visible progress for multi-stage jobs: a numbered header per stage and a closing summary table."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class StageResult:
    name: str
    seconds: float = 0.0
    metric: str = ""


@dataclass
class Progress:
    """Prints ``[i/n] stage`` as each stage starts and ``done in s`` as it ends; keeps the results."""

    total: int
    out: TextIO = field(default=sys.stdout)
    results: list[StageResult] = field(default_factory=list)

    @contextmanager
    def stage(self, name: str) -> Iterator[StageResult]:
        result = StageResult(name)
        index = len(self.results) + 1
        self.results.append(result)
        print(f"\n[{index}/{self.total}] {name} ...", file=self.out, flush=True)
        start = time.perf_counter()
        try:
            yield result
        finally:
            result.seconds = time.perf_counter() - start
        print(
            f"[{index}/{self.total}] {name}: done in {result.seconds:.1f} s — {result.metric}",
            file=self.out,
            flush=True,
        )

    def note(self, text: str) -> None:
        print(f"      {text}", file=self.out, flush=True)

    def table(self) -> str:
        width = max(len(r.name) for r in self.results) if self.results else 5
        lines = [f"{'stage':<{width}}  {'seconds':>8}  metric", f"{'-' * width}  {'-' * 8}  {'-' * 40}"]
        lines += [f"{r.name:<{width}}  {r.seconds:>8.1f}  {r.metric}" for r in self.results]
        total = sum(r.seconds for r in self.results)
        lines.append(f"{'total':<{width}}  {total:>8.1f}")
        return "\n".join(lines)
