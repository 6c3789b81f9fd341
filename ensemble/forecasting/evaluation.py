"""Rolling-origin evaluation of the forecasting members and the served forecaster.

Per test window and model: MASE (mean and median over series whose history changes), sMAPE (%), the mean
pinball loss of P10/P50/P90 divided by the series' MASE scale, and the share of held-out values inside
P10..P90 for the member's own interval (``coverage_native``, where the library gives one) and for the
conformal band calibrated on validation windows (``coverage_conformal``). The summary averages the windows
and checks the goals: served MASE at most 0.8 x seasonal naive and below AutoETS in every window, and
conformal P10-P90 coverage within 3 points of 0.80.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from ensemble.errors import DataError
from ensemble.forecasting.gbm import GbmConfig
from ensemble.forecasting.members import Member
from ensemble.forecasting.metrics import pinball_loss, smape
from ensemble.forecasting.panel import RollingConfig, build_panel
from ensemble.forecasting.rolling import SERVED, Band, HeldOutWindow, RollingForecasts, rolling_forecasts
from ensemble.forecasting.series import TIME_COL, weekly_product_units

__all__ = [
    "COVERAGE_TOLERANCE",
    "NOMINAL_COVERAGE",
    "evaluate_forecast",
    "online_retail_frame",
    "rolling_evaluation",
    "summarise",
    "window_metrics",
]

logger = logging.getLogger(__name__)

NOMINAL_COVERAGE = 0.8
COVERAGE_TOLERANCE = 0.03
NAIVE_RATIO_GOAL = 0.8


def _coverage(actual: np.ndarray, band: Band) -> float:
    return float(np.mean((actual >= band.lower - 1e-9) & (actual <= band.upper + 1e-9)))


def _scaled_pinball(actual: np.ndarray, band: Band, scales: np.ndarray) -> float:
    scored = scales > 0
    if not scored.any():
        return float("nan")
    values = []
    for i in np.flatnonzero(scored):
        losses = [
            pinball_loss(actual[i], q[i], level)
            for q, level in ((band.lower, 0.1), (band.point, 0.5), (band.upper, 0.9))
        ]
        values.append(float(np.mean(losses)) / float(scales[i]))
    return float(np.mean(values))


def window_metrics(window: HeldOutWindow, name: str) -> dict[str, Any]:
    """Metrics of one model (a member name or ``served``) on one test window."""
    conformal = window.conformal[name]
    scored = window.scales > 0
    mae = np.abs(window.actual - conformal.point).mean(axis=1)
    mases = mae[scored] / window.scales[scored]
    out: dict[str, Any] = {
        "mase": float(np.mean(mases)) if len(mases) else float("nan"),
        "mase_median": float(np.median(mases)) if len(mases) else float("nan"),
        "smape": float(np.mean([smape(a, p) for a, p in zip(window.actual, conformal.point, strict=True)])),
        "pinball_scaled": _scaled_pinball(window.actual, conformal, window.scales),
        "coverage_conformal": _coverage(window.actual, conformal),
        "series_scored_mase": int(scored.sum()),
    }
    native = window.native.get(name)
    out["coverage_native"] = _coverage(window.actual, native) if native is not None else None
    return out


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def summarise(result: RollingForecasts) -> dict[str, Any]:
    """The JSON-able report of a rolling evaluation (see the module docstring)."""
    panel, config = result.panel, result.config
    names = [SERVED, *(str(m) for m in Member)]
    windows_out: list[dict[str, Any]] = []
    per_model: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for window in result.windows:
        models = {n: window_metrics(window, n) for n in names}
        for n in names:
            per_model[n].append(models[n])
        windows_out.append(
            {
                "cutoff": panel.dates[window.cutoff].date().isoformat(),
                "served": window.combination.describe(panel.keys),
                "models": {n: {k: _round(v) for k, v in m.items()} for n, m in models.items()},
            }
        )
    summary: dict[str, Any] = {}
    for n, rows in per_model.items():
        summary[n] = {
            key: _round(_mean([r[key] for r in rows]))
            for key in ("mase", "mase_median", "smape", "pinball_scaled", "coverage_conformal")
        }
        native = [r["coverage_native"] for r in rows if r["coverage_native"] is not None]
        summary[n]["coverage_native"] = _round(_mean(native)) if native else None
        summary[n]["mase_per_window"] = [_round(r["mase"]) for r in rows]
    served = per_model[SERVED]
    naive = per_model[str(Member.SEASONAL_NAIVE)]
    ets = per_model[str(Member.AUTO_ETS)]
    ratios = [s["mase"] / b["mase"] for s, b in zip(served, naive, strict=True)]
    coverage = summary[SERVED]["coverage_conformal"]
    goals = {
        "served_vs_seasonal_naive_mase_per_window": [_round(r) for r in ratios],
        "served_at_most_0.8_seasonal_naive_every_window": bool(all(r <= NAIVE_RATIO_GOAL for r in ratios)),
        "served_below_auto_ets_every_window": bool(
            all(s["mase"] < e["mase"] for s, e in zip(served, ets, strict=True))
        ),
        "served_coverage_within_3pt_of_0.80": bool(abs(coverage - NOMINAL_COVERAGE) <= COVERAGE_TOLERANCE),
    }
    return {
        "protocol": {
            "horizon": config.horizon,
            "step": config.step,
            "test_windows": config.test_windows,
            "validation_windows": config.validation_windows,
            "season_length": config.season_length,
            "series": len(panel.keys),
            "learn_series": result.learn_series,
            "series_left_out_off_grid": panel.dropped,
            "covariates": panel.covariate_names,
            "first_cutoff": panel.dates[config.cutoffs(panel.length)[0]].date().isoformat(),
            "test_cutoffs": [panel.dates[c].date().isoformat() for c in config.test_cutoffs(panel.length)],
        },
        "models": summary,
        "windows": windows_out,
        "goals": goals,
        "fit_seconds": result.fit_seconds,
        "note": (
            "served = the member combination chosen on each test window's validation windows, with a per-series "
            "fall-back to the best classic baseline; coverage_conformal is the share of held-out values inside "
            "the conformal P10..P90 (nominal 0.80), coverage_native that of the member's own 80 % interval"
        ),
    }


def _round(value: Any) -> Any:
    return round(float(value), 4) if isinstance(value, float | np.floating) and np.isfinite(value) else value


def rolling_evaluation(
    frame: pd.DataFrame,
    config: RollingConfig | None = None,
    *,
    learn_ids: Collection[str] | None = None,
    report_ids: Collection[str] | None = None,
    gbm: GbmConfig | None = None,
) -> RollingForecasts:
    """The rolling-origin forecasts of a series frame (covariate columns are used by the LightGBM member).

    ``learn_ids`` are the series the global member learns on (default: all) and ``report_ids`` those scored
    (default: all), e.g. learn on Dominick's even stores and report on the odd ones.
    """
    config = config or RollingConfig()
    config.check()
    panel = build_panel(frame, min_length=config.horizon + config.min_train + 1)
    known = set(panel.keys)
    learn = sorted(known if learn_ids is None else set(map(str, learn_ids)) & known)
    report = sorted(known if report_ids is None else set(map(str, report_ids)) & known)
    for name, keys, given in (("learn_ids", learn, learn_ids), ("report_ids", report, report_ids)):
        if not keys:
            raise DataError(
                f"{name} names no series of the frame on its common date grid (given {len(given or [])}); "
                "pass ids present in the frame"
            )
    return rolling_forecasts(panel, config, learn, report, gbm)


def evaluate_forecast(
    frame: pd.DataFrame,
    config: RollingConfig | None = None,
    *,
    learn_ids: Collection[str] | None = None,
    report_ids: Collection[str] | None = None,
    gbm: GbmConfig | None = None,
) -> dict[str, Any]:
    """The metrics of :func:`rolling_evaluation` per model and window (see :func:`summarise`)."""
    return summarise(rolling_evaluation(frame, config, learn_ids=learn_ids, report_ids=report_ids, gbm=gbm))


def online_retail_frame(retail: pd.DataFrame, top_n: int = 100, config: RollingConfig | None = None) -> pd.DataFrame:
    """Weekly units of the ``top_n`` best sellers ranked on the weeks before the first cutoff of ``config``
    only, so that no held-out or validation week influences which products are evaluated."""
    config = config or RollingConfig()
    weeks = pd.DatetimeIndex(sorted(weekly_product_units(retail, top_n=1)[TIME_COL].unique()))
    first_cutoff = weeks[config.cutoffs(len(weeks))[0]]
    return weekly_product_units(retail, top_n=top_n, select_before=first_cutoff.date().isoformat())
