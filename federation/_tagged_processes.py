"""Processes of one local Flower deployment, each in its own process group and all tagged with one token.

Flower's SuperLink and SuperNode start a SuperExec in a *new session* (``start_new_session=True``), and the
SuperExec starts the ServerApp / ClientApp processes; none of them stays in the process group of the command
that was started. So killing process groups alone can leave them behind. Every process started here gets
the environment variable :data:`RUN_TOKEN_ENV` set to a token unique to the run; children inherit it, so on
Linux :meth:`TaggedProcesses.stop` also finds and ends every process that still carries the token after the
groups are gone (``/proc/<pid>/environ``), wherever it was reparented to.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = ["RUN_TOKEN_ENV", "StartedProcess", "TaggedProcesses", "processes_with_env"]

logger = logging.getLogger(__name__)

RUN_TOKEN_ENV = "SHOPMESH_FEDERATION_RUN"
_PROC = Path("/proc")


@dataclass
class StartedProcess:
    """One started command, its log file and its Popen handle."""

    name: str
    popen: subprocess.Popen[str]
    log_path: Path | None

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the process's log file ("" if it has none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open(encoding="utf-8", errors="replace") as handle:
            return "".join(deque(handle, maxlen=lines))


def processes_with_env(name: str, value: str) -> list[int]:
    """Ids of this user's processes whose environment holds ``name=value`` (Linux ``/proc``; [] elsewhere)."""
    if not _PROC.is_dir():
        return []
    wanted = f"{name}={value}".encode()
    found = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's process
            continue
        if wanted in environ.split(b"\0"):
            found.append(int(entry.name))
    return sorted(found)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _signal_pid(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


class TaggedProcesses:
    """Start commands in their own process groups with a shared run token; stop them all on exit.

    Use as a context manager: leaving the block (normally, on error or on KeyboardInterrupt) calls
    :meth:`stop`, which sends SIGTERM to every group, waits ``grace_s``, sends SIGKILL to what is left, then
    does the same for any process still carrying the token.
    """

    def __init__(self, *, grace_s: float = 10.0, token: str | None = None) -> None:
        self.token = token or uuid.uuid4().hex
        self.grace_s = grace_s
        self.started: list[StartedProcess] = []
        self._logs: list[IO[str]] = []

    def __enter__(self) -> TaggedProcesses:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path | None = None,
    ) -> StartedProcess:
        """Start ``argv`` in a new session; output goes to ``log_path``, or to a pipe when it is ``None``."""
        full_env = {**env, RUN_TOKEN_ENV: self.token}
        log_file: IO[str] | int = subprocess.PIPE
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            handle = log_path.open("w", encoding="utf-8")
            self._logs.append(handle)
            log_file = handle
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        logger.debug("started %s (pid %s): %s", name, popen.pid, " ".join(argv))
        process = StartedProcess(name=name, popen=popen, log_path=log_path)
        self.started.append(process)
        return process

    def stop(self) -> None:
        """End every started process group, then every process that still carries the run token."""
        for process in reversed(self.started):
            if process.popen.poll() is None:
                logger.debug("stopping %s (process group %s)", process.name, process.popen.pid)
            # Signal the group even when the leader has exited: members of its group may still run.
            _signal_group(process.popen.pid, signal.SIGTERM)
        self._wait_groups(self.grace_s)
        for process in self.started:
            _signal_group(process.popen.pid, signal.SIGKILL)
        self._wait_groups(self.grace_s)
        self._sweep_token()
        for process in self.started:
            if process.popen.stdout is not None:
                process.popen.stdout.close()
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def _wait_groups(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for process in self.started:
            try:
                process.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s (pid %s) did not exit within %.0f s", process.name, process.popen.pid, timeout_s)

    def _sweep_token(self) -> None:
        leftovers = processes_with_env(RUN_TOKEN_ENV, self.token)
        if not leftovers:
            return
        logger.info("ending %s detached Flower process(es) of this run: %s", len(leftovers), leftovers)
        for pid in leftovers:
            _signal_pid(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.2)
            leftovers = processes_with_env(RUN_TOKEN_ENV, self.token)
        for pid in leftovers:
            logger.warning("process %s ignored SIGTERM; sending SIGKILL", pid)
            _signal_pid(pid, signal.SIGKILL)
        deadline = time.monotonic() + self.grace_s
        while processes_with_env(RUN_TOKEN_ENV, self.token) and time.monotonic() < deadline:
            time.sleep(0.2)
