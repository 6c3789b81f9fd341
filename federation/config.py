"""The typed run configuration of a federated fine-tuning run.

Flower hands the ServerApp and the ClientApp a flat mapping of scalars (``[tool.flwr.app.config]`` in
pyproject.toml, merged with ``--run-config`` overrides). :func:`parse_run_config` is the one place that turns
such a mapping into a :class:`FederationConfig`; :meth:`FederationConfig.to_run_config` goes back, so the
server can ship the exact settings (with the resolved base version) to every node in each message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from federation.errors import FederationConfigError

__all__ = ["DPMode", "FederationConfig", "PartitionScheme", "StrategyName", "parse_run_config"]


class StrategyName(StrEnum):
    """The aggregation strategies a run may use; each is Flower's own class in ``flwr.serverapp.strategy``."""

    FEDAVG = "fedavg"
    FEDPROX = "fedprox"
    FEDADAM = "fedadam"
    FEDYOGI = "fedyogi"
    TRIMMED_MEAN = "trimmed-mean"
    KRUM = "krum"
    MULTIKRUM = "multikrum"
    BULYAN = "bulyan"


class DPMode(StrEnum):
    """Differential privacy of the merchants' updates: Flower's central-DP strategy wrappers (and, for the
    client-side modes, Flower's clipping mods on every node); ``none`` trains without noise."""

    NONE = "none"
    SERVER_FIXED = "server-fixed"  # DifferentialPrivacyServerSideFixedClipping
    CLIENT_FIXED = "client-fixed"  # DifferentialPrivacyClientSideFixedClipping + fixedclipping_mod
    SERVER_ADAPTIVE = "server-adaptive"  # DifferentialPrivacyServerSideAdaptiveClipping
    CLIENT_ADAPTIVE = "client-adaptive"  # DifferentialPrivacyClientSideAdaptiveClipping + adaptiveclipping_mod


# Strategies whose aggregate is the plain mean of the (clipped) updates, the only case in which the noise
# Flower's wrappers add (std = noise-multiplier x clipping-norm / sampled nodes) bounds one merchant's influence.
DP_STRATEGIES = frozenset({StrategyName.FEDAVG, StrategyName.FEDPROX})


