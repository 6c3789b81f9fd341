"""Federated fine-tuning of the intent member with Flower: merchants train LoRA adapters on their own data.

The Flower components are ``federation.server_app:app`` and ``federation.client_app:app`` (see
``[tool.flwr.app]`` in pyproject.toml); :func:`run_federated_simulation` runs them on Flower's simulation
runtime in a separate process; :func:`run_federated_deployment` runs them on Flower's deployment engine (a
local SuperLink with TLS and SuperNode authentication, one registered SuperNode per merchant and ``flwr run``).
The aggregation strategy (:func:`build_strategy`), differential privacy (Flower's DP wrappers, with a
per-merchant :class:`PrivacyLedger`) and the data partitioning come from the run config.
"""

from __future__ import annotations

from federation.certificates import NodeKey, TlsFiles, make_local_tls, make_node_key
from federation.config import DPMode, FederationConfig, PartitionScheme, StrategyName, parse_run_config
from federation.deployment import run_federated_deployment
from federation.errors import (
    FederatedRunError,
    FederationConfigError,
    FederationError,
    NodeTaskError,
    PartitionError,
    RoundFailedError,
)
from federation.flower_cli import SecurityMode
from federation.local_link import LocalFederation
from federation.ports import DeploymentPorts, choose_ports
from federation.privacy import PrivacyLedger
from federation.simulation import run_federated_simulation
from federation.strategies import build_strategy
from federation.summary import FederatedResult, read_summary

__all__ = [
    "DPMode",
    "DeploymentPorts",
    "FederatedResult",
    "FederatedRunError",
    "FederationConfig",
    "FederationConfigError",
    "FederationError",
    "LocalFederation",
    "NodeKey",
    "NodeTaskError",
    "PartitionError",
    "PartitionScheme",
    "PrivacyLedger",
    "RoundFailedError",
    "SecurityMode",
    "StrategyName",
    "TlsFiles",
    "build_strategy",
    "choose_ports",
    "make_local_tls",
    "make_node_key",
    "parse_run_config",
    "read_summary",
    "run_federated_deployment",
    "run_federated_simulation",
]
