"""The reply member as a Ray Serve deployment: batched generation and reference retrieval for the fallback.

The replica loads the reply model named by the configuration (a local HF causal-LM directory, else the
registry's version, else none) and the reference index over the training split. With no reply model the
replica still starts: every ``generate`` answers "no model", the chain answers with the reference response,
and ``status`` (shown by /healthz) says ``retrieval_only``. ``@serve.batch`` groups concurrent prompts into
one ``generate`` call.

:func:`open_reply_service` is the reply member's set-up, shared with the co-located deployment
(:mod:`cluster.ensemble_deployment`); :func:`reload_reply` serves another registry version beside the same
reference index (``user_config = {"version"}``), smoke-checked with one generation before the swap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ray import serve

from cluster.errors import SmokeCheckError
from cluster.metrics import ReplicaMetrics, placement
from cluster.reloading import PROBE_TEXTS, ReloadOutcome, report_outcomes, swap_in, wanted
from ensemble.chat import LoadedReply, ReplyService, load_reference_frame, load_reply_service
from ensemble.members.reply_artifact import artifact_generation, load_reply
from ensemble.registry import Registry

__all__ = ["ReplyDeployment", "open_reply_service", "reload_reply"]

logger = logging.getLogger(__name__)

REPLY = "reply"


def open_reply_service(
    registry: Registry, version: str | None, model_path: str | None, reference_data: str | None
) -> ReplyService:
    """The reply member of one replica: the model of ``model_path`` if given, else the registry's version (else
    none), and the reference index over ``reference_data`` (None: the bundled Bitext train split)."""
    references = load_reference_frame(Path(reference_data) if reference_data else None)
    return load_reply_service(registry, references, version, Path(model_path) if model_path else None)


def _smoke(service: ReplyService) -> str:
    """One generation for a probe prompt: a text, from the version loaded."""
    answer = service.generate([PROBE_TEXTS[0]])[0]
    if not isinstance(answer.get("text"), str):
        raise SmokeCheckError(f"the probe prompt got no reply text ({answer.get('reason') or answer})")
    return str(answer["version"])


def reload_reply(
    registry: Registry, current: ReplyService, version: str | None, swap: Callable[[ReplyService], None]
) -> ReloadOutcome:
    """Load the registry's reply ``version`` (None: the newest) beside ``current``'s reference index, check it
    with one generation and ``swap`` it in; on failure ``current`` keeps serving."""

    def load() -> ReplyService:
        model, artifact = load_reply(registry, version)
        return ReplyService(LoadedReply(model, artifact.version.id, artifact_generation(artifact)), current.references)

    serving = current.reply.version if current.reply is not None else None
    return swap_in(REPLY, version, serving, load, _smoke, swap)


@serve.deployment(name="ReplyDeployment")
class ReplyDeployment:
    """Hosts one :class:`ReplyService` per replica."""

    def __init__(
        self,
        registry_dir: str,
        version: str | None,
        model_path: str | None,
        reference_data: str | None,
        max_batch_size: int,
        batch_wait_timeout_s: float,
    ) -> None:
        self._registry = Registry(Path(registry_dir))
        self._service: ReplyService = open_reply_service(self._registry, version, model_path, reference_data)
        self._metrics = ReplicaMetrics(REPLY)
        logger.info("reply deployment ready: %s", self._service.status())
        batched: Any = self.generate
        batched.set_max_batch_size(int(max_batch_size))
        batched.set_batch_wait_timeout_s(float(batch_wait_timeout_s))

    async def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Serve the reply version ``user_config["version"]`` names (absent: keep the one loaded at start)."""
        if "version" not in user_config:
            return
        outcome = await asyncio.to_thread(
            reload_reply, self._registry, self._service, wanted(user_config, "version"), self._swap
        )
        report_outcomes(user_config, [outcome])

    def _swap(self, service: ReplyService) -> None:
        self._service = service

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def generate(self, prompts: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """One generation call over a batch of ``(prompt, request_id)``, in a thread so the replica keeps
        accepting requests; each answer says how many prompts its batch held (``batch_size``)."""
        started = time.perf_counter()
        results = await asyncio.to_thread(self._service.generate, [prompt for prompt, _ in prompts])
        self._metrics.observe_batch(len(prompts), time.perf_counter() - started)
        logger.debug("reply batch of %s for requests %s", len(prompts), [rid for _, rid in prompts])
        return [{**result, "batch_size": len(prompts)} for result in results]

    async def reference(self, text: str, intent: str | None, request_id: str = "") -> dict[str, Any]:
        logger.debug("reference lookup for request %s", request_id)
        return await asyncio.to_thread(self._service.reference, text, intent)

    def status(self) -> dict[str, Any]:
        status = {**self._service.status(), **placement()}
        self._metrics.serving(status["version"])
        return status
