"""Merchants' intent adapters on the cluster side, without Ray: the assignment store and the ingress's view of it,
the runner deciding a batch of several merchants' requests, and ``shopmesh train intent --merchant`` /
``shopmesh tenants adapter``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.adapters import ADAPTERS_NAME, AdapterAssignments, AdapterRoutes
from cluster.colocated import ColocatedChain
from cluster.config import default_state_dir
from cluster.errors import TenantError
from cluster.graph_deployment import GraphService
from cluster.intent_deployment import IntentRunner
from ensemble.chat import ChatMode, ChatRequest, ReferenceIndex, ReplyService
from ensemble.members.intent_adapter import ADAPTER_MEMBER
from ensemble.registry import Registry
from shopmesh.cli import main
from tests.cluster.conftest import publish_tiny_intent
from tests.cluster.test_colocated import REFERENCES
from tests.merchant_adapters import publish_adapter, write_merchant_csv


@pytest.fixture(scope="module")
def adapters(registry: Registry) -> dict[str, str]:
    return {
        "alpha": publish_adapter(registry, "alpha", "get_refund"),
        "beta": publish_adapter(registry, "beta", "cancel_order"),
    }


def test_assignments_persist_and_say_what_they_replace(tmp_path: Path) -> None:
    store = AdapterAssignments(tmp_path / ADAPTERS_NAME)
    before = store.generation()
    assert store.assign("alpha", "intent-adapter:v0001") is None
    assert store.assign("alpha", "intent-adapter:v0002") == "intent-adapter:v0001"
    assert store.assign("beta", "intent-adapter:v0003") is None
    assert store.generation() == before + 3
    again = AdapterAssignments(tmp_path / ADAPTERS_NAME)  # another process's view of the same file
    assert [(a.merchant, a.adapter) for a in again.all()] == [
        ("alpha", "intent-adapter:v0002"),
        ("beta", "intent-adapter:v0003"),
    ]
    assert again.clear("alpha") == "intent-adapter:v0002"
    assert again.clear("alpha") is None
    assert [a.merchant for a in store.all()] == ["beta"]


@pytest.mark.parametrize(
    ("merchant", "adapter", "message"),
    [
        ("bad merchant!", "intent-adapter:v0001", "merchant name"),
        ("alpha", "intent:v0001", "not an adapter version id"),
        ("alpha", "intent-adapter:v1", "not an adapter version id"),
    ],
)
def test_bad_names_are_refused_and_nothing_changes(tmp_path: Path, merchant: str, adapter: str, message: str) -> None:
    store = AdapterAssignments(tmp_path / ADAPTERS_NAME)
    store.assign("alpha", "intent-adapter:v0001")
    with pytest.raises(TenantError, match=message):
        store.assign(merchant, adapter)
    assert [(a.merchant, a.adapter) for a in store.all()] == [("alpha", "intent-adapter:v0001")]


def test_the_ingress_view_sees_a_change_at_its_next_refresh(tmp_path: Path) -> None:
    store = AdapterAssignments(tmp_path / ADAPTERS_NAME)
    now = [0.0]
    routes = AdapterRoutes(store, refresh_s=2.0, clock=lambda: now[0])
    assert routes.adapter_for("alpha") is None
    store.assign("alpha", "intent-adapter:v0001")
    now[0] = 1.0
    assert routes.adapter_for("alpha") is None  # not due yet
    now[0] = 2.5
    assert routes.adapter_for("alpha") == "intent-adapter:v0001"
    assert routes.adapter_for(None) is None
    store.clear("alpha")
    now[0] = 5.0
    assert routes.adapter_for("alpha") is None


def test_a_batch_of_several_merchants_is_answered_each_by_its_own_model(
    registry: Registry, adapters: dict[str, str]
) -> None:
    runner = IntentRunner(registry)
    alpha = runner.adapters.load(adapters["alpha"])
    requests = [("where is my parcel", "serial")] * 3 + [("cancel my order", "fusion")]
    merchants = ["alpha", "beta", None, "alpha"]

    decisions = runner.decide(requests, None, ["r1", "r2", "r3", "r4"], alpha, merchants)

    global_decisions = runner.decide(requests)
    assert [d.get("adapter") for d in decisions] == [adapters["alpha"], None, None, adapters["alpha"]]
    assert [decisions[i]["intent"] for i in (0, 3)] == ["get_refund", "get_refund"]
    assert decisions[1]["intent"] == global_decisions[1]["intent"]
    assert "not this merchant's adapter" in decisions[1]["adapter_error"]
    assert "adapter" not in global_decisions[0]
    assert runner.status()["adapters"] == {"intent:v0001": [adapters["alpha"]]}
    alpha.release()


def test_an_adapter_that_failed_to_load_leaves_the_global_answer_marked_degraded(
    registry: Registry, adapters: dict[str, str], graph_dir: Path
) -> None:
    chain = ColocatedChain(
        IntentRunner(registry), GraphService.load(graph_dir), ReplyService(None, ReferenceIndex.from_frame(REFERENCES))
    )
    requests = [ChatRequest(text="where is my parcel", mode=ChatMode.SERIAL)]
    error = "adapter intent-adapter:v0042 could not be loaded (VersionNotFoundError: ...); the global version answered"

    answer = chain.answer_batch(requests, None, ["r1"], None, ["alpha"], error)[0]

    assert answer["adapter"] is None
    assert any(
        line.startswith("merchant adapter not used: adapter intent-adapter:v0042") for line in answer["degraded"]
    )
    own = chain.answer_batch(requests, None, ["r2"], chain.intent.adapters.load(adapters["beta"]), ["beta"])[0]
    assert (own["adapter"], own["intent"], own["degraded"]) == (adapters["beta"], "cancel_order", [])


def _run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_then_assign_a_merchant_adapter_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    registry = Registry(home / "registry")
    publish_tiny_intent(registry, seed=0)
    data = write_merchant_csv(tmp_path / "alpha.csv", "get_refund")

    code, out, _ = _run(capsys, home, "train", "intent", "--merchant", "alpha", "--data", str(data), "--epochs", "1")
    assert code == 0, out
    trained = json.loads(out[: out.rindex("}") + 1])
    assert (trained["version"], trained["merchant"]) == ("intent-adapter:v0001", "alpha")
    assert registry.load(ADAPTER_MEMBER, "v0001").lineage.parent == "intent:v0001"
    beta = publish_adapter(registry, "beta", "cancel_order")

    code, out, _ = _run(capsys, home, "tenants", "adapter", "alpha")
    assert code == 0
    assert json.loads(out) == {
        "merchant": "alpha",
        "adapter": "intent-adapter:v0001",
        "base": "intent:v0001",
        "previous": None,
    }

    code, _, err = _run(capsys, home, "tenants", "adapter", "alpha", beta)
    assert code == 2
    assert "trained for merchant 'beta', not 'alpha'" in err
    code, _, err = _run(capsys, home, "tenants", "adapter", "gamma")
    assert code == 2
    assert "no intent adapter of merchant 'gamma'" in err
    code, _, err = _run(capsys, home, "tenants", "adapter", "alpha", "v0099")
    assert code == 2
    assert "intent-adapter:v0099 is not in the registry" in err
    code, _, err = _run(capsys, home, "train", "intent", "--merchant", "alpha")
    assert code == 2
    assert "--data" in err

    code, out, _ = _run(capsys, home, "tenants", "list")
    assert json.loads(out)["adapters"] == {"alpha": "intent-adapter:v0001"}
    code, out, _ = _run(capsys, home, "tenants", "adapter", "alpha", "--clear")
    assert json.loads(out)["previous"] == "intent-adapter:v0001"
    assert AdapterAssignments.in_state_dir(default_state_dir(home / "registry")).all() == []
