"""Visible progress: a numbered header per stage and a closing summary table for multi-stage jobs, and progress
bars (tqdm, on stderr) for the long steps a person waits for.

The bars are drawn only when stderr is a terminal (tqdm's ``disable=None``), so logs and CI output keep only
the plain lines. Library code never draws them: it reports ``(done, total)`` to a callback such as
:class:`StepBar`, or the command wraps a step that reports nothing in :func:`ticking`.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import NoReturn, TextIO

from tqdm import tqdm

# The federated server's log line once round N has been aggregated and evaluated (federation/rounds.py).
_ROUND_DONE = re.compile(r"round (\d+): evaluated")


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
        tqdm.write(f"      {text}", file=self.out)  # above any progress bar on the terminal

    def table(self) -> str:
        width = max(len(r.name) for r in self.results) if self.results else 5
        lines = [f"{'stage':<{width}}  {'seconds':>8}  metric", f"{'-' * width}  {'-' * 8}  {'-' * 40}"]
        lines += [f"{r.name:<{width}}  {r.seconds:>8.1f}  {r.metric}" for r in self.results]
        total = sum(r.seconds for r in self.results)
        lines.append(f"{'total':<{width}}  {total:>8.1f}")
        return "\n".join(lines)


class StepBar:
    """A bar for a step that reports its progress: call it with ``(done, total)`` (e.g. training batches). The
    bar appears with the first report, so a step that reports nothing shows none."""

    def __init__(self, desc: str, unit: str = "step") -> None:
        self._desc = desc
        self._unit = unit
        self._bar: tqdm[NoReturn] | None = None

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = tqdm(total=total, desc=self._desc, unit=self._unit, disable=None, file=sys.stderr)
        bar = self._bar
        if bar.disable:
            return
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def __enter__(self) -> StepBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class RoundBar:
    """Federated rounds: a bar over ``rounds`` advanced by the server's progress lines, which it also passes to
    ``say`` (default: printed above the bar); use it as the ``progress`` callback of the federation runners."""

    def __init__(self, rounds: int, say: Callable[[str], None] | None = None) -> None:
        self._say = say or tqdm.write
        self._bar = tqdm(total=rounds, desc="federated rounds", unit="round", disable=None, file=sys.stderr)

    def __call__(self, line: str) -> None:
        self._say(line)
        done = _ROUND_DONE.search(line)
        if done is not None and not self._bar.disable:
            self._bar.update(max(0, int(done.group(1)) - self._bar.n))

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> RoundBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


@contextmanager
def ticking(desc: str, every_s: float = 1.0) -> Iterator[None]:
    """The elapsed time of a step that reports no progress of its own (graph build, export, evaluation),
    redrawn every ``every_s`` seconds while the block runs."""
    bar = tqdm(total=None, desc=desc, bar_format="{desc}: {elapsed}", disable=None, file=sys.stderr, leave=False)
    if bar.disable:
        yield
        return
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every_s):
            bar.refresh()

    thread = threading.Thread(target=tick, name="progress-ticker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()
