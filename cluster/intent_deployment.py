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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray import serve

from cluster.candidate import CANDIDATE_MEMBER, CandidateMode, CandidatePlan, ShadowLog, ShadowRow
from cluster.errors import RolloutError, SmokeCheckError
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
from ensemble.members.intent_adapter import ADAPTER_MEMBER, AdapterBank, ServedAdapter
from ensemble.members.intent_onnx import EncoderEngine, attach_encoder
from ensemble.registry import Registry

__all__ = ["AdapterCache", "IntentDeployment", "IntentRunner", "LoadedIntent"]

logger = logging.getLogger(__name__)

# Shadow batches waiting for the shadow's worker thread at most; beyond it a batch is not compared (and counted
# in ``status()["candidate"]["shadow_dropped"]``), so a slow shadow never holds memory or live answers back.
_SHADOW_BACKLOG = 8


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


@dataclass(frozen=True)
class _Candidate:
    plan: CandidatePlan
    loaded: LoadedIntent
    log: ShadowLog | None = None  # a shadow's comparisons, open while it is served


class IntentRunner:
    """The intent model being served; :meth:`switch` replaces it by another registry version atomically.

    ``engine`` runs the encoder on ONNX Runtime (:mod:`ensemble.members.intent_onnx`), its graphs cached in
    ``cache_dir``; a version whose graph cannot be exported or disagrees with torch is served on torch, and
    :meth:`status` says why.

    A candidate version (:mod:`cluster.candidate`) can be served beside it: a canary answers the requests whose
    unit hashes into its share, a shadow answers a copy of every batch in a worker thread of its own and its
    answers are only logged."""

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
        self.adapters = AdapterBank(registry)
        self._candidate: _Candidate | None = None
        self._shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intent-shadow")
        self._shadow_lock = threading.Lock()
        self._shadow_backlog = 0
        self._shadow_dropped = 0
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

    @property
    def candidate(self) -> CandidatePlan | None:
        """The candidate served beside the live version, if any."""
        candidate = self._candidate
        return None if candidate is None else candidate.plan

    def apply_candidate(self, user_config: Mapping[str, Any]) -> ReloadOutcome | None:
        """Serve the candidate ``user_config["candidate"]`` names beside the live version (loaded and smoke-checked
        first), or drop the one served when it names none; None when there was nothing to do. The outcome's
        ``serving`` is the candidate version served afterwards (None: no candidate)."""
        served = self._candidate
        try:
            plan = CandidatePlan.from_user_config(user_config.get("candidate"))
        except RolloutError as err:
            label = str(user_config.get("candidate"))
            keeps = served.plan.version if served is not None else None
            return ReloadOutcome(CANDIDATE_MEMBER, label, keeps, f"candidate {label} refused: {err}")
        if plan is None:
            if served is None:
                return None
            self._candidate = None
            logger.info("candidate %s %s dropped", served.plan.mode, served.plan.version)
            return ReloadOutcome(CANDIDATE_MEMBER, "none", None)
        label = f"{plan.mode} {plan.version}"
        keeps = served.plan.version if served is not None else None
        if served is not None and served.plan.version == plan.version:
            try:
                log = served.log if served.plan.log == plan.log else _shadow_log(plan)
            except RolloutError as err:
                return ReloadOutcome(CANDIDATE_MEMBER, label, keeps, f"candidate {label} refused: {err}")
            self._candidate = _Candidate(plan, served.loaded, log)  # a new share or mode for the same version
            return ReloadOutcome(CANDIDATE_MEMBER, label, plan.version)
        try:
            resolved = self._registry.resolve("intent", plan.version).id
            if resolved == self._current.version_id:
                raise RolloutError(f"{resolved} is the live version already; a candidate must be another version")
            loaded = self._load(resolved)
            self.smoke_check(loaded)
            log = _shadow_log(plan)
        except (ShopmeshError, RolloutError) as err:
            reason = f"candidate {label} was not loaded ({type(err).__name__}: {err}); {keeps or 'no candidate'} stays"
            logger.exception("%s", reason)
            return ReloadOutcome(CANDIDATE_MEMBER, label, keeps, reason)
        self._candidate = _Candidate(plan, loaded, log)
        logger.info("candidate %s %s served beside %s", plan.mode, resolved, self._current.version_id)
        return ReloadOutcome(CANDIDATE_MEMBER, label, resolved)

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """``{"intent", "confidence", "version"}`` for each text, all from the same model version."""
        loaded = self._current
        predictions = predict(loaded.model, texts)
        return [{"intent": p.intent, "confidence": p.confidence, "version": loaded.version_id} for p in predictions]

    def decide(
        self,
        requests: Sequence[tuple[str, str]],
        units: Sequence[str | None] | None = None,
        request_ids: Sequence[str] | None = None,
        adapter: ServedAdapter | None = None,
        merchants: Sequence[str | None] | None = None,
        adapter_error: str | None = None,
    ) -> list[dict[str, Any]]:
        """Intent decisions (:mod:`ensemble.chat.intent_stage`) for ``(text, mode)`` pairs, grouped by mode;
        each group is one batch through the stage (for the ensemble: one encoder pass).

        With a merchant's ``adapter`` (:mod:`cluster.adapters`), the requests of that merchant (``merchants[i]``)
        are decided by it; any other request of the batch, and every request when the adapter could not be
        loaded (``adapter_error``), is decided by the global version and its decision says why
        (``adapter_error``). With a canary, the global requests whose unit (``units[i]``, else
        ``request_ids[i]``) falls in its share are decided by the canary's stage instead, and their decisions
        name its version. With a shadow, the shadow decides a copy of the global requests in its own thread
        afterwards and only the log sees it."""
        if adapter is None and adapter_error is None:
            return self._decide_global(requests, units, request_ids)
        count = len(requests)
        owners = list(merchants) if merchants is not None else [None] * count
        own = [i for i in range(count) if adapter is not None and owners[i] == adapter.info.merchant]
        answers: list[dict[str, Any]] = [{} for _ in requests]
        if adapter is not None and own:
            for row, decision in zip(own, _by_mode(adapter.decide, [requests[i] for i in own]), strict=True):
                answers[row] = decision
        mine = set(own)
        rest = [i for i in range(count) if i not in mine]
        if not rest:
            return answers
        decided = self._decide_global(
            [requests[i] for i in rest],
            [units[i] for i in rest] if units is not None else None,
            [request_ids[i] for i in rest] if request_ids is not None else None,
        )
        refused = adapter_error
        if refused is None and adapter is not None:
            refused = f"{adapter.version_id} is not this merchant's adapter; the global version answered"
        for row, decision in zip(rest, decided, strict=True):
            answers[row] = decision if refused is None else {**decision, "adapter_error": refused}
        return answers

    def _decide_global(
        self,
        requests: Sequence[tuple[str, str]],
        units: Sequence[str | None] | None,
        request_ids: Sequence[str] | None,
    ) -> list[dict[str, Any]]:
        keys = [
            (units[i] if units is not None else None) or (request_ids[i] if request_ids is not None else None)
            for i in range(len(requests))
        ]
        live, candidate = self._current, self._candidate
        answers: list[dict[str, Any]] = [{} for _ in requests]
        canary = [candidate is not None and candidate.plan.answers(key) for key in keys]
        groups = [(live, [i for i, c in enumerate(canary) if not c])]
        if candidate is not None and any(canary):
            groups.append((candidate.loaded, [i for i, c in enumerate(canary) if c]))
        for loaded, rows in groups:
            for row, decision in zip(rows, _decide(loaded, [requests[i] for i in rows]), strict=True):
                answers[row] = decision
        if candidate is not None and candidate.plan.mode is CandidateMode.SHADOW:
            self._shadow(candidate, requests, answers, list(units or [None] * len(requests)), request_ids)
        return answers

    def flush_shadow(self, timeout_s: float = 60.0) -> None:
        """Wait until every shadow batch submitted so far is compared and logged."""
        self._shadow_pool.submit(lambda: None).result(timeout=timeout_s)

    def _shadow(
        self,
        candidate: _Candidate,
        requests: Sequence[tuple[str, str]],
        live: Sequence[Mapping[str, Any]],
        units: Sequence[str | None],
        request_ids: Sequence[str] | None,
    ) -> None:
        with self._shadow_lock:
            if self._shadow_backlog >= _SHADOW_BACKLOG:
                self._shadow_dropped += 1
                return
            self._shadow_backlog += 1
        ids = list(request_ids) if request_ids is not None else [""] * len(requests)
        self._shadow_pool.submit(self._compare, candidate, list(requests), list(live), list(units), ids)

    def _compare(
        self,
        candidate: _Candidate,
        requests: list[tuple[str, str]],
        live: list[Mapping[str, Any]],
        units: list[str | None],
        request_ids: list[str],
    ) -> None:
        try:
            shadowed = _decide(candidate.loaded, requests)
            rows = [
                ShadowRow(
                    request_id,
                    unit,
                    str(ours.get("version")),
                    ours.get("intent"),
                    ours.get("confidence"),
                    candidate.loaded.version_id,
                    theirs.get("intent"),
                    theirs.get("confidence"),
                )
                for request_id, unit, ours, theirs in zip(request_ids, units, live, shadowed, strict=True)
            ]
            if candidate.log is not None:
                candidate.log.record(candidate.loaded.version_id, rows)
        except Exception:  # the shadow's boundary: whatever it does, live answers are not affected
            logger.exception("shadow %s could not compare a batch", candidate.loaded.version_id)
        finally:
            with self._shadow_lock:
                self._shadow_backlog -= 1

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
            "candidate": self._candidate_status(),
            "adapters": self.adapters.bases(),
            "adapter_loads": self.adapters.loads,
            "pid": os.getpid(),
        }

    def _candidate_status(self) -> dict[str, Any] | None:
        candidate = self._candidate
        if candidate is None:
            return None
        return {
            **candidate.plan.to_user_config(),
            "version": candidate.loaded.version_id,
            "shadow_dropped": self._shadow_dropped,
        }


