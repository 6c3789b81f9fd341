"""Federated fine-tuning of the intent member with Flower: merchants train LoRA adapters on their own data.

The Flower components are ``federation.server_app:app`` and ``federation.client_app:app`` (see
``[tool.flwr.app]`` in pyproject.toml); :func:`run_federated_simulation` runs them on Flower's simulation
runtime in a separate process.
"""

from __future__ import annotations

from federation.config import FederationConfig, parse_run_config
from federation.errors import (
    FederatedRunError,
    FederationConfigError,
    FederationError,
    NodeTaskError,
    PartitionError,
    RoundFailedError,
)
from federation.simulation import run_federated_simulation
from federation.summary import FederatedResult, read_summary

__all__ = [
    "FederatedResult",
    "FederatedRunError",
    "FederationConfig",
    "FederationConfigError",
    "FederationError",
    "NodeTaskError",
    "PartitionError",
    "RoundFailedError",
    "parse_run_config",
    "read_summary",
    "run_federated_simulation",
]
