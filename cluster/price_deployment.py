"""The pricing member as a Ray Serve deployment: a guardrailed price recommendation per store and brand.

Outcomes are returned as values, not raised, so the ingress maps them without unwrapping exceptions that
crossed a process boundary: ``{"status": "ok", "result": {...}}``, ``{"status": "not_found", "what":
"store/brand", "value": ..., "error": ...}`` (answer 404), ``{"status": "invalid", "error": ...}`` (422) or
``{"status": "not_trained", "error": ...}`` (503) when the registry holds no pricer version.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import serve

from ensemble.errors import DataError, UnknownPricingKeyError, VersionNotFoundError
from ensemble.pricing.service import MEMBER, PricingService
from ensemble.registry import Registry

__all__ = ["PriceDeployment", "PriceRunner"]

logger = logging.getLogger(__name__)

NOT_TRAINED = (
    "the pricing member is not trained: no {member!r} version in the registry at {root} ({err}). Run "
    "`shopmesh train pricer` (needs Dominick's data) and restart or reload the deployment."
)


class PriceRunner:
    """Loads a pricer version if there is one and answers request dicts with outcome dicts."""

    def __init__(self, registry: Registry, version: str | None = None) -> None:
        self.service: PricingService | None = None
        self.load_error = ""
        try:
            self.service = PricingService.load(registry, version)
            logger.info("pricer %s loaded", self.service.version_id)
        except VersionNotFoundError as err:
            self.load_error = NOT_TRAINED.format(member=MEMBER, root=registry.root, err=err)
            logger.warning("%s", self.load_error)

    def price(self, request: dict[str, Any]) -> dict[str, Any]:
        """``request``: ``store``, ``brand`` and an optional ``context`` dict (see
        :meth:`PricingService.price`)."""
        if self.service is None:
            return {"status": "not_trained", "error": self.load_error}
        try:
            store, brand = int(request["store"]), int(request["brand"])
            result = self.service.price(store, brand, request.get("context"))
        except UnknownPricingKeyError as err:
            value = f"store {request.get('store')}, brand {request.get('brand')}"
            return {"status": "not_found", "what": "store/brand", "value": value, "error": str(err)}
        except KeyError as err:
            return {"status": "invalid", "error": f"a price request needs store and brand; missing {err}"}
        except (DataError, TypeError, ValueError) as err:
            return {"status": "invalid", "error": str(err)}
        return {"status": "ok", "result": result}

    def status(self) -> dict[str, Any]:
        """The loaded version, or why none is loaded."""
        if self.service is None:
            return {"member": MEMBER, "version": None, "error": self.load_error}
        return {"member": MEMBER, "version": self.service.version_id}


@serve.deployment(name="PriceDeployment")
class PriceDeployment:
    """Hosts one :class:`PriceRunner` per replica."""

    def __init__(self, registry_dir: str, version: str | None = None) -> None:
        self._runner = PriceRunner(Registry(Path(registry_dir)), version)

    def price(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._runner.price(request)

    def status(self) -> dict[str, Any]:
        return self._runner.status()
