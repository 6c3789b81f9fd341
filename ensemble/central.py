"""Central training of the intent member: train on the train split, calibrate on validation, publish.

This is what ``shopmesh train intent`` and the demo's second stage run; federated rounds start from its output.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pandas as pd

from ensemble.datasets import DataSplits
from ensemble.members.intent import IntentConfig, IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, ModelVersion, Registry, fingerprint_frame
from ensemble.training import TrainConfig, evaluate, fit_temperature, train_head

logger = logging.getLogger(__name__)


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
    data_name: str = "bitext-customer-support",
) -> CentralResult:
    """Fit the head on a frozen encoder, fit the temperature on validation, evaluate, and publish a version."""
    start = time.perf_counter()
    train, val = splits.train, splits.val
    labels = sorted(pd.unique(train[label_col]).tolist())
    model = IntentModel.from_pretrained(labels, intent_config)
    cfg = train_config or TrainConfig()
    report = train_head(model, train[text_col].tolist(), train[label_col].tolist(), cfg)
    uncalibrated = evaluate(model, val[text_col].tolist(), val[label_col].tolist())
    temperature = fit_temperature(model, val[text_col].tolist(), val[label_col].tolist())
    calibrated = evaluate(model, val[text_col].tolist(), val[label_col].tolist())
    metrics = {
        "val_accuracy": calibrated["accuracy"],
        "val_macro_f1": calibrated["macro_f1"],
        "val_ece": calibrated["ece"],
        "val_ece_uncalibrated": uncalibrated["ece"],
        "temperature": temperature,
        "train_examples": float(report.examples),
        "train_seconds": report.seconds,
    }
    lineage = Lineage(
        parent=None,
        data_fingerprint=fingerprint_frame(train[[text_col, label_col]]),
        method="central",
        details={
            "data": data_name,
            "split": "train",
            "trainer": "frozen-encoder head",
            "steps": report.steps,
        },
    )
    version = save_intent(registry, model, metrics=metrics, lineage=lineage)
    seconds = time.perf_counter() - start
    logger.info("intent %s: val accuracy %.4f in %.1f s", version.id, metrics["val_accuracy"], seconds)
    return CentralResult(version, metrics, seconds)
