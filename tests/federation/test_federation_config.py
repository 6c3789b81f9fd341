from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from federation import FederationConfig, FederationConfigError, parse_run_config
from federation.config import PartitionScheme, StrategyName
from federation.flower_cli import toml_value

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_pyproject_app_config_parses_to_the_dataclass_defaults() -> None:
    # Prepare
    run_config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["flwr"]["app"]["config"]

    # Execute
    parsed = parse_run_config(run_config)

    # Assert: every field is in pyproject and the values agree, so the two cannot drift apart
    assert sorted(run_config) == sorted(f.name.replace("_", "-") for f in fields(FederationConfig))
    assert parsed == FederationConfig()


def test_values_are_typed_and_round_trip() -> None:
    # Prepare
    run_config = {
        "num-server-rounds": 3,
        "learning-rate": 1,
        "registry-dir": "/tmp/r",
        "lora-r": 4.0,
        "strategy": "trimmed-mean",
        "partitioning": "dirichlet",
        "dirichlet-alpha": 0.1,
    }

    # Execute
    parsed = parse_run_config(run_config)

    # Assert
    assert parsed.num_server_rounds == 3
    assert parsed.learning_rate == 1.0 and isinstance(parsed.learning_rate, float)
    assert parsed.lora_r == 4 and isinstance(parsed.lora_r, int)
    assert parsed.strategy is StrategyName.TRIMMED_MEAN and parsed.partitioning is PartitionScheme.DIRICHLET
    assert parsed.to_run_config()["strategy"] == "trimmed-mean"
    assert parse_run_config(parsed.to_run_config()) == parsed


@pytest.mark.parametrize(
    ("run_config", "message"),
    [
        ({"num-server-round": 2}, "unknown run config key"),
        ({"num-server-rounds": 0}, "'num-server-rounds' = 0 is outside"),
        ({"batch-size": 2.5}, "'batch-size' must be an integer, got 2.5"),
        ({"local-epochs": True}, "'local-epochs' must be an integer"),
        ({"learning-rate": "fast"}, "'learning-rate' must be a number, got 'fast'"),
        ({"registry-dir": 3}, "'registry-dir' must be a string"),
        ({"fraction-train": 0.0}, "would train nothing"),
        ({"strategy": "fedsgd"}, "'strategy' = 'fedsgd' is not one of fedavg, fedprox, fedadam, fedyogi, trimmed-mean"),
        ({"partitioning": "random"}, "'partitioning' = 'random' is not one of iid, dirichlet, natural"),
        ({"dirichlet-alpha": 0.0}, "'dirichlet-alpha' = 0.0 is outside"),
        ({"trim-beta": 0.5}, "'trim-beta' = 0.5 is outside"),
        ({"strategy": "bulyan", "min-nodes": 6, "num-malicious-nodes": 1}, "needs at least 7 nodes"),
        ({"strategy": "krum", "min-nodes": 2}, "needs at least 3 nodes"),
        ({"strategy": "multikrum", "min-nodes": 3, "num-nodes-to-select": 4}, "'num-nodes-to-select' = 4 exceeds"),
        ({"partitioning": "natural", "natural-id-column": ""}, "'natural-id-column' is empty"),
        ({"lora-targets": ""}, "'lora-targets' = '' must name one or more encoder modules"),
        ({"lora-targets": "query value"}, "'lora-targets' = 'query value' must name one or more"),
    ],
)
def test_invalid_values_are_refused_with_the_key_and_value(run_config: dict[str, object], message: str) -> None:
    # Execute / Assert
    with pytest.raises(FederationConfigError, match=message.replace("[", r"\[")):
        parse_run_config(run_config)


def test_secure_aggregation_is_a_boolean_and_refuses_what_needs_individual_updates() -> None:
    # Execute / Assert: the flag is typed, its parameters round-trip
    parsed = parse_run_config(
        {"secure-aggregation": True, "num-shares": 5, "reconstruction-threshold": 3, "min-nodes": 5}
    )
    assert parsed.secure_aggregation is True and parse_run_config(parsed.to_run_config()) == parsed
    with pytest.raises(FederationConfigError, match="'secure-aggregation' must be true or false, got 1"):
        parse_run_config({"secure-aggregation": 1})
    with pytest.raises(FederationConfigError, match=r"strategy='multikrum'.*use strategy=fedavg or fedprox"):
        parse_run_config({"secure-aggregation": True, "strategy": "multikrum", "min-nodes": 5})
    with pytest.raises(FederationConfigError, match=r"dp='client-fixed'.*secure-aggregation=false"):
        parse_run_config({"secure-aggregation": True, "dp": "client-fixed"})
    with pytest.raises(FederationConfigError, match="reaches SecAgg\\+'s modulus"):
        parse_run_config({"secure-aggregation": True, "min-nodes": 3, "quantization-range": 2**31})
    # Without the flag, its parameters constrain nothing
    assert parse_run_config({"strategy": "krum", "min-nodes": 5, "num-shares": 3}).strategy == StrategyName.KRUM


@pytest.mark.parametrize("secure_aggregation", [False, True])
def test_the_run_config_written_for_flwr_run_is_toml_that_reads_back_as_the_same_values(
    secure_aggregation: bool,
) -> None:
    # Prepare: every setting, booleans included, as the deployment engine writes them for `flwr run`
    flat = {**FederationConfig().to_run_config(), "secure-aggregation": secure_aggregation}

    # Execute
    text = "".join(f"{key} = {toml_value(value)}\n" for key, value in flat.items())

    # Assert
    assert tomllib.loads(text) == flat
