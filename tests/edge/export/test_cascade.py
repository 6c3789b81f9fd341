"""The escalation threshold fitted at export: the fit against a brute-force reference, and the bundle carrying it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.export import BundleSigner, Calibration, ExportError, cascade_scores, export_intent, fit_threshold
from edge.runtime import EdgeBundle, EdgeClient, TrustedKey
from ensemble.members.intent import IntentModel


def brute_force_threshold(conf: list[float], agree: list[bool], max_loss: float) -> float | None:
    """The lowest candidate threshold (a confidence seen) whose disagreements stay within the budget."""
    n = len(conf)
    ok = [
        t for t in sorted(set(conf)) if sum(c >= t and not a for c, a in zip(conf, agree, strict=True)) <= max_loss * n
    ]
    return ok[0] if ok else None


def test_fit_on_a_hand_computed_case() -> None:
    # Prepare: six texts, the device disagrees with the teacher on the 3rd and the 6th most confident
    conf = [0.99, 0.95, 0.9, 0.8, 0.6, 0.5]
    device = ["a", "b", "a", "b", "a", "b"]
    teacher = ["a", "b", "b", "b", "a", "a"]

    # Execute
    one_allowed = fit_threshold(conf, device, teacher, max_loss=0.2)  # floor(0.2 * 6) = 1 disagreement
    none_allowed = fit_threshold(conf, device, teacher, max_loss=0.0)

    # Assert
    assert (one_allowed.threshold, one_allowed.device_share, one_allowed.disagreement) == (0.6, 5 / 6, 1 / 6)
    assert (none_allowed.threshold, none_allowed.device_share, none_allowed.disagreement) == (0.95, 2 / 6, 0.0)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("max_loss", [0.0, 0.005, 0.02, 0.1])
def test_fit_matches_a_brute_force_search_on_random_cascades(seed: int, max_loss: float) -> None:
    # Prepare: confidences rounded to force ties; the device right more often when confident
    rng = np.random.default_rng(seed)
    conf = np.round(rng.uniform(0.3, 1.0, size=400), 2)
    agree = rng.uniform(size=400) < conf
    device = ["x"] * 400
    teacher = ["x" if a else "y" for a in agree]

    # Execute
    fit = fit_threshold(conf, device, teacher, max_loss=max_loss)

    # Assert
    expected = brute_force_threshold(conf.tolist(), agree.tolist(), max_loss)
    if expected is None:
        assert fit.threshold > conf.max() and fit.device_share == 0.0
    else:
        assert fit.threshold == pytest.approx(expected)
    assert fit.disagreement <= max_loss
    assert fit.device_share == pytest.approx(float((conf >= fit.threshold).mean()))


def test_cascade_scores_on_a_hand_computed_case() -> None:
    # Prepare: 4 texts, threshold 0.7 keeps the first two on the device
    conf, device, teacher, gold = [0.9, 0.8, 0.6, 0.5], ["a", "b", "a", "b"], ["a", "a", "b", "b"], ["a", "a", "b", "a"]

    # Execute
    scores = cascade_scores(0.7, conf, device, teacher, gold)

    # Assert: cascade a, b, b, b -> 2 of 4 right; cluster a, a, b, b -> 3 of 4; device a, b, a, b -> 1 of 4
    assert (scores.device_share, scores.cascade_accuracy, scores.cluster_accuracy, scores.device_accuracy) == (
        0.5,
        0.5,
        0.75,
        0.25,
    )
    assert scores.loss_points == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("conf", "device", "teacher", "max_loss", "message"),
    [
        ([0.5, 0.6], ["a"], ["a", "b"], 0.01, "one confidence"),
        ([], [], [], 0.01, "at least one"),
        ([1.5], ["a"], ["a"], 0.01, r"\[0, 1\]"),
        ([0.5], ["a"], ["a"], 1.5, "max_loss"),
    ],
)
def test_fit_refuses_inconsistent_input_with_the_reason(
    conf: list[float], device: list[str], teacher: list[str], max_loss: float, message: str
) -> None:
    with pytest.raises(ExportError, match=message):
        fit_threshold(conf, device, teacher, max_loss=max_loss)


TEXTS = [
    f"{opening} {item} {ending}"
    for opening in ("where is", "I want to return", "hello about", "cancel")
    for item in ("my parcel", "the blue jacket", "order 5521", "the kettle", "these shoes")
    for ending in ("please", "now", "today?")
]


def test_export_fits_the_threshold_with_the_int8_graph_signs_it_and_the_device_uses_it(
    tmp_path: Path, tiny_model: IntentModel, signer: BundleSigner, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: a teacher the random tiny model disagrees with often, so the fit has something to cut
    teacher = [tiny_model.labels[i % len(tiny_model.labels)] for i in range(len(TEXTS))]
    calibration = Calibration(TEXTS, teacher, teacher="reference labels", max_loss=0.05)

    # Execute
    info = export_intent(tiny_model, tmp_path / "b", version_id="intent:v0003", signer=signer, calibration=calibration)
    bundle = EdgeBundle.load(info.path, trusted_keys)
    client = EdgeClient(info.path, cluster_url="http://127.0.0.1:9", trusted_keys=trusted_keys, outbox_dir=tmp_path)

    # Assert: the stored fit is what a brute-force search gives on the device's own answers
    guesses = [bundle.predict([text])[0] for text in TEXTS]  # one message at a time, as on a device
    conf = [g.confidence for g in guesses]
    agree = [g.intent == t for g, t in zip(guesses, teacher, strict=True)]
    fit = bundle.manifest.threshold_fit
    assert fit is not None and fit.teacher == "reference labels" and fit.n_texts == len(TEXTS)
    expected = brute_force_threshold(conf, agree, 0.05)
    assert expected is not None and bundle.manifest.confidence_threshold == pytest.approx(expected, abs=1e-6)
    assert fit.disagreement <= 0.05 and 0.0 < fit.device_share < 1.0
    assert client.confidence_threshold == bundle.manifest.confidence_threshold
    client.close()


def test_export_refuses_a_threshold_and_a_calibration_together(
    tmp_path: Path, tiny_model: IntentModel, signer: BundleSigner
) -> None:
    with pytest.raises(ExportError, match="not both"):
        export_intent(
            tiny_model,
            tmp_path / "b",
            version_id="intent:v0003",
            signer=signer,
            confidence_threshold=0.5,
            calibration=Calibration(["hi"], [tiny_model.labels[0]]),
        )
    assert not (tmp_path / "b").exists()
