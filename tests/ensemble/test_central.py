"""Central training on a tiny random-weight encoder saved to disk: both trainers publish a calibrated version."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from ensemble.central import Trainer, train_intent_version
from ensemble.datasets import DataSplits
from ensemble.members.intent import IntentConfig, IntentModel
from ensemble.members.intent_artifact import load_intent
from ensemble.registry import Registry
from ensemble.training import TrainConfig

LABELS = ["cancel_order", "get_refund", "track_order"]
PHRASES = {
    "cancel_order": ["cancel my order", "please cancel the purchase", "stop order 536365", "i want to cancel"],
    "get_refund": ["i want my money back", "refund me please", "give me a refund", "money back for the mug"],
    "track_order": ["where is my parcel", "track order 536365", "where is my package", "track my purchase"],
}


@pytest.fixture
def tiny_encoder_dir(tmp_path: Path) -> Path:
    model = IntentModel.tiny(LABELS)
    folder = tmp_path / "encoder"
    model.encoder.save_pretrained(str(folder))
    model.tokenizer.save_pretrained(str(folder))
    return folder


def _splits() -> DataSplits:
    rows = [(text, label) for label, texts in PHRASES.items() for text in texts]
    frame = pd.DataFrame(rows, columns=["instruction", "intent"])
    return DataSplits(train=frame, val=frame.iloc[::2].reset_index(drop=True), test=frame.iloc[1::2])


@pytest.mark.parametrize("trainer", list(Trainer))
def test_each_trainer_publishes_a_version_calibrated_on_validation_and_its_styled_copy(
    tmp_path: Path, tiny_encoder_dir: Path, trainer: Trainer
) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    config = IntentConfig(encoder_path=str(tiny_encoder_dir), max_length=32)
    initial = IntentModel.from_pretrained(LABELS, config).encoder.state_dict()
    cfg = TrainConfig(epochs=2, learning_rate=1e-3, head_epochs=50, schedule="linear")
    # Execute
    result = train_intent_version(registry, _splits(), intent_config=config, train_config=cfg, trainer=trainer)
    # Assert
    model, artifact = load_intent(registry, result.version.id)
    for key in ("val_accuracy", "val_ece", "val_ece_uncalibrated", "val_styled_accuracy", "val_styled_ece"):
        assert 0.0 <= result.metrics[key] <= 1.0, key
    assert (
        float(model.temperature) == pytest.approx(result.metrics["temperature"]) and result.metrics["temperature"] > 0
    )
    layer = "encoder.layer.0.attention.self.query.weight"
    embeddings = "embeddings.word_embeddings.weight"
    tuned = model.encoder.state_dict()
    assert torch.equal(tuned[embeddings], initial[embeddings])
    assert torch.equal(tuned[layer], initial[layer]) is (trainer is Trainer.HEAD)
    details = artifact.lineage.details
    assert details["trainer"].startswith("fine-tune" if trainer is Trainer.FINE_TUNE else "frozen-encoder")
    assert result.metrics["train_examples"] == len(_splits().train)
