"""The intent member as a Ray Serve deployment: batched prediction and hot reload of registry versions.

When the registry holds an ``intent-ensemble`` version built on the served intent version, the replica serves
that ensemble (head, kNN and logistic regression over one encoder pass, fused, with its out-of-scope
threshold) as the chat chain's intent stage, in the same process; otherwise the intent head alone, and
``status`` says so (``"stage": "head_only"`` with the reason).

:class:`IntentRunner` holds the loaded model and swaps it for another registry version; it has no Ray in it,
so it is tested directly. :class:`IntentDeployment` wraps it: ``@serve.batch`` groups concurrent requests into
one forward pass, and ``reconfigure`` (called by Serve when the deployment's ``user_config`` changes, e.g. a
new version in the Serve config file) loads the new version in a worker thread and swaps it in while the old
one keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import serve

from cluster.errors import SmokeCheckError
from cluster.metrics import ReplicaMetrics, placement
from cluster.reloading import PROBE_TEXTS, ReloadOutcome, check_decisions, report_outcomes, wanted
from ensemble.chat import (
    ChatMode,
    EnsembleIntentStage,
    HeadIntentStage,
    ensemble_parent,
    ensemble_version_for,
    load_served_intent,
)
from ensemble.errors import ShopmeshError
from ensemble.members.intent import IntentModel, predict
from ensemble.members.intent_onnx import EncoderEngine, attach_encoder
from ensemble.registry import Registry

__all__ = ["IntentDeployment", "IntentRunner", "LoadedIntent"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedIntent:
    """A model and the intent stage over it, with the registry versions they came from and the engine its
    encoder runs on (``engine_error``: why it runs on torch although another engine was asked for)."""

    model: IntentModel
    stage: HeadIntentStage | EnsembleIntentStage
    version_id: str
    ensemble_version_id: str | None
    loaded_at: float
    engine: EncoderEngine = EncoderEngine.TORCH
    engine_error: str | None = None


class IntentRunner:
    """The intent model being served; :meth:`switch` replaces it by another registry version atomically.

    ``engine`` runs the encoder on ONNX Runtime (:mod:`ensemble.members.intent_onnx`), its graphs cached in
    ``cache_dir``; a version whose graph cannot be exported or disagrees with torch is served on torch, and
    :meth:`status` says why."""

    def __init__(
        self,
        registry: Registry,
        version: str | None = None,
        engine: EncoderEngine | str = EncoderEngine.TORCH,
        cache_dir: Path | None = None,
    ) -> None:
        self._registry = registry
        self._engine = EncoderEngine(engine)
        self._cache_dir = cache_dir if cache_dir is not None else registry.root.parent / "onnx-cache"
        self._lock = threading.Lock()
        self._current = self._load(version)
        self.last_reload_error: str | None = None

    def _load(self, version: str | None, ensemble_version: str | None = None) -> LoadedIntent:
        served = load_served_intent(self._registry, version, ensemble_version)
        engine, engine_error = self._attach(served.model, served.version_id)
        logger.info(
            "intent model %s (ensemble %s) loaded from %s, encoder on %s",
            served.version_id,
            served.ensemble_version_id,
            self._registry.root,
            engine,
        )
        return LoadedIntent(
            served.model,
            served.stage,
            served.version_id,
            served.ensemble_version_id,
            time.time(),
            engine,
            engine_error,
        )

    def _attach(self, model: IntentModel, version_id: str) -> tuple[EncoderEngine, str | None]:
        if self._engine is EncoderEngine.TORCH:
            return EncoderEngine.TORCH, None
        try:
            folder = self._registry.resolve("intent", version_id).path
            attach_encoder(model, version_id, folder, self._cache_dir, self._engine)
        except ShopmeshError as err:
            logger.exception("the %s encoder of %s failed; it is served on torch", self._engine, version_id)
            return EncoderEngine.TORCH, f"{self._engine.value} engine not used: {err}"
        return self._engine, None

    @property
    def current(self) -> LoadedIntent:
        """The model answering requests now."""
        return self._current

    @staticmethod
    def smoke_check(loaded: LoadedIntent) -> None:
        """One decision per probe text (:data:`~cluster.reloading.PROBE_TEXTS`) with a known intent and a
        finite confidence, or :class:`SmokeCheckError`."""
        texts = list(PROBE_TEXTS)
        check_decisions(loaded.stage.decide(texts, ChatMode.SERIAL), loaded.model.labels, len(texts))

    def switch(self, version: str | None, ensemble_version: str | None = None) -> bool:
        """Serve ``version`` (None: the latest; with ``ensemble_version``: that intent ensemble on the version
        it is built on); returns whether the model or its ensemble changed.

        Without ``ensemble_version`` a new ``intent-ensemble`` version built on the served intent version is
        picked up too. The new version is loaded and smoke-checked (:meth:`smoke_check`) before the swap; on
        failure the current model keeps serving, the error is kept in :attr:`last_reload_error` and re-raised.
        """
        with self._lock:
            try:
                if ensemble_version is not None:
                    built, wanted = ensemble_parent(self._registry, ensemble_version)
                    built_id: str | None = built.id
                else:
                    wanted = self._registry.resolve("intent", version).id
                    found = ensemble_version_for(self._registry, wanted)
                    built_id = found.id if found is not None else None
                current = self._current
                if (wanted, built_id) == (current.version_id, current.ensemble_version_id):
                    self.last_reload_error = None
                    return False
                loaded = self._load(wanted, ensemble_version)
                self.smoke_check(loaded)
            except (ShopmeshError, SmokeCheckError) as err:
                self.last_reload_error = str(err)
                raise
            previous = self._current.version_id
            self._current = loaded
            self.last_reload_error = None
        logger.info(
            "intent model switched from %s to %s (ensemble %s)", previous, loaded.version_id, loaded.ensemble_version_id
        )
        return True

    def apply(self, user_config: Mapping[str, Any]) -> ReloadOutcome:
        """Serve what ``user_config`` names (``version``, and ``ensemble_version`` for one intent ensemble);
        the outcome names the intent ensemble when one was asked for."""
        version, ensemble = wanted(user_config, "version"), wanted(user_config, "ensemble_version")
        member = "intent-ensemble" if ensemble is not None else "intent"
        label = ensemble or version or "latest"
        before = self._current.ensemble_version_id if ensemble is not None else self._current.version_id
        try:
            self.switch(version, ensemble)
        except (ShopmeshError, SmokeCheckError) as err:
            reason = f"{member} {label} was not swapped in ({type(err).__name__}: {err}); {before} keeps serving"
            logger.exception("%s", reason)
            return ReloadOutcome(member, label, before, reason)
        now = self._current.ensemble_version_id if ensemble is not None else self._current.version_id
        return ReloadOutcome(member, label, now)

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """``{"intent", "confidence", "version"}`` for each text, all from the same model version."""
        loaded = self._current
        predictions = predict(loaded.model, texts)
        return [{"intent": p.intent, "confidence": p.confidence, "version": loaded.version_id} for p in predictions]

    def decide(self, requests: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Intent decisions (:mod:`ensemble.chat.intent_stage`) for ``(text, mode)`` pairs, grouped by mode;
        each group is one batch through the stage (for the ensemble: one encoder pass)."""
        stage = self._current.stage
        answers: list[dict[str, Any]] = [{} for _ in requests]
        for mode in dict.fromkeys(m for _, m in requests):
            rows = [i for i, (_, m) in enumerate(requests) if m == mode]
            for row, decision in zip(rows, stage.decide([requests[i][0] for i in rows], ChatMode(mode)), strict=True):
                answers[row] = decision
        return answers

    def status(self) -> dict[str, Any]:
        """The version served, the stage (``ensemble`` or ``head_only`` with the reason), when it was loaded,
        its labels, the last reload error and the process id."""
        loaded = self._current
        return {
            **loaded.stage.status(),
            "engine": loaded.engine.value,
            "engine_error": loaded.engine_error,
            "version": loaded.version_id,
            "loaded_at": loaded.loaded_at,
            "labels": list(loaded.model.labels),
            "last_reload_error": self.last_reload_error,
            "pid": os.getpid(),
        }


