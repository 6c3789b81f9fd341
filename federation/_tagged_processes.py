"""Processes of one local Flower deployment, each in its own process group and all tagged with one token.

Flower's SuperLink and SuperNode start a SuperExec in a *new session*, and the SuperExec starts the
ServerApp / ClientApp processes; none of them stays in the process group of the command that was started,
and one whose parent exits is reparented away from the tree. So every process started here gets the
environment variable :data:`RUN_TOKEN_ENV` set to a token unique to the run; children inherit it.
:meth:`TaggedProcesses.stop` ends, with ``psutil``, every descendant of each started process and every
process that still carries the token, wherever it was reparented to: SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

import psutil

__all__ = ["RUN_TOKEN_ENV", "StartedProcess", "TaggedProcesses", "processes_with_env"]

logger = logging.getLogger(__name__)

RUN_TOKEN_ENV = "SHOPMESH_FEDERATION_RUN"


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


def _carries(process: psutil.Process, wanted: str, value: str) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE and process.environ().get(wanted) == value
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):  # gone, or another user's
        return False


def processes_with_env(name: str, value: str) -> list[int]:
    """Ids of the running processes (zombies excluded) whose environment holds ``name=value``."""
    me = os.getpid()
    return sorted(p.pid for p in psutil.process_iter() if p.pid != me and _carries(p, name, value))


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _signal_all(processes: Iterable[psutil.Process], kill: bool) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if kill:
                process.kill()
            else:
                process.terminate()


class TaggedProcesses:
    """Start commands in their own sessions with a shared run token; stop them all on exit.

    Use as a context manager: leaving the block (normally, on error or on KeyboardInterrupt) calls
    :meth:`stop`.
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

    def _living(self) -> list[psutil.Process]:
        found: dict[int, psutil.Process] = {}
        for started in self.started:
            for process in _descendants(started.popen.pid):
                found[process.pid] = process
        for pid in processes_with_env(RUN_TOKEN_ENV, self.token):
            with contextlib.suppress(psutil.NoSuchProcess):
                found.setdefault(pid, psutil.Process(pid))
        return [p for p in found.values() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    def _wait(self, processes: list[psutil.Process]) -> list[psutil.Process]:
        """Wait up to ``grace_s`` for ``processes`` to end; the ones still running.

        The processes started here are waited for through their Popen handles (which reap them and keep their
        exit status); the rest through psutil.
        """
        own = {started.popen.pid: started.popen for started in self.started}
        _, alive = psutil.wait_procs([p for p in processes if p.pid not in own], timeout=self.grace_s)
        for process in processes:
            popen = own.get(process.pid)
            if popen is None:
                continue
            try:
                popen.wait(timeout=self.grace_s)
            except subprocess.TimeoutExpired:
                alive.append(process)
        return alive

    def stop(self) -> None:
        """End every started process, its descendants and every process that still carries the run token."""
        # Two passes: a SuperExec may start an app process while the first signals are on their way.
        for _ in range(2):
            living = self._living()
            if not living:
                break
            logger.debug("stopping %s process(es) of this run: %s", len(living), [p.pid for p in living])
            _signal_all(living, kill=False)
            stubborn = self._wait(living)
            for process in stubborn:
                logger.warning("process %s ignored SIGTERM for %.0f s; sending SIGKILL", process.pid, self.grace_s)
            _signal_all(stubborn, kill=True)
            self._wait(stubborn)
        for started in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                started.popen.wait(timeout=self.grace_s)  # reap what exited on its own
            if started.popen.stdout is not None:
                started.popen.stdout.close()
        for handle in self._logs:
            handle.close()
        self._logs.clear()
