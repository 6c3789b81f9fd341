from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ensemble.registry import Registry
from ensemble.vision import GroceryData, VisionPredictor, bundled_grocery_dir, load_grocery
from ensemble.vision.artifact import load_vision
from shopmesh.cli import main

# The smallest training that still runs both phases (head warm-up, then every layer) on the bundled subset.
TINY_TRAIN = ["--bundled", "--epochs", "1", "--warmup-epochs", "1", "--image-size", "64"]


@dataclass(frozen=True)
class TrainedVision:
    home: Path
    printed: dict[str, object]
    predictor: VisionPredictor

    @property
    def registry(self) -> Registry:
        return Registry(self.home / "registry")


@pytest.fixture(scope="session")
def trained_vision(tmp_path_factory: pytest.TempPathFactory) -> TrainedVision:
    """One vision version trained and published by ``shopmesh train vision`` on the bundled subset."""
    home = tmp_path_factory.mktemp("vision-home")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--home", str(home), "train", "vision", *TINY_TRAIN])
    assert code == 0
    printed = json.loads(out.getvalue())
    return TrainedVision(home, printed, load_vision(Registry(home / "registry")))


@pytest.fixture(scope="session")
def bundled_labels() -> Path:
    return bundled_grocery_dir() / "images.csv"


@pytest.fixture(scope="session")
def bundled_data() -> GroceryData:
    return load_grocery(labels=bundled_grocery_dir() / "images.csv")
