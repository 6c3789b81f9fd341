"""``shopmesh serve`` as an operator runs it: serves over HTTP, then stops cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from knowledge_graph import BuildConfig, build_graph

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _workspace(home: Path) -> None:
    """A workspace with a tiny intent version and a two-product graph."""
    model = IntentModel.tiny(["track_order", "cancel_order"])
    lineage = Lineage(parent=None, data_fingerprint="test", method="central")
    save_intent(Registry(home / "registry"), model, metrics={}, lineage=lineage)
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
    build_graph(orders, BuildConfig(min_support=1, min_category_products=1)).save(home / "graph")


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_then_stops_on_signal(tmp_path: Path, free_port: int, stop_signal: signal.Signals) -> None:
    # Prepare
    _workspace(tmp_path)
    env = {**os.environ, "SHOPMESH_HOME": str(tmp_path), "RAY_TMPDIR": f"/tmp/shopmesh-serve-{free_port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopmesh.cli", "serve", "--port", str(free_port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout or []:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Execute: wait until the command says it is serving (its signal handlers are in place by then).
        deadline = time.monotonic() + 300
        while not any("serving on" in line for line in list(lines)):
            assert proc.poll() is None, "serve exited early:\n" + "".join(lines)
            assert time.monotonic() < deadline, "serve did not start in 300 s:\n" + "".join(lines)
            time.sleep(1)
        url = f"http://127.0.0.1:{free_port}"
        chat = httpx.post(f"{url}/v1/chat", json={"text": "where is my white metal lantern?"}, timeout=30.0)
        proc.send_signal(stop_signal)
        proc.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    # Assert
    assert chat.status_code == 200
    assert chat.json()["intent"] in {"track_order", "cancel_order"}
    assert proc.returncode == 0, output[-3000:]
    assert f"received {stop_signal.name}; stopping" in output
