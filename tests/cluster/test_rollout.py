"""Rollouts on a real local Ray + Serve cluster, driven by ``shopmesh rollout`` / ``rollback`` in other processes
through the Serve REST API: no request fails while the intent member changes version under load, every answer
names the version that gave it, a broken version is refused with the old one still serving, and a rollback
returns to the version served before; a canary answers the customers of its share and a shadow is only logged,
until promoted or aborted. One cluster serves the whole module; the tests run in order."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import ray

from cluster import RunningCluster
from cluster.candidate import CandidateMode, CandidatePlan, ShadowLog
from cluster.rollout_journal import JOURNAL_NAME
from ensemble.registry import Registry
from tests.cluster.conftest import free_port, publish_tiny_intent, running_cluster

pytestmark = pytest.mark.integration

logger = logging.getLogger(__name__)

CLIENTS = 4
PACE_S = 0.25  # each client sends at most one request per PACE_S: a few hundred requests while a rollout runs
MAX_REQUESTS = 2000  # in all, across the clients: a hard bound on the load
LOAD_LIMIT_S = 240.0
AFTER_SWAP = 10  # requests each client still sends once the rollout has returned
TEXTS = ("where is my order?", "please cancel my order", "I want my money back", "track my parcel")


@dataclass(frozen=True)
class Sent:
    client: int
    started: float
    status: int
    version: str | None


@dataclass(frozen=True)
class RolloutCluster:
    running: RunningCluster
    dashboard: str
    registry: Registry
    first: str


@pytest.fixture(scope="module")
def rollout_cluster(tmp_path_factory: pytest.TempPathFactory, graph_dir: Path) -> Iterator[RolloutCluster]:
    registry = Registry(tmp_path_factory.mktemp("rollout") / "registry")
    first = publish_tiny_intent(registry, seed=0)
    port = free_port()
    with pytest.MonkeyPatch.context() as env:
        # The dashboard's processes get 30 s each to start by default; a busy 2-core machine needs more.
        env.setenv("RAY_DASHBOARD_SUBPROCESS_MODULE_WAIT_READY_TIMEOUT", "240")
        with running_cluster(registry.root, graph_dir, dashboard_port=port) as running:
            yield RolloutCluster(running, f"http://127.0.0.1:{port}", registry, first)


def _shopmesh(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "shopmesh.cli", "--home", str(home), *args, "--timeout", "300"]
    return subprocess.run(command, capture_output=True, text=True, timeout=420, check=False)


async def _client(http: httpx.AsyncClient, url: str, client: int, sent: list[Sent], done: asyncio.Event) -> None:
    after = 0
    deadline = time.monotonic() + LOAD_LIMIT_S
    while len(sent) < MAX_REQUESTS and time.monotonic() < deadline and after < AFTER_SWAP:
        started = time.monotonic()
        text = TEXTS[len(sent) % len(TEXTS)]
        try:
            response = await http.post(f"{url}/v1/chat", json={"text": text})
            version = response.json().get("version") if response.status_code == 200 else None
            sent.append(Sent(client, started, response.status_code, version))
        except httpx.HTTPError:
            sent.append(Sent(client, started, 0, None))
        if done.is_set():
            after += 1
        await asyncio.sleep(max(0.0, PACE_S - (time.monotonic() - started)))


async def _load_during(
    url: str, rollout: list[str], home: Path
) -> tuple[list[Sent], subprocess.CompletedProcess[str], float]:
    sent: list[Sent] = []
    done = asyncio.Event()
    async with httpx.AsyncClient(timeout=60.0) as http:
        clients = [asyncio.create_task(_client(http, url, i, sent, done)) for i in range(CLIENTS)]
        await asyncio.sleep(2.0)  # the old version answers for a while first
        result = await asyncio.to_thread(_shopmesh, home, *rollout)
        returned = time.monotonic()
        done.set()
        await asyncio.gather(*clients)
    return sent, result, returned


def test_rollout_under_load_fails_no_request_and_every_answer_names_its_version(
    rollout_cluster: RolloutCluster, tmp_path: Path
) -> None:
    # Prepare
    second = publish_tiny_intent(rollout_cluster.registry, seed=1)
    url = rollout_cluster.running.url

    # Execute
    sent, result, returned = asyncio.run(
        _load_during(url, ["rollout", "intent", second, "--address", rollout_cluster.dashboard], tmp_path)
    )

    # Assert
    assert result.returncode == 0, result.stderr
    assert second in result.stdout and rollout_cluster.first in result.stdout
    failed = [s for s in sent if s.status != 200]
    assert failed == [], f"{len(failed)} of {len(sent)} requests failed"
    assert {s.version for s in sent} == {rollout_cluster.first, second}
    for client in range(CLIENTS):
        versions = [s.version for s in sorted(sent, key=lambda s: s.started) if s.client == client]
        swap = versions.index(second) if second in versions else len(versions)
        assert set(versions[swap:]) == {second}, f"client {client} saw the old version after the new one"
    after = [s.version for s in sent if s.started > returned]
    assert len(after) >= CLIENTS * (AFTER_SWAP - 1) and set(after) == {second}
    logger.info("rollout under load: %s failed of %s requests (%s clients)", len(failed), len(sent), CLIENTS)


def test_a_broken_version_is_refused_and_the_old_one_keeps_serving(
    rollout_cluster: RolloutCluster, tmp_path: Path
) -> None:
    # Prepare
    serving = httpx.get(f"{rollout_cluster.running.url}/healthz", timeout=30).json()["intent"]["version"]
    broken = rollout_cluster.registry.resolve("intent", publish_tiny_intent(rollout_cluster.registry, seed=2))
    weights = sorted(broken.path.glob("*.safetensors"))[0]
    data = bytearray(weights.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    weights.write_bytes(bytes(data))

    # Execute
    result = _shopmesh(tmp_path, "rollout", "intent", broken.id, "--address", rollout_cluster.dashboard)
    chat = httpx.post(f"{rollout_cluster.running.url}/v1/chat", json={"text": "where is my order?"}, timeout=60)
    health = httpx.get(f"{rollout_cluster.running.url}/healthz", timeout=30).json()

    # Assert
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert broken.id in result.stderr and f"{serving} keeps serving" in result.stderr
    assert chat.status_code == 200 and chat.json()["version"] == serving
    assert health["intent"]["version"] == serving


def test_rollback_returns_to_the_version_served_before(rollout_cluster: RolloutCluster, tmp_path: Path) -> None:
    # Prepare: join the cluster by its Ray address, as `shopmesh serve --address` does
    gcs_address = ray.get_runtime_context().gcs_address

    # Execute
    back = _shopmesh(tmp_path, "rollback", "intent", "--address", gcs_address)
    chat = httpx.post(f"{rollout_cluster.running.url}/v1/chat", json={"text": "where is my order?"}, timeout=60)
    again = _shopmesh(tmp_path, "rollback", "intent", "--address", rollout_cluster.dashboard)

    # Assert
    assert back.returncode == 0, back.stderr
    assert chat.json()["version"] == rollout_cluster.first
    assert again.returncode == 2 and "no version of intent before" in again.stderr


def test_the_graph_rolls_out_from_another_directory_and_answers_name_it(
    rollout_cluster: RolloutCluster, graph_dir: Path, tmp_path: Path
) -> None:
    # Prepare: the same graph saved in a second directory, as `shopmesh kg build` would save a new one
    moved = tmp_path / "graph-next"
    shutil.copytree(graph_dir, moved)
    url = rollout_cluster.running.url

    # Execute
    result = _shopmesh(tmp_path, "rollout", "graph", str(moved), "--address", rollout_cluster.dashboard)
    health = httpx.get(f"{url}/healthz", timeout=30).json()
    answer = httpx.post(f"{url}/v1/recommend", json={"customer_id": 12001, "k": 2}, timeout=60)

    # Assert
    assert result.returncode == 0, result.stderr
    assert health["graph"]["source"] == str(moved)
    assert answer.status_code == 200 and answer.json()["version"] == health["graph"]["version"]
    assert health["intent"]["version"] == rollout_cluster.first  # the co-located intent member kept its version


def test_a_canary_answers_the_customers_of_its_share_until_it_is_promoted(
    rollout_cluster: RolloutCluster, tmp_path: Path
) -> None:
    # Prepare
    url = rollout_cluster.running.url
    live = httpx.get(f"{url}/healthz", timeout=30).json()["intent"]["version"]
    candidate = publish_tiny_intent(rollout_cluster.registry, seed=3)
    customers = list(range(13000, 13024))
    plan = CandidatePlan(CandidateMode.CANARY, candidate, 50)

    # Execute
    started = _shopmesh(
        tmp_path, "rollout", "intent", candidate, "--canary", "50", "--address", rollout_cluster.dashboard
    )
    served = {
        (c, n): httpx.post(f"{url}/v1/chat", json={"text": TEXTS[n], "customer_id": c}, timeout=60)
        for c in customers
        for n in range(2)
    }
    health = httpx.get(f"{url}/healthz", timeout=30).json()["intent"]
    promoted = _shopmesh(tmp_path, "promote", "intent", "--address", rollout_cluster.dashboard)
    after = [httpx.post(f"{url}/v1/chat", json={"text": TEXTS[0], "customer_id": c}, timeout=60) for c in customers[:6]]

    # Assert
    assert started.returncode == 0, started.stderr
    assert "canary" in started.stdout and candidate in started.stdout
    assert all(r.status_code == 200 for r in served.values())
    expected = {c: candidate if plan.answers(f"customer:{c}") else live for c in customers}
    assert {key: r.json()["version"] for key, r in served.items()} == {(c, n): expected[c] for c, n in served}
    assert set(expected.values()) == {live, candidate}
    assert health["version"] == live and health["candidate"]["version"] == candidate
    assert promoted.returncode == 0, promoted.stderr
    assert {r.json()["version"] for r in after} == {candidate}
    assert httpx.get(f"{url}/healthz", timeout=30).json()["intent"]["candidate"] is None


def test_a_shadow_is_logged_beside_the_live_answers_and_never_returned_until_it_is_aborted(
    rollout_cluster: RolloutCluster, tmp_path: Path
) -> None:
    # Prepare
    url = rollout_cluster.running.url
    live = httpx.get(f"{url}/healthz", timeout=30).json()["intent"]["version"]
    shadow = rollout_cluster.first
    log = ShadowLog(rollout_cluster.running.config.state_path / JOURNAL_NAME)

    # Execute
    started = _shopmesh(tmp_path, "rollout", "intent", shadow, "--shadow", "--address", rollout_cluster.dashboard)
    answers = [
        httpx.post(f"{url}/v1/chat", json={"text": TEXTS[i % len(TEXTS)], "session_id": f"s{i}"}, timeout=60)
        for i in range(8)
    ]
    ids = {a.json()["request_id"] for a in answers}
    deadline = time.monotonic() + 60
    while not ids <= {r.request_id for r in log.rows(shadow)} and time.monotonic() < deadline:
        time.sleep(0.5)  # the shadow compares in the background, after the live answer went out
    rows = {r.request_id: r for r in log.rows(shadow)}
    aborted = _shopmesh(tmp_path, "abort", "intent", "--address", rollout_cluster.dashboard)
    health = httpx.get(f"{url}/healthz", timeout=30).json()["intent"]

    # Assert
    assert started.returncode == 0, started.stderr
    assert all(a.status_code == 200 and a.json()["version"] == live for a in answers)
    assert ids <= set(rows), "the shadow did not log every request"
    for answer in answers:
        row = rows[answer.json()["request_id"]]
        assert (row.live_version, row.shadow_version) == (live, shadow)
        assert row.live_intent == answer.json()["intent"]
    assert aborted.returncode == 0, aborted.stderr
    assert "requests compared" in aborted.stdout
    assert health["version"] == live and health["candidate"] is None
