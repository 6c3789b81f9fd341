"""The forecasting member as a Ray Serve deployment: weekly P10/P50/P90 and reorder suggestions per product,
or a forecast of a series sent in the request.

Outcomes are returned as values, not raised, so the ingress maps them without unwrapping exceptions that
crossed a process boundary: ``{"status": "ok", "result": {...}}``, ``{"status": "not_found", "what":
"stock_code", "value": ..., "error": ...}`` (answer 404), ``{"status": "invalid", "error": ...}`` (422) or
``{"status": "not_trained", "error": ...}`` (503) when the registry holds no forecaster version.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import serve

from ensemble.errors import DataError, UnknownProductForecastError, VersionNotFoundError
from ensemble.forecasting.service import MEMBER, ForecastService
from ensemble.registry import Registry

__all__ = ["ForecastDeployment", "ForecastRunner"]

logger = logging.getLogger(__name__)

NOT_TRAINED = (
    "the forecasting member is not trained: no {member!r} version in the registry at {root} ({err}). Run "
    "`shopmesh train forecaster` and restart or reload the deployment."
)


class ForecastRunner:
    """Loads a forecaster version if there is one and answers request dicts with outcome dicts."""

    def __init__(self, registry: Registry, version: str | None = None) -> None:
        self.service: ForecastService | None = None
        self.load_error = ""
        try:
            self.service = ForecastService.load(registry, version)
            logger.info("forecaster %s loaded", self.service.version_id)
        except VersionNotFoundError as err:
            self.load_error = NOT_TRAINED.format(member=MEMBER, root=registry.root, err=err)
            logger.warning("%s", self.load_error)

    def forecast(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request``: ``stock_code`` + ``horizon`` (+ ``lead_time_weeks``, ``service_level``, ``on_hand``),
        or ``values`` (+ ``dates``) + ``horizon`` for a series given in the request."""
        if self.service is None:
            return {"status": "not_trained", "error": self.load_error}
        try:
            horizon = int(request.get("horizon", self.service.horizon))
            if request.get("values") is not None:
                dates = request.get("dates")
                result = self.service.forecast_series(list(request["values"]), dates, horizon)
            elif request.get("stock_code") is not None:
                result = self.service.forecast_product(
                    str(request["stock_code"]),
                    horizon,
                    lead_time_weeks=float(request.get("lead_time_weeks", 2)),
                    service_level=float(request.get("service_level", 0.95)),
                    on_hand=None if request.get("on_hand") is None else float(request["on_hand"]),
                )
            else:
                return {"status": "invalid", "error": "send either stock_code or values (a series) to forecast"}
        except UnknownProductForecastError as err:
            return {"status": "not_found", "what": "stock_code", "value": err.stock_code, "error": str(err)}
        except (DataError, TypeError, ValueError) as err:
            return {"status": "invalid", "error": str(err)}
        return {"status": "ok", "result": result}

    def status(self) -> dict[str, Any]:
        """The loaded version and its held-out metrics, or why none is loaded."""
        if self.service is None:
            return {"member": MEMBER, "version": None, "error": self.load_error}
        return {"member": MEMBER, "version": self.service.version_id, "products": len(self.service.products)}


@serve.deployment(name="ForecastDeployment")
class ForecastDeployment:
    """Hosts one :class:`ForecastRunner` per replica."""

    def __init__(self, registry_dir: str, version: str | None = None) -> None:
        self._runner = ForecastRunner(Registry(Path(registry_dir)), version)

    def forecast(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._runner.forecast(request)

    def status(self) -> dict[str, Any]:
        return self._runner.status()
