"""The reply member as a Ray Serve deployment: batched generation and reference retrieval for the fallback.

The replica loads the reply model named by the configuration (a local HF causal-LM directory, else the
registry's version, else none) and the reference index over the training split. With no reply model the
replica still starts: every ``generate`` answers "no model", the chain answers with the reference response,
and ``status`` (shown by /healthz) says ``retrieval_only``. ``@serve.batch`` groups concurrent prompts into
one ``generate`` call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from ray import serve

from cluster.metrics import ReplicaMetrics, placement
from ensemble.chat import ReplyService, load_reference_frame, load_reply_service
from ensemble.registry import Registry

__all__ = ["ReplyDeployment"]

logger = logging.getLogger(__name__)


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
        references = load_reference_frame(Path(reference_data) if reference_data else None)
        self._service: ReplyService = load_reply_service(
            Registry(Path(registry_dir)), references, version, Path(model_path) if model_path else None
        )
        self._metrics = ReplicaMetrics("reply")
        logger.info("reply deployment ready: %s", self._service.status())
        batched: Any = self.generate
        batched.set_max_batch_size(int(max_batch_size))
        batched.set_batch_wait_timeout_s(float(batch_wait_timeout_s))

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
