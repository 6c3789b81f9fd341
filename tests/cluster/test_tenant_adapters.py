"""Merchants answered by their own intent adapters on a real local Ray + Serve cluster: the caller's key picks the
adapter (Serve's multiplexed model id, set by the ingress), a request cannot name another merchant's adapter,
a replica that keeps one adapter at a time evicts and reloads them as merchants alternate, and an assignment
made or cleared while the cluster runs takes effect within seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster import Topology
from cluster.adapters import AdapterAssignments
from cluster.tenants import TenantStore
from ensemble.members.intent import predict
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry
from tests.cluster.conftest import running_cluster
from tests.merchant_adapters import publish_adapter

pytestmark = pytest.mark.integration

TEXT = "where is my parcel"


@pytest.fixture(scope="module")
def adapters(registry: Registry) -> dict[str, str]:
    return {
        "alpha": publish_adapter(registry, "alpha", "get_refund"),
        "beta": publish_adapter(registry, "beta", "cancel_order"),
    }


# Both topologies: the ensemble deployment's chat call and the intent deployment's decide call are multiplexed.
@pytest.fixture(scope="module", params=[Topology.COLOCATED, Topology.COMPOSED])
def setup(
    request: pytest.FixtureRequest,
    registry: Registry,
    graph_dir: Path,
    adapters: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    state_dir = tmp_path_factory.mktemp("tenant-adapters-state")
    tenants = TenantStore.in_state_dir(state_dir)
    keys = {merchant: tenants.add(merchant).key for merchant in ("alpha", "beta", "carol")}
    assignments = AdapterAssignments.in_state_dir(state_dir)
    for merchant, adapter in adapters.items():
        assignments.assign(merchant, adapter)
    with (
        running_cluster(
            registry.root, graph_dir, state_dir=state_dir, max_adapters_per_replica=1, topology=request.param
        ) as running,
        httpx.Client(base_url=running.url, timeout=60.0) as client,
    ):
        yield {"http": client, "keys": keys, "adapters": adapters, "assignments": assignments}


def _chat(setup: dict[str, Any], merchant: str, **headers: str) -> dict[str, Any]:
    response = setup["http"].post(
        "/v1/chat", json={"text": TEXT}, headers={"Authorization": f"Bearer {setup['keys'][merchant]}", **headers}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_each_merchant_is_answered_by_its_own_adapter_and_the_rest_by_the_global_version(
    setup: dict[str, Any], registry: Registry
) -> None:
    adapters = setup["adapters"]
    expected_global = predict(load_intent(registry, "v0001")[0], [TEXT])[0].intent

    alpha, beta, carol = (_chat(setup, merchant) for merchant in ("alpha", "beta", "carol"))

    assert (alpha["adapter"], alpha["intent"], alpha["version"]) == (adapters["alpha"], "get_refund", "intent:v0001")
    assert (beta["adapter"], beta["intent"]) == (adapters["beta"], "cancel_order")
    assert (carol["adapter"], carol["intent"], carol["degraded"]) == (None, expected_global, [])


def test_a_request_cannot_name_another_merchants_adapter(setup: dict[str, Any], registry: Registry) -> None:
    adapters = setup["adapters"]
    expected_global = predict(load_intent(registry, "v0001")[0], [TEXT])[0].intent

    # Serve's proxy reads this header as the multiplexed model id; the ingress sets its own from the key.
    answer = _chat(setup, "alpha", serve_multiplexed_model_id=adapters["beta"])
    carol = _chat(setup, "carol", serve_multiplexed_model_id=adapters["beta"])

    assert (answer["adapter"], answer["intent"]) == (adapters["alpha"], "get_refund")
    assert (carol["adapter"], carol["intent"]) == (None, expected_global)


def test_alternating_merchants_on_a_one_adapter_replica_evict_and_reload_each_time(setup: dict[str, Any]) -> None:
    adapters = setup["adapters"]
    order = ["alpha", "beta"] * 4

    answers = [_chat(setup, merchant) for merchant in order]

    assert [a["adapter"] for a in answers] == [adapters[m] for m in order]
    assert [a["intent"] for a in answers] == [{"alpha": "get_refund", "beta": "cancel_order"}[m] for m in order]
    loaded = setup["http"].get("/healthz").json()["intent"]["adapters"]
    assert sum(len(names) for names in loaded.values()) <= 1


def _until(check: Any, timeout_s: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_assignments_made_while_serving_take_effect_and_a_missing_adapter_degrades_to_global(
    setup: dict[str, Any],
) -> None:
    assignments: AdapterAssignments = setup["assignments"]
    adapters = setup["adapters"]

    assignments.clear("alpha")
    cleared = _until(lambda: _chat(setup, "alpha")["adapter"] is None)
    assignments.assign("alpha", "intent-adapter:v0099")  # not in the registry
    missing = _until(lambda: _chat(setup, "alpha")["degraded"])
    assignments.assign("alpha", adapters["alpha"])
    back = _until(lambda: _chat(setup, "alpha")["adapter"] == adapters["alpha"])

    assert cleared and back
    assert any(
        "merchant adapter not used: adapter intent-adapter:v0099 could not be loaded" in line for line in missing
    )