@serve.deployment(name="IntentDeployment")
class IntentDeployment:
    """Serves the intent member (the ensemble built on it, when there is one) from a registry, its encoder on
    ``engine`` (ONNX graphs cached in ``cache_dir``); ``user_config`` = ``{"version", "ensemble_version",
    "max_batch_size", "batch_wait_timeout_s", "rollout"}`` (each optional) changes the version or the batching
    without a restart."""

    def __init__(
        self,
        registry_dir: str,
        version: str | None,
        max_batch_size: int,
        batch_wait_timeout_s: float,
        engine: str = EncoderEngine.TORCH.value,
        cache_dir: str | None = None,
    ) -> None:
        self._runner = IntentRunner(
            Registry(Path(registry_dir)), version, engine, Path(cache_dir) if cache_dir is not None else None
        )
        self._metrics = ReplicaMetrics("intent")
        self._set_batching(max_batch_size, batch_wait_timeout_s)

    def _set_batching(self, max_batch_size: int | None, batch_wait_timeout_s: float | None) -> None:
        # @serve.batch adds these setters to the method; its type hints do not declare them.
        for method in (self.classify, self.decide):
            batched: Any = method
            if max_batch_size is not None:
                batched.set_max_batch_size(int(max_batch_size))
            if batch_wait_timeout_s is not None:
                batched.set_batch_wait_timeout_s(float(batch_wait_timeout_s))

    async def reconfigure(self, user_config: Mapping[str, Any]) -> None:
        """Apply a new ``user_config``; a version that fails to load or its smoke check leaves the current one
        serving (and the replica reports it to the rollout that asked)."""
        self._set_batching(user_config.get("max_batch_size"), user_config.get("batch_wait_timeout_s"))
        outcome = await asyncio.to_thread(self._runner.apply, user_config)
        report_outcomes(user_config, [outcome])

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def classify(self, texts: list[str]) -> list[dict[str, Any]]:
        """One forward pass over a batch of texts, in a thread so the replica keeps accepting requests."""
        return await asyncio.to_thread(self._runner.classify, texts)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def decide(self, requests: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
        """Intent decisions for a batch of ``(text, mode, request_id)``, in a thread; each decision says how
        many requests its batch held (``batch_size``)."""
        started = time.perf_counter()
        decisions = await asyncio.to_thread(self._runner.decide, [(text, mode) for text, mode, _ in requests])
        self._metrics.observe_batch(len(requests), time.perf_counter() - started)
        logger.debug("intent batch of %s for requests %s", len(requests), [rid for _, _, rid in requests])
        return [{**decision, "batch_size": len(requests)} for decision in decisions]

    def status(self) -> dict[str, Any]:
        """See :meth:`IntentRunner.status`."""
        status = {**self._runner.status(), **placement()}
        self._metrics.serving(status["version"])
        return status