def _shadow_log(plan: CandidatePlan) -> ShadowLog | None:
    return ShadowLog(Path(plan.log)) if plan.mode is CandidateMode.SHADOW and plan.log else None


def _decide(loaded: LoadedIntent, requests: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """Decisions of ``loaded``'s stage for ``(text, mode)`` pairs, one batch through the stage per mode."""
    return _by_mode(loaded.stage.decide, requests)


def _by_mode(
    decide: Callable[[Sequence[str], ChatMode], list[dict[str, Any]]], requests: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """``decide``'s decisions for ``(text, mode)`` pairs, in order, one call per mode."""
    answers: list[dict[str, Any]] = [{} for _ in requests]
    for mode in dict.fromkeys(m for _, m in requests):
        rows = [i for i, (_, m) in enumerate(requests) if m == mode]
        texts = [requests[i][0] for i in rows]
        for row, decision in zip(rows, decide(texts, ChatMode(mode)), strict=True):
            answers[row] = decision
    return answers


class AdapterCache:
    """The merchants' intent adapters of one replica, in Ray Serve's multiplexed-model cache: the multiplexed
    model id of a request (set by the ingress, :mod:`cluster.adapters`) names the adapter, which is loaded on
    first use (:class:`~ensemble.members.intent_adapter.AdapterBank`); the cache keeps ``max_adapters`` and
    evicts the least recently used."""

    def __init__(self, bank: AdapterBank, max_adapters: int) -> None:
        self.max_adapters = max_adapters

        async def load(model_id: str) -> ServedAdapter:
            return await asyncio.to_thread(bank.load, model_id)

        self._load = serve.multiplexed(max_num_models_per_replica=max_adapters)(load)

    async def for_batch(self) -> tuple[ServedAdapter | None, str | None]:
        """The adapter the current (batch of) request(s) names, or why it could not be loaded; ``(None, None)``
        for a request that names none."""
        model_id = serve.get_multiplexed_model_id()
        if not model_id:
            return None, None
        if not model_id.startswith(f"{ADAPTER_MEMBER}:"):
            return None, f"{model_id!r:.80} is no adapter version; the global version answered"
        try:
            adapter: ServedAdapter = await self._load(model_id)
        except Exception as err:  # the adapter's boundary: the global version answers, and says why
            logger.exception("adapter %s could not be loaded", model_id)
            return (
                None,
                f"adapter {model_id} could not be loaded ({type(err).__name__}: {err}); the global version answered",
            )
        return adapter, None


@serve.deployment(name="IntentDeployment")
class IntentDeployment:
    """Serves the intent member (the ensemble built on it, when there is one) from a registry, its encoder on
    ``engine`` (ONNX graphs cached in ``cache_dir``); ``user_config`` = ``{"version", "ensemble_version",
    "max_batch_size", "batch_wait_timeout_s", "rollout", "candidate"}`` (each optional) changes the version, the
    batching or the candidate served beside it (:mod:`cluster.candidate`) without a restart."""

    def __init__(
        self,
        registry_dir: str,
        version: str | None,
        max_batch_size: int,
        batch_wait_timeout_s: float,
        engine: str = EncoderEngine.TORCH.value,
        cache_dir: str | None = None,
        max_adapters: int = 4,
    ) -> None:
        self._runner = IntentRunner(
            Registry(Path(registry_dir)), version, engine, Path(cache_dir) if cache_dir is not None else None
        )
        self._adapters = AdapterCache(self._runner.adapters, max_adapters)
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
        candidate = await asyncio.to_thread(self._runner.apply_candidate, user_config)
        report_outcomes(user_config, [outcome] if candidate is None else [outcome, candidate])

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def classify(self, texts: list[str]) -> list[dict[str, Any]]:
        """One forward pass over a batch of texts, in a thread so the replica keeps accepting requests."""
        return await asyncio.to_thread(self._runner.classify, texts)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.005)
    async def decide(self, requests: list[tuple[str, str, str, str | None, str | None]]) -> list[dict[str, Any]]:
        """Intent decisions for a batch of ``(text, mode, request_id, unit, merchant)`` (``unit``: the customer or
        session a canary's share is sticky by; ``merchant``: the caller's, whose adapter the batch's multiplexed
        model id names), in a thread; each decision says how many requests its batch held (``batch_size``)."""
        started = time.perf_counter()
        adapter, adapter_error = await self._adapters.for_batch()
        decisions = await asyncio.to_thread(
            self._runner.decide,
            [(text, mode) for text, mode, *_ in requests],
            [request[3] if len(request) > 3 else None for request in requests],
            [request[2] for request in requests],
            adapter,
            [request[4] if len(request) > 4 else None for request in requests],
            adapter_error,
        )
        self._metrics.observe_batch(len(requests), time.perf_counter() - started)
        logger.debug("intent batch of %s for requests %s", len(requests), [request[2] for request in requests])
        return [{**decision, "batch_size": len(requests)} for decision in decisions]

    def status(self) -> dict[str, Any]:
        """See :meth:`IntentRunner.status`."""
        status = {**self._runner.status(), **placement()}
        self._metrics.serving(status["version"])
        return status
