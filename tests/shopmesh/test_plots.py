"""The figures: each plot function writes a PNG that Pillow opens at the figure's size, the same bytes twice;
the commands write theirs (``eval intent --plot``, ``federate``'s round plot) and refuse a bad path at once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ensemble.datasets import DataSplits
from ensemble.forecasting import RollingConfig, rolling_evaluation
from ensemble.intent_ensemble import EnsembleConfig, build_intent_ensemble
from ensemble.members.intent import IntentModel
from ensemble.members.intent_artifact import save_intent
from ensemble.registry import Lineage, Registry
from ensemble.training import TrainConfig, train_head
from federation import FederatedResult
from federation.rounds import RoundRecord
from shopmesh import plots
from shopmesh.cli import main
from shopmesh.commands.federate import write_round_plot
from shopmesh.errors import CommandError

PHRASES = {
    "cancel_order": ["cancel my order", "please cancel the purchase", "stop my order", "call off order"],
    "get_refund": ["i want my money back", "refund me", "give me a refund", "money back please"],
    "track_order": ["where is my parcel", "track my order", "where is my package", "order status"],
}


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.verify()  # a truncated or corrupt file raises here
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _federated_result() -> FederatedResult:
    rounds = [
        RoundRecord(round=r, evaluate={1: {"accuracy": a}}, evaluate_aggregate={"accuracy": a}).to_dict()
        for r, a in ((1, 0.41), (2, 0.63), (3, 0.7))
    ]
    return FederatedResult("published", "intent:v0003", "intent:v0001", rounds=rounds, participants=[1, 2])


def test_round_accuracy_writes_one_png_of_the_figure_size_the_same_bytes_twice(tmp_path: Path) -> None:
    # Prepare
    result = _federated_result()
    # Execute
    first = write_round_plot(result, tmp_path / "a.png")
    second = write_round_plot(result, tmp_path / "b.png")
    # Assert
    assert first == tmp_path / "a.png" and second is not None
    assert _png_size(first) == (600, 400)
    assert first.read_bytes() == second.read_bytes()


def test_a_run_without_round_accuracy_writes_no_plot_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = FederatedResult("failed", None, None, rounds=[RoundRecord(round=1).to_dict()])
    assert write_round_plot(result, tmp_path / "r.png") is None
    assert not (tmp_path / "r.png").exists()
    assert "no round reported" in capsys.readouterr().err


def test_forecast_bands_from_a_real_rolling_evaluation(tmp_path: Path) -> None:
    # Prepare: three weekly series, a small rolling evaluation of every member.
    rng = np.random.default_rng(0)
    dates = pd.date_range("2022-01-03", periods=36, freq="7D")
    frame = pd.concat(
        pd.DataFrame({"unique_id": f"s{i}", "ds": dates, "y": rng.poisson(20 * (i + 1), 36).astype(float)})
        for i in range(3)
    )
    result = rolling_evaluation(frame, RollingConfig(horizon=4, step=2, test_windows=2, validation_windows=2))
    # Execute
    out = plots.forecast_bands(result, tmp_path / "bands.png", series=2)
    # Assert: one panel per series shown, 2.6 inches each
    assert _png_size(out) == (700, 520)


def test_confusion_matrix_counts_every_label_seen_on_either_side(tmp_path: Path) -> None:
    labels = ["a", "a", "b", "c"]
    predicted = ["a", "b", "b", "d"]  # "d" is predicted but never true
    out = plots.confusion_matrix_plot(labels, predicted, tmp_path / "cm.png")
    assert _png_size(out) == (500, 500)
    with pytest.raises(CommandError, match="as many predictions as labels"):
        plots.confusion_matrix_plot(labels, predicted[:2], tmp_path / "x.png")


def test_latency_histograms_need_the_latencies_in_the_results(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    cells = [
        {"system": system, "concurrency": c, "latencies_ms": rng.lognormal(3 + c / 32, 0.3, 50).tolist()}
        for system in ("peer", "shopmesh chat (colocated)")
        for c in (1, 32)
    ]
    assert _png_size(plots.latency_histograms(cells, tmp_path / "lat.png")) == (1200, 400)
    with pytest.raises(CommandError, match="'peer'"):
        plots.latency_histograms([{"system": "peer", "concurrency": 1}], tmp_path / "old.png")


def test_pricing_regret_needs_the_oracle(tmp_path: Path) -> None:
    weekly = {"oracle": [10.0, 12.0, 11.0], "thompson": [8.0, 11.5, 11.0], "historical": [7.0, 9.0, 8.0]}
    assert _png_size(plots.pricing_regret(weekly, tmp_path / "regret.png")) == (700, 400)
    with pytest.raises(CommandError, match="no oracle"):
        plots.pricing_regret({"thompson": [1.0]}, tmp_path / "x.png")


def test_pricing_regret_over_seeds_draws_one_line_per_seed_and_the_mean(tmp_path: Path) -> None:
    runs = [
        {"oracle": [10.0, 12.0, 11.0], "thompson": [8.0 + seed, 11.5, 11.0], "greedy": [7.0, 9.0, 8.0 + seed]}
        for seed in range(3)
    ]
    one = plots.pricing_regret(runs[:1], tmp_path / "one.png")
    three = plots.pricing_regret(runs, tmp_path / "three.png")
    assert _png_size(three) == (700, 400)
    assert one.read_bytes() != three.read_bytes()
    with pytest.raises(CommandError, match="no runs"):
        plots.pricing_regret([], tmp_path / "none.png")


def test_a_plot_path_that_is_not_png_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"must end in \.png"):
        plots.png_path(tmp_path / "plot.jpg", tmp_path / "default.png")
    assert plots.png_path(None, tmp_path / "new" / "d.png") == tmp_path / "new" / "d.png"
    assert (tmp_path / "new").is_dir()


def test_federate_refuses_a_bad_plot_path_before_any_round(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--home", str(tmp_path / "h"), "federate", "--nodes", "1", "--rounds", "1", "--plot", "r.svg"])
    err = capsys.readouterr().err
    assert code == 2
    assert "r.svg" in err and ".png" in err and "Traceback" not in err
    assert not (tmp_path / "h" / "federation").exists()


@pytest.fixture(scope="module")
def tiny_ensemble_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with a tiny random-encoder intent version (head fitted) and the ensemble built on it."""
    home = tmp_path_factory.mktemp("home")
    registry = Registry(home / "registry")
    rows = [(text, label) for label, texts in PHRASES.items() for text in texts]
    frame = pd.DataFrame(rows, columns=["instruction", "intent"])
    model = IntentModel.tiny(list(PHRASES))
    train_head(model, frame.instruction.tolist(), frame.intent.tolist(), TrainConfig(head_epochs=30))
    lineage = Lineage(parent=None, data_fingerprint="sha256:test", method="central")
    intent = save_intent(registry, model, metrics={}, lineage=lineage)
    splits = DataSplits(train=frame, val=frame.assign(instruction=frame.instruction + " now"), test=frame)
    config = EnsembleConfig(k=3, oos_groups=2, oos_group_min=1, oos_group_max=1, seed=0)
    build_intent_ensemble(registry, intent.id, splits, config=config)
    return home


def test_eval_intent_writes_its_confusion_matrix(
    tiny_ensemble_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prepare
    data = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["track my parcel", "refund please", "cancel it"], "intent": list(PHRASES)[::-1]}).to_csv(
        data, index=False
    )
    out = tmp_path / "plots" / "confusion.png"
    # Execute
    code = main(["--home", str(tiny_ensemble_home), "eval", "intent", "--data", str(data), "--plot", str(out)])
    # Assert
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["plot"] == str(out) and report["examples"] == 3.0
    assert _png_size(out) == (500, 500)


def test_eval_intent_without_plot_writes_it_into_the_workspace(
    tiny_ensemble_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["where is my package"], "intent": ["track_order"]}).to_csv(data, index=False)
    code = main(["--home", str(tiny_ensemble_home), "eval", "intent", "--data", str(data)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert Path(report["plot"]) == tiny_ensemble_home / "intent_confusion.png"
    _png_size(tiny_ensemble_home / "intent_confusion.png")