class PartitionScheme(StrEnum):
    """How the shared training data is split across nodes (a node with its own ``data-path`` is not split)."""

    IID = "iid"  # flwr-datasets IidPartitioner over a seeded shuffle
    DIRICHLET = "dirichlet"  # DirichletPartitioner over the labels with ``dirichlet-alpha``
    NATURAL = "natural"  # NaturalIdPartitioner: one node per value of ``natural-id-column``


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
    lora_targets: str = "query,value"  # comma-separated encoder modules that get adapters (also key, dense)
    registry_dir: str = ".shopmesh/registry"
    base_version: str = ""  # "" = the latest intent version in the registry
    data_path: str = ""  # "" = the bundled Bitext CSV
    max_train_examples: int = 0  # 0 = each node's whole partition
    augment_rate: float = 0.5  # share of a node's messages rewritten in customers' styles per epoch (0 = off)
    seed: int = 0
    summary_path: str = ""  # "" = no JSON summary file
    strategy: StrategyName = StrategyName.FEDAVG
    proximal_mu: float = 0.01  # FedProx: weight of (mu/2)·||w - w_global||² in local training
    server_learning_rate: float = 0.01  # FedAdam / FedYogi: the server optimiser's step size (eta)
    server_beta_1: float = 0.9  # FedAdam / FedYogi: first-moment decay
    server_beta_2: float = 0.99  # FedAdam / FedYogi: second-moment decay
    server_tau: float = 0.001  # FedAdam / FedYogi: adaptivity (epsilon)
    trim_beta: float = 0.2  # trimmed-mean: share of the values cut at each end per coordinate
    num_malicious_nodes: int = 0  # Krum / MultiKrum / Bulyan: the number of faulty nodes to tolerate
    num_nodes_to_select: int = 1  # MultiKrum: how many of the best-scored updates are averaged
    partitioning: PartitionScheme = PartitionScheme.IID
    dirichlet_alpha: float = 0.5  # smaller = more skewed label mix per node
    natural_id_column: str = "category"  # the column whose values name the nodes under natural partitioning
    dp: DPMode = DPMode.NONE
    dp_noise_multiplier: float = 1.0  # sigma: noise std / clipping norm of one merchant's update
    dp_clipping_norm: float = 1.0  # L2 bound of one update (the adaptive modes' initial value)
    dp_delta: float = 1e-5  # the delta at which each merchant's epsilon is reported
    dp_max_epsilon: float = 0.0  # every merchant's default budget (0 = none); a SuperNode's node config overrides it
    dp_target_quantile: float = 0.5  # adaptive modes: the share of updates the clipping norm should clip
    dp_clip_norm_lr: float = 0.2  # adaptive modes: the geometric step of the clipping norm
    dp_clipped_count_stddev: float = 0.0  # adaptive modes: noise of the clipped count (0 = Flower's nodes/20)
    tensorboard_dir: str = ""  # "" = no TensorBoard event files
    # Flower's SecAgg+ (federation.secure_aggregation): the server learns only the weighted sum of the updates.
    secure_aggregation: bool = False
    num_shares: int = 3  # each node's secrets are split into this many shares among its neighbours
    reconstruction_threshold: int = 2  # shares needed to recover a dropped node's mask (< num-shares)
    clipping_range: float = 8.0  # every (num-examples / max-weight) x value is clipped to +-this before quantising
    quantization_range: int = 4_194_304  # integers per clipping interval (2**22, Flower's default)
    max_weight: float = 1000.0  # the largest num-examples a node may weight its update with
    # After the rounds, each node trains its own adapter over the published aggregate for this many epochs and
    # sends it to be published under its merchant (federation.personalise); 0 = no personal adapters.
    personalise_epochs: int = 0

    def __post_init__(self) -> None:
        _check_combination(self)

    def lora_target_modules(self) -> tuple[str, ...]:
        """``lora_targets`` as a tuple of module names."""
        return tuple(name.strip() for name in self.lora_targets.split(",") if name.strip())

    def to_run_config(self) -> dict[str, int | float | str]:
        """The flat kebab-case mapping Flower uses (the inverse of :func:`parse_run_config`)."""
        flat: dict[str, int | float | str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            flat[f.name.replace("_", "-")] = str(value) if isinstance(value, StrEnum) else value
        return flat


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
    "proximal_mu": (0.0, 1e6),
    "server_learning_rate": (1e-8, 10.0),
    "server_beta_1": (0.0, 0.999999),
    "server_beta_2": (0.0, 0.999999),
    "server_tau": (1e-12, 1.0),
    "trim_beta": (0.0, 0.49),
    "num_malicious_nodes": (0, 100_000),
    "num_nodes_to_select": (1, 100_000),
    "dirichlet_alpha": (1e-6, 1e6),
    "dp_noise_multiplier": (0.0, 1e6),
    "dp_clipping_norm": (1e-12, 1e12),
    "dp_delta": (1e-30, 0.1),
    "dp_max_epsilon": (0.0, 1e6),
    "dp_target_quantile": (0.0, 1.0),
    "dp_clip_norm_lr": (1e-6, 10.0),
    "dp_clipped_count_stddev": (0.0, 1e6),
    "num_shares": (3, 100_000),
    "reconstruction_threshold": (2, 100_000),
    "clipping_range": (1e-6, 1e6),
    "quantization_range": (2, 2**31),
    "max_weight": (1.0, 1e12),
    "personalise_epochs": (0, 1_000),
}

# Flower's SecAgg+ sums the masked integers modulo 2**32 (SecAggPlusWorkflow's default modulus_range).
SECAGG_MODULUS = 2**32

# Strategies whose aggregate is the weighted mean of the updates, the one thing SecAgg+ reveals to the server.
SECAGG_STRATEGIES = frozenset({StrategyName.FEDAVG, StrategyName.FEDPROX})

_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")

_CHOICES: dict[str, type[StrEnum]] = {
    "StrategyName": StrategyName,
    "PartitionScheme": PartitionScheme,
    "DPMode": DPMode,
}


