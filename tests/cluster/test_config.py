from __future__ import annotations

import re
from pathlib import Path

import pytest

from cluster.app import build_app, deployment_plan
from cluster.config import (
    MAX_TEXT_LENGTH,
    STATE_DIR_ENV,
    ClusterConfig,
    default_state_dir,
    ray_address_from_env,
    state_dir_from_env,
)
from cluster.errors import ClusterConfigError
from cluster.members import Autoscaling, MemberName, MemberServing
from cluster.serving import connect


def test_args_round_trip_keeps_every_setting() -> None:
    # Prepare
    config = ClusterConfig(
        registry_dir=Path("/r"),
        graph_dir=Path("/g"),
        intent_version="v0002",
        reply_version="reply:v0003",
        reply_model_path=Path("/models/gpt2"),
        reference_data=Path("/data/refs.csv"),
        port=8123,
        ray_temp_dir=Path("/t"),
    )

    # Execute
    parsed = ClusterConfig.from_args(config.to_args())

    # Assert
    assert parsed == config
    assert config.url == "http://127.0.0.1:8123"


def test_from_env_reads_prefixed_variables_and_overrides_win() -> None:
    # Prepare
    environ = {
        "SHOPMESH_CLUSTER_REGISTRY_DIR": "/reg",
        "SHOPMESH_CLUSTER_GRAPH_DIR": "/graph",
        "SHOPMESH_CLUSTER_PORT": "9001",
        "SHOPMESH_CLUSTER_BATCH_WAIT_TIMEOUT_S": "0.02",
        "SHOPMESH_CLUSTER_INTENT_VERSION": "",
    }

    # Execute
    config = ClusterConfig.from_env(environ, overrides={"replicas": 1, "port": 9002})

    # Assert
    assert config.registry_dir == Path("/reg")
    assert config.port == 9002
    assert config.batch_wait_timeout_s == 0.02
    assert config.intent_version is None
    assert config.reply_version is None
    assert config.reply_model_path is None


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"port": 0}, "port must be in 1..65535, got 0"),
        ({"max_text_length": MAX_TEXT_LENGTH + 1}, "max_text_length must be in 1..2000, got 2001"),
        ({"serving": {"intnet": {"replicas": 2}}}, "serving options for unknown deployments ['intnet']"),
        ({"serving": {"intent": {"replica": 2}}}, "unknown serving options ['replica'] for serving.intent"),
        ({"serving": {"intent": {"num_cpus": "lots"}}}, "serving.intent.num_cpus must be a number, got 'lots'"),
        ({"serving": {"reply": {"num_cpus": 0}}}, "not both 0; got num_cpus=0.0, num_gpus=0.0"),
        ({"serving": {"intent": {"autoscaling": {"min_replicas": 3, "max_replicas": 2}}}}, "min_replicas=3"),
        ({"serving": {"intent": {"autoscaling": {"target": 2}}}}, "unknown settings ['target'] in serving.intent"),
        ({"serving": "intent=2"}, "'serving' must be a mapping, got 'intent=2'"),
        ({"batch_wait_timeout_s": -1.0}, "batch_wait_timeout_s must be >= 0, got -1.0"),
    ],
)
def test_invalid_settings_name_the_setting_and_value(change: dict[str, object], needle: str) -> None:
    # Prepare
    args: dict[str, object] = {"registry_dir": "/r", "graph_dir": "/g", **change}

    # Execute / Assert
    with pytest.raises(ClusterConfigError, match=re.escape(needle)):
        ClusterConfig.from_args(args)


def test_unknown_and_unparsable_args_are_rejected() -> None:
    with pytest.raises(ClusterConfigError, match=r"unknown cluster settings \['prot'\]"):
        ClusterConfig.from_args({"registry_dir": "/r", "graph_dir": "/g", "prot": 1})
    with pytest.raises(ClusterConfigError, match="'port' must be int, got 'eighty'"):
        ClusterConfig.from_args({"registry_dir": "/r", "graph_dir": "/g", "port": "eighty"})
    with pytest.raises(ClusterConfigError, match=r"\['graph_dir'\] are required"):
        ClusterConfig.from_args({"registry_dir": "/r"})


def test_a_missing_reply_model_directory_is_refused_before_deploying(tmp_path: Path) -> None:
    config = ClusterConfig(registry_dir=tmp_path, graph_dir=tmp_path, reply_model_path=tmp_path / "nope")

    with pytest.raises(ClusterConfigError, match=r"reply model directory .*nope does not exist"):
        build_app(config)


