"""The device SDK's entry point: answer locally when sure, else ask the cluster; never lose a message."""

from __future__ import annotations

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
from edge.runtime.config import ClientOptions, EdgeClientConfig, config_from_arguments
from edge.runtime.errors import ClusterError, InvalidTextError
from edge.runtime.fetch import BundleSource, offered_bundle_url, open_source
from edge.runtime.outbox import Delivery, FlushResult, Outbox, OutboxRecord
from edge.runtime.photo_cascade import check_top_k, classify_on_device, vision_runner
from edge.runtime.protocol import (
    CHAT_PATH,
    EdgeAnswer,
    Source,
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
from edge.runtime.trust import TrustedKey, TrustStore
from edge.runtime.vision_protocol import VISION_PATH, VisionAnswer, parse_vision_answer, replay_request

logger = logging.getLogger(__name__)

__all__ = [
    "CHAT_PATH",
    "EdgeAnswer",
    "EdgeClient",
    "Source",
    "check_text",
    "check_top_k",
    "open_device",
    "update_source",
    "vision_runner",
]


def check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a str, got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise InvalidTextError(f"text is empty or blank ({text!r}); pass the customer's message")
    return text


def open_device(config: EdgeClientConfig) -> tuple[ServingBundle, Outbox]:
    """The verified serving bundle and the durable outbox of a client (slow: it loads and checks a bundle)."""
    serving = ServingBundle(
        config.bundle_dir,
        config.install_dir,
        TrustStore(config.trusted_keys),
        intra_op_threads=config.intra_op_threads,
    )
    return serving, Outbox(config.outbox_dir, config.device_id)


def update_source(source: str | Path | None, http: httpx.Client, config: EdgeClientConfig) -> BundleSource | None:
    """Where an update comes from: ``source``, or with None the bundle the cluster offers this device (if any)."""
    if source is None:
        source = offered_bundle_url(http, config.cluster_url, config.device_id, config.timeout_s)
        if source is None:
            return None
    return open_source(source, http, config.timeout_s)


class EdgeClient:
    """Classifies messages on the device with a verified int8 bundle and the cluster as a fallback.

    Answers whose confidence reaches the threshold, and that the bundle's out-of-scope detection (if it has one)
    does not flag, come from the device (``source="device"``); the others are
    POSTed to ``{cluster_url}/v1/chat`` with an ``Idempotency-Key``. If the cluster is unreachable or fails,
    the device's best guess is returned as ``"device-offline"`` and the message is stored in the durable
    outbox under the same key, which :meth:`flush` replays. Quick failures are retried with backoff; after
    ``breaker_failures`` failed calls the circuit opens and messages are answered on the device at once.
    The optional settings are :class:`~edge.runtime.config.ClientOptions`.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        *,
        cluster_url: str,
        trusted_keys: Sequence[TrustedKey],
        outbox_dir: str | Path,
        http_client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
        **options: Unpack[ClientOptions],
    ) -> None:
        config = config_from_arguments(bundle_dir, cluster_url, trusted_keys, outbox_dir, options)
        self._setup(config, http_client, clock)

    @classmethod
    def from_config(
        cls,
        config: EdgeClientConfig,
        *,
        http_client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> EdgeClient:
        client = cls.__new__(cls)
        client._setup(config, http_client, clock)
        return client

    def _setup(self, config: EdgeClientConfig, http_client: httpx.Client | None, clock: Callable[[], float]) -> None:
        self.config = config
        self._serving, self.outbox = open_device(config)
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_s, clock)
        self._rng = random.Random()
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=config.timeout_s)
        authorize(self._http, config.api_key)

    @property
    def bundle(self) -> EdgeBundle:
        return self._serving.bundle

    @property
    def version(self) -> str:
        return self._serving.bundle.version_id

    @property
    def confidence_threshold(self) -> float:
        """The configured threshold, or the serving bundle's suggested one."""
        return self._threshold_for(self._serving.bundle)

    def _threshold_for(self, bundle: EdgeBundle) -> float:
        return self.config.threshold(bundle.manifest.confidence_threshold)

    def classify(self, text: str) -> EdgeAnswer:
        """Classify one message (raises :class:`InvalidTextError` for empty or non-string text)."""
        return self.classify_batch([text])[0]

    def classify_batch(self, texts: Sequence[str]) -> list[EdgeAnswer]:
        """Classify messages in one device batch; the unsure ones are escalated one by one."""
        checked = [check_text(t) for t in texts]
        if not checked:
            return []
        start = time.perf_counter()
        bundle = self._serving.bundle  # one bundle for the whole batch, even if an update runs meanwhile
        threshold = self._threshold_for(bundle)
        guesses = bundle.predict(checked)
        device_ms = (time.perf_counter() - start) * 1000.0
        answers: list[EdgeAnswer] = []
        for text, guess in zip(checked, guesses, strict=True):
            if guess.answers_locally(threshold):
                answers.append(device_text_answer(text, guess, "device", device_ms, bundle.version_id))
            else:
                answers.append(self._escalate(text, guess, bundle.version_id, device_ms))
        return answers

    def _escalate(self, text: str, guess: DevicePrediction, version: str, device_ms: float) -> EdgeAnswer:
        started = time.perf_counter()
        key = uuid.uuid4().hex
        try:
            response = self._call(CHAT_PATH, {"text": text}, key, replay=False)
            answer = parse_answer(self.config.cluster_url + CHAT_PATH, response)
        except ClusterError as err:
            logger.warning("cluster unavailable, answering on the device and queueing the message: %s", err)
            self.outbox.append(OutboxRecord.new(text, guess.intent, guess.confidence, version, key=key))
            latency = device_ms + _ms_since(started)
            return device_text_answer(text, guess, "device-offline", latency, version)
        return cluster_text_answer(text, guess, answer, device_ms + _ms_since(started))

    def classify_image(self, image: bytes | str | Path, *, top_k: int = 5) -> VisionAnswer:
        """Classify one photo (its bytes or a file path) with the bundle's vision model.

        A photo whose calibrated confidence reaches the vision threshold, and that is not out of catalogue, is
        answered on the device; the others go to ``{cluster_url}/v1/vision`` (base64 JSON, ``Idempotency-Key``)
        and, when the cluster is unreachable, are answered on the device as ``"device-offline"`` and queued in
        the outbox with their bytes. Raises :class:`InvalidImageError` for a bad photo (empty, not an image,
        truncated, too many pixels) and :class:`BundleError` when the bundle has no vision model.
        """
        local = classify_on_device(self._serving.bundle, self.config, image, top_k)
        if local.on_device:
            return local.answer("device")
        started = time.perf_counter()
        url = self.config.cluster_url + VISION_PATH
        try:
            response = self._call(VISION_PATH, local.request(), local.key, replay=False)
            return parse_vision_answer(url, response, local.device_ms + _ms_since(started))
        except ClusterError as err:
            logger.warning("cluster unavailable, answering the photo on the device and queueing it: %s", err)
            self.outbox.append(local.record())
            return local.answer("device-offline", _ms_since(started))

    def flush(self) -> FlushResult:
        """Replay queued messages to the cluster, oldest first; only acknowledged ones leave the outbox."""
        return self.outbox.flush(self._deliver)

    def swap_bundle(self, bundle_dir: str | Path) -> str:
        """Load and verify a new bundle folder, then serve it (in memory); a failing one leaves the old serving.

        A bundle older than the serving one is refused (:class:`BundleDowngradeError`) unless it was signed as a
        rollback. Returns the version id now serving.
        """
        return self._serving.swap(Path(bundle_dir))

    def update(
        self, source: str | Path | None = None, observe: Callable[[InstallPhase], None] | None = None
    ) -> UpdateResult:
        """Install a bundle and serve it (needs ``install_dir``): from a folder, an ``http(s)://`` base URL, or
        (``source`` None) the bundle the cluster's staged rollout offers this device.

        The download is staged (HTTP downloads resume where an earlier attempt stopped), the signature and
        hashes are checked, the switch is one atomic rename, and the new version must classify its bundled probe
        texts as expected, else the previous version is restored (:class:`HealthCheckError`). On any error the
        previous version keeps serving. When the cluster offers nothing, nothing changes (``changed`` False).
        """
        found = update_source(source, self._http, self.config)
        if found is None:
            return self._serving.unchanged()
        return self._serving.update(found, observe)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()
        self.outbox.close()

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _deliver(self, record: OutboxRecord) -> Delivery:
        path, body = replay_request(record)
        try:
            self._call(path, body, record.id, replay=True)
        except ClusterError as err:
            if is_permanent_rejection(err):
                logger.warning("cluster rejected queued message %s for good: %s", record.id, err)
                return Delivery.REJECTED
            logger.info("outbox flush stopped at %s: %s", record.id, err)
            return Delivery.FAILED
        return Delivery.DELIVERED

    def _call(self, path: str, body: dict[str, object], key: str, *, replay: bool) -> httpx.Response:
        """POST one message or photo through the breaker, retrying quick failures with backoff and jitter.

        Any 2xx acknowledges it (a replay needs no answer body).
        """
        url = self.config.cluster_url + path
        attempts = Attempts(self.config.cluster_url, self.config.retry, self.breaker, self._rng)
        while True:
            try:
                response = self._post(url, body, key, replay)
            except ClusterError as err:
                time.sleep(attempts.failed(err))
            else:
                attempts.succeeded()
                return response

    def _post(self, url: str, body: dict[str, object], key: str, replay: bool) -> httpx.Response:
        headers = chat_headers(self.config.device_id, key, replay=replay)
        try:
            response = self._http.post(url, json=body, headers=headers, timeout=self.config.timeout_s)
        except httpx.HTTPError as err:
            raise error_for_transport(url, err) from err
        error = error_for_response(url, response)
        if error is not None:
            raise error
        return response


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
