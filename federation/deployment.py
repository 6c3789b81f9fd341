"""Run federated fine-tuning on Flower's deployment engine, on this machine, as merchants would run it.

:func:`run_federated_deployment` starts a real ``flower-superlink`` (insecure, on a local address), one
``flower-supernode`` per merchant (each with its partition, registry and data path in ``--node-config``),
then submits the app with ``flwr run <app-dir> <connection> --stream --run-config FILE`` and waits for the
JSON summary the ServerApp writes (:mod:`federation.summary`). Every Flower process runs in its own process
group under a run token (:mod:`federation._tagged_processes`) and is ended when the run finishes, fails or
times out.

Flower 1.42's layout on the wire: the SuperLink serves the Fleet, Control and ServerAppIo APIs over HTTP on
one ``--port``; each SuperNode serves its ClientAppIo API on its own ``--port``. The ``flwr`` CLI reads its
SuperLink connection from ``$FLWR_HOME/config.toml``; each process here gets its own ``FLWR_HOME`` under the
run's folder, so nothing is written to the user's ``~/.flwr``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import sys
import threading
import time
import tomllib
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ensemble.datasets import default_bitext_path
from federation._tagged_processes import StartedProcess, TaggedProcesses
from federation.config import FederationConfig
from federation.errors import FederatedRunError, FederationConfigError
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


def _toml_value(value: int | float | str) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    return repr(value)


def _node_config(values: Mapping[str, int | float | str]) -> str:
    """The ``--node-config`` argument: space-separated ``key=value`` pairs with TOML values."""
    for key, value in values.items():
        if isinstance(value, str) and '"' in value:
            raise FederationConfigError(
                f"node config {key}={value!r} contains a double quote, which --node-config cannot carry; "
                "use a path without quotes"
            )
    return " ".join(f"{key}={_toml_value(value)}" for key, value in values.items())


def _write_connection(flwr_home: Path, connection: str, address: str) -> None:
    flwr_home.mkdir(parents=True, exist_ok=True)
    (flwr_home / "config.toml").write_text(
        f'[superlink]\ndefault = "{connection}"\n\n[superlink.{connection}]\naddress = "{address}"\ninsecure = true\n',
        encoding="utf-8",
    )


def _flower_env(flwr_home: Path, project_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    # SuperExec starts flwr-serverapp / flwr-clientapp by name, so the interpreter's scripts must be on PATH.
    scripts = str(Path(sys.executable).parent)
    pythonpath = [str(project_root), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env.update(
        {
            "FLWR_HOME": str(flwr_home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "PATH": os.pathsep.join([scripts, env.get("PATH", "")]),
        }
    )
    return env


def _executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise FederatedRunError(
            f"the Flower command {name!r} is not installed next to {sys.executable} nor on PATH; "
            "install flwr[simulation]==1.42.0 into this environment"
        )
    return found


def _wait_for_listener(process: StartedProcess, host: str, port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise FederatedRunError(
                f"{process.name} exited with code {process.popen.returncode} while starting; its log:\n"
                + process.log_tail()
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            if probe.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise FederatedRunError(
        f"{process.name} did not listen on {host}:{port} within {timeout_s:.0f} s; raise startup_timeout_s. "
        "Its log:\n" + process.log_tail()
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
    cli: StartedProcess, services: Sequence[StartedProcess], deadline: float, timeout_s: float, tail: deque[str]
) -> None:
    """Block until ``flwr run`` exits; fail early when a SuperLink or SuperNode dies or time runs out."""
    while cli.popen.poll() is None:
        for service in services:
            if service.popen.poll() is not None:
                raise FederatedRunError(
                    f"{service.name} exited with code {service.popen.returncode} during the run; its log:\n"
                    + service.log_tail()
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
            + f"\nSuperLink log:\n{services[0].log_tail()}"
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
    progress: Callable[[str], None] | None = None,
) -> FederatedResult:
    """Run ``config.num_server_rounds`` rounds with ``num_nodes`` local SuperNodes on Flower's deployment engine.

    Node ``i`` trains on partition ``i`` of ``num_nodes`` of the Bitext train split; the ServerApp publishes
    the aggregate to ``config.registry_dir``. Ports left ``None`` are free ephemeral ports on ``host``.
    ``app_dir`` (default: the shopmesh project root) is what ``flwr run`` packs into the app bundle.
    ``work_dir`` (default ``.shopmesh/federation``) holds one folder per run with each process's
    ``FLWR_HOME`` and log; it is removed after a successful run unless ``keep_files`` (kept after a failure).
    Progress lines of the ``flwr run --stream`` output (run id, rounds, replies received, failures) go to
    ``progress`` or to this module's logger.

    Every Flower process is ended before this returns or raises. Raises :class:`FederationConfigError` for
    bad arguments or busy ports, :class:`FederatedRunError` if a process fails, the run fails (with the
    cause the server recorded) or ``timeout_s`` passes.
    """
    if num_nodes < 1:
        raise FederationConfigError(f"num_nodes must be at least 1, got {num_nodes}; start one or more SuperNodes")
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
        min_nodes=num_nodes,
    )
    run_config_path = run_dir / "run-config.toml"
    run_dir.mkdir(parents=True)
    run_config_path.write_text(
        "".join(f"{key} = {_toml_value(value)}\n" for key, value in settings.to_run_config().items()),
        encoding="utf-8",
    )
    address = f"{host}:{ports.superlink}"
    _write_connection(run_dir / "cli" / "flwr-home", connection, address)
    logger.info(
        "starting a Flower deployment: SuperLink on %s, %s SuperNode(s) on ports %s, %s round(s)",
        address,
        num_nodes,
        list(ports.supernodes),
        config.num_server_rounds,
    )
    start = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        with TaggedProcesses() as processes:
            superlink = processes.start(
                "SuperLink",
                [
                    _executable("flower-superlink"),
                    "--insecure",
                    "--host",
                    host,
                    "--port",
                    str(ports.superlink),
                    "--disable-runtime-dependency-installation",
                ],
                env=_flower_env(run_dir / "superlink" / "flwr-home", project_root),
                cwd=run_dir,
                log_path=run_dir / "superlink.log",
            )
            _wait_for_listener(superlink, host, ports.superlink, startup_timeout_s)
            nodes = [
                processes.start(
                    f"SuperNode {partition}",
                    [
                        _executable("flower-supernode"),
                        "--insecure",
                        "--superlink",
                        address,
                        "--host",
                        host,
                        "--port",
                        str(node_port),
                        "--node-config",
                        _node_config(
                            {
                                "partition-id": partition,
                                "num-partitions": num_nodes,
                                "registry-dir": settings.registry_dir,
                                "data-path": settings.data_path,
                            }
                        ),
                    ],
                    env=_flower_env(run_dir / f"node-{partition}" / "flwr-home", project_root),
                    cwd=run_dir,
                    log_path=run_dir / f"node-{partition}.log",
                )
                for partition, node_port in enumerate(ports.supernodes)
            ]
            cli = processes.start(
                "flwr run",
                [
                    _executable("flwr"),
                    "run",
                    str(app_dir),
                    connection,
                    "--stream",
                    "--run-config",
                    str(run_config_path),
                ],
                env=_flower_env(run_dir / "cli" / "flwr-home", project_root),
                cwd=app_dir,
            )
            reader = threading.Thread(target=_pump_output, args=(cli, tail, progress), daemon=True)
            reader.start()
            _wait_for_cli(cli, [superlink, *nodes], deadline, timeout_s, tail)
            reader.join(timeout=5.0)
            result = _wait_for_summary(summary_path, superlink, tail)
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
