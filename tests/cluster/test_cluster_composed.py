"""The ``composed`` topology on a real local Ray: one deployment per member, the chain composed by handles; the
intent member's encoder runs on ONNX Runtime (int8), as ``serving.intent.engine`` asks."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster import ClusterConfig, RunningCluster, Topology, start, stop
from ensemble.members.intent import predict
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def http(registry: Registry, graph_dir: Path) -> Iterator[httpx.Client]:
    with tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp") as ray_tmp:
        config = ClusterConfig(
            registry_dir=registry.root,
            graph_dir=graph_dir,
            port=_free_port(),
            num_cpus=2,
            ray_temp_dir=Path(ray_tmp),
            topology=Topology.COMPOSED,
            serving={"intent": {"engine": "onnx-int8"}},
            startup_timeout_s=420,  # the intent replica exports its encoder first: minutes on a busy 2-core machine
        )
        running: RunningCluster = start(config)
        try:
            with httpx.Client(base_url=running.url, timeout=30.0) as client:
                yield client
        finally:
            stop()


def test_each_member_runs_in_its_own_replica(http: httpx.Client, registry: Registry) -> None:
    body = http.get("/healthz").json()

    assert body["intent"]["version"] == registry.latest("intent").id
    assert body["reply"]["mode"] == "retrieval_only"
    assert len({body[name]["pid"] for name in ("intent", "graph", "reply")}) == 3
    assert not any("deployment" in body[name] for name in ("intent", "graph", "reply"))
    assert (body["intent"]["engine"], body["intent"]["engine_error"]) == ("onnx-int8", None)


def test_the_int8_encoder_answers_within_a_few_points_of_torch(http: httpx.Client, registry: Registry) -> None:
    texts = ["where is my parcel", "cancel it now please", "I want my money back for the broken lamp"]
    model, _ = load_intent(registry)

    answers = [http.post("/v1/chat", json={"text": text}).json() for text in texts]

    expected = predict(model, texts)
    assert all(a["version"] == registry.latest("intent").id for a in answers)
    assert [a["confidence"] for a in answers] == pytest.approx([p.confidence for p in expected], abs=0.05)


def test_chat_answers_as_in_the_default_topology_and_asks_a_modelless_reply_member_once(
    http: httpx.Client,
) -> None:
    # Execute
    answers = [
        http.post("/v1/chat", json={"text": "Where is my regency cakestand 3 tier?", "customer_id": 12001})
        for _ in range(3)
    ]
    families = {f.name: f for f in text_string_to_metric_families(http.get("/metrics").text)}

    # Assert
    assert all(a.status_code == 200 for a in answers), answers[0].text
    bodies = [a.json() for a in answers]
    for body in bodies:
        names = [m["name"] for m in body["members"]]
        assert names[:3] == ["intent_head", "knowledge_graph", "reply"] and names[-1] == "reference"
        assert body["fallback"] is True and "no reply model" in body["fallback_reason"]
        assert body["degraded"] == []
    assert len({(b["reply"], b["fallback_reason"]) for b in bodies}) == 1
    batches = {
        s.labels["member"]: s.value for s in families["shopmesh_batch_size"].samples if s.name.endswith("_count")
    }
    assert batches["intent"] >= 3
    assert batches["reply"] == 1  # the first chain learnt that no reply model is loaded; the next two skipped it
