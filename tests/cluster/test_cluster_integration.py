"""The real path: local Ray + Serve on 127.0.0.1, HTTP through the FastAPI ingress, hot reload."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster import SERVED_MEMBERS, RunningCluster, reload_intent
from cluster.config import EDGE_BUNDLES_DIR, default_state_dir
from cluster.edge_rollout import BundleCatalog
from cluster.experiment_definition import assign
from cluster.experiments import ExperimentStore
from edge.export import BundleSigner, export_registry_version
from edge.runtime import TrustStore
from ensemble.registry import Registry
from knowledge_graph.graph import ProductGraph
from shopmesh.cli import main
from tests.cluster.conftest import running_cluster

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(registry: Registry, graph_dir: Path) -> Iterator[RunningCluster]:
    with running_cluster(registry.root, graph_dir) as running:
        yield running


@pytest.fixture(scope="module")
def http(cluster: RunningCluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30.0) as client:
        yield client


def test_healthz_reports_the_loaded_versions(http: httpx.Client, registry: Registry) -> None:
    response = http.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["intent"]["version"] == registry.latest("intent").id
    assert body["graph"]["products"] == 4
    assert body["reply"]["version"] is None  # no reply version published: the cluster answers by retrieval
    assert body["reply"]["mode"] == "retrieval_only"
    assert body["reply"]["references"] > 0


def test_chat_returns_an_intent_and_the_facts_of_the_named_product(
    http: httpx.Client, registry: Registry, graph_dir: Path
) -> None:
    # Prepare
    expected_facts = ProductGraph.load(graph_dir).facts("22423").to_dict()

    # Execute
    response = http.post("/v1/chat", json={"text": "Where is my regency cakestand 3 tier?", "customer_id": 12001})

    # Assert
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["intent"] in {"track_order", "cancel_order", "get_refund"}
    assert 0.0 < body["confidence"] <= 1.0
    assert body["out_of_scope"] is False
    assert body["mode"] == "serial"
    assert body["products"] == [expected_facts]
    assert body["entities"]["products"][0]["stock_code"] == "22423"
    assert body["version"] == registry.latest("intent").id
    names = [m["name"] for m in body["members"]]
    assert names[:3] == ["intent_head", "knowledge_graph", "reply"]
    assert names[-1] == "reference"
    assert body["members"][1]["output"]["customer"]["known"] is True
    assert body["fallback"] is True
    assert "no reply model" in body["fallback_reason"]
    assert body["reply"]
    assert body["grounding"]["checked"] is True
    assert body["grounding"]["unsupported"] == []
    assert body["degraded"] == []


@pytest.mark.parametrize("mode", ["serial", "parallel", "fusion"])
def test_chat_fills_a_confirmed_order_number_in_every_mode(http: httpx.Client, mode: str) -> None:
    # 536366 is customer 12001's second invoice in the test graph.
    response = http.post("/v1/chat", json={"text": "where is my order 536366?", "customer_id": 12001, "mode": mode})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == mode
    assert body["entities"]["order_numbers"] == ["536366"]
    assert body["grounding"]["grounded"] is True
    assert all(m["latency_ms"] >= 0 and "weight" in m for m in body["members"])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"json": {"text": ""}}, "at least 1 character"),
        ({"json": {"text": "x" * 3000}}, "at most 2000 characters"),
        ({"json": {"text": 12345}}, "valid string"),
        ({"json": {"mode": "parallel"}}, "Field required"),
        ({"json": {"text": "hi", "mode": "shouting"}}, "'serial', 'parallel' or 'fusion'"),
        ({"json": {"text": "hi", "order_id": 536365}}, "valid string"),
        ({"json": ["hi"]}, "valid dictionary"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "JSON decode error"),
    ],
)
def test_invalid_chat_bodies_get_422_with_the_reason(http: httpx.Client, content: dict[str, Any], reason: str) -> None:
    response = http.post("/v1/chat", **content)

    assert response.status_code == 422
    body = response.json()
    assert reason in body["message"]
    assert all("input" not in problem for problem in body["detail"])


def test_recommend_explains_items_per_mode_and_falls_back_for_an_unknown_customer(
    http: httpx.Client, graph_dir: Path
) -> None:
    # Prepare
    expected = [r.to_dict() for r in ProductGraph.load(graph_dir).recommend(12001, 2)]

    # Execute
    found = http.post("/v1/recommend", json={"customer_id": 12001, "k": 2})
    fused = http.post("/v1/recommend", json={"customer_id": 12001, "k": 2, "mode": "fusion"})
    side_by_side = http.post("/v1/recommend", json={"customer_id": 12001, "k": 2, "mode": "parallel"})
    missing = http.post("/v1/recommend", json={"customer_id": 424242, "k": 2})
    bad_mode = http.post("/v1/recommend", json={"customer_id": 12001, "k": 2, "mode": "serial"})

    # Assert
    assert found.status_code == 200
    items = found.json()["items"]
    assert [i["stock_code"] for i in items] == [e["stock_code"] for e in expected]
    assert [i["explanation"] for i in items] == [e["explanation"] for e in expected]
    assert found.json()["mode"] == "graph"
    assert {m["name"]: m["status"] for m in found.json()["members"]}["bpr"] == "not_served"
    assert fused.status_code == 200
    assert fused.json()["weights"] == {"graph": 4.0, "item_knn": 1.0, "popularity": 0.0}
    assert all("graph" in i["sources"] for i in fused.json()["items"])
    assert set(side_by_side.json()["lists"]) == {"graph", "item_knn", "popularity"}
    assert missing.status_code == 200
    assert missing.json()["fallback"] == "popularity"
    assert "424242" in missing.json()["fallback_reason"]
    assert [i["stock_code"] for i in missing.json()["items"]] == ["85123A", "71053"]
    assert bad_mode.status_code == 422


def test_product_facts_by_code(http: httpx.Client) -> None:
    assert http.get("/v1/products/71053").json()["description"] == "WHITE METAL LANTERN"
    assert http.get("/v1/products/00000").status_code == 404


def test_a_new_version_is_hot_reloaded_in_place(
    http: httpx.Client,
    cluster: RunningCluster,
    registry: Registry,
    publish_intent: Callable[[Registry, int], str],
) -> None:
    # Prepare
    before = http.get("/healthz").json()["intent"]
    new_version = publish_intent(registry, 1)

    # Execute
    served = reload_intent(cluster, None)

    # Assert
    after = http.get("/healthz").json()["intent"]
    assert served == new_version != before["version"]
    assert after["version"] == new_version
    assert after["loaded_at"] > before["loaded_at"]
    assert after["pid"] == before["pid"]  # the same replica process: reconfigured in place, not replaced
    chat = http.post("/v1/chat", json={"text": "refund please"})
    assert chat.json()["version"] == new_version


def test_forecast_and_price_say_what_to_train_when_no_version_exists(http: httpx.Client) -> None:
    forecast = http.post("/v1/forecast", json={"product": "85123A", "horizon": 4})
    price = http.post("/v1/price", json={"store": 2, "brand": 1})
    health = http.get("/healthz").json()

    assert forecast.status_code == 503 and "shopmesh train forecaster" in forecast.json()["detail"]
    assert price.status_code == 503 and "shopmesh train pricer" in price.json()["detail"]
    assert health["forecaster"]["version"] is None and health["pricer"]["version"] is None


def test_vision_says_what_to_train_when_no_version_exists(http: httpx.Client) -> None:
    # a 1 x 1 black PNG
    photo = {
        "image_base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg=="
    }

    response = http.post("/v1/vision", json=photo)

    assert response.status_code == 503, response.text
    assert response.json()["member"] == "vision" and "shopmesh train vision" in response.json()["detail"]
    assert http.get("/healthz").json()["vision"]["version"] is None


@pytest.mark.parametrize(
    ("path", "content", "reason"),
    [
        ("/v1/forecast", {"product": "85123A", "series": [1.0] * 8}, "exactly one of"),
        ("/v1/forecast", {"series": [1.0, 2.0]}, "at least 8 items"),
        ("/v1/forecast", {"product": "85123A", "horizon": 0}, "horizon"),
        ("/v1/price", {"store": "two", "brand": 1}, "store"),
        ("/v1/price", {"store": 2}, "brand"),
    ],
)
def test_invalid_forecast_and_price_bodies_get_422(
    http: httpx.Client, path: str, content: dict[str, Any], reason: str
) -> None:
    response = http.post(path, json=content)

    assert response.status_code == 422
    assert reason in response.json()["message"]


def test_a_body_over_the_limit_gets_413_before_it_is_parsed(http: httpx.Client, cluster: RunningCluster) -> None:
    # Prepare: a body twice the configured limit; not JSON at all, so parsing it would answer 422
    limit = cluster.config.max_body_bytes
    body = b"x" * (2 * limit)

    # Execute
    declared = http.post("/v1/chat", content=body, headers={"content-type": "application/json"})
    streamed = http.post(
        "/v1/chat", content=iter([body[:limit], body[limit:]]), headers={"content-type": "application/json"}
    )

    # Assert
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert f"at most {limit} bytes" in response.json()["detail"]


def test_bodies_that_are_not_utf8_json_get_a_4xx_that_says_so(http: httpx.Client) -> None:
    response = http.post("/v1/chat", content=b'{"text": "\xff\xfe"}', headers={"content-type": "application/json"})

    assert response.status_code in (400, 422), response.text
    assert "UTF-8" in response.text or "decode" in response.text


def test_the_request_id_is_taken_from_the_caller_returned_and_put_in_the_body(http: httpx.Client) -> None:
    given = http.post("/v1/chat", json={"text": "where is my order"}, headers={"X-Request-ID": "abc-123"})
    made = http.post("/v1/chat", json={"text": "where is my order"})
    refused = http.post("/v1/chat", json={"text": ""}, headers={"X-Request-ID": "bad-1"})

    assert given.headers["x-request-id"] == "abc-123"
    assert given.json()["request_id"] == "abc-123"
    assert made.headers["x-request-id"] and made.json()["request_id"] == made.headers["x-request-id"]
    assert refused.status_code == 422 and refused.json()["request_id"] == "bad-1"


def test_metrics_are_prometheus_text_with_requests_latency_batches_and_versions(
    http: httpx.Client, registry: Registry
) -> None:
    # Prepare
    for text in ("where is my order", "I want a refund"):
        assert http.post("/v1/chat", json={"text": text}).status_code == 200
    assert http.post("/v1/chat", json={"text": ""}).status_code == 422

    # Execute
    response = http.get("/metrics")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}

    # Assert
    assert response.status_code == 200
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["shopmesh_requests"].samples
        if s.name == "shopmesh_requests_total"
    }
    assert requests[("/v1/chat", "200")] >= 2
    latency = families["shopmesh_request_latency_seconds"].samples
    assert any(s.name.endswith("_count") and s.labels["route"] == "/v1/chat" and s.value >= 2 for s in latency)
    members = {s.labels["member"] for s in families["shopmesh_chain_member_latency_seconds"].samples}
    assert {"intent_head", "knowledge_graph"} <= members
    batches = [s for s in families["shopmesh_batch_size"].samples if s.name.endswith("_count")]
    assert any(s.labels["member"] == "intent" and s.value >= 2 for s in batches)
    versions = {s.labels["member"]: s.labels["version"] for s in families["shopmesh_member_version_info"].samples}
    assert versions["intent"] == registry.latest("intent").id
    assert versions["forecaster"] == "none"


def test_healthz_lists_every_served_member_with_its_version(http: httpx.Client) -> None:
    body = http.get("/healthz").json()

    assert body["status"] == "ok"
    assert {row.name.value for row in SERVED_MEMBERS} <= set(body)
    assert all("version" in body[row.name.value] for row in SERVED_MEMBERS)


def test_a_repeated_delivery_gets_the_first_answer_and_a_reused_key_is_refused(http: httpx.Client) -> None:
    # Prepare
    key = {"Idempotency-Key": "device-7-event-0001"}
    body = {"text": "where is my order 536366?", "customer_id": 12001}

    # Execute
    first = http.post("/v1/chat", json=body, headers=key)
    again = http.post("/v1/chat", json=body, headers=key)
    other = http.post("/v1/chat", json={"text": "I want a refund"}, headers=key)
    malformed = http.post("/v1/chat", json=body, headers={"Idempotency-Key": "has a space"})

    # Assert
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert other.status_code == 409 and "another request" in other.json()["detail"]
    assert malformed.status_code == 422 and "Idempotency-Key" in malformed.text


def test_the_chat_chain_members_share_one_replica_in_the_default_topology(http: httpx.Client) -> None:
    body = http.get("/healthz").json()

    chain = [body[name] for name in ("intent", "graph", "reply")]
    assert {status["deployment"] for status in chain} == {"EnsembleDeployment"}
    assert len({status["pid"] for status in chain}) == 1
    assert len({status["replica"] for status in chain}) == 1


def test_the_ingress_serves_published_edge_bundles_from_the_cluster_state_directory(
    http: httpx.Client, cluster: RunningCluster, registry: Registry, tmp_path: Path
) -> None:
    # Prepare: nothing published yet, then the registry's intent version exported and published to every device
    nothing = http.get("/v1/edge/bundles/latest", params={"device": "kiosk-1"})
    signer = BundleSigner.generate()
    bundle = export_registry_version(registry, tmp_path / "bundle", signer=signer)
    catalog = BundleCatalog(cluster.config.state_path / EDGE_BUNDLES_DIR)
    catalog.publish(bundle.path, TrustStore([signer.trusted_key]), 100)

    # Execute
    offer = http.get("/v1/edge/bundles/latest", params={"device": "kiosk-1"})
    files = offer.json()["bundle"]["files_path"]
    tail = http.get(f"{files}/model.onnx", headers={"Range": "bytes=1000-"})

    # Assert: the ingress replica read the state directory build_app gave it
    assert nothing.status_code == 404 and "no edge bundle is published" in nothing.json()["detail"]
    assert offer.status_code == 200 and offer.json()["bundle"]["version"] == bundle.manifest.version_id
    assert tail.status_code == 206 and tail.content == (bundle.path / "model.onnx").read_bytes()[1000:]


def test_an_experiment_splits_chat_by_customer_or_session_takes_feedback_and_reports(
    http: httpx.Client, registry: Registry, tmp_path: Path
) -> None:
    # Prepare: started the way an operator does, on the state directory the ingress reads
    state = str(default_state_dir(registry.root))
    name = "reply-modes-it"
    command = ["--home", str(tmp_path / "home"), "experiment"]
    assert main([*command, "start", name, "--target", "chat", "--arms", "serial,fusion", "--min-samples", "3",
                 "--state-dir", state]) == 0  # fmt: skip
    units: list[tuple[dict[str, Any], str]] = [
        ({"customer_id": c}, f"customer:{c}") for c in (12001, 12002, 12003, 12004)
    ]
    units += [({"session_id": f"s-{i}"}, f"session:s-{i}") for i in range(1, 5)]
    try:
        # Execute: two chats per unit, then one with its own mode, one with no unit, and a recommendation
        answers = [
            (unit, http.post("/v1/chat", json={"text": "where is my order?", **fields}))
            for fields, unit in units
            for _ in range(2)
        ]
        chosen = http.post("/v1/chat", json={"text": "where is my order?", "customer_id": 12001, "mode": "parallel"})
        anonymous = http.post("/v1/chat", json={"text": "where is my order?"})
        recommended = http.post("/v1/recommend", json={"customer_id": 12001, "k": 2})
        resolved = [(r.json()["request_id"], r.json()["mode"] == "fusion") for _, r in answers]  # fusion resolves
        sent = [http.post("/v1/feedback", json={"request_id": rid, "outcome": ok}) for rid, ok in resolved]
        first_id = answers[0][1].json()["request_id"]
        again = http.post(
            "/v1/feedback", json={"request_id": first_id, "outcome": answers[0][1].json()["mode"] == "fusion"}
        )
        changed = http.post(
            "/v1/feedback", json={"request_id": first_id, "outcome": answers[0][1].json()["mode"] != "fusion"}
        )
        unknown = http.post("/v1/feedback", json={"request_id": anonymous.json()["request_id"], "outcome": True})
        report = http.get(f"/v1/experiments/{name}")
    finally:
        assert main([*command, "stop", name, "--state-dir", state]) == 0
    after_stop = http.post("/v1/chat", json={"text": "where is my order?", "customer_id": 12001})

    # Assert: each unit's arm is the documented hash, the same on both requests, answered in its arm's mode
    for unit, response in answers:
        assert response.status_code == 200, response.text
        body = response.json()
        expected = ("A", "serial") if assign(name, unit, 50) == 0 else ("B", "fusion")
        assert body["experiment"] == {"name": name, "arm": expected[0], "mode": expected[1]}
        assert body["mode"] == expected[1]
    assert {r.json()["experiment"]["arm"] for _, r in answers} == {"A", "B"}
    assert chosen.json()["experiment"] is None and chosen.json()["mode"] == "parallel"
    assert anonymous.json()["experiment"] is None
    assert recommended.json()["experiment"] is None  # nothing runs on recommend
    assert all(r.status_code == 200 and r.json()["replayed"] is False for r in sent)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert changed.status_code == 409
    assert unknown.status_code == 404 and "was not enrolled" in unknown.json()["detail"]
    assert report.status_code == 200, report.text
    body = report.json()
    assert sum(body["exposures"].values()) == 16
    arms = {arm["arm"]: arm for arm in body["analysis"]["arms"]}
    assert arms["A: serial"]["n"] + arms["B: fusion"]["n"] == 16
    assert (arms["A: serial"]["mean"], arms["B: fusion"]["mean"]) == (0.0, 1.0)
    assert after_stop.json()["experiment"] is None
    # a replica restarted on the same state directory sees every exposure and outcome
    restarted = ExperimentStore.in_state_dir(Path(state)).report(name)
    assert restarted.exposures == (body["exposures"]["A: serial"], body["exposures"]["B: fusion"])
    assert [a.n for a in restarted.analysis.arms] == [arms["A: serial"]["n"], arms["B: fusion"]["n"]]
    assert restarted.experiment.status == "stopped"
