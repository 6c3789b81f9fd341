"""The ensemble: data loaders and splits, members and their training, evaluation, the model registry.

Import what you need from the sub-packages (``ensemble.datasets``, ``ensemble.registry``, ``ensemble.members``,
``ensemble.intent_ensemble``, ``ensemble.recommendation``, ``ensemble.forecasting``, ``ensemble.pricing``); this
package re-exports the names most callers start from.
"""

from __future__ import annotations

from ensemble.errors import DataError, ModelError, RegistryError, ShopmeshError
from ensemble.registry import Lineage, LoadedArtifact, ModelVersion, Registry

__all__ = [
    "DataError",
    "Lineage",
    "LoadedArtifact",
    "ModelError",
    "ModelVersion",
    "Registry",
    "RegistryError",
    "ShopmeshError",
]