def _coerce(name: str, expected: str, value: Any) -> Any:
    key = name.replace("_", "-")
    if expected == "bool":
        if not isinstance(value, bool):
            raise FederationConfigError(f"run config {key!r} must be true or false, got {value!r}; e.g. {key}=true")
        return value
    if expected == "int":
        # bool is an int subclass; a float such as 2.0 from a TOML override is accepted if integral.
        if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
            raise FederationConfigError(f"run config {key!r} must be an integer, got {value!r}; e.g. {key}=2")
        return int(value)
    if expected == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise FederationConfigError(f"run config {key!r} must be a number, got {value!r}; e.g. {key}=0.5")
        return float(value)
    if not isinstance(value, str):
        raise FederationConfigError(f"run config {key!r} must be a string, got {value!r}; quote it in TOML")
    if expected in _CHOICES:
        choices = _CHOICES[expected]
        try:
            return choices(value)
        except ValueError as err:
            accepted = ", ".join(member.value for member in choices)
            raise FederationConfigError(
                f'run config {key!r} = {value!r} is not one of {accepted}; e.g. {key}="{next(iter(choices)).value}"'
            ) from err
    return value


def _check_combination(config: FederationConfig) -> None:
    targets = config.lora_target_modules()
    if not targets or not all(_MODULE_NAME.fullmatch(name) for name in targets):
        raise FederationConfigError(
            f"run config 'lora-targets' = {config.lora_targets!r} must name one or more encoder modules separated "
            'by commas, e.g. lora-targets="query,value" or "query,key,value,dense"'
        )
    if config.fraction_train == 0.0:
        raise FederationConfigError("run config 'fraction-train' = 0.0 would train nothing; use a fraction in (0, 1]")
    f = config.num_malicious_nodes
    if config.strategy == StrategyName.BULYAN and config.min_nodes < 4 * f + 3:
        raise FederationConfigError(
            f"strategy 'bulyan' with num-malicious-nodes={f} needs at least {4 * f + 3} nodes (4f + 3), but "
            f"min-nodes = {config.min_nodes}; add nodes or lower num-malicious-nodes"
        )
    if config.strategy in (StrategyName.KRUM, StrategyName.MULTIKRUM) and config.min_nodes < 2 * f + 3:
        raise FederationConfigError(
            f"strategy {config.strategy.value!r} with num-malicious-nodes={f} needs at least {2 * f + 3} nodes "
            f"(2f + 3), but min-nodes = {config.min_nodes}; add nodes or lower num-malicious-nodes"
        )
    if config.strategy == StrategyName.MULTIKRUM and config.num_nodes_to_select > config.min_nodes:
        raise FederationConfigError(
            f"run config 'num-nodes-to-select' = {config.num_nodes_to_select} exceeds min-nodes = "
            f"{config.min_nodes}; MultiKrum averages at most the nodes that reply"
        )
    _check_privacy(config)
    _check_secure_aggregation(config)
    if config.personalise_epochs and (config.secure_aggregation or config.dp != DPMode.NONE):
        promise = (
            "secure aggregation shows the server only the sum"
            if config.secure_aggregation
            else ("differential privacy bounds what the published model says of one merchant")
        )
        raise FederationConfigError(
            f"personalise-epochs={config.personalise_epochs} sends each merchant's own adapter to the server in the "
            f"clear, and {promise}; run personalisation without them (a plain run from the published version), or "
            "set personalise-epochs=0"
        )
    if config.partitioning == PartitionScheme.NATURAL and not config.natural_id_column:
        raise FederationConfigError(
            "run config 'natural-id-column' is empty under partitioning 'natural'; name the column that holds "
            'each merchant\'s id, e.g. natural-id-column="category"'
        )


def _check_privacy(config: FederationConfig) -> None:
    if config.dp == DPMode.NONE:
        return
    if config.strategy not in DP_STRATEGIES:
        allowed = " or ".join(sorted(name.value for name in DP_STRATEGIES))
        raise FederationConfigError(
            f"dp={config.dp.value!r} cannot be combined with strategy={config.strategy.value!r}: Flower's DP wrappers "
            "calibrate their noise to the mean of the clipped updates, and that strategy "
            + (
                "applies a server optimiser to the mean before the noise is added"
                if config.strategy in (StrategyName.FEDADAM, StrategyName.FEDYOGI)
                else "selects or trims updates, so one merchant can move the aggregate by more than the noise hides"
            )
            + f'; use strategy={allowed} with DP, or dp="none"'
        )
    if config.dp_noise_multiplier <= 0:
        raise FederationConfigError(
            f"run config 'dp-noise-multiplier' = {config.dp_noise_multiplier!r} adds no noise, so no epsilon is finite "
            "under dp=" + repr(config.dp.value) + '; use a positive value such as 1.0, or dp="none"'
        )
    if config.dp in (DPMode.SERVER_ADAPTIVE, DPMode.CLIENT_ADAPTIVE):
        # Flower splits sigma between the update and the clipped count (Andrew et al. 2021); the count's share,
        # 1 / (2 x count stddev)^2, must stay below sigma^-2 or nothing is left for the update.
        stddev = config.dp_clipped_count_stddev or config.min_nodes / 20
        if config.dp_noise_multiplier >= 2 * stddev:
            raise FederationConfigError(
                f"dp={config.dp.value!r} with dp-noise-multiplier={config.dp_noise_multiplier:g} needs "
                f"dp-clipped-count-stddev above {config.dp_noise_multiplier / 2:g} (the noise is split between the "
                f"update and the count of clipped updates), but it is {stddev:g}"
                + (" (Flower's default, min-nodes / 20)" if not config.dp_clipped_count_stddev else "")
                + f"; set e.g. dp-clipped-count-stddev={config.dp_noise_multiplier:g}"
            )


