"""The forecasting member as a servable version: fitting the served forecaster and publishing it to the
registry, loading it back and answering forecast requests.

A version (member ``forecaster``) holds, for the ``top_n`` best-selling products (config
``modelled_products``), the served forecaster's weekly P10/P50/P90 for the ``horizon`` weeks after the last
observed week (tensor ``forecast``, products x weeks x 3): the member combination chosen on the last
validation windows (see :mod:`ensemble.forecasting.combine`), with a conformal band calibrated on those
windows. It also holds the weekly history of every product it can answer for (tensor ``history``, products x
weeks); products beyond ``top_n`` (up to ``fallback_n``) are answered with the seasonal naive baseline (season
1, i.e. last week's units) and say so. A product in neither set raises
:class:`~ensemble.errors.UnknownProductForecastError`.

The optional held-out metrics come from a rolling-origin :func:`evaluate_forecast` run on the modelled
products (``shopmesh eval forecast`` is the evaluation that ranks products before its first cutoff).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch

from ensemble.datasets import load_online_retail
from ensemble.errors import DataError, ModelError, UnknownProductForecastError
from ensemble.forecasting.baselines import forecast_baselines
from ensemble.forecasting.combine import Combination
from ensemble.forecasting.evaluation import evaluate_forecast, online_retail_frame
from ensemble.forecasting.gbm import GbmConfig
from ensemble.forecasting.panel import Panel, RollingConfig
from ensemble.forecasting.reorder import conformal_reorder, reorder_point
from ensemble.forecasting.rolling import forecast_future
from ensemble.forecasting.series import ID_COL, TIME_COL, VALUE_COL, validate_series_frame, weekly_product_units
from ensemble.registry import Lineage, LoadedArtifact, ModelVersion, Registry, fingerprint_frame

__all__ = ["MEMBER", "ForecastService", "publish_forecaster", "train_forecaster_version"]

logger = logging.getLogger(__name__)

MEMBER = "forecaster"
MIN_REQUEST_VALUES = 8  # statsforecast's AutoETS refuses shorter series
SERVED_NOTE = (
    "served forecaster: {served} chosen on the last {windows} validation windows, P10..P90 a conformal band "
    "calibrated on them (nominal 80 %)"
)


def _serving_config(horizon: int) -> RollingConfig:
    """Validation windows ``horizon / 2`` weeks apart (one week for odd horizons)."""
    return RollingConfig(horizon=horizon, step=horizon // 2 if horizon % 2 == 0 else 1)


def publish_forecaster(
    registry: Registry,
    frame: pd.DataFrame,
    *,
    top_n: int = 100,
    horizon: int = 8,
    gbm: GbmConfig | None = None,
    evaluate: bool = True,
    evaluation_frame: pd.DataFrame | None = None,
    source: str = "series frame",
) -> ModelVersion:
    """Fit the served forecaster on the ``top_n`` largest series of a weekly series frame without covariates
    (all series kept as fallback history) and publish it as a new ``forecaster`` version.

    With ``evaluate``, the version's metrics hold a rolling-origin evaluation of ``evaluation_frame`` (default:
    the modelled series, which were ranked on every week, held-out ones included)."""
    started = time.perf_counter()
    rolling = _serving_config(horizon)
    checked = validate_series_frame(frame[[ID_COL, TIME_COL, VALUE_COL]], min_length=rolling.min_train + 2 * horizon)
    wide = checked.pivot(index=ID_COL, columns=TIME_COL, values=VALUE_COL)
    if wide.isna().any().any():
        raise DataError("every series must cover the same weeks; fill missing weeks with 0 before training")
    totals = wide.sum(axis=1).sort_values(ascending=False, kind="stable")
    products = [str(k) for k in totals.index]
    modelled = products[:top_n]
    history = wide.loc[products].to_numpy(dtype=float)  # (products, weeks)
    weeks = history.shape[1]
    panel = Panel(
        keys=modelled,
        dates=pd.DatetimeIndex(wide.columns),
        values=history[: len(modelled)],
        covariates=np.zeros((len(modelled), weeks, 0)),
        covariate_names=[],
        dropped=0,
    )
    future = forecast_future(panel, rolling, gbm)
    quantiles = np.stack([future.band.lower, future.band.point, future.band.upper], axis=-1)  # (n, h, 3)
    fit_seconds = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "served": future.combination.describe(modelled),
        "conformal_scores_per_step": future.conformal.scores,
        "fit_seconds": round(fit_seconds, 2),
    }
    if evaluate:
        evaluated = checked.loc[checked[ID_COL].isin(modelled)] if evaluation_frame is None else evaluation_frame
        metrics["held_out"] = evaluate_forecast(evaluated, rolling, gbm=gbm)
    tensors = {
        "forecast": torch.as_tensor(quantiles, dtype=torch.float64),
        "history": torch.as_tensor(history, dtype=torch.float64),
        "calibration.errors": torch.as_tensor(future.errors, dtype=torch.float64),
        "calibration.scales": torch.as_tensor(future.scales, dtype=torch.float64),
    }
    settings = {
        "horizon": horizon,
        "products": products,
        "modelled_products": modelled,
        "served_by": {key: _served_by(future.combination, i) for i, key in enumerate(modelled)},
        "combination": future.combination.name,
        "rolling": asdict(rolling),
        "gbm": asdict(gbm or GbmConfig()),
        "conformal": {"lower": future.conformal.lower.tolist(), "upper": future.conformal.upper.tolist()},
        "first_week": pd.Timestamp(wide.columns[0]).isoformat(),
        "last_week": pd.Timestamp(wide.columns[-1]).isoformat(),
        "weeks": weeks,
        "fallback": "seasonal_naive (season 1) for products outside modelled_products",
    }
    lineage = Lineage(
        parent=None,
        data_fingerprint=fingerprint_frame(checked),
        method="central",
        details={"source": source, "top_n": top_n, "series": len(products), "weeks": weeks},
    )
    version = registry.publish(MEMBER, tensors=tensors, config=settings, metrics=metrics, lineage=lineage)
    logger.info("published %s (%s modelled products, %s in all)", version.id, len(modelled), len(products))
    return version


def _served_by(combination: Combination, index: int) -> list[str]:
    member = combination.fallback.get(index)
    return [str(member)] if member is not None else [str(m) for m in combination.members]


def train_forecaster_version(
    registry: Registry,
    retail_frame: pd.DataFrame | None = None,
    *,
    top_n: int = 100,
    fallback_n: int = 1000,
    horizon: int = 8,
    gbm: GbmConfig | None = None,
    evaluate: bool = True,
) -> ModelVersion:
    """Fit on Online Retail weekly units (the bundled copy when ``retail_frame`` is None): the served
    forecaster on the ``top_n`` best sellers, naive fallback history for the next ``fallback_n - top_n``."""
    retail = load_online_retail() if retail_frame is None else retail_frame
    frame = weekly_product_units(retail, top_n=max(top_n, fallback_n))
    # Held-out metrics on products ranked before the evaluation's first cutoff, as `shopmesh eval forecast`.
    evaluation_frame = online_retail_frame(retail, top_n, _serving_config(horizon)) if evaluate else None
    return publish_forecaster(
        registry,
        frame,
        top_n=top_n,
        horizon=horizon,
        gbm=gbm,
        evaluate=evaluate,
        evaluation_frame=evaluation_frame,
        source="online_retail",
    )


class ForecastService:
    """Answers forecasts from one loaded ``forecaster`` version."""

    def __init__(self, artifact: LoadedArtifact) -> None:
        try:
            cfg = artifact.config
            self.horizon = int(cfg["horizon"])
            self.products: list[str] = [str(p) for p in cfg["products"]]
            modelled = [str(p) for p in cfg["modelled_products"]]
            self.served_by: dict[str, list[str]] = {str(k): list(v) for k, v in cfg["served_by"].items()}
            self.combination = str(cfg["combination"])
            self.validation_windows = int(cfg["rolling"]["validation_windows"])
            self.first_week = pd.Timestamp(cfg["first_week"])
            self._forecast = artifact.tensors["forecast"].numpy()
            self._history = artifact.tensors["history"].numpy()
            self._errors = artifact.tensors["calibration.errors"].numpy()
            self._scales = artifact.tensors["calibration.scales"].numpy()
        except (KeyError, TypeError) as err:
            raise ModelError(
                f"{artifact.path} is not a forecaster artifact of this shopmesh (missing {err}); publish one with "
                "`shopmesh train forecaster`"
            ) from err
        if self._forecast.shape != (len(modelled), self.horizon, 3):
            raise ModelError(
                f"{artifact.path}: stored forecast has shape {tuple(self._forecast.shape)}, expected "
                f"({len(modelled)}, {self.horizon}, 3); publish a new version with `shopmesh train forecaster`"
            )
        self.modelled_products = frozenset(modelled)
        self._modelled_index = {p: i for i, p in enumerate(modelled)}
        self._index = {p: i for i, p in enumerate(self.products)}
        self.version_id = artifact.version.id
        self.metrics = artifact.metrics

    @classmethod
    def load(cls, registry: Registry, version: str | None = None) -> ForecastService:
        """Load a verified version (the newest when ``version`` is None)."""
        return cls(registry.load(MEMBER, version))

    def _future_weeks(self, horizon: int) -> list[str]:
        last = self.first_week + pd.Timedelta(weeks=self._history.shape[1] - 1)
        return [(last + pd.Timedelta(weeks=i + 1)).date().isoformat() for i in range(horizon)]

    def _naive(self, code: str) -> np.ndarray:
        result = forecast_baselines({code: self._history[self._index[code]]}, self.horizon, 1)["seasonal_naive"]
        stacked = np.stack([result.lower[code], result.point[code], result.upper[code]], axis=1)
        return np.maximum(stacked, 0.0)

    def forecast_product(
        self,
        stock_code: str,
        horizon: int,
        *,
        lead_time_weeks: float = 2,
        service_level: float = 0.95,
        on_hand: float | None = None,
    ) -> dict[str, Any]:
        """Weekly P10/P50/P90 for the next ``horizon`` weeks after the last observed week, and a reorder
        suggestion computed from the full stored horizon (``order_quantity`` is None without ``on_hand``)."""
        code = str(stock_code).strip()
        if code not in self._index:
            raise UnknownProductForecastError(
                f"product {code!r} has no sales history in {self.version_id} ({len(self.products)} products "
                "held); ask for a product it was trained on, or send the series itself to forecast_series",
                stock_code=code,
            )
        if not 1 <= horizon <= self.horizon:
            raise DataError(f"horizon must lie in 1..{self.horizon} weeks for {self.version_id}; got {horizon}")
        modelled = code in self.modelled_products
        quantiles = self._forecast[self._modelled_index[code]] if modelled else self._naive(code)
        stock = on_hand if on_hand is not None else 0.0
        if modelled:
            row = self._modelled_index[code]
            suggestion = conformal_reorder(
                quantiles[:, 1].tolist(), self._errors, float(self._scales[row]), lead_time_weeks, service_level, stock
            )
        else:
            columns = {0.1: quantiles[:, 0].tolist(), 0.5: quantiles[:, 1].tolist(), 0.9: quantiles[:, 2].tolist()}
            suggestion = reorder_point(columns, lead_time_weeks, service_level, stock)
        members = self.served_by[code] if modelled else ["seasonal_naive"]
        note = (
            SERVED_NOTE.format(served=" + ".join(members), windows=self.validation_windows)
            if modelled
            else "product outside the modelled set: seasonal naive (last week's units repeated) "
            "with statsforecast's 80 % interval as P10..P90"
        )
        return {
            "stock_code": code,
            "version": self.version_id,
            "member": "ensemble" if modelled else "seasonal_naive",
            "members": members,
            "interval": "conformal" if modelled else "model",
            "note": note,
            "last_observed_week": (self.first_week + pd.Timedelta(weeks=self._history.shape[1] - 1)).date().isoformat(),
            "weeks": [
                {"week": week, "p10": float(q[0]), "p50": float(q[1]), "p90": float(q[2])}
                for week, q in zip(self._future_weeks(horizon), quantiles[:horizon], strict=True)
            ],
            "reorder": {
                "reorder_point": suggestion.reorder_point,
                "order_quantity": suggestion.order_quantity if on_hand is not None else None,
                "lead_time_demand_p50": suggestion.lead_time_demand_p50,
                "safety_stock": suggestion.safety_stock,
                "service_level": suggestion.service_level,
                "order_up_to_level": suggestion.order_up_to_level,
                "expected_fill_rate": suggestion.expected_fill_rate,
                "method": "conformal" if modelled else "normal",
                "explanation": suggestion.explanation
                + ("" if on_hand is not None else " (on hand not given: taken as 0; pass on_hand for a quantity)"),
            },
        }

    def forecast_series(self, values: list[float], dates: list[str] | None = None, horizon: int = 8) -> dict[str, Any]:
        """Forecast a series sent in the request with statsforecast's AutoETS (season 1); P10/P90 are its
        80 % interval. ``dates`` (optional, regular) date the forecast steps; otherwise steps are numbered."""
        series = np.asarray(values, dtype=float)
        if len(series) < MIN_REQUEST_VALUES or not np.isfinite(series).all():
            raise DataError(
                f"a request series needs at least {MIN_REQUEST_VALUES} finite values; got {len(series)} "
                f"(non-finite: {int((~np.isfinite(series)).sum())})"
            )
        if horizon < 1:
            raise DataError(f"horizon must be at least 1; got {horizon}")
        labels: list[str | int] = list(range(1, horizon + 1))
        if dates is not None:
            try:
                stamps = pd.DatetimeIndex(pd.to_datetime(dates))
            except (ValueError, TypeError) as err:
                raise DataError(f"dates must parse as dates: {err}", column="dates") from err
            steps = {pd.Timedelta(step) for step in np.diff(stamps.asi8)}
            step = pd.Timedelta(next(iter(steps))) if len(steps) == 1 else pd.Timedelta(0)
            if len(stamps) != len(series) or step <= pd.Timedelta(0):
                raise DataError(
                    f"dates must be one per value ({len(series)}), increasing and evenly spaced; got "
                    f"{len(stamps)} dates with {len(steps)} distinct steps",
                    column="dates",
                )
            labels = [(stamps[-1] + step * (i + 1)).date().isoformat() for i in range(horizon)]
        result = forecast_baselines({"request": series}, horizon, 1)["auto_ets"]
        floor = 0.0 if (series >= 0).all() else -np.inf
        rows = zip(labels, result.lower["request"], result.point["request"], result.upper["request"], strict=True)
        return {
            "member": "auto_ets",
            "note": "statsforecast AutoETS (season 1) fitted on the request's series; P10..P90 is its 80 % interval",
            "steps": [
                {
                    "step": label,
                    "p10": float(max(lo, floor)),
                    "p50": float(max(mid, floor)),
                    "p90": float(max(hi, floor)),
                }
                for label, lo, mid, hi in rows
            ],
        }
