"""Hold-out evaluation of the forecasting member: seasonal naive, AutoETS and the global neural forecaster on
the last ``horizon`` steps of every series, with a validation window just before them for early stopping.

Time layout of a series of length T (h = horizon, L = input window):
``[... training targets ...][validation: T-2h .. T-h)[test: T-h .. T)``. The neural model learns from
windows whose targets end before T-2h, stops early on the validation window, and forecasts the test window
from the L values before it. The statistical baselines are fitted on everything before T-h. No figure on the
test window is used to choose anything.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from ensemble.errors import DataError
from ensemble.forecasting.baselines import forecast_baselines
from ensemble.forecasting.metrics import interval_coverage, mase, smape
from ensemble.forecasting.neural import NeuralConfig, NeuralForecaster
from ensemble.forecasting.series import covariate_columns, validate_series_frame
from ensemble.forecasting.windows import build_windows, series_arrays

__all__ = ["evaluate_forecast"]

logger = logging.getLogger(__name__)


def _summary(
    actual: dict[str, np.ndarray],
    history: dict[str, np.ndarray],
    point: dict[str, np.ndarray],
    season_length: int,
    lower: dict[str, np.ndarray] | None,
    upper: dict[str, np.ndarray] | None,
) -> dict[str, Any]:
    keys = list(actual)
    mases = np.array([mase(actual[k], point[k], history[k], season_length) for k in keys])
    smapes = np.array([smape(actual[k], point[k]) for k in keys])
    scored = mases[np.isfinite(mases)]
    out: dict[str, Any] = {
        "mase": float(np.mean(scored)) if len(scored) else float("nan"),
        "mase_median": float(np.median(scored)) if len(scored) else float("nan"),
        "smape": float(np.mean(smapes)),
        "series_scored_mase": len(scored),
    }
    if lower is not None and upper is not None:
        y = np.concatenate([actual[k] for k in keys])
        out["coverage_p10_p90"] = interval_coverage(
            y, np.concatenate([lower[k] for k in keys]), np.concatenate([upper[k] for k in keys])
        )
    return out


def evaluate_forecast(
    frame: pd.DataFrame,
    horizon: int = 8,
    season_length: int = 1,
    config: NeuralConfig | None = None,
    learn_ids: Collection[str] | None = None,
    report_ids: Collection[str] | None = None,
) -> dict[str, Any]:
    """Evaluate the three forecasters on the last ``horizon`` steps of each series of a series frame.

    ``season_length`` drives both the seasonal naive model, AutoETS and the MASE scale (in-sample MAE of the
    seasonal naive forecast on everything before the test window). The neural model is trained on the
    ``learn_ids`` series (default: all) and every model is scored on the ``report_ids`` series (default: all),
    e.g. learn on Dominick's even stores and report on the odd ones. Covariate columns are used by the neural
    model only and are treated as known over the horizon.

    Returns a JSON-able dict: ``{"models": {"seasonal_naive": {...}, "auto_ets": {...}, "neural": {...}},
    "series": n, "horizon": h, "season_length": m, ...}`` with MASE (mean and median over series), sMAPE (%),
    P10-P90 coverage and fit seconds per model.
    """
    config = config or NeuralConfig()
    if horizon < 1:
        raise DataError(f"horizon must be at least 1; got {horizon}")
    min_length = 3 * horizon + config.input_window
    checked = validate_series_frame(frame, min_length=max(min_length, season_length + horizon + 2))
    covariates = covariate_columns(checked)
    all_series = series_arrays(checked, covariates)
    known = {s.key for s in all_series}
    learn_keys = set(known if learn_ids is None else learn_ids)
    report_keys = set(known if report_ids is None else report_ids)
    for name, keys in (("learn_ids", learn_keys), ("report_ids", report_keys)):
        unknown = keys - known
        if unknown or not keys:
            raise DataError(f"{name} names series not in the frame: {sorted(unknown)[:5]} (or is empty)")
    learn = [s for s in all_series if s.key in learn_keys]
    report = [s for s in all_series if s.key in report_keys]
    nonnegative = bool((checked["y"] >= 0).all())

    history = {s.key: s.values[: len(s.values) - horizon] for s in report}
    actual = {s.key: s.values[len(s.values) - horizon :] for s in report}

    started = time.perf_counter()
    baselines = forecast_baselines(history, horizon, season_length)
    baseline_seconds = time.perf_counter() - started

    window = config.input_window
    train_origins = [list(range(window, len(s.values) - 3 * horizon + 1)) for s in learn]
    train = build_windows(learn, train_origins, window, horizon, with_targets=True)
    validation = build_windows(learn, [[len(s.values) - 2 * horizon] for s in learn], window, horizon, True)
    model = NeuralForecaster(horizon, config).fit(train, validation)
    test = build_windows(report, [[len(s.values) - horizon] for s in report], window, horizon, False)
    quantiles = model.predict(test)
    if nonnegative:
        quantiles = np.maximum(quantiles, 0.0)
    neural_q = {key: quantiles[i] for i, key in enumerate(test.keys)}

    models: dict[str, Any] = {}
    for name, result in baselines.items():
        point = {k: np.maximum(v, 0.0) if nonnegative else v for k, v in result.point.items()}
        models[name] = _summary(actual, history, point, season_length, result.lower, result.upper)
        models[name]["fit_seconds"] = round(baseline_seconds, 2)
    models["neural"] = _summary(
        actual,
        history,
        {k: q[:, 1] for k, q in neural_q.items()},
        season_length,
        {k: q[:, 0] for k, q in neural_q.items()},
        {k: q[:, 2] for k, q in neural_q.items()},
    )
    models["neural"].update(
        fit_seconds=round(model.training_seconds, 2),
        best_epoch=model.best_epoch,
        validation_pinball=round(model.best_validation_loss, 5),
        training_windows=len(train.features),
    )
    naive_mase = models["seasonal_naive"]["mase"]
    return {
        "models": models,
        "series": len(report),
        "learn_series": len(learn),
        "horizon": horizon,
        "season_length": season_length,
        "covariates": covariates,
        "neural_vs_seasonal_naive_mase": models["neural"]["mase"] / naive_mase if naive_mase else float("nan"),
        "neural_beats_auto_ets": bool(models["neural"]["mase"] < models["auto_ets"]["mase"]),
        "note": (
            "statsforecast's seasonal naive and AutoETS are fitted together, so their fit_seconds is shared; "
            "coverage is the share of held-out values inside P10..P90 (nominal 0.80)"
        ),
    }
