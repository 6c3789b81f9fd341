"""The intent member: shapes, pooling, calibration, LoRA adapters and registry round trips on a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ensemble.augmentation import StyleAugmenter
from ensemble.errors import ModelError
from ensemble.members.intent import IntentModel, mean_pool, predict, predict_proba
from ensemble.members.intent_artifact import load_intent, publishable, save_intent
from ensemble.members.lora import adapter_state, apply_lora, load_adapter_state, merge_lora
from ensemble.metrics import expected_calibration_error, macro_f1
from ensemble.registry import Lineage, Registry
from ensemble.training import (
    TrainConfig,
    _lr_factor,
    evaluate,
    fine_tune,
    fit_temperature,
    freeze_embeddings,
    train_head,
)

LABELS = ["cancel_order", "track_order", "get_refund"]
TEXTS = [
    "please cancel my order",
    "i want to cancel the purchase",
    "where is my parcel",
    "track my order please",
    "i want my money back",
    "refund me for the broken mug",
]
TARGETS = ["cancel_order", "cancel_order", "track_order", "track_order", "get_refund", "get_refund"]


@pytest.fixture
def model() -> IntentModel:
    return IntentModel.tiny(LABELS)


def test_mean_pool_ignores_padding_and_normalises() -> None:
    # Prepare: two tokens of content and one padding token holding a huge value.
    hidden = torch.tensor([[[3.0, 0.0], [1.0, 0.0], [1000.0, 1000.0]]])
    mask = torch.tensor([[1, 1, 0]])
    # Execute
    pooled = mean_pool(hidden, mask)
    # Assert: mean of the two real tokens is (2, 0), normalised to (1, 0).
    torch.testing.assert_close(pooled, torch.tensor([[1.0, 0.0]]))


def test_forward_shapes_and_probabilities(model: IntentModel) -> None:
    batch = model.tokenize(TEXTS)
    logits = model(**batch)
    assert logits.shape == (len(TEXTS), len(LABELS))
    probs = predict_proba(model, TEXTS)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(len(TEXTS)))
    predictions = predict(model, TEXTS[:2])
    assert {p.intent for p in predictions} <= set(LABELS)
    assert all(0.0 <= p.confidence <= 1.0 for p in predictions)


def test_refuses_bad_labels() -> None:
    with pytest.raises(ModelError, match="at least two labels"):
        IntentModel.tiny(["only"])
    with pytest.raises(ModelError, match="unique"):
        IntentModel.tiny(["a", "a", "b"])


def test_training_learns_the_tiny_task(model: IntentModel) -> None:
    encoder_before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    train_head(model, TEXTS, TARGETS, TrainConfig(head_epochs=200))
    assert evaluate(model, TEXTS, TARGETS)["accuracy"] == 1.0
    # Head training leaves the frozen encoder untouched.
    for name, tensor in model.encoder.state_dict().items():
        torch.testing.assert_close(tensor, encoder_before[name])


def test_unknown_label_is_a_clear_error(model: IntentModel) -> None:
    with pytest.raises(ModelError, match="not among the model's 3 intents"):
        fine_tune(model, TEXTS[:1], ["order_pizza"], TrainConfig())


def test_temperature_scaling_lowers_validation_nll(model: IntentModel) -> None:
    train_head(model, TEXTS, TARGETS, TrainConfig(head_epochs=300))
    targets = torch.tensor([LABELS.index(t) for t in TARGETS])

    def nll() -> float:
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(**model.tokenize(TEXTS)), targets))

    model.temperature.fill_(1.0)
    before = nll()
    temperature = fit_temperature(model, TEXTS, TARGETS)
    assert temperature > 0
    assert nll() <= before + 1e-6


def test_lora_adapters_round_trip_and_merge(model: IntentModel) -> None:
    apply_lora(model)
    fine_tune(model, TEXTS, TARGETS, TrainConfig(epochs=2, learning_rate=1e-2))
    state = adapter_state(model)
    assert any(k.startswith("lora.") for k in state) and any(k.startswith("head.") for k in state)
    reference = predict_proba(model, TEXTS)

    other = apply_lora(IntentModel.tiny(LABELS))  # same seed -> same frozen base weights
    load_adapter_state(other, state)
    torch.testing.assert_close(predict_proba(other, TEXTS), reference)

    merged = merge_lora(other)
    torch.testing.assert_close(predict_proba(merged, TEXTS), reference, atol=1e-5, rtol=1e-4)


def test_adapter_state_mismatch_is_refused(model: IntentModel) -> None:
    apply_lora(model)
    state = adapter_state(model)
    state.pop(next(iter(state)))
    with pytest.raises(ModelError, match="do not match"):
        load_adapter_state(model, state)


def test_registry_round_trip(model: IntentModel, tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry")
    model.temperature.fill_(0.5)
    version = save_intent(
        registry,
        publishable(model),
        metrics={"val_accuracy": 0.5},
        lineage=Lineage(parent=None, data_fingerprint="test", method="central", details={}),
    )
    loaded, artifact = load_intent(registry, version.version)
    assert loaded.labels == LABELS
    assert float(loaded.temperature) == 0.5
    torch.testing.assert_close(predict_proba(loaded, TEXTS), predict_proba(model, TEXTS))
    assert artifact.metrics["val_accuracy"] == 0.5


def test_unmerged_model_cannot_be_published(model: IntentModel, tmp_path: Path) -> None:
    apply_lora(model)
    with pytest.raises(ModelError, match="merge the LoRA adapters"):
        save_intent(
            Registry(tmp_path),
            model,
            metrics={},
            lineage=Lineage(parent=None, data_fingerprint="x", method="central", details={}),
        )


def test_ece_matches_hand_computation() -> None:
    # Two bins used: [0.9]x2 with one correct -> |0.5-0.9|; [0.3] correct -> |1-0.3|. Weights 2/3 and 1/3.
    confidence = np.array([0.9, 0.9, 0.3])
    correct = np.array([True, False, True])
    expected = 2 / 3 * 0.4 + 1 / 3 * 0.7
    assert expected_calibration_error(confidence, correct) == pytest.approx(expected)


def test_macro_f1_matches_hand_computation() -> None:
    # class a: tp=1 fp=0 fn=1 -> 2/3; class b: tp=1 fp=1 fn=0 -> 2/3.
    assert macro_f1(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx(2 / 3)


def test_freeze_embeddings_freezes_exactly_the_embedding_layer(model: IntentModel) -> None:
    # Prepare
    expected = sum(p.numel() for n, p in model.encoder.named_parameters() if n.startswith("embeddings."))
    # Execute
    frozen = freeze_embeddings(model)
    # Assert
    assert frozen == expected > 0
    for name, param in model.encoder.named_parameters():
        assert param.requires_grad is not name.startswith("embeddings."), name


def test_augmented_fine_tuning_trains_layers_but_not_embeddings(model: IntentModel) -> None:
    # Prepare
    freeze_embeddings(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(epochs=3, learning_rate=1e-3, head_lr_scale=10.0, label_smoothing=0.1, schedule="linear")
    # Execute
    report = fine_tune(model, TEXTS, TARGETS, cfg, StyleAugmenter())
    # Assert
    assert report.steps == 3 and np.isfinite(report.final_loss)
    after = model.state_dict()
    assert torch.equal(
        after["encoder.embeddings.word_embeddings.weight"], before["encoder.embeddings.word_embeddings.weight"]
    )
    assert not torch.equal(
        after["encoder.encoder.layer.0.attention.self.query.weight"],
        before["encoder.encoder.layer.0.attention.self.query.weight"],
    )
    assert not torch.equal(after["head.weight"], before["head.weight"])


def test_the_same_seed_gives_the_same_augmented_fine_tuning() -> None:
    # Prepare
    cfg = TrainConfig(epochs=2, learning_rate=1e-3, schedule="linear", seed=7)
    first, second = IntentModel.tiny(LABELS), IntentModel.tiny(LABELS)
    # Execute
    fine_tune(first, TEXTS, TARGETS, cfg, StyleAugmenter())
    fine_tune(second, TEXTS, TARGETS, cfg, StyleAugmenter())
    # Assert
    torch.testing.assert_close(predict_proba(first, TEXTS), predict_proba(second, TEXTS))


@pytest.mark.parametrize(("step", "expected"), [(0, 0.5 * 10 / 10), (1, 1.0 * 9 / 10), (5, 5 / 10), (9, 1 / 10)])
def test_linear_schedule_warms_up_then_decays(step: int, expected: float) -> None:
    # 10 steps, warm-up over 2: factor = min(1, (step + 1) / 2) * (10 - step) / 10
    cfg = TrainConfig(schedule="linear", warmup_fraction=0.2)
    assert _lr_factor(cfg, step, 10) == pytest.approx(expected)
    assert _lr_factor(TrainConfig(), step, 10) == 1.0


def test_fine_tune_reports_every_batch_to_its_step_callback() -> None:
    # Prepare: 6 texts in batches of 4 -> 2 batches per epoch, 3 epochs
    model = IntentModel.tiny(LABELS)
    seen: list[tuple[int, int]] = []
    # Execute
    report = fine_tune(
        model, TEXTS, TARGETS, TrainConfig(epochs=3, batch_size=4), on_step=lambda d, t: seen.append((d, t))
    )
    # Assert
    assert seen == [(i, 6) for i in range(1, 7)]
    assert report.steps == 6
