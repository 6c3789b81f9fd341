"""The command line turns bad input into one clear line and exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_train_intent_on_a_file_without_the_label_column(tmp_path: Path, cli: Any) -> None:
    # Prepare: a CSV whose label column is named differently.
    data = tmp_path / "messages.csv"
    data.write_text("text,label\nwhere is my order,track_order\n", encoding="utf-8")
    # Execute
    result = cli("train", "intent", "--data", str(data), "--text-col", "text", home=tmp_path / "home", timeout=300)
    # Assert
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "intent" in result.stderr and str(data) in result.stderr


def test_train_intent_on_a_missing_file(tmp_path: Path, cli: Any) -> None:
    missing = tmp_path / "nope.csv"
    result = cli("train", "intent", "--data", str(missing), home=tmp_path / "home", timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(missing) in result.stderr


def test_kg_query_before_any_build_says_what_to_do(tmp_path: Path, cli: Any) -> None:
    result = cli("kg", "stats", home=tmp_path / "home", timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "kg build" in result.stderr or "build" in result.stderr
