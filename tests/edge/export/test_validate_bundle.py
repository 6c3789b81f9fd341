"""validate_bundle: fp32 parity within atol and the int8 task metric, checked against independent figures."""

from __future__ import annotations

import numpy as np
import pytest

from edge.export import BundleInfo, ExportError, ValidationReport, validate_bundle
from edge.runtime import EdgeBundle, TrustedKey
from ensemble.members.intent import IntentModel, predict_proba

TEXTS = [
    "where is my order",
    "my parcel has not arrived yet",
    "I want to send these shoes back",
    "how do I return an item",
    "hello there",
    "good morning!",
    "track package 12345",
    "refund for a broken kettle please",
]
GOLD = [
    "order_status",
    "order_status",
    "returns",
    "returns",
    "greeting",
    "greeting",
    "order_status",
    "returns",
]


@pytest.fixture(scope="module")
def report(tiny_bundle: BundleInfo, tiny_model: IntentModel) -> ValidationReport:
    return validate_bundle(tiny_bundle.path, tiny_model, TEXTS, GOLD, atol=1e-4)


def test_fp32_parity_is_within_atol(report: ValidationReport) -> None:
    # Assert
    assert report.n_texts == len(TEXTS)
    assert report.fp32_max_abs_diff <= report.atol == 1e-4


def test_task_metrics_match_an_independent_computation(
    report: ValidationReport, tiny_bundle: BundleInfo, tiny_model: IntentModel, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    torch_probs = predict_proba(tiny_model, TEXTS).numpy()
    device = EdgeBundle.load(tiny_bundle.path, trusted_keys).predict(TEXTS)

    # Execute
    torch_pred = [tiny_model.labels[i] for i in torch_probs.argmax(axis=-1)]
    device_pred = [p.intent for p in device]
    agreement = np.mean([a == b for a, b in zip(torch_pred, device_pred, strict=True)])
    torch_acc = np.mean([p == g for p, g in zip(torch_pred, GOLD, strict=True)])
    int8_acc = np.mean([p == g for p, g in zip(device_pred, GOLD, strict=True)])
    conf_diff = np.mean(np.abs(np.array([p.confidence for p in device]) - torch_probs.max(axis=-1)))

    # Assert
    assert report.int8_agreement == pytest.approx(agreement)
    assert report.torch_accuracy == pytest.approx(torch_acc)
    assert report.int8_accuracy == pytest.approx(int8_acc)
    assert report.mean_confidence_diff == pytest.approx(conf_diff, abs=1e-5)


def test_mismatched_texts_and_labels_are_refused(tiny_bundle: BundleInfo, tiny_model: IntentModel) -> None:
    # Execute / Assert
    with pytest.raises(ExportError, match="as many labels as texts"):
        validate_bundle(tiny_bundle.path, tiny_model, TEXTS, GOLD[:-1])
    with pytest.raises(ExportError, match="not intents of the model"):
        validate_bundle(tiny_bundle.path, tiny_model, TEXTS[:1], ["shipping"])
