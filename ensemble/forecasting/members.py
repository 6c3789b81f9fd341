"""The classic members through statsforecast: seasonal naive, AutoETS, AutoTheta, and for intermittent demand
CrostonOptimized, ADIDA and TSB, forecast at every cutoff of a rolling-origin layout (or past the end).

Seasonal naive, AutoETS and AutoTheta come with their own 80 % (P10-P90) intervals; the intermittent-demand
models give a point forecast only. All models run with ``n_jobs=1``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from statsforecast import StatsForecast
from statsforecast.models import ADIDA, TSB, AutoETS, AutoTheta, CrostonOptimized, SeasonalNaive

from ensemble.errors import ModelError
from ensemble.forecasting.panel import Panel

__all__ = ["BASELINES", "Member", "MemberForecast", "statistical_forecasts"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

# TSB's smoothing of demand size and of demand probability; 0.1 each is the textbook starting point
# (Teunter, Syntetos & Babai 2011) and is not tuned on any window.
TSB_ALPHA = 0.1


class Member(StrEnum):
    SEASONAL_NAIVE = "seasonal_naive"
    AUTO_ETS = "auto_ets"
    AUTO_THETA = "auto_theta"
    CROSTON = "croston_optimized"
    ADIDA = "adida"
    TSB = "tsb"
    LIGHTGBM = "lightgbm"


# The classic baselines the served forecaster must never be worse than on validation.
BASELINES: tuple[Member, ...] = (
    Member.SEASONAL_NAIVE,
    Member.AUTO_ETS,
    Member.AUTO_THETA,
    Member.CROSTON,
    Member.ADIDA,
    Member.TSB,
)
_WITH_INTERVALS = (Member.SEASONAL_NAIVE, Member.AUTO_ETS, Member.AUTO_THETA)
_ALIASES = {
    Member.SEASONAL_NAIVE: "SeasonalNaive",
    Member.AUTO_ETS: "AutoETS",
    Member.AUTO_THETA: "AutoTheta",
    Member.CROSTON: "CrostonOptimized",
    Member.ADIDA: "ADIDA",
    Member.TSB: "TSB",
}


@dataclass(frozen=True)
class MemberForecast:
    """Forecasts of one member at K cutoffs: point, lower (P10) and upper (P90), each (n, K, h); the bounds are
    None when the member has no interval of its own."""

    point: FloatArray
    lower: FloatArray | None = None
    upper: FloatArray | None = None


def _long(panel: Panel, end: int) -> pd.DataFrame:
    n = len(panel.keys)
    return pd.DataFrame(
        {
            "unique_id": np.repeat(panel.keys, end),
            "ds": np.tile(np.arange(end), n),
            "y": panel.values[:, :end].ravel(),
        }
    )


def _to_array(frame: pd.DataFrame, column: str, panel: Panel, cutoffs: list[int], horizon: int) -> FloatArray:
    """Long statsforecast output -> (n, K, h) in panel key order and cutoff order."""
    key_index = {k: i for i, k in enumerate(panel.keys)}
    cut_index = {c: j for j, c in enumerate(cutoffs)}
    out = np.full((len(panel.keys), len(cutoffs), horizon), np.nan)
    rows = frame["unique_id"].astype(str).map(key_index).to_numpy(dtype=int)
    cols = frame["cutoff"].map(cut_index).to_numpy(dtype=int)
    steps = (frame["ds"] - frame["cutoff"]).to_numpy(dtype=int)
    out[rows, cols, steps] = frame[column].to_numpy(dtype=float)
    if np.isnan(out).any():
        raise ModelError(f"statsforecast returned no value for some series/cutoffs of {column}")
    return out


def statistical_forecasts(
    panel: Panel, cutoffs: list[int], horizon: int, season_length: int
) -> dict[Member, MemberForecast]:
    """Forecast ``horizon`` steps from every cutoff (evenly spaced; a cutoff equal to the panel length forecasts
    past the end) with each classic member fitted on the steps before that cutoff."""
    step = cutoffs[1] - cutoffs[0] if len(cutoffs) > 1 else horizon
    end = cutoffs[-1] + horizon if cutoffs[-1] + horizon <= panel.length else cutoffs[-1]
    frame = _long(panel, end)
    outputs: list[pd.DataFrame] = []
    for models, level in (
        (
            [
                SeasonalNaive(season_length=season_length),
                AutoETS(season_length=season_length),
                AutoTheta(season_length),
            ],
            [80],
        ),
        ([CrostonOptimized(), ADIDA(), TSB(alpha_d=TSB_ALPHA, alpha_p=TSB_ALPHA)], None),
    ):
        engine = StatsForecast(models=models, freq=1, n_jobs=1)
        try:
            if end == cutoffs[-1]:
                # The last cutoff lies past the data: forecast it, and cross-validate the earlier ones.
                future = engine.forecast(df=frame, h=horizon, level=level).assign(cutoff=end - 1)
                parts = [future]
                if len(cutoffs) > 1:
                    parts.append(
                        engine.cross_validation(
                            df=frame, h=horizon, step_size=step, n_windows=len(cutoffs) - 1, level=level
                        ).drop(columns="y")
                    )
                result = pd.concat(parts, ignore_index=True)
            else:
                result = engine.cross_validation(
                    df=frame, h=horizon, step_size=step, n_windows=len(cutoffs), level=level
                ).drop(columns="y")
        except (ValueError, np.linalg.LinAlgError) as err:
            raise ModelError(f"statsforecast failed on {len(panel.keys)} series: {err}") from err
        if "unique_id" not in result.columns:
            result = result.reset_index()
        result["cutoff"] = result["cutoff"].astype(int) + 1
        outputs.append(result)
    forecasts: dict[Member, MemberForecast] = {}
    for member, alias in _ALIASES.items():
        frame_out = outputs[0] if member in _WITH_INTERVALS else outputs[1]
        point = _to_array(frame_out, alias, panel, cutoffs, horizon)
        if member in _WITH_INTERVALS:
            lower = _to_array(frame_out, f"{alias}-lo-80", panel, cutoffs, horizon)
            upper = _to_array(frame_out, f"{alias}-hi-80", panel, cutoffs, horizon)
            forecasts[member] = MemberForecast(point, lower, upper)
        else:
            forecasts[member] = MemberForecast(point)
    return forecasts
