"""The aggregation strategy of a run, built from its config: always one of Flower's own strategy classes.

Every strategy named in :class:`federation.config.StrategyName` exists in Flower 1.42's Message API
(``flwr/serverapp/strategy/``: ``fedavg.py``, ``fedprox.py``, ``fedadam.py``, ``fedyogi.py``,
``fedtrimmedavg.py``, ``krum.py``, ``multikrum.py``, ``bulyan.py``). :func:`build_strategy` returns it wrapped
in :class:`federation.rounds.TrackedStrategy`, with the parameters that shaped it for the published lineage;
with ``dp`` set, Flower's DP wrapper sits between the two (:mod:`federation.dp`).
"""

from __future__ import annotations

from typing import Any

from flwr.serverapp.strategy import (
    Bulyan,
    FedAdam,
    FedAvg,
    FedProx,
    FedTrimmedAvg,
    FedYogi,
    Krum,
    MultiKrum,
    Strategy,
)

from federation.config import DPMode, FederationConfig, StrategyName
from federation.dp import PrivacyGuard, dp_wrapper
from federation.rounds import TrackedStrategy

__all__ = ["UNIT_WEIGHT", "WEIGHTED_BY", "build_strategy", "strategy_parameters", "weighted_by"]

WEIGHTED_BY = "num-examples"
# Every node reports a weight of 1 under this key: DP runs average the clipped updates with equal weights, the
# case for which Flower's noise (std = sigma x C / sampled nodes) is calibrated.
UNIT_WEIGHT = "unit-weight"


def weighted_by(config: FederationConfig) -> str:
    """The metric the aggregate is weighted by: examples per node, or equal weights under DP."""
    return WEIGHTED_BY if config.dp == DPMode.NONE else UNIT_WEIGHT


def strategy_parameters(config: FederationConfig) -> dict[str, Any]:
    """The settings specific to ``config.strategy`` (what the lineage records beside the strategy's name)."""
    name = config.strategy
    if name == StrategyName.FEDPROX:
        return {"proximal_mu": config.proximal_mu}
    if name in (StrategyName.FEDADAM, StrategyName.FEDYOGI):
        return {
            "eta": config.server_learning_rate,
            "eta_l": config.learning_rate,
            "beta_1": config.server_beta_1,
            "beta_2": config.server_beta_2,
            "tau": config.server_tau,
        }
    if name == StrategyName.TRIMMED_MEAN:
        return {"beta": config.trim_beta}
    if name in (StrategyName.KRUM, StrategyName.BULYAN):
        return {"num_malicious_nodes": config.num_malicious_nodes}
    if name == StrategyName.MULTIKRUM:
        return {"num_malicious_nodes": config.num_malicious_nodes, "num_nodes_to_select": config.num_nodes_to_select}
    return {}


def _flower_strategy(config: FederationConfig) -> Strategy:
    common: dict[str, Any] = {
        "fraction_train": config.fraction_train,
        "fraction_evaluate": config.fraction_evaluate,
        "min_train_nodes": config.min_nodes,
        "min_evaluate_nodes": config.min_nodes if config.fraction_evaluate > 0 else 0,
        "min_available_nodes": config.min_nodes,
        "weighted_by_key": weighted_by(config),
    }
    params = strategy_parameters(config)
    classes: dict[StrategyName, type[Strategy]] = {
        StrategyName.FEDAVG: FedAvg,
        StrategyName.FEDPROX: FedProx,
        StrategyName.FEDADAM: FedAdam,
        StrategyName.FEDYOGI: FedYogi,
        StrategyName.TRIMMED_MEAN: FedTrimmedAvg,
        StrategyName.KRUM: Krum,
        StrategyName.MULTIKRUM: MultiKrum,
        StrategyName.BULYAN: Bulyan,
    }
    return classes[config.strategy](**common, **params)


def build_strategy(config: FederationConfig) -> TrackedStrategy:
    """Flower's strategy for ``config.strategy``, with the run's node counts, weighted by ``num-examples`` (or
    equally, inside Flower's DP wrapper for ``config.dp``)."""
    strategy = _flower_strategy(config)
    if config.dp == DPMode.NONE:
        return TrackedStrategy(strategy)
    wrapper = dp_wrapper(strategy, config)
    return TrackedStrategy(wrapper, PrivacyGuard(config, wrapper))
