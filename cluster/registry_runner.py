"""One runner for every member that serves a registry version and may have none yet (forecaster, pricer).

The runner loads the version when the replica starts; without one it keeps the reason and answers every
call with a ``not_trained`` outcome naming the command that trains it. Calls run an action on the loaded
service and turn the member's own misses and refusals into outcomes (:mod:`cluster.outcomes`).
:meth:`RegistryRunner.reconfigure` serves the version ``user_config = {"version"}`` names: loaded beside the
one serving, smoke-checked, swapped in (or refused with the reason, the old one still serving).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from cluster.members import MemberName
from cluster.outcomes import MemberOutcome
from cluster.reloading import ReloadOutcome, swap_in, wanted
from ensemble.errors import DataError, ModelError, RegistryError, VersionNotFoundError
from ensemble.registry import Registry

__all__ = ["Miss", "RegistryRunner", "VersionedService"]

logger = logging.getLogger(__name__)


class VersionedService(Protocol):
    """What a registry-backed member's service offers the runner."""

    @property
    def version_id(self) -> str: ...


S = TypeVar("S", bound=VersionedService)


@dataclass(frozen=True)
class Miss:
    """A member's "not found" error and the request field it concerns."""

    error: type[Exception]
    what: str


class RegistryRunner(Generic[S]):
    """Holds a loaded registry version of one member, or why none is loaded."""

    def __init__(
        self,
        name: MemberName,
        registry: Registry,
        load: Callable[[Registry, str | None], S],
        *,
        train_command: str,
        version: str | None = None,
        misses: tuple[Miss, ...] = (),
        smoke: Callable[[S], None] = lambda service: None,
    ) -> None:
        self.name = name
        self.service: S | None = None
        self.load_error = ""
        self._misses = misses
        self._registry = registry
        self._load = load
        self._smoke = smoke
        try:
            self.service = load(registry, version)
            logger.info("%s %s loaded", name, self.service.version_id)
        except VersionNotFoundError as err:
            self.load_error = (
                f"the {name} member is not trained: {err} (registry {registry.root}). Run `{train_command}` and "
                "restart or roll out the deployment."
            )
            logger.warning("%s", self.load_error)
        except (ModelError, RegistryError) as err:
            # A version this code cannot serve (tampered, or published by another release) leaves the member
            # unavailable with the reason; the other members keep serving.
            self.load_error = f"the {name} member cannot serve its version: {err}"
            logger.exception("%s", self.load_error)

    def reconfigure(self, user_config: Mapping[str, Any]) -> ReloadOutcome | None:
        """Serve the version ``user_config["version"]`` names (None: the newest; absent: keep the loaded one)."""
        if "version" not in user_config:
            return None
        target = wanted(user_config, "version")
        serving = self.service.version_id if self.service is not None else None
        try:
            resolved = self._registry.resolve(str(self.name), target).id
        except VersionNotFoundError:
            if target is None and self.service is None:
                return None  # nothing trained yet: the runner already answers not_trained, naming the command
        else:
            if resolved == serving:
                return ReloadOutcome(str(self.name), resolved, serving)

        def smoke(service: S) -> str:
            self._smoke(service)
            return service.version_id

        return swap_in(
            str(self.name),
            target,
            serving,
            lambda: self._load(self._registry, target),
            smoke,
            self._swap,
        )

    def _swap(self, service: S) -> None:
        self.service = service
        self.load_error = ""

    def run(self, action: Callable[[S], dict[str, Any]], key: object = None) -> MemberOutcome:
        """``action`` on the loaded service as an outcome: ``ok``, ``not_found`` for the member's misses (with
        ``key``, what the request looked up), ``invalid`` for a refused request, ``not_trained`` without a
        version."""
        if self.service is None:
            return MemberOutcome.not_trained(self.load_error)
        try:
            return MemberOutcome.ok(action(self.service))
        except Exception as err:
            for miss in self._misses:
                if isinstance(err, miss.error):
                    return MemberOutcome.not_found(miss.what, key, str(err))
            if isinstance(err, DataError | TypeError | ValueError):
                return MemberOutcome.invalid(str(err))
            raise

    def status(self, **details: Any) -> dict[str, Any]:
        """The loaded version, or ``None`` and why none is loaded, with the caller's ``details``."""
        if self.service is None:
            return {"member": str(self.name), "version": None, "error": self.load_error, **details}
        return {"member": str(self.name), "version": self.service.version_id, **details}
