from __future__ import annotations

from pathlib import Path

import pytest

from ensemble.datasets import shared_data_dir


@pytest.fixture
def dominicks_dir() -> Path:
    """The shared Dominick's folder; skips the test where it is absent (it is not bundled)."""
    folder = shared_data_dir() / "dominicks-orange-juice"
    if not (folder / "orangeJuice_yx.csv.gz").exists():
        pytest.skip(f"Dominick's data not found at {folder}; set SHOPMESH_SHARED_DATA to the shared data dir")
    return folder
