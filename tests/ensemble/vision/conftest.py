from __future__ import annotations

from pathlib import Path

import pytest

from ensemble.vision import GroceryData, bundled_grocery_dir, load_grocery
from tests.vision_training import TrainedVision

__all__ = ["TrainedVision"]  # the modules here import it from this conftest


@pytest.fixture(scope="session")
def bundled_labels() -> Path:
    return bundled_grocery_dir() / "images.csv"


@pytest.fixture(scope="session")
def bundled_data() -> GroceryData:
    return load_grocery(labels=bundled_grocery_dir() / "images.csv")
