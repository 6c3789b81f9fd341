"""``shopmesh eval recommend`` on small generated CSV files (unix timestamps, dates, a ratings column)."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from ensemble.recommendation import read_interactions_csv
from shopmesh.commands.evaluate_recommend import register_recommend
from shopmesh.config import workspace_from
from shopmesh.errors import user_errors

MEMBERS = {"popularity", "item_knn", "bpr", "graph", "content"}
METRICS = {"hr@10", "ndcg@10", "recall@20", "coverage"}


def _run(argv: Sequence[str], tmp_path: Path) -> int:
    """Parse and run like ``shopmesh`` does (an ``eval`` group holding ``recommend``); user errors -> 2."""
    parser = argparse.ArgumentParser(prog="shopmesh")
    sub = parser.add_subparsers(dest="command", required=True)
    group = sub.add_parser("eval").add_subparsers(dest="eval_target", required=True)
    register_recommend(group)
    args = parser.parse_args(["eval", "recommend", *argv])
    args.workspace = workspace_from(str(tmp_path / "home"))
    try:
        code: int = args.handler(args)
    except user_errors():
        return 2
    return code


def _write(tmp_path: Path, *, unix: bool, ratings: bool = True) -> Path:
    """30 users over 60 days: each buys items from a sliding window of 40 items, with a ratings column."""
    rows = []
    start = pd.Timestamp("2022-03-01")
    for day in range(60):
        for user in range(30):
            if (day + user) % 3:
                continue
            when = start + pd.Timedelta(days=day, hours=user % 12)
            row = {
                "user_id": f"u{user}",
                "item_id": f"p{(day // 2 + 3 * user) % 40}",
                "timestamp": int(when.timestamp()) if unix else when.strftime("%Y-%m-%d %H:%M:%S"),
            }
            if ratings:
                row["rating"] = 5 if user % 2 else 1
            rows.append(row)
    path = tmp_path / ("unix.csv" if unix else "dates.csv")
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("unix", [True, False], ids=["unix-timestamps", "dates"])
def test_cli_prints_one_json_object_with_every_member(
    tmp_path: Path, unix: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, unix=unix)

    code = _run(["--interactions", str(path), "--test-fraction", "0.2"], tmp_path)

    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["members"]) == MEMBERS
    assert set(result["members"]["content"]) == {"skipped"}
    for name in MEMBERS - {"content"}:
        assert set(result["members"][name]) >= METRICS
    assert set(result["fusion"]) >= METRICS
    assert pd.Timestamp(result["protocol"]["split"]["test_from"]) > pd.Timestamp("2022-04-01")


def test_unix_and_date_files_give_the_same_times(tmp_path: Path) -> None:
    unix = read_interactions_csv(_write(tmp_path, unix=True))
    dates = read_interactions_csv(_write(tmp_path, unix=False))

    pd.testing.assert_series_equal(unix["timestamp"], dates["timestamp"])


def test_ratings_column_is_ignored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with_ratings = _write(tmp_path, unix=True, ratings=True)
    frame = pd.read_csv(with_ratings)
    frame["rating"] = 0  # a different rating everywhere must not change anything
    changed = tmp_path / "changed.csv"
    frame.to_csv(changed, index=False)

    _run(["--interactions", str(with_ratings), "--test-from", "2022-04-15"], tmp_path)
    first = json.loads(capsys.readouterr().out)
    _run(["--interactions", str(changed), "--test-from", "2022-04-15"], tmp_path)
    second = json.loads(capsys.readouterr().out)

    assert "rating" not in read_interactions_csv(with_ratings).columns

    def metrics(result: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
        rows = {**result["members"], "fusion": result["fusion"]}
        return {name: {key: row[key] for key in METRICS & set(row)} for name, row in rows.items()}

    assert metrics(first) == metrics(second)


def test_custom_column_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.read_csv(_write(tmp_path, unix=False)).rename(
        columns={"user_id": "customer", "item_id": "sku", "timestamp": "when"}
    )
    path = tmp_path / "renamed.csv"
    frame.to_csv(path, index=False)

    code = _run(
        ["--interactions", str(path), "--user-col", "customer", "--item-col", "sku", "--time-col", "when"], tmp_path
    )

    assert code == 0
    assert "fusion" in json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("user_id,item_id\nu1,a\n", "timestamp"),
        ("user_id,item_id,timestamp\nu1,a,yesterday-ish\n", "yesterday-ish"),
        ("", "empty"),
    ],
    ids=["missing-time-column", "bad-time", "empty-file"],
)
def test_bad_files_raise_data_error_and_exit_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)

    from ensemble.errors import DataError

    with pytest.raises(DataError, match=message):
        read_interactions_csv(path)
    assert _run(["--interactions", str(path)], tmp_path) == 2


def test_missing_file_exits_2(tmp_path: Path) -> None:
    assert _run(["--interactions", str(tmp_path / "nope.csv")], tmp_path) == 2


def test_bad_test_fraction_exits_2(tmp_path: Path) -> None:
    assert _run(["--interactions", str(_write(tmp_path, unix=True)), "--test-fraction", "1.5"], tmp_path) == 2


def test_wired_into_the_shopmesh_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from shopmesh.cli import build_parser

    with contextlib.suppress(SystemExit):
        build_parser().parse_args(["eval", "recommend", "--help"])
    help_text = capsys.readouterr().out
    if "--interactions" not in help_text:
        pytest.skip("`eval recommend` is not registered in shopmesh/commands/evaluate.py yet")
    from shopmesh.cli import main

    code = main(["--home", str(tmp_path / "h"), "eval", "recommend", "--interactions", str(tmp_path / "no.csv")])

    assert code == 2
