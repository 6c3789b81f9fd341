"""Fixtures shared across the test packages."""

from __future__ import annotations

import pytest

from tests.vision_training import TrainedVision, train_tiny_vision


@pytest.fixture(scope="session")
def trained_vision(tmp_path_factory: pytest.TempPathFactory) -> TrainedVision:
    """One vision version trained and published by ``shopmesh train vision`` on the bundled subset."""
    return train_tiny_vision(tmp_path_factory.mktemp("vision-home"))
