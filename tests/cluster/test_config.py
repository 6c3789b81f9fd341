from __future__ import annotations

from pathlib import Path

import pytest

from cluster.app import build_app
from cluster.config import MAX_TEXT_LENGTH, ClusterConfig
from cluster.errors import ClusterConfigError


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
        ({"replicas": 2, "replica_cpus": 1.0}, "need 12.0 CPUs but num_cpus is 2"),
        ({"batch_wait_timeout_s": -1.0}, "batch_wait_timeout_s must be >= 0, got -1.0"),
    ],
)
def test_invalid_settings_name_the_setting_and_value(change: dict[str, object], needle: str) -> None:
    # Prepare
    args: dict[str, object] = {"registry_dir": "/r", "graph_dir": "/g", **change}

    # Execute / Assert
    with pytest.raises(ClusterConfigError, match=needle.replace(".", r"\.")):
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
