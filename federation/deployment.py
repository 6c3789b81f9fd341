"""Run federated fine-tuning on Flower's deployment engine, on this machine, as merchants would run it.

:func:`run_federated_deployment` starts a :class:`federation.local_link.LocalFederation`: a real
``flower-superlink`` with TLS (a local CA and a certificate for the host) and SuperNode authentication, one
key pair per merchant registered with ``flwr supernode register``, and one ``flower-supernode`` per merchant
(its partition and registry in ``--node-config``). It then submits the app with
``flwr run <app-dir> <connection> --stream --run-config FILE`` and waits for the JSON summary the ServerApp
writes (:mod:`federation.summary`). ``insecure=True`` runs without TLS and authentication, with a warning.
Every Flower process is ended when the run finishes, fails or times out.

The ``flwr`` CLI reads its SuperLink connection (address and the CA it trusts) from
``$FLWR_HOME/config.toml``; each process here gets its own ``FLWR_HOME`` under the run's folder, so nothing
is written to the user's ``~/.flwr``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import shutil
import threading
import time
import tomllib
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from ensemble.datasets import default_bitext_path
from federation._tagged_processes import StartedProcess
from federation.config import FederationConfig
from federation.errors import FederatedRunError, FederationConfigError
from federation.flower_cli import SecurityMode, flower_env, run_argv, toml_value
from federation.local_link import LocalFederation
from federation.ports import choose_ports
from federation.summary import FederatedResult, read_summary

__all__ = ["DEFAULT_CONNECTION", "run_federated_deployment"]

logger = logging.getLogger(__name__)

DEFAULT_CONNECTION = "shopmesh-local"
_PROGRESS = re.compile(
    r"\[ROUND|Successfully started run|Received \d+ results|execution finished|failed|Traceback|ERROR|[A-Za-z]+Error:"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_TAIL_LINES = 60
_POLL_S = 0.5
_SUMMARY_WAIT_S = 30.0


def _check_app_dir(app_dir: Path) -> None:
    pyproject = app_dir / "pyproject.toml"
    try:
        tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise FederationConfigError(f"cannot read the Flower app's {pyproject}: {err}; pass the project root") from err
    flwr_tool = tool.get("flwr", {})
    if "app" not in flwr_tool:
        raise FederationConfigError(f"{pyproject} has no [tool.flwr.app]; app_dir must be the shopmesh project root")
    if "federations" in flwr_tool:
        raise FederationConfigError(
            f"{pyproject} has a [tool.flwr.federations] table; flwr 1.42's `flwr run` would move it to "
            "$FLWR_HOME/config.toml and comment it out in pyproject.toml. Remove the table: SuperLink "
            "connections live in $FLWR_HOME/config.toml"
        )


def _pump_output(process: StartedProcess, tail: deque[str], progress: Callable[[str], None] | None) -> None:
    """Forward the ``flwr run --stream`` output: rounds and failures as progress, the rest at DEBUG."""
    stdout = process.popen.stdout
    if stdout is None:
        return
    try:
        for raw in stdout:
            line = _ANSI.sub("", raw).rstrip()
            if not line.strip():
                continue
            tail.append(line)
            if _PROGRESS.search(line):
                if progress is not None:
                    progress(line)
                else:
                    logger.info("federation: %s", line)
            else:
                logger.debug("federation: %s", line)
    except ValueError:  # the pipe was closed by the teardown
        return


def _wait_for_cli(
    cli: StartedProcess,
    superlink: StartedProcess,
    supernodes: Sequence[StartedProcess],
    min_nodes: int,
    deadline: float,
    timeout_s: float,
    tail: deque[str],
) -> None:
    """Block until ``flwr run`` exits; fail early when the SuperLink dies, when fewer than ``min_nodes``
    SuperNodes are left, or when time runs out. A SuperNode that dies while enough remain is logged: the
    SuperLink reports it to the ServerApp as unavailable, and the rounds go on without it."""
    lost: set[str] = set()
    while cli.popen.poll() is None:
        if superlink.popen.poll() is not None:
            raise FederatedRunError(
                f"{superlink.name} exited with code {superlink.popen.returncode} during the run; its log:\n"
                + superlink.log_tail()
            )
        for node in supernodes:
            if node.popen.poll() is not None and node.name not in lost:
                lost.add(node.name)
                logger.warning(
                    "%s exited with code %s during the run; %s of %s SuperNodes remain",
                    node.name,
                    node.popen.returncode,
                    len(supernodes) - len(lost),
                    len(supernodes),
                )
        left = len(supernodes) - len(lost)
        if left < min_nodes:
            raise FederatedRunError(
                f"only {left} of {len(supernodes)} SuperNodes are left ({', '.join(sorted(lost))} exited), fewer "
                f"than the {min_nodes} a round needs; restart them or lower min_nodes"
            )
        if time.monotonic() > deadline:
            raise FederatedRunError(
                f"the federated deployment did not finish within {timeout_s:.0f} s; raise timeout_s or lower "
                "max-train-examples / num-server-rounds. Last output:\n" + "\n".join(tail)
            )
        time.sleep(_POLL_S)
    if cli.popen.returncode != 0:
        raise FederatedRunError(
            f"`flwr run` exited with code {cli.popen.returncode}; its output:\n"
            + "\n".join(tail)
            + f"\nSuperLink log:\n{superlink.log_tail()}"
        )


def _wait_for_summary(path: Path, superlink: StartedProcess, tail: deque[str]) -> FederatedResult:
    """The summary the ServerApp writes before it ends; the stream may close a moment before the file lands."""
    deadline = time.monotonic() + _SUMMARY_WAIT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise FederatedRunError(
                f"the run ended without writing its summary {path}; last output:\n"
                + "\n".join(tail)
                + f"\nSuperLink log:\n{superlink.log_tail()}"
            )
        time.sleep(_POLL_S)
    return read_summary(path)


def run_federated_deployment(
    config: FederationConfig,
    num_nodes: int,
    *,
    work_dir: Path | None = None,
    host: str = "127.0.0.1",
    superlink_port: int | None = None,
    supernode_ports: Sequence[int] | None = None,
    app_dir: Path | None = None,
    connection: str = DEFAULT_CONNECTION,
    timeout_s: float = 1800.0,
    startup_timeout_s: float = 60.0,
    keep_files: bool = False,
    insecure: bool = False,
    progress: Callable[[str], None] | None = None,
    min_nodes: int | None = None,
) -> FederatedResult:
    """Run ``config.num_server_rounds`` rounds with ``num_nodes`` local SuperNodes on Flower's deployment engine.

    Node ``i`` trains on partition ``i`` of ``num_nodes`` of the Bitext train split; the ServerApp publishes
    the aggregate to ``config.registry_dir``. Ports left ``None`` are free ephemeral ports on ``host``.
    ``app_dir`` (default: the shopmesh project root) is what ``flwr run`` packs into the app bundle.
    ``work_dir`` (default ``.shopmesh/federation``) holds one folder per run with each process's
    ``FLWR_HOME`` and log; it is removed after a successful run unless ``keep_files`` (kept after a failure).
    With ``insecure`` the SuperLink and SuperNodes run without TLS and without node authentication (logged
    as a warning). Each round starts once ``min_nodes`` SuperNodes (default: all ``num_nodes``) are connected, so
    with fewer a run goes on after nodes drop out; a node that vanishes mid-round is recorded among the round's
    failures once the SuperLink misses its heartbeats. Progress lines of the ``flwr run --stream`` output (run
    id, rounds, replies received, failures) go to ``progress`` or to this module's logger.

    Every Flower process is ended before this returns or raises. Raises :class:`FederationConfigError` for
    bad arguments or busy ports, :class:`FederatedRunError` if a process fails, the run fails (with the
    cause the server recorded) or ``timeout_s`` passes.
    """
    if num_nodes < 1:
        raise FederationConfigError(f"num_nodes must be at least 1, got {num_nodes}; start one or more SuperNodes")
    if min_nodes is not None and not 1 <= min_nodes <= num_nodes:
        raise FederationConfigError(
            f"min_nodes must be between 1 and num_nodes={num_nodes}, got {min_nodes}; it is how many SuperNodes "
            "a round needs"
        )
    if not re.fullmatch(r"[A-Za-z0-9_-]+", connection):
        raise FederationConfigError(f"connection {connection!r} must be letters, digits, '-' or '_'")
    project_root = Path(__file__).resolve().parent.parent
    app_dir = (app_dir or project_root).resolve()
    _check_app_dir(app_dir)
    ports = choose_ports(host, num_nodes, superlink_port, supernode_ports)
    work_dir = (work_dir or Path(".shopmesh") / "federation").resolve()
    run_dir = work_dir / f"deployment-{os.getpid()}-{time.time_ns()}"
    summary_path = run_dir / "summary.json"
    settings = dataclasses.replace(
        config,
        summary_path=str(summary_path),
        registry_dir=str(Path(config.registry_dir).resolve()),
        # The ServerApp and ClientApps import this project from the unpacked app bundle, which holds no data
        # files, so the data path is always absolute.
        data_path=str(Path(config.data_path).resolve() if config.data_path else default_bitext_path()),
        tensorboard_dir=str(Path(config.tensorboard_dir).resolve()) if config.tensorboard_dir else "",
        min_nodes=num_nodes if min_nodes is None else min_nodes,
    )
    run_config_path = run_dir / "run-config.toml"
    run_dir.mkdir(parents=True)
    run_config_path.write_text(
        "".join(f"{key} = {toml_value(value)}\n" for key, value in settings.to_run_config().items()),
        encoding="utf-8",
    )
    security = SecurityMode(insecure=insecure)
    logger.info(
        "starting a Flower deployment (%s): SuperLink on %s:%s, %s SuperNode(s) on ports %s, %s round(s)",
        "insecure" if insecure else "TLS and SuperNode authentication",
        host,
        ports.superlink,
        num_nodes,
        list(ports.supernodes),
        config.num_server_rounds,
    )
    start = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        with LocalFederation(
            run_dir,
            host=host,
            port=ports.superlink,
            connection=connection,
            security=security,
            project_root=project_root,
            startup_timeout_s=startup_timeout_s,
        ) as federation:
            keys = [federation.make_key(f"node-{i}") for i in range(num_nodes)] if security.authenticates_nodes else []
            federation.register(keys)
            nodes = [
                federation.start_supernode(
                    f"SuperNode {partition}",
                    node_port,
                    # The data path travels in the run config: a data-path here would mean the node's own file.
                    {"partition-id": partition, "num-partitions": num_nodes, "registry-dir": settings.registry_dir},
                    keys[partition] if keys else None,
                )
                for partition, node_port in enumerate(ports.supernodes)
            ]
            cli = federation.processes.start(
                "flwr run",
                run_argv(app_dir, connection, run_config_path),
                env=flower_env(federation.cli_home, project_root),
                cwd=app_dir,
            )
            reader = threading.Thread(target=_pump_output, args=(cli, tail, progress), daemon=True)
            reader.start()
            _wait_for_cli(cli, federation.superlink, nodes, settings.min_nodes, deadline, timeout_s, tail)
            reader.join(timeout=5.0)
            result = _wait_for_summary(summary_path, federation.superlink, tail)
    except FederatedRunError as err:
        err.add_note(f"the Flower logs of this run are in {run_dir}")
        raise
    wall = time.perf_counter() - start
    if result.status != "published":
        raise FederatedRunError(
            f"the federated run failed: {result.error or 'no cause recorded'}; the logs are in {run_dir}"
        )
    if not keep_files:
        shutil.rmtree(run_dir, ignore_errors=True)
    logger.info("federated deployment published %s in %.1f s", result.version_id, wall)
    return dataclasses.replace(result, wall_seconds=wall)
