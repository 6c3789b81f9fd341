"""Run a federated simulation (Flower's Ray backend) in its own process and return its result.

Flower's simulation starts Ray in the calling process, or reuses a running one, and calls ``ray.shutdown()``
when it ends; inside a process that hosts Ray Serve that would take Serve down. So
:func:`run_federated_simulation` always starts a child ``python -m federation._simulation_main`` with its own
``FLWR_HOME`` and ``RAY_TMPDIR``, streams the child's output as progress and reads the JSON summary the
ServerApp writes. The child is :mod:`federation._simulation_main`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from federation.config import FederationConfig
from federation.errors import FederatedRunError, FederationConfigError
from federation.summary import FederatedResult, read_summary

__all__ = ["run_federated_simulation"]

logger = logging.getLogger(__name__)

# Child output lines worth showing as progress; everything else is logged at DEBUG.
_PROGRESS = re.compile(r"\[ROUND|round \d+:|published|federated|failed|Traceback|ERROR|[A-Za-z]+Error:")
_TAIL_LINES = 60


def _child_env(work_dir: Path, ray_tmp: Path, project_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    pythonpath = [str(project_root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_HOME": str(work_dir / "flwr-home"),
            "RAY_TMPDIR": str(ray_tmp),
            "RAY_DEDUP_LOGS": "1",
            "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(pythonpath),
        }
    )
    return env


def _report_line(line: str, progress: Callable[[str], None] | None) -> None:
    if _PROGRESS.search(line):
        if progress is not None:
            progress(line)
        else:
            logger.info("federation: %s", line)
    else:
        logger.debug("federation: %s", line)


def run_federated_simulation(
    config: FederationConfig,
    num_nodes: int,
    *,
    cpus_per_node: float = 1.0,
    total_cpus: int = 2,
    work_dir: Path | None = None,
    timeout_s: float = 1800.0,
    progress: Callable[[str], None] | None = None,
) -> FederatedResult:
    """Simulate ``num_nodes`` merchants for ``config.num_server_rounds`` rounds in a child process.

    Each node trains on its partition of the Bitext train split; the server publishes the aggregate to
    ``config.registry_dir``. ``cpus_per_node`` and ``total_cpus`` size Ray (the defaults run two nodes at a
    time on two cores). ``work_dir`` (default ``.shopmesh/federation``) holds Flower's home and the summary.
    Progress lines (rounds, failures, the published version) go to ``progress`` or to this module's logger.
    Raises :class:`FederatedRunError` if the run fails, with the cause the server recorded or the child's
    last output lines, and on timeout.
    """
    if num_nodes < 1:
        raise FederationConfigError(f"num_nodes must be at least 1, got {num_nodes}; simulate one or more nodes")
    if not 0 < cpus_per_node <= total_cpus:
        raise FederationConfigError(
            f"cpus_per_node={cpus_per_node} must be in (0, total_cpus={total_cpus}]; e.g. 1 of 2 cores"
        )
    work_dir = (work_dir or Path(".shopmesh") / "federation").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    summary_path = work_dir / f"summary-{os.getpid()}-{time.time_ns()}.json"
    settings = dataclasses.replace(
        config,
        summary_path=str(summary_path),
        registry_dir=str(Path(config.registry_dir).resolve()),
        data_path=str(Path(config.data_path).resolve()) if config.data_path else "",
        tensorboard_dir=str(Path(config.tensorboard_dir).resolve()) if config.tensorboard_dir else "",
        min_nodes=num_nodes,
    )
    config_path = work_dir / f"run-config-{os.getpid()}-{time.time_ns()}.json"
    config_path.write_text(json.dumps(settings.to_run_config(), indent=2), encoding="utf-8")
    # Ray's socket paths must stay short, so its temporary folder lives in the system temp dir.
    ray_tmp = Path(tempfile.mkdtemp(prefix="shopmesh-ray-"))
    project_root = Path(__file__).resolve().parent.parent
    command = [
        sys.executable,
        "-m",
        "federation._simulation_main",
        "--run-config",
        str(config_path),
        "--num-nodes",
        str(num_nodes),
        "--cpus-per-node",
        str(cpus_per_node),
        "--total-cpus",
        str(total_cpus),
    ]
    logger.info("starting a federated simulation: %s nodes x %s rounds", num_nodes, config.num_server_rounds)
    start = time.perf_counter()
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    timed_out = threading.Event()
    try:
        with subprocess.Popen(
            command,
            cwd=project_root,
            env=_child_env(work_dir, ray_tmp, project_root),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group, so a timeout ends Ray's workers too
        ) as child:

            def stop_child() -> None:
                timed_out.set()
                logger.error("the federated simulation ran past %s s; stopping process group %s", timeout_s, child.pid)
                os.killpg(child.pid, signal.SIGTERM)

            timer = threading.Timer(timeout_s, stop_child)
            timer.start()
            try:
                stdout = child.stdout
                if stdout is None:
                    raise FederatedRunError("the simulation's output pipe could not be opened")
                for raw in stdout:
                    line = raw.rstrip()
                    if line:
                        tail.append(line)
                        _report_line(line, progress)
                returncode = child.wait()
            finally:
                timer.cancel()
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
        config_path.unlink(missing_ok=True)
    wall = time.perf_counter() - start
    if timed_out.is_set():
        raise FederatedRunError(
            f"the federated simulation did not finish within {timeout_s:.0f} s; raise timeout_s or lower "
            "max-train-examples / num-server-rounds. Last output:\n" + "\n".join(tail)
        )
    if not summary_path.exists():
        raise FederatedRunError(
            f"the federated simulation exited with code {returncode} without a summary; last output:\n"
            + "\n".join(tail)
        )
    result = read_summary(summary_path)
    summary_path.unlink(missing_ok=True)
    if result.status != "published" or returncode != 0:
        raise FederatedRunError(
            f"the federated run failed (exit code {returncode}): {result.error or 'no cause recorded'}"
        )
    logger.info("federated run published %s in %.1f s", result.version_id, wall)
    return dataclasses.replace(result, wall_seconds=wall)
