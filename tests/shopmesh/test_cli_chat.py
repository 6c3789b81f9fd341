"""``shopmesh chat "..."`` as a user runs it: one JSON answer on stdout, or a clear error and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
LABELS = ["track_order", "cancel_order"]  # the tiny_workspace fixture's intents


def _references(home: Path) -> Path:
    """A two-row reference-response CSV for the retrieval fallback."""
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


def test_chat_prints_a_json_answer_with_intent_reply_and_grounding(tiny_workspace: Path) -> None:
    # Prepare
    references = _references(tiny_workspace)

    # Execute
    result = _chat(
        tiny_workspace, "where is order 536365?", "--customer-id", "17850", "--reference-data", str(references)
    )

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


def test_an_empty_message_exits_2_with_a_clear_line(tiny_workspace: Path) -> None:
    # Execute
    result = _chat(tiny_workspace, "   ")

    # Assert
    assert result.returncode == 2
    assert result.stdout == ""
    assert "shopmesh chat: error: text is empty" in result.stderr
