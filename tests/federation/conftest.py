from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from federation.task import load_splits

PublishBase = Callable[[Path, list[str]], str]


def _publish_tiny_base(registry_dir: Path, labels: list[str]) -> str:
    """A random two-layer intent model published as the base version; returns its id."""
    model = IntentModel.tiny(labels, seed=0)
    model.eval()
    lineage = Lineage(parent=None, data_fingerprint="sha256:test", method="central")
    return save_intent(Registry(registry_dir), model, metrics={}, lineage=lineage).id


@pytest.fixture
def bitext_intents() -> list[str]:
    train, _ = load_splits("")
    return sorted(set(train["intent"]))


@pytest.fixture
def publish_tiny_base() -> PublishBase:
    return _publish_tiny_base
