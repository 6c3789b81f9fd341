"""Where the data files live: the copies bundled in this package and the shared data folder.

This is the one place that reads the ``SHOPMESH_SHARED_DATA`` environment variable.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHARED_DATA_ENV", "bundled_data_dir", "shared_data_dir"]

SHARED_DATA_ENV = "SHOPMESH_SHARED_DATA"


def bundled_data_dir() -> Path:
    """The folder of data copies shipped inside the package (Online Retail, Bitext)."""
    return Path(__file__).resolve().parent / "bundled"


def shared_data_dir() -> Path:
    """The shared data folder: ``$SHOPMESH_SHARED_DATA`` if set, else ``<repo root>/../shared/data``.

    The folder may not exist (e.g. on a fresh clone); loaders that need it say so when they look.
    """
    configured = os.environ.get(SHARED_DATA_ENV)
    if configured:
        return Path(configured).expanduser()
    repo_root = Path(__file__).resolve().parents[2]
    return (repo_root.parent / "shared" / "data").resolve()
