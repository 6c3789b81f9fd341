"""The forecasting member as a Ray Serve deployment: weekly P10/P50/P90 and reorder suggestions per product,
or a forecast of a series sent in the request; answers are :class:`~cluster.outcomes.MemberOutcome` values."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray import serve

from cluster.demand_schemas import ForecastRequest
from cluster.errors import SmokeCheckError
from cluster.members import MemberName
from cluster.metrics import placement
from cluster.outcomes import MemberOutcome
from cluster.registry_runner import Miss, RegistryRunner
from cluster.reloading import report_outcomes
from ensemble.errors import UnknownProductForecastError
from ensemble.forecasting.service import ForecastService
from ensemble.registry import Registry

__all__ = ["ForecastDeployment", "forecast_runner"]

REVIEW_PERIOD_WEEKS = 1.0  # the reorder policy's review period (ensemble.forecasting.reorder_point's default)


def _smoke(service: ForecastService) -> None:
    """One week of the first product's forecast: finite quantiles."""
    if not service.products:
        raise SmokeCheckError(f"{service.version_id} forecasts no product")
    horizon = service.horizon
    weeks = service.forecast_product(
        str(service.products[0]), horizon, lead_time_weeks=max(horizon - REVIEW_PERIOD_WEEKS, 0.0)
    )["weeks"]
    if not all(math.isfinite(float(week["p50"])) for week in weeks):
        raise SmokeCheckError(f"{service.version_id} forecasts a non-finite P50 for {service.products[0]}")


def forecast_runner(registry: Registry, version: str | None = None) -> RegistryRunner[ForecastService]:
    """The forecaster's runner over a registry."""
    return RegistryRunner(
        MemberName.FORECASTER,
        registry,
        ForecastService.load,
        train_command="shopmesh train forecaster",
        version=version,
        misses=(Miss(UnknownProductForecastError, "product"),),
        smoke=_smoke,
    )


def _answer(service: ForecastService, request: ForecastRequest) -> dict[str, Any]:
    if request.series is not None:
        # The series is forecast by a model fitted on it, in the replica that serves this version.
        result = {**service.forecast_series(list(request.series), None, request.horizon), "version": service.version_id}
        dates = request.step_dates()
        if dates is not None:
            for step, date in zip(result["steps"], dates, strict=True):
                step["step"] = date
        return result
    # A product's forecast reaches as far as the version was trained to: a longer horizon is answered up to
    # there, and the answer says so.
    horizon = min(request.horizon, service.horizon)
    # The reorder point needs forecasts over the lead time plus the one-week review period.
    covered = request.lead_time_weeks + REVIEW_PERIOD_WEEKS <= service.horizon
    result = service.forecast_product(
        str(request.product),
        horizon,
        lead_time_weeks=request.lead_time_weeks if covered else service.horizon - REVIEW_PERIOD_WEEKS,
        service_level=request.service_level,
        on_hand=request.on_hand,
    )
    if not covered:
        result["reorder"] = None
        result["reorder_unavailable"] = (
            f"a lead time of {request.lead_time_weeks} weeks plus the {REVIEW_PERIOD_WEEKS:g}-week review period "
            f"reaches past the {service.horizon} weeks {service.version_id} forecasts; ask with a lead time of at "
            f"most {service.horizon - REVIEW_PERIOD_WEEKS:g} weeks"
        )
    if horizon < request.horizon:
        result["horizon_capped"] = {
            "asked": request.horizon,
            "answered": horizon,
            "reason": f"{service.version_id} forecasts at most {service.horizon} weeks ahead",
        }
    return result


@serve.deployment(name="ForecastDeployment")
class ForecastDeployment:
    """Hosts the forecaster's runner, one per replica."""

    def __init__(self, registry_dir: str, version: str | None = None) -> None:
        self._runner = forecast_runner(Registry(Path(registry_dir)), version)

    async def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Serve the version ``user_config["version"]`` names, smoke-checked (absent: keep the loaded one)."""
        outcome = await asyncio.to_thread(self._runner.reconfigure, user_config)
        if outcome is not None:
            report_outcomes(user_config, [outcome])

    def forecast(self, request: ForecastRequest) -> MemberOutcome:
        return self._runner.run(lambda service: _answer(service, request), key=request.product)

    def status(self) -> dict[str, Any]:
        service = self._runner.service
        return self._runner.status(products=len(service.products) if service is not None else 0, **placement())
