"""The forecasting member as a servable version: training and publishing it to the registry, loading it
back and answering forecast requests.

A version (member ``forecaster``) holds the global neural forecaster's weights, the feature scaling
statistics (tensors ``scaling.mean`` / ``scaling.std``) and the weekly history of every product it can answer
for (tensor ``history``, products x weeks). The neural model is trained on the ``top_n`` best-selling products
(config ``neural_products``); the history also covers up to ``fallback_n`` further products, which are answered
with the seasonal naive baseline (season 1, i.e. last week's units) and say so. A product in neither set raises
:class:`~ensemble.errors.UnknownProductForecastError`.

Training uses every week: training windows end before the last ``horizon`` weeks, which serve as the early
stopping window. The optional held-out metrics come from a separate :func:`evaluate_forecast` run on the
same series (its own split, last ``horizon`` weeks held out).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd
import torch

from ensemble.datasets import load_online_retail
from ensemble.errors import DataError, ModelError, UnknownProductForecastError
from ensemble.forecasting.baselines import forecast_baselines
from ensemble.forecasting.evaluation import evaluate_forecast
from ensemble.forecasting.neural import NeuralConfig, NeuralForecaster, QuantileMLP
from ensemble.forecasting.reorder import reorder_point
from ensemble.forecasting.series import ID_COL, TIME_COL, VALUE_COL, validate_series_frame, weekly_product_units
from ensemble.forecasting.windows import SeriesArrays, build_windows
from ensemble.registry import Lineage, LoadedArtifact, ModelVersion, Registry, fingerprint_frame

__all__ = ["MEMBER", "ForecastService", "publish_forecaster", "train_forecaster_version"]

logger = logging.getLogger(__name__)

MEMBER = "forecaster"
MIN_REQUEST_VALUES = 8  # statsforecast's AutoETS refuses shorter series


def _series(key: str, values: np.ndarray, first_week: pd.Timestamp) -> SeriesArrays:
    dates = pd.date_range(first_week, periods=len(values), freq="7D").to_numpy(dtype="datetime64[ns]")
    return SeriesArrays(key=key, values=values, covariates=np.zeros((len(values), 0)), dates=dates)


def publish_forecaster(
    registry: Registry,
    frame: pd.DataFrame,
    *,
    top_n: int = 100,
    horizon: int = 8,
    config: NeuralConfig | None = None,
    evaluate: bool = True,
    source: str = "series frame",
) -> ModelVersion:
    """Train the neural forecaster on the ``top_n`` largest series of a weekly series frame without
    covariates (all series kept as fallback history) and publish it as a new ``forecaster`` version."""
    config = config or NeuralConfig()
    checked = validate_series_frame(frame[[ID_COL, TIME_COL, VALUE_COL]], min_length=config.input_window + 2 * horizon)
    wide = checked.pivot(index=ID_COL, columns=TIME_COL, values=VALUE_COL)
    if wide.isna().any().any():
        raise DataError("every series must cover the same weeks; fill missing weeks with 0 before training")
    totals = wide.sum(axis=1).sort_values(ascending=False, kind="stable")
    products = [str(k) for k in totals.index]
    neural_products = products[:top_n]
    first_week = pd.Timestamp(wide.columns[0])
    history = wide.loc[products].to_numpy(dtype=float)  # (products, weeks)
    weeks = history.shape[1]
    learn = [_series(p, history[i], first_week) for i, p in enumerate(neural_products)]
    window = config.input_window
    train = build_windows(learn, [list(range(window, weeks - 2 * horizon + 1))] * len(learn), window, horizon, True)
    validation = build_windows(learn, [[weeks - horizon]] * len(learn), window, horizon, True)
    model = NeuralForecaster(horizon, config).fit(train, validation)
    net, mean, std = model._model, model._mean, model._std
    if net is None or mean is None or std is None:
        raise ModelError("the neural forecaster did not produce a fitted model; check the training windows")
    metrics: dict[str, Any] = {
        "best_epoch": model.best_epoch,
        "validation_pinball": model.best_validation_loss,
        "training_windows": len(train.features),
        "training_seconds": round(model.training_seconds, 2),
    }
    if evaluate:
        metrics["held_out"] = evaluate_forecast(
            checked.loc[checked[ID_COL].isin(neural_products)], horizon=horizon, season_length=1, config=config
        )
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
    tensors["scaling.mean"] = torch.as_tensor(mean, dtype=torch.float64)
    tensors["scaling.std"] = torch.as_tensor(std, dtype=torch.float64)
    tensors["history"] = torch.as_tensor(history, dtype=torch.float64)
    settings = {
        "horizon": horizon,
        "neural": asdict(config),
        "n_features": int(train.features.shape[1]),
        "products": products,
        "neural_products": neural_products,
        "first_week": first_week.isoformat(),
        "last_week": pd.Timestamp(wide.columns[-1]).isoformat(),
        "weeks": weeks,
        "fallback": "seasonal_naive (season 1) for products outside neural_products",
    }
    lineage = Lineage(
        parent=None,
        data_fingerprint=fingerprint_frame(checked),
        method="central",
        details={"source": source, "top_n": top_n, "series": len(products), "weeks": weeks},
    )
    version = registry.publish(MEMBER, tensors=tensors, config=settings, metrics=metrics, lineage=lineage)
    logger.info("published %s (%s neural products, %s in all)", version.id, len(neural_products), len(products))
    return version


def train_forecaster_version(
    registry: Registry,
    retail_frame: pd.DataFrame | None = None,
    *,
    top_n: int = 100,
    fallback_n: int = 1000,
    horizon: int = 8,
    config: NeuralConfig | None = None,
    evaluate: bool = True,
) -> ModelVersion:
    """Train on Online Retail weekly units (the bundled copy when ``retail_frame`` is None): the neural model
    on the ``top_n`` best sellers, naive fallback history for the next ``fallback_n - top_n``."""
    retail = load_online_retail() if retail_frame is None else retail_frame
    frame = weekly_product_units(retail, top_n=max(top_n, fallback_n))
    return publish_forecaster(
        registry, frame, top_n=top_n, horizon=horizon, config=config, evaluate=evaluate, source="online_retail"
    )


class ForecastService:
    """Answers forecasts from one loaded ``forecaster`` version (CPU, no gradient)."""

    def __init__(self, artifact: LoadedArtifact) -> None:
        try:
            cfg = artifact.config
            self.horizon = int(cfg["horizon"])
            self.neural_config = NeuralConfig(**cfg["neural"])
            self.products: list[str] = [str(p) for p in cfg["products"]]
            self.neural_products = frozenset(str(p) for p in cfg["neural_products"])
            self.first_week = pd.Timestamp(cfg["first_week"])
            n_features = int(cfg["n_features"])
            model_state = {k.removeprefix("model."): v for k, v in artifact.tensors.items() if k.startswith("model.")}
            self._mean = artifact.tensors["scaling.mean"].numpy()
            self._std = artifact.tensors["scaling.std"].numpy()
            self._history = artifact.tensors["history"].numpy()
        except (KeyError, TypeError) as err:
            raise ModelError(
                f"{artifact.path} is not a forecaster artifact (missing {err}); publish one with "
                "train_forecaster_version()"
            ) from err
        self._net = QuantileMLP(n_features, self.horizon, self.neural_config)
        try:
            self._net.load_state_dict(model_state)
        except RuntimeError as err:
            raise ModelError(f"weights in {artifact.path} do not fit the stored architecture: {err}") from err
        self._net.eval()
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

    def _neural(self, code: str) -> np.ndarray:
        """Quantiles (h, 3) in units for one trained product."""
        values = self._history[self._index[code]]
        windows = build_windows(
            [_series(code, values, self.first_week)],
            [[len(values)]],
            self.neural_config.input_window,
            self.horizon,
            False,
        )
        features = torch.as_tensor((windows.features - self._mean) / self._std, dtype=torch.float32)
        with torch.no_grad():
            scaled = self._net(features).numpy().astype(float)  # (1, h, 3)
        return np.asarray(np.maximum(scaled[0] * windows.scales[0], 0.0), dtype=np.float64)

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
        neural = code in self.neural_products
        quantiles = self._neural(code) if neural else self._naive(code)
        columns = {0.1: quantiles[:, 0].tolist(), 0.5: quantiles[:, 1].tolist(), 0.9: quantiles[:, 2].tolist()}
        suggestion = reorder_point(columns, lead_time_weeks, service_level, on_hand if on_hand is not None else 0.0)
        member = "neural" if neural else "seasonal_naive"
        note = (
            "global neural forecaster (P10/P50/P90 from the quantile head)"
            if neural
            else "product outside the neural model's trained set: seasonal naive (last week's units repeated) "
            "with statsforecast's 80 % interval as P10..P90"
        )
        return {
            "stock_code": code,
            "version": self.version_id,
            "member": member,
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
