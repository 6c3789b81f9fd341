"""What the serving benchmarks share: a workspace with a trained intent version, the peer process, Ray's memory.

:func:`ensure_workspace` trains what a workspace lacks with the project's own commands (``shopmesh kg build``,
``shopmesh train intent --trainer head``). :class:`PeerProcess` starts ``benchmarks/serving_peer.py`` on a free
loopback port and always stops it. :func:`ray_memory` sums the memory of the Ray processes this benchmark
started: every descendant of this process (Ray's GCS, raylet and workers are its children and grandchildren)
except the ones named, plus this driver when asked.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx
import psutil

from ensemble.datasets import load_bitext, split_bitext
from ensemble.registry import Registry
from shopmesh.config import Workspace, workspace_from

__all__ = [
    "PeerProcess",
    "RayMemory",
    "Workspace",
    "bitext_test_texts",
    "cpu_seconds",
    "cpu_used_by_role",
    "ensure_workspace",
    "free_port",
    "peer_cache",
    "process_role",
    "ray_memory",
    "replica_pids",
    "session_processes",
]

logger = logging.getLogger(__name__)

PEER_SCRIPT = Path(__file__).with_name("serving_peer.py")
GIB = 1024**3


def peer_cache(workspace: Workspace) -> Path:
    """Where the peer keeps its fitted classifier between runs: beside the workspace's registry."""
    return workspace.root / "bench-cache"


def _shopmesh(home: Path, *args: str) -> None:
    command = [sys.executable, "-m", "shopmesh.cli", "--home", str(home), *args]
    logger.info("running %s", " ".join(command))
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed with exit status {completed.returncode}; see its output")


def ensure_workspace(home: Path) -> Workspace:
    """A workspace with a knowledge graph and an intent version, built with the CLI where missing."""
    workspace = workspace_from(str(home))
    if not (workspace.graph / "manifest.json").exists():
        _shopmesh(workspace.root, "kg", "build")
    if not Registry(workspace.registry).list("intent"):
        _shopmesh(workspace.root, "train", "intent", "--trainer", "head")
    return workspace


def bitext_test_texts() -> list[str]:
    """The instructions of Bitext's fixed test split (never trained on)."""
    return [str(text) for text in split_bitext(load_bitext()).test["instruction"]]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PeerProcess:
    """``serving_peer.py`` in a subprocess; the context manager waits for its /healthz and kills it at exit."""

    def __init__(self, cache_dir: Path, port: int | None = None, startup_timeout_s: float = 300.0) -> None:
        self.port = port or free_port()
        self._cache_dir = cache_dir
        self._timeout = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> PeerProcess:
        command = [sys.executable, str(PEER_SCRIPT), "--port", str(self.port), "--cache-dir", str(self._cache_dir)]
        self._process = subprocess.Popen(command)
        deadline = time.monotonic() + self._timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"the peer exited with status {self._process.returncode}; see its output")
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the peer did not answer {self.url}/healthz within {self._timeout} s")

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class RayMemory:
    """Summed memory of a set of processes, in bytes; PSS counts shared pages once (split among sharers)."""

    processes: int
    rss: int
    pss: int

    def to_dict(self) -> dict[str, float]:
        return {"processes": self.processes, "rss_gib": round(self.rss / GIB, 3), "pss_gib": round(self.pss / GIB, 3)}


def ray_memory(exclude: Iterable[int] = (), include_driver: bool = False) -> RayMemory:
    """Memory of every live descendant of this process (the Ray session it started), minus ``exclude`` and
    their descendants; ``include_driver`` adds this process (it hosts Ray's driver, and the load generator)."""
    processes = session_processes(exclude)
    if include_driver:
        processes.append(psutil.Process())
    rss = pss = counted = 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
        counted += 1
    return RayMemory(counted, rss, pss)


def process_role(process: psutil.Process) -> str:
    """A short name for one of this session's processes: a Serve deployment, the proxy, the controller,
    Ray's own daemons, or ``other`` (idle workers, log monitor, agents)."""
    try:
        title = " ".join(process.cmdline())
        name = process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "gone"
    # Ray titles a worker "ray::<actor>.<method running now>", e.g. "ray::ServeReplica:app:Ingress.handle_request".
    if "ServeReplica:" in title:
        return title.split("ServeReplica:", 1)[1].split()[0].split(":")[-1].split(".")[0]
    for marker in ("ProxyActor", "ServeController"):
        if marker in title:
            return marker
    for daemon in ("raylet", "gcs_server"):
        if daemon in name or daemon in title.split(" ", 1)[0]:
            return daemon
    return "other"


def session_processes(exclude: Iterable[int] = ()) -> list[psutil.Process]:
    """This process's live descendants minus ``exclude`` and their descendants."""
    skipped: set[int] = set()
    for pid in exclude:
        try:
            parent = psutil.Process(pid)
            skipped |= {pid, *(child.pid for child in parent.children(recursive=True))}
        except psutil.NoSuchProcess:
            continue
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in skipped]


def replica_pids(exclude: Iterable[int] = ()) -> dict[str, list[int]]:
    """Process ids of this session's processes by :func:`process_role`."""
    found: dict[str, list[int]] = {}
    for process in session_processes(exclude):
        found.setdefault(process_role(process), []).append(process.pid)
    return found


def cpu_seconds(exclude: Iterable[int] = ()) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) used so far by each session process and by this driver, by pid."""
    found: dict[int, tuple[str, float]] = {}
    me = psutil.Process()
    for process in [*session_processes(exclude), me]:
        try:
            times = process.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        role = "driver" if process.pid == me.pid else process_role(process)
        found[process.pid] = (role, times.user + times.system)
    return found


def cpu_used_by_role(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds each role used between two :func:`cpu_seconds` snapshots (new processes count from 0)."""
    used: dict[str, float] = {}
    for pid, (role, seconds) in after.items():
        start = before.get(pid, (role, 0.0))[1]
        used[role] = used.get(role, 0.0) + max(0.0, seconds - start)
    return used
