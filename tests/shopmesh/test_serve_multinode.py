"""``shopmesh serve --address`` on a real two-node Ray cluster started with ``ray start`` on this machine.

The head offers a custom resource ``head_node``, the second node ``second_node``; the serving options place
the chat chain (intent, graph and reply share one deployment in the default topology, with the intent member's
options) on the second node and the forecaster on the head, so the answers cross both nodes through Serve's
proxy. Every Ray process of this cluster is stopped at the end, whatever happened.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")


@dataclass(frozen=True)
class TwoNodes:
    address: str
    temp_dir: Path
    nodes: dict[str, str]  # custom resource naming the node -> its Ray node id


def _ray_processes(temp_dir: Path) -> list[psutil.Process]:
    """Every process of the cluster whose session lives under ``temp_dir`` (nothing of other Ray sessions)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(temp_dir) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _stop(temp_dir: Path) -> None:
    procs = _ray_processes(temp_dir)
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(alive, timeout=15)


def _node_ids(address: str, env: dict[str, str]) -> dict[str, str]:
    """Ask the cluster (in a separate driver, so this test process never joins Ray) which node is which."""
    script = (
        "import json, ray\n"
        f"ray.init(address={address!r}, log_to_driver=False)\n"
        "nodes = {r: n['NodeID'] for n in ray.nodes() if n['Alive'] for r in n['Resources'] if r.endswith('_node')}\n"
        "print(json.dumps(nodes))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    nodes: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return nodes


@pytest.fixture
def two_nodes(free_port: int) -> Iterator[TwoNodes]:
    # Ray puts Unix sockets under its temp dir, whose path must stay short: not under pytest's tmp_path.
    temp_dir = Path(f"/tmp/sm2n-{free_port}")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    address = f"127.0.0.1:{free_port}"
    head = [str(RAY), "start", "--head", "--port", str(free_port), "--node-ip-address", "127.0.0.1"]
    head += ["--num-cpus", "2", "--resources", '{"head_node": 4}', "--temp-dir", str(temp_dir)]
    head += ["--include-dashboard", "false", "--disable-usage-stats"]
    worker = [str(RAY), "start", "--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1"]
    worker += ["--resources", '{"second_node": 1}', "--disable-usage-stats"]
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, text=True, timeout=180)
        subprocess.run(worker, env=env, check=True, capture_output=True, text=True, timeout=180)
        deadline = time.monotonic() + 60
        nodes = _node_ids(address, env)
        while len(nodes) < 2 and time.monotonic() < deadline:
            time.sleep(2)
            nodes = _node_ids(address, env)
        assert set(nodes) == {"head_node", "second_node"}, nodes
        yield TwoNodes(address, temp_dir, nodes)
    finally:
        _stop(temp_dir)


def test_serve_deploys_onto_both_nodes_of_a_running_cluster(tiny_workspace: Path, two_nodes: TwoNodes) -> None:
    # Prepare
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serving = {
        "intent": {"num_cpus": 0.25, "resources": {"second_node": 0.5}},
        "forecaster": {"num_cpus": 0.25, "resources": {"head_node": 1}},
    }
    env = {**os.environ, "SHOPMESH_HOME": str(tiny_workspace), "RAY_USAGE_STATS_ENABLED": "0"}
    command = [sys.executable, "-m", "shopmesh.cli", "serve", "--address", two_nodes.address, "--port", str(port)]
    command += ["--serving", json.dumps(serving)]
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 300
        while not any("serving on" in line for line in list(lines)):
            assert proc.poll() is None, "serve exited early:\n" + "".join(lines)
            assert time.monotonic() < deadline, "serve did not start in 300 s:\n" + "".join(lines)
            time.sleep(1)

        # Execute
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as http:
            health = http.get("/healthz").json()
            chats = [http.post("/v1/chat", json={"text": f"where is my white metal lantern? ({i})"}) for i in range(5)]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        reader.join(timeout=10)
        still_up = _node_ids(two_nodes.address, {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)

    # Assert
    assert f"on the Ray cluster at {two_nodes.address}" in output
    assert health["intent"]["node_id"] == health["graph"]["node_id"] == two_nodes.nodes["second_node"]
    assert health["forecaster"]["node_id"] == two_nodes.nodes["head_node"]
    assert all(chat.status_code == 200 for chat in chats), [chat.text for chat in chats]
    assert all(chat.json()["products"][0]["stock_code"] == "71053" for chat in chats)
    assert proc.returncode == 0, output[-3000:]
    assert set(still_up) == {"head_node", "second_node"}  # stopping serve left the cluster itself running
