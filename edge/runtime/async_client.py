"""The asyncio flavour of :class:`~edge.runtime.client.EdgeClient`, for devices whose app runs an event loop.

Inference, outbox writes and installs run in worker threads (``asyncio.to_thread``) so the loop never blocks;
cluster calls use ``httpx.AsyncClient``. Decisions, retries, the circuit breaker and the outbox are the same as
in the sync client.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Unpack

import httpx

from edge.runtime.bundle import DevicePrediction, EdgeBundle
from edge.runtime.client import check_text, open_device, update_source
from edge.runtime.config import ClientOptions, EdgeClientConfig, config_from_arguments
from edge.runtime.errors import ClusterError
from edge.runtime.outbox import Delivery, FlushResult, Outbox, OutboxRecord
from edge.runtime.photo_cascade import classify_on_device
from edge.runtime.protocol import (
    CHAT_PATH,
    EdgeAnswer,
    authorize,
    chat_headers,
    cluster_text_answer,
    device_text_answer,
    error_for_response,
    error_for_transport,
    is_permanent_rejection,
    parse_answer,
)
from edge.runtime.resilience import Attempts, CircuitBreaker
from edge.runtime.serving import ServingBundle, UpdateResult
from edge.runtime.store import InstallPhase
from edge.runtime.trust import TrustedKey
from edge.runtime.vision_protocol import VISION_PATH, VisionAnswer, parse_vision_answer, replay_request

logger = logging.getLogger(__name__)

__all__ = ["AsyncEdgeClient"]

_FLUSH_BATCH = 200


class AsyncEdgeClient:
    """Build it with :meth:`open` (loading a bundle takes a moment, so it runs in a thread)."""

    def __init__(
        self,
        config: EdgeClientConfig,
        serving: ServingBundle,
        outbox: Outbox,
        http_client: httpx.AsyncClient | None,
        clock: Callable[[], float],
    ) -> None:
        self.config = config
        self._serving = serving
        self.outbox = outbox
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_s, clock)
        self._rng = random.Random()
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(timeout=config.timeout_s)
        authorize(self._http, config.api_key)
        self._flush_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        bundle_dir: str | Path,
        *,
        cluster_url: str,
        trusted_keys: Sequence[TrustedKey],
        outbox_dir: str | Path,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: Unpack[ClientOptions],
    ) -> AsyncEdgeClient:
        """The client for these settings (the optional ones are :class:`~edge.runtime.config.ClientOptions`)."""
        config = config_from_arguments(bundle_dir, cluster_url, trusted_keys, outbox_dir, options)
        return await cls.from_config(config, http_client=http_client, clock=clock)

    @classmethod
    async def from_config(
        cls,
        config: EdgeClientConfig,
        *,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> AsyncEdgeClient:
        serving, outbox = await asyncio.to_thread(open_device, config)
        return cls(config, serving, outbox, http_client, clock)

    @property
    def bundle(self) -> EdgeBundle:
        return self._serving.bundle

    @property
    def version(self) -> str:
        return self._serving.bundle.version_id

    def _threshold_for(self, bundle: EdgeBundle) -> float:
        return self.config.threshold(bundle.manifest.confidence_threshold)

    async def classify(self, text: str) -> EdgeAnswer:
        return (await self.classify_batch([text]))[0]

    async def classify_batch(self, texts: Sequence[str]) -> list[EdgeAnswer]:
        """Classify in one device batch; the unsure messages are escalated concurrently."""
        checked = [check_text(t) for t in texts]
        if not checked:
            return []
        start = time.perf_counter()
        bundle = self._serving.bundle
        threshold = self._threshold_for(bundle)
        guesses = await asyncio.to_thread(bundle.predict, checked)
        device_ms = (time.perf_counter() - start) * 1000.0

        async def answer(text: str, guess: DevicePrediction) -> EdgeAnswer:
            if guess.answers_locally(threshold):
                return device_text_answer(text, guess, "device", device_ms, bundle.version_id)
            return await self._escalate(text, guess, bundle.version_id, device_ms)

        return list(await asyncio.gather(*(answer(t, g) for t, g in zip(checked, guesses, strict=True))))

    async def _escalate(self, text: str, guess: DevicePrediction, version: str, device_ms: float) -> EdgeAnswer:
        started = time.perf_counter()
        key = uuid.uuid4().hex
        url = self.config.cluster_url + CHAT_PATH
        try:
            reply = parse_answer(url, await self._call(CHAT_PATH, {"text": text}, key, replay=False))
        except ClusterError as err:
            logger.warning("cluster unavailable, answering on the device and queueing the message: %s", err)
            record = OutboxRecord.new(text, guess.intent, guess.confidence, version, key=key)
            await asyncio.to_thread(self.outbox.append, record)
            latency = device_ms + (time.perf_counter() - started) * 1000.0
            return device_text_answer(text, guess, "device-offline", latency, version)
        return cluster_text_answer(text, guess, reply, device_ms + (time.perf_counter() - started) * 1000.0)

    async def classify_image(self, image: bytes | str | Path, *, top_k: int = 5) -> VisionAnswer:
        """:meth:`EdgeClient.classify_image` without blocking the loop: reading, decoding and inference run in a
        worker thread, the escalation to ``{cluster_url}/v1/vision`` on the event loop, and a photo the cluster
        does not answer is queued in the outbox with its bytes (replayed by :meth:`flush`). Raises
        :class:`InvalidImageError` for a bad photo and :class:`BundleError` when the bundle has no vision model.
        """
        local = await asyncio.to_thread(classify_on_device, self._serving.bundle, self.config, image, top_k)
        if local.on_device:
            return local.answer("device")
        started = time.perf_counter()
        url = self.config.cluster_url + VISION_PATH
        try:
            response = await self._call(VISION_PATH, local.request(), local.key, replay=False)
            return parse_vision_answer(url, response, local.device_ms + (time.perf_counter() - started) * 1000.0)
        except ClusterError as err:
            logger.warning("cluster unavailable, answering the photo on the device and queueing it: %s", err)
            await asyncio.to_thread(self.outbox.append, local.record())
            return local.answer("device-offline", (time.perf_counter() - started) * 1000.0)

    async def flush(self) -> FlushResult:
        """Replay queued messages oldest first; stop at the first failure; only acknowledged ones leave."""
        delivered = rejected = 0
        async with self._flush_lock:
            stopped = False
            while not stopped:
                batch = await asyncio.to_thread(self.outbox.pending, _FLUSH_BATCH)
                if not batch:
                    break
                for record in batch:
                    outcome = await self._deliver(record)
                    if outcome is Delivery.FAILED:
                        stopped = True
                        break
                    await asyncio.to_thread(self.outbox.settle, record, outcome)
                    delivered += outcome is Delivery.DELIVERED
                    rejected += outcome is Delivery.REJECTED
        remaining = await asyncio.to_thread(len, self.outbox)
        return FlushResult(delivered=delivered, rejected=rejected, remaining=remaining)

    async def update(
        self, source: str | Path | None = None, observe: Callable[[InstallPhase], None] | None = None
    ) -> UpdateResult:
        """:meth:`EdgeClient.update` in a worker thread (its downloads use a short-lived sync HTTP client)."""

        def run() -> UpdateResult:
            with httpx.Client(timeout=self.config.timeout_s) as http:
                found = update_source(source, http, self.config)
                return self._serving.unchanged() if found is None else self._serving.update(found, observe)

        return await asyncio.to_thread(run)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
        await asyncio.to_thread(self.outbox.close)

    async def __aenter__(self) -> AsyncEdgeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _deliver(self, record: OutboxRecord) -> Delivery:
        path, body = replay_request(record)  # queued photos go to /v1/vision, messages to /v1/chat
        try:
            await self._call(path, body, record.id, replay=True)
        except ClusterError as err:
            if is_permanent_rejection(err):
                logger.warning("cluster rejected queued message %s for good: %s", record.id, err)
                return Delivery.REJECTED
            logger.info("outbox flush stopped at %s: %s", record.id, err)
            return Delivery.FAILED
        return Delivery.DELIVERED

    async def _call(self, path: str, body: dict[str, object], key: str, *, replay: bool) -> httpx.Response:
        """POST through the breaker, retrying quick failures with backoff and jitter (as EdgeClient does)."""
        url = self.config.cluster_url + path
        attempts = Attempts(self.config.cluster_url, self.config.retry, self.breaker, self._rng)
        while True:
            try:
                response = await self._post(url, body, key, replay)
            except ClusterError as err:
                await asyncio.sleep(attempts.failed(err))
            else:
                attempts.succeeded()
                return response

    async def _post(self, url: str, body: dict[str, object], key: str, replay: bool) -> httpx.Response:
        headers = chat_headers(self.config.device_id, key, replay=replay)
        try:
            response = await self._http.post(url, json=body, headers=headers, timeout=self.config.timeout_s)
        except httpx.HTTPError as err:
            raise error_for_transport(url, err) from err
        error = error_for_response(url, response)
        if error is not None:
            raise error
        return response
