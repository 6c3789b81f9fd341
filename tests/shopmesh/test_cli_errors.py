"""The command line turns bad input into one clear line and exit status 2, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shopmesh.cli import main


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


def test_train_intent_refuses_zero_epochs_before_loading_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Execute: in process, through the command's entry point.
    code = main(["--home", str(tmp_path / "home"), "train", "intent", "--epochs", "0"])
    # Assert
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "shopmesh train: error: --epochs must be at least 1, got 0"
    assert not (tmp_path / "home" / "registry").exists()


def test_kg_query_before_any_build_says_what_to_do(tmp_path: Path, cli: Any) -> None:
    result = cli("kg", "stats", home=tmp_path / "home", timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "kg build" in result.stderr or "build" in result.stderr


def test_kg_build_with_a_catalogue_lacking_a_column_fails_before_building(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare: a products.csv without its department column.
    catalogue = tmp_path / "products.csv"
    catalogue.write_text("class_id,class_name,coarse_id,coarse_name,iconic_image,description_en\n", encoding="utf-8")
    # Execute
    code = main(["--home", str(tmp_path / "home"), "kg", "build", "--catalogue", str(catalogue)])
    # Assert
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert str(catalogue) in err and "department" in err
    assert not (tmp_path / "home" / "graph").exists()


def test_eval_pricing_rejects_one_seed_and_an_impossible_reaction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--home", str(tmp_path / "home"), "eval", "pricing", "--seeds", "1"])
    assert code == 2
    assert "--seeds must be at least 2" in capsys.readouterr().err
    code = main(["--home", str(tmp_path / "home"), "eval", "pricing", "--competitor-reaction", "2"])
    assert code == 2
    assert "--competitor-reaction must be between 0 and 1, got 2.0" in capsys.readouterr().err
    code = main(["--home", str(tmp_path / "home"), "eval", "demand", "--calibration-share", "0"])
    assert code == 2
    assert "--calibration-share must be strictly between 0 and 1" in capsys.readouterr().err