def _check_secure_aggregation(config: FederationConfig) -> None:
    if not config.secure_aggregation:
        return
    if config.strategy not in SECAGG_STRATEGIES:
        allowed = " or ".join(sorted(name.value for name in SECAGG_STRATEGIES))
        reason = (
            "Flower's SecAgg+ runs only on its legacy strategy API, where this project aggregates with FedAvg "
            "(the server optimiser of that strategy is not wired there)"
            if config.strategy in (StrategyName.FEDADAM, StrategyName.FEDYOGI)
            else "that robust aggregator ranks, selects or trims the individual updates, and SecAgg+ shows the "
            "server only their sum"
        )
        raise FederationConfigError(
            f"secure-aggregation=true cannot be combined with strategy={config.strategy.value!r}: {reason}; use "
            f"strategy={allowed} with secure aggregation, or secure-aggregation=false"
        )
    if config.dp != DPMode.NONE:
        raise FederationConfigError(
            f"secure-aggregation=true cannot be combined with dp={config.dp.value!r}: "
            + (
                "server-side clipping needs each merchant's update in the clear"
                if config.dp in (DPMode.SERVER_FIXED, DPMode.SERVER_ADAPTIVE)
                else "the client-side DP wrapper and the epsilon ledger run on the Message-API strategy, and "
                "Flower's SecAgg+ workflow runs only with legacy strategies"
            )
            + '; use dp="none" with secure aggregation, or secure-aggregation=false'
        )
    if config.reconstruction_threshold >= config.num_shares:
        raise FederationConfigError(
            f"run config 'reconstruction-threshold' = {config.reconstruction_threshold} must be below "
            f"'num-shares' = {config.num_shares}; e.g. num-shares=3 with reconstruction-threshold=2"
        )
    if config.min_nodes < 2 or config.reconstruction_threshold > config.min_nodes:
        raise FederationConfigError(
            f"secure aggregation with reconstruction-threshold={config.reconstruction_threshold} needs at least "
            f"max(2, threshold) nodes per round, but min-nodes = {config.min_nodes}; add nodes or lower the threshold"
        )
    if config.min_nodes * config.quantization_range >= SECAGG_MODULUS:
        raise FederationConfigError(
            f"run config 'quantization-range' = {config.quantization_range} x {config.min_nodes} nodes reaches "
            f"SecAgg+'s modulus 2**32, so the sum would wrap; lower quantization-range (e.g. 4194304)"
        )


def parse_run_config(run_config: Mapping[str, Any]) -> FederationConfig:
    """Validate a Flower run config (kebab-case keys) into a :class:`FederationConfig`.

    Missing keys take the defaults; unknown keys are refused so that a typo does not silently fall back to a
    default. Raises :class:`FederationConfigError` naming the key, the value and the accepted form.
    """
    types = {f.name: str(f.type) for f in fields(FederationConfig)}
    known = {name.replace("_", "-"): name for name in types}
    unknown = sorted(set(run_config) - set(known))
    if unknown:
        raise FederationConfigError(f"unknown run config key(s) {unknown}; the federation app accepts {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for key, value in run_config.items():
        name = known[key]
        coerced = _coerce(name, types[name], value)
        if name in _BOUNDS:
            low, high = _BOUNDS[name]
            if not low <= coerced <= high:
                raise FederationConfigError(
                    f"run config {key!r} = {coerced!r} is outside [{low:g}, {high:g}]; choose one in range"
                )
        kwargs[name] = coerced
    return FederationConfig(**kwargs)
