"""``shopmesh chat "..."`` as a user runs it: one JSON answer on stdout, or a clear error and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from knowledge_graph import BuildConfig, build_graph

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LABELS = ["track_order", "cancel_order"]


def _workspace(home: Path) -> Path:
    """A workspace with a tiny intent version and a two-product graph; returns a reference CSV."""
    lineage = Lineage(parent=None, data_fingerprint="test", method="central")
    save_intent(Registry(home / "registry"), IntentModel.tiny(LABELS), metrics={}, lineage=lineage)
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
    references = home / "references.csv"
    pd.DataFrame(
        {
            "instruction": ["where is my order", "cancel my order"],
            "intent": LABELS,
            "response": ["You can track it on our {{Website Name}}.", "I can cancel it for you."],
        }
    ).to_csv(references, index=False)
    return references


def _chat(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHOPMESH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "shopmesh.cli", "chat", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_chat_prints_a_json_answer_with_intent_reply_and_grounding(tmp_path: Path) -> None:
    # Prepare
    references = _workspace(tmp_path)

    # Execute
    result = _chat(tmp_path, "where is order 536365?", "--customer-id", "17850", "--reference-data", str(references))

    # Assert
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["intent"] in LABELS
    assert answer["reply"] in {"You can track it on our website.", "I can cancel it for you."}
    assert answer["grounding"]["checked"] is True
    assert answer["grounding"]["grounded"] is True
    assert answer["entities"]["order_numbers"] == ["536365"]
    assert answer["members"][0]["name"] == "intent_head"
    assert answer["members"][0]["output"]["note"].startswith("no intent-ensemble version")


def test_an_empty_message_exits_2_with_a_clear_line(tmp_path: Path) -> None:
    # Prepare
    _workspace(tmp_path)

    # Execute
    result = _chat(tmp_path, "   ")

    # Assert
    assert result.returncode == 2
    assert result.stdout == ""
    assert "shopmesh chat: error: text is empty" in result.stderr
