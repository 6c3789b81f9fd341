"""A published registry version exports under its own version id."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.export import BundleSigner, export_registry_version
from edge.runtime import EdgeBundle, TrustedKey
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry


@pytest.mark.integration
def test_latest_version_is_exported_with_its_registry_id(
    tmp_path: Path, tiny_model: IntentModel, trusted_keys: tuple[TrustedKey, ...], signer: BundleSigner
) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    lineage = Lineage(parent=None, data_fingerprint="test", method="central")
    published = save_intent(registry, tiny_model, metrics={"accuracy": 0.0}, lineage=lineage)

    # Execute
    info = export_registry_version(registry, tmp_path / "bundle", signer=signer)

    # Assert
    assert info.manifest.version_id == published.id
    assert EdgeBundle.load(info.path, trusted_keys).version_id == published.id
