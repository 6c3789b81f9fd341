"""The typed run configuration of a federated fine-tuning run.

Flower hands the ServerApp and the ClientApp a flat mapping of scalars (``[tool.flwr.app.config]`` in
pyproject.toml, merged with ``--run-config`` overrides). :func:`parse_run_config` is the one place that turns
such a mapping into a :class:`FederationConfig`; :meth:`FederationConfig.to_run_config` goes back, so the
server can ship the exact settings (with the resolved base version) to every node in each message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from federation.errors import FederationConfigError

__all__ = ["FederationConfig", "parse_run_config"]


@dataclass(frozen=True)
class FederationConfig:
    """Settings of one federated run; the defaults equal ``[tool.flwr.app.config]`` in pyproject.toml."""

    num_server_rounds: int = 2
    fraction_train: float = 1.0
    fraction_evaluate: float = 1.0
    min_nodes: int = 2  # rounds wait until this many nodes are connected
    local_epochs: int = 1
    learning_rate: float = 5e-4
    batch_size: int = 32
    lora_r: int = 8
    lora_alpha: int = 16
    registry_dir: str = ".shopmesh/registry"
    base_version: str = ""  # "" = the latest intent version in the registry
    data_path: str = ""  # "" = the bundled Bitext CSV
    max_train_examples: int = 0  # 0 = each node's whole partition
    augment_rate: float = 0.5  # share of a node's messages rewritten in customers' styles per epoch (0 = off)
    seed: int = 0
    summary_path: str = ""  # "" = no JSON summary file

    def to_run_config(self) -> dict[str, int | float | str]:
        """The flat kebab-case mapping Flower uses (the inverse of :func:`parse_run_config`)."""
        return {f.name.replace("_", "-"): getattr(self, f.name) for f in fields(self)}


_BOUNDS: dict[str, tuple[float, float]] = {
    "num_server_rounds": (1, 10_000),
    "fraction_train": (0.0, 1.0),
    "fraction_evaluate": (0.0, 1.0),
    "min_nodes": (1, 100_000),
    "local_epochs": (1, 1_000),
    "learning_rate": (1e-8, 1.0),
    "batch_size": (1, 65_536),
    "lora_r": (1, 1_024),
    "lora_alpha": (1, 65_536),
    "max_train_examples": (0, 10**9),
    "augment_rate": (0.0, 1.0),
    "seed": (0, 2**31 - 1),
}


def _coerce(name: str, expected: type, value: Any) -> Any:
    key = name.replace("_", "-")
    if expected is int:
        # bool is an int subclass; a float such as 2.0 from a TOML override is accepted if integral.
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise FederationConfigError(f"run config {key!r} must be an integer, got {value!r}; e.g. {key}=2")
        return int(value)
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FederationConfigError(f"run config {key!r} must be a number, got {value!r}; e.g. {key}=0.5")
        return float(value)
    if not isinstance(value, str):
        raise FederationConfigError(f"run config {key!r} must be a string, got {value!r}; quote it in TOML")
    return value


def parse_run_config(run_config: Mapping[str, Any]) -> FederationConfig:
    """Validate a Flower run config (kebab-case keys) into a :class:`FederationConfig`.

    Missing keys take the defaults; unknown keys are refused so that a typo does not silently fall back to a
    default. Raises :class:`FederationConfigError` naming the key, the value and the accepted form.
    """
    types = {f.name: f.type for f in fields(FederationConfig)}
    known = {name.replace("_", "-"): name for name in types}
    unknown = sorted(set(run_config) - set(known))
    if unknown:
        raise FederationConfigError(f"unknown run config key(s) {unknown}; the federation app accepts {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for key, value in run_config.items():
        name = known[key]
        expected = {"int": int, "float": float, "str": str}[str(types[name])]
        coerced = _coerce(name, expected, value)
        if name in _BOUNDS:
            low, high = _BOUNDS[name]
            if not low <= coerced <= high:
                raise FederationConfigError(
                    f"run config {key!r} = {coerced!r} is outside [{low:g}, {high:g}]; choose one in range"
                )
        kwargs[name] = coerced
    config = FederationConfig(**kwargs)
    if config.fraction_train == 0.0:
        raise FederationConfigError("run config 'fraction-train' = 0.0 would train nothing; use a fraction in (0, 1]")
    return config
