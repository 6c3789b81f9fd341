"""``shopmesh eval forecast`` and ``eval inventory`` on a user's series CSV, in process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from shopmesh.cli import main


def _series_csv(path: Path) -> Path:
    rng = np.random.default_rng(0)
    dates = pd.date_range("2022-01-03", periods=40, freq="7D")
    frames = []
    for i in range(4):
        promo = rng.choice([0.0, 1.0], size=40, p=[0.75, 0.25])
        units = rng.poisson(30 * (i + 1) * (1 + promo))
        frames.append(pd.DataFrame({"sku": f"k{i}", "week": dates.date, "units": units, "promo": promo}))
    pd.concat(frames).to_csv(path, index=False)
    return path


SMALL = ["--horizon", "4", "--step", "2", "--test-windows", "2", "--validation-windows", "2"]


def test_eval_forecast_on_a_user_csv_with_a_covariate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare
    data = _series_csv(tmp_path / "sales.csv")
    args = ["--series", str(data), "--id-col", "sku", "--date-col", "week", "--value-col", "units"]
    plot = tmp_path / "figures" / "forecast.png"
    # Execute
    code = main(
        [
            "--home",
            str(tmp_path / "h"),
            "eval",
            "forecast",
            *args,
            "--covariate-cols",
            "promo",
            *SMALL,
            "--plot",
            str(plot),
        ]
    )
    # Assert
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["data"] == str(data)
    assert report["plot"] == str(plot)
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (700, 4 * 260)  # the 4 series, one panel each
    assert report["protocol"]["covariates"] == ["promo"] and report["protocol"]["series"] == 4
    assert len(report["models"]["served"]["mase_per_window"]) == 2


def test_eval_inventory_on_a_user_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _series_csv(tmp_path / "sales.csv")
    args = ["--series", str(data), "--id-col", "sku", "--date-col", "week", "--value-col", "units"]
    code = main(["--home", str(tmp_path / "h"), "eval", "inventory", *args, *SMALL, "--lead-time", "1"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(report["models"]) == {"served", "seasonal_naive", "auto_ets"}
    assert report["policy"]["lead_time_weeks"] == 1


def test_eval_forecast_names_a_missing_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _series_csv(tmp_path / "sales.csv")
    code = main(["--home", str(tmp_path / "h"), "eval", "forecast", "--series", str(data), "--id-col", "sku"])
    err = capsys.readouterr().err
    assert code == 2
    assert "'ds'" in err and "--date-col" in err and "Traceback" not in err
