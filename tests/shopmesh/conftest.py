from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from knowledge_graph import BuildConfig, build_graph

REPO = Path(__file__).resolve().parents[2]
TINY_LABELS = ["track_order", "cancel_order"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run_cli(*args: str, home: Path, timeout: float = 900.0) -> subprocess.CompletedProcess[str]:
    """Run the installed ``shopmesh`` command as a user would, in a fresh interpreter."""
    env = {**os.environ, "SHOPMESH_HOME": str(home), "HF_HUB_OFFLINE": "1", "FLWR_TELEMETRY_ENABLED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "shopmesh.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def free_port() -> int:
    return _free_port()


@pytest.fixture
def cli() -> CliRunner:
    return _run_cli


@pytest.fixture
def tiny_workspace(tmp_path: Path) -> Path:
    """A workspace with a tiny random-weight intent version and a two-product graph from three order lines."""
    lineage = Lineage(parent=None, data_fingerprint="test", method="central")
    save_intent(Registry(tmp_path / "registry"), IntentModel.tiny(TINY_LABELS), metrics={}, lineage=lineage)
    orders = pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "536366"],
            "StockCode": ["85123A", "71053", "85123A"],
            "Description": [
                "WHITE HANGING HEART T-LIGHT HOLDER",
                "WHITE METAL LANTERN",
                "WHITE HANGING HEART T-LIGHT HOLDER",
            ],
            "Quantity": [6, 6, 2],
            "InvoiceDate": pd.to_datetime(["2011-01-03", "2011-01-03", "2011-01-04"]),
            "UnitPrice": [2.55, 3.39, 2.55],
            "CustomerID": pd.array([17850, 17850, 13047], dtype="Int64"),
            "Country": ["United Kingdom"] * 3,
        }
    )
    build_graph(orders, BuildConfig(min_support=1, min_category_products=1)).save(tmp_path / "graph")
    return tmp_path
