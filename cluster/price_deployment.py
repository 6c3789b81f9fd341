"""The pricing member as a Ray Serve deployment: a guardrailed price recommendation per store and brand;
answers are :class:`~cluster.outcomes.MemberOutcome` values."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ray import serve

from cluster.demand_schemas import PriceRequest
from cluster.errors import SmokeCheckError
from cluster.members import MemberName
from cluster.metrics import placement
from cluster.outcomes import MemberOutcome
from cluster.registry_runner import Miss, RegistryRunner
from cluster.reloading import report_outcomes
from ensemble.errors import UnknownPricingKeyError
from ensemble.pricing.service import PricingService
from ensemble.registry import Registry

__all__ = ["PriceDeployment", "price_runner"]


def _smoke(service: PricingService) -> None:
    """The mean-policy price of the first store and brand the version knows: a finite, positive price."""
    if not service.keys:
        raise SmokeCheckError(f"{service.version_id} prices no store and brand")
    store, brand = service.keys[0]
    price = float(service.price(store, brand, {"policy": "mean"})["price"])
    if not math.isfinite(price) or price <= 0:
        raise SmokeCheckError(f"{service.version_id} prices store {store}, brand {brand} at {price}")


def price_runner(registry: Registry, version: str | None = None) -> RegistryRunner[PricingService]:
    """The pricer's runner over a registry; an unknown store or brand is a miss on ``store/brand``."""
    return RegistryRunner(
        MemberName.PRICER,
        registry,
        PricingService.load,
        train_command="shopmesh train pricer",
        version=version,
        misses=(Miss(UnknownPricingKeyError, "store/brand"),),
        smoke=_smoke,
    )


@serve.deployment(name="PriceDeployment")
class PriceDeployment:
    """Hosts the pricer's runner, one per replica."""

    def __init__(self, registry_dir: str, version: str | None = None) -> None:
        self._runner = price_runner(Registry(Path(registry_dir)), version)

    async def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Serve the version ``user_config["version"]`` names, smoke-checked (absent: keep the loaded one)."""
        outcome = await asyncio.to_thread(self._runner.reconfigure, user_config)
        if outcome is not None:
            report_outcomes(user_config, [outcome])

    def price(self, request: PriceRequest) -> MemberOutcome:
        key = f"store {request.store}, brand {request.brand}"
        context = request.context.model_dump(exclude_none=True) if request.context is not None else None
        return self._runner.run(lambda service: service.price(request.store, request.brand, context), key)

    def status(self) -> dict[str, Any]:
        return self._runner.status(**placement())
