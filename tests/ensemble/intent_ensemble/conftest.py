from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from ensemble.datasets import DataSplits
from ensemble.intent_ensemble import EnsembleConfig, build_intent_ensemble
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, ModelVersion, Registry
from ensemble.training import TrainConfig, train_head

LABELS = ["cancel_order", "get_refund", "track_order", "recover_password", "newsletter_subscription"]
PHRASES = {
    "cancel_order": ["cancel my order", "please cancel the purchase", "stop my order", "call off order"],
    "get_refund": ["i want my money back", "refund me", "give me a refund", "money back please"],
    "track_order": ["where is my parcel", "track my order", "where is my package", "order status"],
    "recover_password": ["forgot my password", "reset my password", "lost password", "new password"],
    "newsletter_subscription": ["unsubscribe newsletter", "join the newsletter", "stop emails", "mailing list"],
}
SMALL_CONFIG = EnsembleConfig(k=3, oos_groups=2, oos_group_min=1, oos_group_max=2, seed=0, serial_gate=0.9)


def _frame(suffix: str) -> pd.DataFrame:
    rows = [(f"{text} {suffix}".strip(), label) for label, texts in PHRASES.items() for text in texts]
    return pd.DataFrame(rows, columns=["instruction", "intent"])


@pytest.fixture(scope="module")
def tiny_splits() -> DataSplits:
    return DataSplits(train=_frame(""), val=_frame("now"), test=_frame("today"))


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory, tiny_splits: DataSplits) -> tuple[Registry, ModelVersion]:
    """A registry holding a tiny random-encoder intent version and an ensemble built on it."""
    torch.set_num_threads(1)
    registry = Registry(Path(tmp_path_factory.mktemp("registry")))
    model = IntentModel.tiny(LABELS)
    train = tiny_splits.train
    train_head(model, train.instruction.tolist(), train.intent.tolist(), TrainConfig(head_epochs=50))
    intent = save_intent(
        registry, model, metrics={}, lineage=Lineage(parent=None, data_fingerprint="sha256:test", method="central")
    )
    ensemble = build_intent_ensemble(registry, intent.id, tiny_splits, config=SMALL_CONFIG)
    return registry, ensemble
