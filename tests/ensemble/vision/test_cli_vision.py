from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ensemble.vision import bundled_grocery_dir
from shopmesh.cli import main

from .conftest import TrainedVision

EVAL_KEYS = {"accuracy_fine", "accuracy_coarse", "macro_f1", "ece", "most_confused", "photo_to_text_recall@5"}


def test_eval_prints_one_json_object_for_the_chosen_split(
    trained_vision: TrainedVision, capsys: pytest.CaptureFixture[str]
) -> None:
    root = bundled_grocery_dir()
    args = ["--images", str(root / "images"), "--labels", str(root / "images.csv"), "--split", "val"]
    code = main(["--home", str(trained_vision.home), "eval", "vision", *args])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert set(result) >= EVAL_KEYS
    assert result["split"] == "val" and result["photos"] == 18
    assert result["version"] == "vision:v0001"
    # The validation scores printed at training time come from the same model on the same photos.
    assert result["accuracy_fine"] == trained_vision.printed["accuracy_fine"]


def test_eval_with_the_baseline_reports_the_linear_probe_beside(
    trained_vision: TrainedVision, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--home", str(trained_vision.home), "eval", "vision", "--bundled", "--baseline"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["split"] == "test"
    assert {"accuracy_fine", "accuracy_coarse", "C"} <= set(result["frozen_linear_probe"])


def test_labels_without_the_dataset_columns_are_a_one_line_error(
    trained_vision: TrainedVision, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "grocery"
    shutil.copytree(bundled_grocery_dir(), root)
    pd.read_csv(root / "images.csv").rename(columns={"class_id": "label"}).to_csv(root / "images.csv", index=False)
    code = main(["--home", str(trained_vision.home), "eval", "vision", "--labels", str(root / "images.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "class_id" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_missing_data_is_a_one_line_error_naming_the_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    labels = tmp_path / "absent" / "images.csv"
    code = main(["--home", str(tmp_path / "h"), "train", "vision", "--labels", str(labels)])
    err = capsys.readouterr().err
    assert code == 2
    assert "--images" in err and "Traceback" not in err


def test_eval_without_a_version_says_how_to_train_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(tmp_path / "h"), "eval", "vision", "--bundled"])
    err = capsys.readouterr().err
    assert code == 2
    assert "vision" in err


def test_zero_epochs_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["--home", str(tmp_path / "h"), "train", "vision", "--bundled", "--epochs", "0", "--warmup-epochs", "0"]
    )
    assert code == 2
    assert "--epochs 1" in capsys.readouterr().err
