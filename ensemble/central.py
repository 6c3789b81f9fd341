"""Central training of the intent member: train on the train split, calibrate on validation, publish.

This is what ``shopmesh train intent`` and the demo's second stage run; federated rounds start from its output.
Two trainers (:class:`Trainer`): ``fine-tune`` (the default) warm-starts the head on frozen embeddings, then
fine-tunes the transformer layers and the head on style-augmented messages (:mod:`ensemble.augmentation`);
``head`` fits the head on a frozen encoder only (seconds, for quick runs and small machines).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from ensemble.augmentation import CALIBRATION_SEED, AugmentConfig, StyleAugmenter, styled_copy
from ensemble.datasets import DataSplits
from ensemble.members.intent import IntentConfig, IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, ModelVersion, Registry, fingerprint_frame
from ensemble.training import (
    CENTRAL_FINE_TUNE,
    TrainConfig,
    evaluate,
    fine_tune,
    fit_temperature,
    freeze_embeddings,
    train_head,
)

logger = logging.getLogger(__name__)


class Trainer(StrEnum):
    FINE_TUNE = "fine-tune"
    HEAD = "head"


@dataclass(frozen=True)
class CentralResult:
    version: ModelVersion
    metrics: dict[str, float]
    seconds: float


def train_intent_version(
    registry: Registry,
    splits: DataSplits,
    *,
    text_col: str = "instruction",
    label_col: str = "intent",
    intent_config: IntentConfig | None = None,
    train_config: TrainConfig | None = None,
    trainer: Trainer = Trainer.FINE_TUNE,
    augment: AugmentConfig | None = None,
    data_name: str = "bitext-customer-support",
    on_step: Callable[[int, int], None] | None = None,
) -> CentralResult:
    """Train with ``trainer`` on ``splits.train``, fit the temperature on validation plus a style-rewritten copy
    of it (:func:`~ensemble.augmentation.styled_copy`), evaluate on both, and publish. ``on_step`` hears
    ``(done, total)`` after every fine-tuning batch."""
    start = time.perf_counter()
    train, val = splits.train, splits.val
    labels = sorted(pd.unique(train[label_col]).tolist())
    model = IntentModel.from_pretrained(labels, intent_config)
    texts, targets = train[text_col].tolist(), train[label_col].tolist()
    head_config = train_config if trainer is Trainer.HEAD and train_config else TrainConfig()
    report = train_head(model, texts, targets, head_config)
    details: dict[str, object] = {"data": data_name, "split": "train", "trainer": "frozen-encoder head"}
    if trainer is Trainer.FINE_TUNE:
        cfg = train_config or CENTRAL_FINE_TUNE
        augment = augment or AugmentConfig()
        frozen = freeze_embeddings(model)
        logger.info("fine-tuning the encoder (%d embedding parameters frozen) for %d epochs", frozen, cfg.epochs)
        report = fine_tune(model, texts, targets, cfg, StyleAugmenter(augment), on_step=on_step)
        details.update(trainer="fine-tune (embeddings frozen, style augmentation)", epochs=cfg.epochs)
        details.update(learning_rate=cfg.learning_rate, label_smoothing=cfg.label_smoothing)
        details["augmentation"] = dict(vars(augment))
    val_texts, val_targets = val[text_col].tolist(), val[label_col].tolist()
    styled = styled_copy(val_texts, seed=CALIBRATION_SEED)
    uncalibrated = evaluate(model, val_texts, val_targets)
    uncalibrated_styled = evaluate(model, styled, val_targets)
    temperature = fit_temperature(model, val_texts + styled, val_targets + val_targets)
    calibrated = evaluate(model, val_texts, val_targets)
    calibrated_styled = evaluate(model, styled, val_targets)
    metrics = {
        "val_accuracy": calibrated["accuracy"],
        "val_macro_f1": calibrated["macro_f1"],
        "val_ece": calibrated["ece"],
        "val_ece_uncalibrated": uncalibrated["ece"],
        "val_styled_accuracy": calibrated_styled["accuracy"],
        "val_styled_ece": calibrated_styled["ece"],
        "val_styled_ece_uncalibrated": uncalibrated_styled["ece"],
        "temperature": temperature,
        "train_examples": float(report.examples),
        "train_seconds": time.perf_counter() - start,
    }
    details["steps"] = report.steps
    lineage = Lineage(
        parent=None,
        data_fingerprint=fingerprint_frame(train[[text_col, label_col]]),
        method="central",
        details=details,
    )
    version = save_intent(registry, model, metrics=metrics, lineage=lineage)
    seconds = time.perf_counter() - start
    logger.info("intent %s: val accuracy %.4f in %.1f s", version.id, metrics["val_accuracy"], seconds)
    return CentralResult(version, metrics, seconds)
