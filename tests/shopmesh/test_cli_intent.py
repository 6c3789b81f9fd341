"""``shopmesh eval intent`` and ``shopmesh predict intent``: bad files give one clear line and exit 2; the real
stack prints one JSON object and writes one row per message."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ensemble.errors import DataError
from shopmesh.cli import build_parser, main
from shopmesh.commands import predict
from shopmesh.config import workspace_from
from shopmesh.errors import CommandError

DATA = Path(__file__).resolve().parents[1] / "data"


def _predict_args(*argv: str, home: Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="shopmesh")
    predict.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["predict", *argv])
    args.workspace = workspace_from(str(home))
    return args


def _predict_is_registered() -> bool:
    commands = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    return "predict" in commands


def test_eval_intent_on_a_file_without_the_label_column(tmp_path: Path, cli: Any) -> None:
    # Prepare
    data = tmp_path / "messages.csv"
    data.write_text("text,label\nwhere is my order,track_order\n", encoding="utf-8")
    # Execute
    result = cli("eval", "intent", "--data", str(data), home=tmp_path / "home", timeout=300)
    # Assert
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'intent'" in result.stderr and str(data) in result.stderr
    assert not (tmp_path / "home" / "registry").exists()


def test_eval_intent_on_a_missing_oos_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare
    data = tmp_path / "messages.csv"
    data.write_text("text,intent\nwhere is my order,track_order\n", encoding="utf-8")
    missing = tmp_path / "nope.csv"
    # Execute: in process, through the same entry point as the command.
    code = main(["--home", str(tmp_path / "h"), "eval", "intent", "--data", str(data), "--oos-data", str(missing)])
    # Assert
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert str(missing) in err


def test_eval_intent_refuses_an_unknown_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "messages.csv"
    data.write_text("text,intent\nwhere is my order,track_order\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["--home", str(tmp_path / "h"), "eval", "intent", "--data", str(data), "--mode", "cascade"])
    assert exited.value.code == 2
    assert "cascade" in capsys.readouterr().err


def test_predict_intent_reads_the_text_column_it_is_told(tmp_path: Path) -> None:
    data = tmp_path / "messages.csv"
    data.write_text("message\nwhere is my order\n", encoding="utf-8")
    args = _predict_args("intent", "--data", str(data), "--out", str(tmp_path / "p.csv"), home=tmp_path / "h")
    with pytest.raises(DataError, match="'text'"):
        args.handler(args)


def test_predict_intent_refuses_an_output_folder_that_does_not_exist(tmp_path: Path) -> None:
    data = tmp_path / "messages.csv"
    data.write_text("text\nwhere is my order\n", encoding="utf-8")
    out = tmp_path / "missing" / "p.csv"
    args = _predict_args("intent", "--data", str(data), "--out", str(out), home=tmp_path / "h")
    with pytest.raises(CommandError, match="does not exist"):
        args.handler(args)


@pytest.mark.integration
@pytest.mark.slow
def test_eval_and_predict_intent_train_and_build_on_first_use(tmp_path: Path, cli: Any) -> None:
    # Prepare: the hand-written robustness set (labelled) and out-of-scope messages.
    home = tmp_path / "home"
    labelled = DATA / "intent_robustness.csv"
    oos = DATA / "intent_oos.csv"
    # Execute: the first command trains an intent version and builds the ensemble.
    evaluated = cli("eval", "intent", "--data", str(labelled), "--oos-data", str(oos), home=home, timeout=1500)
    # Assert
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    result = json.loads(evaluated.stdout)
    assert result["version"] == "intent-ensemble:v0001"
    for key in ("accuracy", "macro_f1", "ece", "oos_auroc", "oos_recall_at_95_precision"):
        assert 0.0 <= result[key] <= 1.0
    assert result["accuracy"] > 1 / 27
    assert (home / "registry" / "intent" / "v0001").is_dir()
    if not _predict_is_registered():
        pytest.skip("`predict` is not registered in shopmesh/cli.py yet; the eval half has run")
    out = tmp_path / "pred.csv"
    predicted = cli("predict", "intent", "--data", str(oos), "--out", str(out), home=home, timeout=600)
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["text", "intent", "confidence", "out_of_scope"]
    assert len(frame) == len(pd.read_csv(oos))
    assert not (home / "registry" / "intent-ensemble" / "v0002").exists()
