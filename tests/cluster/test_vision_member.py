"""The vision deployment's logic without Ray: the runner over a registry, one pass per batch of photos, outcomes
for photos that do not decode, ``not_trained`` naming the command, and a rollout's reload."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from cluster.errors import MemberUnavailableError, RequestRejectedError
from cluster.outcomes import OutcomeStatus
from cluster.vision_deployment import classify_photos, probe_photo, vision_runner
from ensemble.registry import Registry
from ensemble.vision import bundled_grocery_dir
from tests.vision_training import TrainedVision, copy_vision_version

PHOTOS = sorted((bundled_grocery_dir() / "images" / "test").rglob("*.jpg"))[:3]


def test_without_a_version_every_photo_is_not_trained_and_names_the_command(tmp_path: Path) -> None:
    runner = vision_runner(Registry(tmp_path / "registry"))

    outcomes = classify_photos(runner, [(PHOTOS[0].read_bytes(), 5)])

    assert [o.status for o in outcomes] == [OutcomeStatus.NOT_TRAINED]
    with pytest.raises(MemberUnavailableError, match="shopmesh train vision"):
        outcomes[0].unwrap("vision")
    assert runner.status()["version"] is None


def test_a_batch_answers_each_photo_in_order_and_refuses_only_the_broken_one(
    tmp_path: Path, trained_vision: TrainedVision
) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    copy_vision_version(trained_vision, registry)
    runner = vision_runner(registry)
    broken = PHOTOS[1].read_bytes()[:300]
    batch = [(PHOTOS[0].read_bytes(), 1), (broken, 5), (PHOTOS[2].read_bytes(), 3)]

    # Execute
    outcomes = classify_photos(runner, batch)

    # Assert: the same answers as the predictor gives for each photo alone
    assert [o.status for o in outcomes] == [OutcomeStatus.OK, OutcomeStatus.INVALID, OutcomeStatus.OK]
    for outcome, (data, k) in zip((outcomes[0], outcomes[2]), (batch[0], batch[2]), strict=True):
        [alone] = trained_vision.predictor.predict([Image.open(io.BytesIO(data)).convert("RGB")], k=k)
        result = outcome.unwrap("vision")
        assert result["product"]["class_id"] == alone.product.class_id
        assert result["confidence"] == pytest.approx(alone.confidence, abs=1e-4)
        assert len(result["similar"]) == k and result["batch_size"] == 3
        assert result["version"] == "vision:v0001"
    with pytest.raises(RequestRejectedError, match="truncated or corrupt"):
        outcomes[1].unwrap("vision")


def test_a_rollout_loads_the_new_version_smoke_checks_it_and_swaps_it_in(
    tmp_path: Path, trained_vision: TrainedVision
) -> None:
    registry = Registry(tmp_path / "registry")
    copy_vision_version(trained_vision, registry)
    runner = vision_runner(registry)
    second = copy_vision_version(trained_vision, registry)

    outcome = runner.reconfigure({"version": second})

    assert outcome is not None and outcome.error is None and outcome.serving == second == "vision:v0002"
    assert runner.status()["version"] == second
    [answer] = runner.service.predictor.predict([probe_photo()], k=1)  # type: ignore[union-attr]
    assert 0.0 <= answer.confidence <= 1.0
