"""Errors raised by the federation package.

Every message names what was wrong, the value seen and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "FederatedRunError",
    "FederationConfigError",
    "FederationError",
    "NodeTaskError",
    "PartitionError",
    "RoundFailedError",
]


class FederationError(Exception):
    """Base class of every error the federation package raises on purpose."""


class FederationConfigError(FederationError):
    """The run configuration (``[tool.flwr.app.config]`` or a runner argument) is invalid."""


class PartitionError(FederationError):
    """A node's partition of the data cannot be formed (bad partition id, empty share)."""


class NodeTaskError(FederationError):
    """A node could not train or evaluate on its own data; the node replies with this message."""


class RoundFailedError(FederationError):
    """A federated round produced no aggregate: every sampled node failed or none replied."""


class FederatedRunError(FederationError):
    """A federated run (a simulation in its own process, or Flower processes of a deployment) failed."""
