"""Federated fine-tuning of the intent member with Flower: merchants train LoRA adapters on their own data.

The Flower components are ``federation.server_app:app`` and ``federation.client_app:app`` (see
``[tool.flwr.app]`` in pyproject.toml); :func:`run_federated_simulation` runs them on Flower's simulation
runtime in a separate process; :func:`run_federated_deployment` runs them on Flower's deployment engine (a
local SuperLink, one SuperNode per merchant and ``flwr run``).
"""

from __future__ import annotations

from federation.config import FederationConfig, parse_run_config
from federation.deployment import run_federated_deployment
from federation.errors import (
    FederatedRunError,
    FederationConfigError,
    FederationError,
    NodeTaskError,
    PartitionError,
    RoundFailedError,
)
from federation.ports import DeploymentPorts, choose_ports
from federation.simulation import run_federated_simulation
from federation.summary import FederatedResult, read_summary

__all__ = [
    "DeploymentPorts",
    "FederatedResult",
    "FederatedRunError",
    "FederationConfig",
    "FederationConfigError",
    "FederationError",
    "NodeTaskError",
    "PartitionError",
    "RoundFailedError",
    "choose_ports",
    "parse_run_config",
    "read_summary",
    "run_federated_deployment",
    "run_federated_simulation",
]