def test_serving_options_default_to_the_global_settings_and_override_per_member() -> None:
    # Prepare
    args = {
        "registry_dir": "/r",
        "graph_dir": "/g",
        "num_cpus": 4,
        "replicas": 1,
        "replica_cpus": 0.25,
        "serving": {
            "intent": {"replicas": 2, "num_cpus": 0.5, "max_batch_size": 16},
            "reply": {"autoscaling": {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 2}},
        },
    }

    # Execute
    config = ClusterConfig.from_args(args)

    # Assert
    intent, reply, graph = (config.member(name) for name in (MemberName.INTENT, MemberName.REPLY, "graph"))
    assert (intent.replicas, intent.num_cpus, intent.max_batch_size) == (2, 0.5, 16)
    assert intent.deployment_options(32) == {
        "ray_actor_options": {"num_cpus": 0.5, "num_gpus": 0.0},
        "max_ongoing_requests": 32,
        "num_replicas": 2,
    }
    assert reply.autoscaling == Autoscaling(min_replicas=1, max_replicas=3, target_ongoing_requests=2.0)
    assert "num_replicas" not in reply.deployment_options()
    assert reply.deployment_options()["autoscaling_config"]["max_replicas"] == 3
    assert graph == MemberServing(replicas=1, num_cpus=0.25)
    # 2 x 0.5 (intent) + 3 x 0.25 (reply at most) + 5 more deployments x 0.25
    assert config.requested_cpus == 2 * 0.5 + 3 * 0.25 + 5 * 0.25
    assert ClusterConfig.from_args(config.to_args()) == config


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (
            {"replicas": 2, "replica_cpus": 1.0, "topology": "composed"},
            "need 14 CPUs at most (intent 2x1.0, graph 2x1.0",
        ),
        (
            {"replicas": 2, "replica_cpus": 1.0, "topology": "colocated"},
            "need 10 CPUs at most (ensemble 2x1.0, forecaster 2x1.0, pricer 2x1.0, vision 2x1.0, ingress 2x1.0)",
        ),
        (
            {"serving": {"intent": {"autoscaling": {"max_replicas": 9}}}, "topology": "composed"},
            "need 3.75 CPUs at most (intent 9x0.25",
        ),
        ({"serving": {"intent": {"autoscaling": {"max_replicas": 9}}}}, "need 3.25 CPUs at most (ensemble 9x0.25"),
    ],
)
def test_a_local_ray_refuses_a_plan_larger_than_its_cpus(change: dict[str, object], needle: str) -> None:
    config = ClusterConfig.from_args({"registry_dir": "/r", "graph_dir": "/g", **change})

    with pytest.raises(ClusterConfigError, match=re.escape(needle)):
        config.check_local_budget(deployment_plan(config))
    with pytest.raises(ClusterConfigError, match=re.escape(needle)):
        connect(config)  # refused before any Ray is started


def test_a_joined_cluster_brings_its_own_capacity() -> None:
    config = ClusterConfig.from_args(
        {"registry_dir": "/r", "graph_dir": "/g", "address": "127.0.0.1:6379", "replicas": 4, "replica_cpus": 1}
    )

    assert config.address == "127.0.0.1:6379"
    assert config.requested_cpus == 28  # 7 serving keys (6 members and the ingress) x 4 replicas x 1 CPU


def test_ray_address_comes_from_the_environment_when_not_given() -> None:
    env = {"SHOPMESH_CLUSTER_REGISTRY_DIR": "/r", "SHOPMESH_CLUSTER_GRAPH_DIR": "/g", "RAY_ADDRESS": "10.0.0.5:6379"}

    assert ClusterConfig.from_env(env).address == "10.0.0.5:6379"
    assert ClusterConfig.from_env(env, overrides={"address": "auto"}).address == "auto"
    assert ray_address_from_env({}) is None
    with pytest.raises(ClusterConfigError, match="SERVING must be a JSON object"):
        ClusterConfig.from_env({**env, "SHOPMESH_CLUSTER_SERVING": "{intent"})
    parsed = ClusterConfig.from_env({**env, "SHOPMESH_CLUSTER_SERVING": '{"intent": {"replicas": 2}}'})
    assert parsed.member("intent").replicas == 2


def test_the_topology_is_colocated_by_default_and_an_unknown_one_is_refused_with_the_choices() -> None:
    default = ClusterConfig.from_args({"registry_dir": "/r", "graph_dir": "/g"})
    composed = ClusterConfig.from_args({"registry_dir": "/r", "graph_dir": "/g", "topology": "composed"})

    assert default.topology == "colocated"
    assert list(deployment_plan(default)) == ["ensemble", "forecaster", "pricer", "vision", "ingress"]
    assert list(deployment_plan(composed)) == [*(m.value for m in MemberName), "ingress"]
    assert ClusterConfig.from_args(composed.to_args()) == composed
    with pytest.raises(ClusterConfigError, match=re.escape("unknown topology 'mesh'; choose one of ['colocated'")):
        ClusterConfig.from_args({"registry_dir": "/r", "graph_dir": "/g", "topology": "mesh"})


def test_the_state_directory_reaches_the_edge_bundle_routes_through_one_variable(tmp_path: Path) -> None:
    # Prepare
    config = ClusterConfig(registry_dir=tmp_path / "ws" / "registry", graph_dir=tmp_path / "graph")

    # Execute / Assert: the default is beside the registry, and an unset variable is an error that says what to do
    assert config.state_path == default_state_dir(config.registry_dir) == tmp_path / "ws" / "cluster-state"
    assert state_dir_from_env({STATE_DIR_ENV: str(config.state_path)}) == config.state_path
    with pytest.raises(ClusterConfigError, match=f"{STATE_DIR_ENV} is not set"):
        state_dir_from_env({})
