from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ensemble.errors import ArtifactIntegrityError, ModelError
from ensemble.registry import WEIGHTS_NAME, Registry
from ensemble.vision import GroceryData, bundled_grocery_dir, decode_photos
from ensemble.vision.artifact import MEMBER, load_vision

from .conftest import TrainedVision


def test_train_prints_validation_scores_and_publishes_a_version(trained_vision: TrainedVision) -> None:
    printed = trained_vision.printed
    assert printed["version"] == f"{MEMBER}:v0001"
    for key in ("accuracy_fine", "accuracy_coarse", "macro_f1", "ece", "temperature", "ooc_threshold"):
        assert key in printed
    assert float(printed["temperature"]) > 0  # type: ignore[arg-type]


def test_version_lineage_names_the_data_and_the_pretrained_weights(trained_vision: TrainedVision) -> None:
    artifact = trained_vision.registry.load(MEMBER)
    assert artifact.lineage.method == "central"
    assert artifact.lineage.data_fingerprint.startswith("sha256:")
    details = artifact.lineage.details
    assert details["photos"] == {"test": 18, "train": 36, "val": 18}
    assert "efficientnet-lite0" in details["pretrained"]
    assert [h["phase"] for h in artifact.metrics["history"]] == ["warmup", "fine_tune"]
    assert sorted(p.name for p in (artifact.path / "iconic").iterdir()) == sorted(
        p.name for p in (bundled_grocery_dir() / "iconic").iterdir()
    )


def test_predictions_are_calibrated_probabilities_with_catalogue_text(trained_vision: TrainedVision) -> None:
    predictor = trained_vision.predictor
    photo = next((bundled_grocery_dir() / "images" / "test").rglob("*.jpg"))
    [answer] = predictor.predict([Image.open(photo).convert("RGB")], k=3)
    assert 0.0 < answer.confidence <= 1.0
    assert answer.coarse_confidence >= answer.confidence  # the coarse class sums its fine classes
    assert answer.product.description in predictor.catalogue.descriptions
    assert answer.product.score == answer.confidence
    assert len(answer.similar) == 3
    assert len({m.class_id for m in answer.similar}) == 3
    scores = [m.score for m in answer.similar]
    assert scores == sorted(scores, reverse=True)
    assert answer.out_of_catalogue == (answer.confidence < predictor.ooc_threshold)


def test_reloaded_version_predicts_what_the_trained_one_did(
    trained_vision: TrainedVision, bundled_data: GroceryData
) -> None:
    # Prepare: two independent loads of the published version
    first = load_vision(trained_vision.registry)
    second = load_vision(trained_vision.registry, "v0001")
    images = decode_photos(bundled_data, "test", first.config.cache_size)
    # Execute
    a = first.evaluate(images)
    b = second.evaluate(images)
    # Assert
    assert a == b
    assert first.version_id == "vision:v0001"


def test_temperature_is_inside_the_model_so_exports_are_calibrated(trained_vision: TrainedVision) -> None:
    predictor = trained_vision.predictor
    images = torch.zeros((1, 3, predictor.config.image_size, predictor.config.image_size))
    predictor.model.eval()
    with torch.no_grad():
        calibrated = predictor.model(images)
        raw = predictor.model.classify(predictor.model.embed(images))
    torch.testing.assert_close(calibrated * predictor.model.temperature, raw)
    printed = float(trained_vision.printed["temperature"])  # type: ignore[arg-type]
    assert float(predictor.model.temperature) == pytest.approx(printed, abs=1e-3)


def test_text_search_ranks_every_class_once(trained_vision: TrainedVision) -> None:
    matches = trained_vision.predictor.search_text("a green apple with firm pulp", k=9)
    assert len({m.class_id for m in matches}) == 9
    assert np.all(np.diff([m.score for m in matches]) <= 1e-7)
    with pytest.raises(ModelError, match="empty"):
        trained_vision.predictor.search_text("   ")


def test_a_changed_weights_file_is_refused(trained_vision: TrainedVision, tmp_path: Path) -> None:
    copy = tmp_path / "registry"
    shutil.copytree(trained_vision.registry.root, copy)
    weights = copy / MEMBER / "v0001" / WEIGHTS_NAME
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="sha256"):
        load_vision(Registry(copy))
