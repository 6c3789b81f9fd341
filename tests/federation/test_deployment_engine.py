"""Flower's deployment engine on this machine: a real SuperLink, SuperNodes and `flwr run` (integration),
plus fast checks of the port choice, the app check and the process teardown."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from ensemble.registry import Registry
from federation import FederatedRunError, FederationConfig, FederationConfigError, run_federated_deployment
from federation._tagged_processes import RUN_TOKEN_ENV, TaggedProcesses, processes_with_env
from federation.flower_cli import SecurityMode
from federation.local_link import LocalFederation
from federation.ports import choose_ports

NUM_NODES = 3


def _tiny_run(tmp_path: Path, rounds: int) -> FederationConfig:
    """A few examples per node on the tiny base model, no evaluation round: rounds take seconds."""
    return FederationConfig(
        num_server_rounds=rounds,
        registry_dir=str(tmp_path / "registry"),
        max_train_examples=16,
        batch_size=16,
        learning_rate=1e-2,
        lora_r=4,
        lora_alpha=8,
        fraction_evaluate=0.0,
        seed=3,
    )


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _flower_processes(flwr_home_root: Path) -> list[int]:
    """Processes whose FLWR_HOME lies under ``flwr_home_root`` (every Flower process a run starts)."""
    found = []
    for process in psutil.process_iter():
        try:
            home = process.environ().get("FLWR_HOME", "")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if home.startswith(str(flwr_home_root)) and _alive(process.pid):
            found.append(process.pid)
    return found


def test_chosen_ports_are_distinct_and_free_and_given_ones_are_kept() -> None:
    # Prepare
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]

        # Execute
        ports = choose_ports("127.0.0.1", 3, superlink_port=None, supernode_ports=None)
        pinned = choose_ports("127.0.0.1", 1, superlink_port=ports.superlink)

        # Assert
        every = [ports.superlink, *ports.supernodes]
        assert len(set(every)) == 4 and busy not in every
        assert pinned.superlink == ports.superlink and pinned.supernodes[0] != ports.superlink
        with pytest.raises(FederationConfigError, match=rf"port {busy} on 127.0.0.1 is already in use"):
            choose_ports("127.0.0.1", 1, superlink_port=busy)
    with pytest.raises(FederationConfigError, match=r"repeat a port"):
        choose_ports("127.0.0.1", 1, superlink_port=ports.superlink, supernode_ports=[ports.superlink])
    with pytest.raises(FederationConfigError, match=r"supernode_ports has 1 port\(s\) for 2 node\(s\)"):
        choose_ports("127.0.0.1", 2, supernode_ports=[ports.superlink])


def test_an_app_dir_with_a_legacy_federations_table_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # Prepare: flwr 1.42 would rewrite this file if `flwr run` saw it
    pyproject = tmp_path / "pyproject.toml"
    content = '[tool.flwr.app]\npublisher = "x"\n\n[tool.flwr.federations]\ndefault = "local"\n'
    pyproject.write_text(content, encoding="utf-8")

    # Execute / Assert
    with pytest.raises(FederationConfigError, match=r"has a \[tool.flwr.federations\] table"):
        run_federated_deployment(FederationConfig(), 1, app_dir=tmp_path, work_dir=tmp_path / "work")
    assert pyproject.read_text(encoding="utf-8") == content


def test_stop_ends_the_process_groups_and_detached_descendants(tmp_path: Path) -> None:
    # Prepare: a child that starts a grandchild in a new session, as Flower's SuperLink starts its SuperExec
    spawn = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'], start_new_session=True)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    processes = TaggedProcesses(grace_s=5.0)
    with processes:
        child = processes.start("child", [sys.executable, "-c", spawn], env=dict(os.environ), cwd=tmp_path)
        assert child.popen.stdout is not None
        grandchild = int(child.popen.stdout.readline())
        # Execute: the grandchild is in neither the child's process group nor its session
        assert os.getpgid(grandchild) != os.getpgid(child.popen.pid)
        tagged = processes_with_env(RUN_TOKEN_ENV, processes.token)

    # Assert
    assert tagged == sorted([child.popen.pid, grandchild])
    deadline = time.monotonic() + 5.0
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child.popen.pid)
    assert not _alive(grandchild)
    assert processes_with_env(RUN_TOKEN_ENV, processes.token) == []


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    # Prepare
    stubborn = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(300)\n"
    )
    processes = TaggedProcesses(grace_s=1.0)
    with processes:
        child = processes.start("stubborn", [sys.executable, "-c", stubborn], env=dict(os.environ), cwd=tmp_path)
        assert child.popen.stdout is not None
        assert child.popen.stdout.readline().strip() == "ready"

    # Assert
    assert child.popen.returncode == -signal.SIGKILL


@pytest.mark.integration
@pytest.mark.slow
def test_three_registered_supernodes_over_tls_publish_a_federated_version_and_leave_no_process(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare
    config = _tiny_run(tmp_path, rounds=1)
    base_id = publish_tiny_base(Path(config.registry_dir), bitext_intents)
    work_dir = tmp_path / "work"
    lines: list[str] = []
    seen_during_run: list[int] = []
    command_lines: list[list[str]] = []

    def progress(line: str) -> None:
        lines.append(line)
        if "ROUND 1/1" in line:
            # Flower may log the round's header more than once: each process is recorded once
            fresh = [pid for pid in _flower_processes(work_dir) if pid not in seen_during_run]
            seen_during_run.extend(fresh)
            command_lines.extend(_command_lines(fresh))

    # Execute
    result = run_federated_deployment(
        config, NUM_NODES, work_dir=work_dir, timeout_s=900, keep_files=True, progress=progress
    )

    # Assert: the run's record
    assert result.status == "published"
    assert result.base_version_id == base_id
    assert len(result.participants) == NUM_NODES == len(set(result.participants))
    assert result.num_examples == NUM_NODES * config.max_train_examples
    (round_one,) = result.rounds
    assert sorted(round_one["partitions"].values()) == list(range(NUM_NODES))
    assert sorted(int(node) for node in round_one["partitions"]) == result.participants
    assert any("ROUND 1/1" in line for line in lines)

    # Assert: the registry holds the federated version with its lineage
    artifact = Registry(config.registry_dir).load("intent", result.version_id)
    assert artifact.lineage.method == "federated"
    assert artifact.lineage.parent == base_id
    assert artifact.lineage.details["participants"] == result.participants
    assert artifact.lineage.details["strategy"]["name"] == "fedavg"
    assert Registry(config.registry_dir).latest("intent").id == result.version_id

    # Assert: the SuperLink served TLS with node authentication; each SuperNode trusted the CA and signed in
    superlinks = [argv for argv in command_lines if any(arg.endswith("flower-superlink") for arg in argv)]
    supernodes = [argv for argv in command_lines if any(arg.endswith("flower-supernode") for arg in argv)]
    assert len(superlinks) == 1 and len(supernodes) == NUM_NODES
    assert {"--enable-supernode-auth", "--ssl-certfile", "--ssl-keyfile"} <= set(superlinks[0])
    assert all("--auth-supernode-private-key" in argv and "--insecure" not in argv for argv in supernodes)
    (run_dir,) = work_dir.iterdir()
    registered = [log.read_text(encoding="utf-8") for log in sorted((run_dir / "register").iterdir())]
    assert len(registered) == NUM_NODES and all("registered successfully" in text for text in registered)

    # Assert: SuperLink, SuperExecs, SuperNodes, ServerApp and ClientApps ran, and none is left
    assert len(seen_during_run) >= 1 + NUM_NODES
    assert [pid for pid in seen_during_run if _alive(pid)] == []
    assert _flower_processes(work_dir) == []


def _command_lines(pids: list[int]) -> list[list[str]]:
    found = []
    for pid in pids:
        try:
            found.append(psutil.Process(pid).cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.integration
def test_a_supernode_whose_key_was_never_registered_is_refused(tmp_path: Path) -> None:
    # Prepare: a secure SuperLink; a key pair made but not registered
    ports = choose_ports("127.0.0.1", 1)
    with LocalFederation(
        tmp_path / "run", host="127.0.0.1", port=ports.superlink, connection="t", security=SecurityMode()
    ) as federation:
        stranger = federation.make_key("stranger")

        # Execute
        node = federation.start_supernode(
            "SuperNode stranger", ports.supernodes[0], {"partition-id": 0, "num-partitions": 1}, stranger, max_retries=0
        )
        node.popen.wait(timeout=120)
        superlink_log = federation.superlink.log_tail(200)
        assert federation.tls is not None
        trusted = ssl.create_default_context(cafile=str(federation.tls.ca_cert))
        address = ("127.0.0.1", ports.superlink)
        with (
            socket.create_connection(address, timeout=10) as raw,
            trusted.wrap_socket(raw, server_hostname="127.0.0.1") as secured,
        ):
            tls_version = secured.version()
        with socket.create_connection(address, timeout=10) as raw, pytest.raises(ssl.SSLCertVerificationError):
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")

    # Assert: the SuperLink speaks TLS with the local CA's certificate for 127.0.0.1 (and no other CA vouches for it)
    assert tls_version in ("TLSv1.2", "TLSv1.3")
    # Assert: the node gave up with Flower's activation error; the SuperLink names the unknown key
    assert node.popen.returncode != 0
    assert "Failed to activate SuperNode" in node.log_tail(200)
    assert "No SuperNode found with the given public key" in superlink_log


@pytest.mark.integration
def test_a_run_past_its_timeout_raises_and_leaves_no_process(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Prepare: one second cannot cover starting `flwr run`, packing the app and starting the ServerApp
    config = FederationConfig(num_server_rounds=1, registry_dir=str(tmp_path / "registry"))
    work_dir = tmp_path / "work"

    # Execute / Assert: insecure here, so the warning is logged and no key is registered
    with pytest.raises(FederatedRunError, match=r"did not finish within 1 s") as caught:
        run_federated_deployment(config, 2, work_dir=work_dir, timeout_s=1, insecure=True)
    assert _flower_processes(work_dir) == []
    (run_dir,) = work_dir.iterdir()
    assert any(str(run_dir) in note for note in caught.value.__notes__)
    assert (run_dir / "superlink.log").exists()
    assert not (run_dir / "tls").exists()
    assert any("WITHOUT TLS" in record.getMessage() for record in caplog.records)


@pytest.mark.integration
@pytest.mark.slow
def test_a_supernode_killed_mid_round_is_recorded_and_the_rounds_go_on_with_the_rest(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare: three merchants, rounds need two; one SuperNode (a third of them) is killed as round 1 starts
    config = _tiny_run(tmp_path, rounds=2)
    publish_tiny_base(Path(config.registry_dir), bitext_intents)
    work_dir = tmp_path / "work"
    killed: list[int] = []

    def progress(line: str) -> None:
        if "ROUND 1/2" in line and not killed:
            victim = psutil.Process(_supernode_pids(work_dir)[-1])
            for process in [*victim.children(recursive=True), victim]:
                process.kill()
            killed.append(victim.pid)

    # Execute
    result = run_federated_deployment(
        config, NUM_NODES, work_dir=work_dir, timeout_s=900, progress=progress, min_nodes=2
    )

    # Assert: round 1 completed with the two others and recorded the vanished node; round 2 went on without it
    assert killed, "the run never reached round 1"
    assert result.status == "published"
    round_one, round_two = result.rounds
    assert len(round_one["train"]) == 2
    (reason,) = round_one["failures"].values()
    assert "Node Unavailable" in reason
    (vanished,) = (int(node) for node in round_one["failures"])
    assert vanished not in round_one["participants"]
    assert round_two["participants"] == round_one["participants"] and round_two["failures"] == {}
    assert result.participants == round_one["participants"]
    lineage = Registry(config.registry_dir).load("intent", result.version_id).lineage
    assert lineage.details["round_metrics"][0]["failures"] == round_one["failures"]
    assert _flower_processes(work_dir) == []


def _supernode_pids(work_dir: Path) -> list[int]:
    """The SuperNode processes of the runs under ``work_dir``, oldest pid first."""
    found = []
    for pid in _flower_processes(work_dir):
        try:
            argv = psutil.Process(pid).cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(arg.endswith("flower-supernode") for arg in argv):
            found.append(pid)
    return sorted(found)
