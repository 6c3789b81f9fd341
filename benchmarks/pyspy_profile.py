"""Sampling profiles of running processes with py-spy, summarised as the frames that hold the samples.

:func:`record` starts ``py-spy record --format raw --nonblocking`` on several processes at once (the Serve
replicas, the proxy) and waits for them; :func:`summarize` reads a raw file (one collapsed stack per line,
root first, then the sample count) into the top frames by self samples (where the CPU is) and by inclusive
samples (which calls the time is spent under). Idle threads are left out by py-spy, so ``active`` is the
fraction of the recording in which some thread of the process was running Python or native code.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StackSummary", "py_spy_path", "record", "summarize"]

_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^():]+)(?::\d+)?\)$")


def py_spy_path() -> str:
    """The py-spy executable (beside this interpreter, else on PATH); raises with the install command."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy is not installed; run `pip install py-spy` in the project's environment")
    return found


def record(pids: Mapping[str, int], out_dir: Path, seconds: int, rate: int = 50) -> dict[str, subprocess.Popen[bytes]]:
    """Start one py-spy recorder per named process; each writes ``out_dir/<name>.txt``. Wait on the returned
    processes (they end after ``seconds``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    executable = py_spy_path()
    started: dict[str, subprocess.Popen[bytes]] = {}
    for name, pid in pids.items():
        command = [
            executable,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(out_dir / f"{name}.txt"),
        ]
        started[name] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return started


def _short(frame: str) -> str:
    """``function (file.py:12)`` -> ``function (package/file.py)``: the last two path parts, no line."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    parts = Path(match["file"]).parts
    return f"{match['function']} ({'/'.join(parts[-2:])})"


@dataclass(frozen=True)
class StackSummary:
    """Where a process's samples fall: totals and the top frames."""

    samples: int
    expected: int
    top_self: list[tuple[str, int]]
    top_inclusive: list[tuple[str, int]]

    @property
    def active(self) -> float:
        return self.samples / self.expected if self.expected else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "active_fraction": round(self.active, 3),
            "top_self": [{"frame": f, "share": round(n / max(self.samples, 1), 3)} for f, n in self.top_self],
            "top_inclusive": [{"frame": f, "share": round(n / max(self.samples, 1), 3)} for f, n in self.top_inclusive],
        }


def summarize(raw_file: Path, seconds: int, rate: int, top: int = 12) -> StackSummary:
    """Read a py-spy raw file into self and inclusive sample counts per frame (line numbers merged)."""
    self_counts: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_file.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        total += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return StackSummary(total, seconds * rate, self_counts.most_common(top), inclusive.most_common(top))
