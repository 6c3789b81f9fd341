"""Rollouts without Ray: the replica's load-check-swap, the journal, the deployment and keys a rollout changes,
and the co-located topology naming the serving options it cannot apply."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from cluster import ClusterConfig, Topology, build_app
from cluster.app import ignored_serving
from cluster.errors import RolloutError, SmokeCheckError
from cluster.intent_deployment import IntentRunner
from cluster.members import MemberName
from cluster.reloading import PROBE_TEXTS, check_decisions, swap_in
from cluster.rollout import RolloutMember, _Target, _target, _with_user_config
from cluster.rollout_journal import ReplicaReport, RolloutJournal
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from shopmesh.cli import main
from tests.cluster.conftest import LABELS, free_port, publish_tiny_intent


def _publish_nan_intent(registry: Registry) -> str:
    """A well-formed, correctly hashed intent version whose weights are all NaN: it loads, but predicts nothing."""
    model = IntentModel.tiny(list(LABELS), seed=3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("nan"))
    lineage = Lineage(parent=None, data_fingerprint="test-nan", method="central")
    return save_intent(registry, model, metrics={"accuracy": 0.0}, lineage=lineage).id


def test_a_version_that_fails_its_smoke_check_leaves_the_old_one_serving(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    good = publish_tiny_intent(registry, seed=0)
    broken = _publish_nan_intent(registry)
    runner = IntentRunner(registry, good)

    # Execute
    with pytest.raises(SmokeCheckError):
        runner.switch(broken)
    outcome = runner.apply({"version": broken})

    # Assert
    assert runner.current.version_id == good
    assert outcome.serving == good and outcome.wanted == broken
    assert outcome.error is not None and broken in outcome.error and "confidence" in outcome.error
    assert runner.classify(list(PROBE_TEXTS))[0]["version"] == good


def test_a_good_version_is_swapped_in_and_reported(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    first = publish_tiny_intent(registry, seed=0)
    second = publish_tiny_intent(registry, seed=1)
    runner = IntentRunner(registry, first)

    # Execute
    outcome = runner.apply({"version": second})

    # Assert
    assert outcome.error is None and outcome.serving == second
    assert runner.current.version_id == second


def test_swap_in_keeps_the_old_service_when_loading_fails() -> None:
    # Prepare
    swapped: list[str] = []

    def load() -> str:
        raise OSError("weights.safetensors is truncated")

    # Execute
    outcome = swap_in("pricer", "pricer:v0002", "pricer:v0001", load, lambda s: s, swapped.append)

    # Assert
    assert swapped == []
    assert outcome.serving == "pricer:v0001"
    assert outcome.error is not None and "truncated" in outcome.error and "pricer:v0002" in outcome.error


def test_check_decisions_refuses_unknown_intents_and_non_probabilities() -> None:
    # Execute / Assert
    check_decisions([{"intent": "track_order", "confidence": 0.7}], LABELS, 1)
    with pytest.raises(SmokeCheckError):
        check_decisions([{"intent": "dance", "confidence": 0.7}], LABELS, 1)
    with pytest.raises(SmokeCheckError):
        check_decisions([{"intent": "track_order", "confidence": 1.5}], LABELS, 1)
    with pytest.raises(SmokeCheckError):
        check_decisions([], LABELS, 1)


def test_the_journal_keeps_history_and_reports_across_instances(tmp_path: Path) -> None:
    # Prepare
    RolloutJournal.in_state_dir(tmp_path).record_served("intent", "intent:v0001", "intent:v0001", "initial")
    RolloutJournal.in_state_dir(tmp_path).record_served("intent", "intent:v0002", "intent:v0002", "rollout")
    RolloutJournal.in_state_dir(tmp_path).report(ReplicaReport("r1", "abc", "intent", "v2", "intent:v0002", None))

    # Execute
    journal = RolloutJournal.in_state_dir(tmp_path)
    before = [entry.version for entry in journal.history("intent")]
    journal.drop_last("intent")

    # Assert
    assert before == ["intent:v0001", "intent:v0002"]
    assert [entry.version for entry in journal.history("intent")] == ["intent:v0001"]
    assert journal.history("pricer") == []
    assert [r.replica for r in journal.reports("r1")] == ["abc"]
    assert journal.reports("r1", "graph") == []


def _config(tmp_path: Path, topology: Topology, **settings: object) -> ClusterConfig:
    return ClusterConfig(registry_dir=tmp_path / "registry", graph_dir=tmp_path, topology=topology, **settings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topology", "intent_deployment", "reply_deployment", "reply_key"),
    [
        (Topology.COLOCATED, "EnsembleDeployment", "EnsembleDeployment", "reply_version"),
        (Topology.COMPOSED, "IntentDeployment", "ReplyDeployment", "version"),
    ],
)
def test_a_rollout_changes_the_deployment_that_serves_the_member(
    tmp_path: Path, topology: Topology, intent_deployment: str, reply_deployment: str, reply_key: str
) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    publish_tiny_intent(registry, seed=0)
    config = _config(tmp_path, topology)
    with pytest.raises(RolloutError, match="reply"):
        _target(config, RolloutMember.REPLY, None)  # nothing published yet
    lineage = Lineage(parent=None, data_fingerprint="test", method="central")
    registry.publish("reply", tensors={"w": torch.zeros(1)}, config={}, metrics={}, lineage=lineage)

    # Execute
    intent = _target(config, RolloutMember.INTENT, "1")
    reply = _target(config, RolloutMember.REPLY, None)

    # Assert
    assert intent.deployment == intent_deployment
    assert intent.updates == {"version": "intent:v0001"} and intent.removals == ("ensemble_version", "candidate")
    assert reply.deployment == reply_deployment and reply.updates == {reply_key: "reply:v0001"}


def test_a_rollout_sets_the_version_and_keeps_the_deployments_other_settings() -> None:
    # Prepare
    app = {"deployments": [{"name": "EnsembleDeployment", "user_config": {"version": "latest", "max_batch_size": 8}}]}

    target = _Target("EnsembleDeployment", {"reply_version": "reply:v0002"}, (), "reply:v0002")
    added = _Target("PriceDeployment", {"version": "pricer:v0003"}, (), "pricer:v0003")

    # Execute
    changed = _with_user_config(app, target, {"id": "r", "journal": "/j"})
    changed_again = _with_user_config(changed, added, {"id": "s", "journal": "/j"})

    # Assert
    ensemble = changed["deployments"][0]["user_config"]
    assert ensemble == {
        "version": "latest",
        "max_batch_size": 8,
        "reply_version": "reply:v0002",
        "rollout": {"id": "r", "journal": "/j"},
    }
    assert changed_again["deployments"][1] == {
        "name": "PriceDeployment",
        "user_config": {"version": "pricer:v0003", "rollout": {"id": "s", "journal": "/j"}},
    }
    assert app["deployments"][0]["user_config"] == {"version": "latest", "max_batch_size": 8}  # not mutated


def test_an_unknown_member_is_refused_with_the_members_named() -> None:
    with pytest.raises(RolloutError, match="intent-ensemble"):
        RolloutMember.parse("speech")
    assert RolloutMember.parse("recommenders") is RolloutMember.GRAPH
    assert RolloutMember.parse("vision").served_by is MemberName.VISION


def test_colocated_topology_names_graph_and_reply_options_it_ignores(tmp_path: Path) -> None:
    # Prepare
    serving = {"graph": {"replicas": 2}, "reply": {"max_batch_size": 4}, "forecaster": {"replicas": 2}}

    # Execute
    colocated = ignored_serving(_config(tmp_path, Topology.COLOCATED, serving=serving, num_cpus=8))
    composed = ignored_serving(_config(tmp_path, Topology.COMPOSED, serving=serving, num_cpus=8))
    default = ignored_serving(_config(tmp_path, Topology.COLOCATED))

    # Assert
    assert colocated == ["graph", "reply"]
    assert composed == [] and default == []


def test_build_app_warns_about_ignored_serving_options(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    publish_tiny_intent(registry, seed=0)
    (tmp_path / "graph").mkdir()
    config = ClusterConfig(registry_dir=registry.root, graph_dir=tmp_path / "graph", serving={"graph": {"replicas": 2}})

    # Execute
    with caplog.at_level(logging.WARNING, logger="cluster.app"):
        build_app(config)

    # Assert
    assert any("['graph']" in r.getMessage() and "colocated" in r.getMessage() for r in caplog.records)


def test_rollout_against_an_address_with_no_serve_api_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    nowhere = f"http://127.0.0.1:{free_port()}"

    # Execute
    code = main(["--home", str(tmp_path), "rollout", "intent", "v0002", "--address", nowhere, "--timeout", "5"])

    # Assert
    err = capsys.readouterr().err
    assert code == 2
    assert nowhere in err and "did not answer" in err and "Traceback" not in err
