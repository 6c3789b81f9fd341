"""The device SDK's entry point: answer locally when sure, else ask the cluster; never lose a message."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx

from edge.runtime.bundle import DevicePrediction, EdgeBundle
from edge.runtime.config import EdgeClientConfig, default_device_id
from edge.runtime.errors import ClusterError, InvalidTextError
from edge.runtime.manifest import check_not_downgrade
from edge.runtime.outbox import Delivery, FlushResult, Outbox, OutboxRecord
from edge.runtime.trust import TrustedKey, TrustStore

logger = logging.getLogger(__name__)

__all__ = ["CHAT_PATH", "EdgeAnswer", "EdgeClient", "Source"]

CHAT_PATH = "/v1/chat"
Source = Literal["device", "cluster", "device-offline"]
# Client errors that retrying cannot fix; a replayed record answered with one is set aside, not retried.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


@dataclass(frozen=True)
class EdgeAnswer:
    """One classified message and where the answer came from."""

    text: str
    intent: str
    confidence: float
    source: Source
    latency_ms: float
    version: str  # the bundle's version id, or the cluster's when the cluster answered


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise InvalidTextError(f"text must be a str, got {type(text).__name__}: {text!r:.80}")
    if not text.strip():
        raise InvalidTextError(f"text is empty or blank ({text!r}); pass the customer's message")
    return text


class EdgeClient:
    """Classifies messages on the device with a verified int8 bundle and the cluster as a fallback.

    Answers whose confidence reaches the threshold come from the device (``source="device"``); the others are
    POSTed to ``{cluster_url}/v1/chat``. If the cluster is unreachable or fails, the device's best guess is
    returned as ``"device-offline"`` and the message is appended to the durable outbox, which :meth:`flush`
    replays.
    """

    def __init__(
        self,
        bundle_dir: str | Path,
        *,
        cluster_url: str,
        trusted_keys: Sequence[TrustedKey],
        outbox_dir: str | Path,
        confidence_threshold: float | None = None,
        timeout_s: float = 2.0,
        device_id: str | None = None,
        intra_op_threads: int = 1,
        http_client: httpx.Client | None = None,
    ) -> None:
        config = EdgeClientConfig(
            bundle_dir=Path(bundle_dir),
            cluster_url=cluster_url.rstrip("/"),
            trusted_keys=tuple(trusted_keys),
            outbox_dir=Path(outbox_dir),
            confidence_threshold=confidence_threshold,
            timeout_s=timeout_s,
            device_id=device_id or default_device_id(),
            intra_op_threads=intra_op_threads,
        )
        self._setup(config, http_client)

    @classmethod
    def from_config(cls, config: EdgeClientConfig, *, http_client: httpx.Client | None = None) -> EdgeClient:
        client = cls.__new__(cls)
        client._setup(config, http_client)
        return client

    def _setup(self, config: EdgeClientConfig, http_client: httpx.Client | None) -> None:
        self.config = config
        self._trust = TrustStore(config.trusted_keys)
        self._bundle = EdgeBundle.load(config.bundle_dir, self._trust, intra_op_threads=config.intra_op_threads)
        self.outbox = Outbox(config.outbox_dir, config.device_id)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client(timeout=config.timeout_s)

    @property
    def bundle(self) -> EdgeBundle:
        return self._bundle

    @property
    def version(self) -> str:
        return self._bundle.version_id

    @property
    def confidence_threshold(self) -> float:
        """The configured threshold, or the serving bundle's suggested one."""
        return self._threshold_for(self._bundle)

    def _threshold_for(self, bundle: EdgeBundle) -> float:
        if self.config.confidence_threshold is not None:
            return self.config.confidence_threshold
        return bundle.manifest.confidence_threshold

    def classify(self, text: str) -> EdgeAnswer:
        """Classify one message (raises :class:`InvalidTextError` for empty or non-string text)."""
        return self.classify_batch([text])[0]

    def classify_batch(self, texts: Sequence[str]) -> list[EdgeAnswer]:
        """Classify messages in one device batch; the unsure ones are escalated one by one."""
        checked = [_check_text(t) for t in texts]
        if not checked:
            return []
        start = time.perf_counter()
        bundle = self._bundle  # one bundle for the whole batch, even if swap_bundle runs meanwhile
        threshold = self._threshold_for(bundle)
        guesses = bundle.predict(checked)
        device_ms = (time.perf_counter() - start) * 1000.0
        answers: list[EdgeAnswer] = []
        for text, guess in zip(checked, guesses, strict=True):
            if guess.confidence >= threshold:
                answers.append(EdgeAnswer(text, guess.intent, guess.confidence, "device", device_ms, bundle.version_id))
            else:
                answers.append(self._escalate(text, guess, bundle.version_id, device_ms))
        return answers

    def _escalate(self, text: str, guess: DevicePrediction, version: str, device_ms: float) -> EdgeAnswer:
        started = time.perf_counter()
        try:
            body = self._post_chat(text, replay=False)
            intent, confidence, cluster_version = self._parse_answer(body)
        except ClusterError as err:
            logger.warning("cluster unavailable, answering on the device and queueing the message: %s", err)
            self.outbox.append(OutboxRecord.new(text, guess.intent, guess.confidence, version))
            latency = device_ms + self._ms_since(started)
            return EdgeAnswer(text, guess.intent, guess.confidence, "device-offline", latency, version)
        latency = device_ms + self._ms_since(started)
        return EdgeAnswer(text, intent, confidence, "cluster", latency, cluster_version)

    def flush(self) -> FlushResult:
        """Replay queued messages to the cluster, oldest first; only delivered ones leave the outbox."""
        return self.outbox.flush(self._deliver)

    def swap_bundle(self, bundle_dir: str | Path) -> str:
        """Load and verify a new bundle, then serve it; one failing verification leaves the old one serving.

        A bundle older than the serving one is refused (:class:`BundleDowngradeError`) unless it was signed as a
        rollback. Returns the version id now serving.
        """
        new = EdgeBundle.load(bundle_dir, self._trust, intra_op_threads=self.config.intra_op_threads)
        check_not_downgrade(self._bundle.manifest, new.manifest)
        old = self._bundle.version_id
        self._bundle = new
        logger.info("edge bundle swapped from %s to %s", old, new.version_id)
        return new.version_id

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

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
        try:
            self._post_chat(record.text, replay=True)
        except ClusterError as err:
            if err.status is not None and 400 <= err.status < 500 and err.status not in _RETRYABLE_4XX:
                logger.warning("cluster rejected queued message %s for good: %s", record.id, err)
                return Delivery.REJECTED
            logger.info("outbox flush stopped at %s: %s", record.id, err)
            return Delivery.FAILED
        return Delivery.DELIVERED

    def _post_chat(self, text: str, *, replay: bool) -> Any:
        url = self.config.cluster_url + CHAT_PATH
        headers = {"X-Edge-Device": self.config.device_id, "X-Edge-Replay": "1" if replay else "0"}
        try:
            response = self._http.post(url, json={"text": text}, headers=headers, timeout=self.config.timeout_s)
        except httpx.HTTPError as err:
            raise ClusterError(f"POST {url} failed: {err!r}") from err
        if response.status_code >= 400:
            raise ClusterError(f"POST {url} answered HTTP {response.status_code}", status=response.status_code)
        try:
            return response.json()
        except ValueError as err:
            raise ClusterError(f"POST {url} answered a body that is not JSON: {response.text[:80]!r}") from err

    @staticmethod
    def _parse_answer(body: Any) -> tuple[str, float, str]:
        if not isinstance(body, dict):
            raise ClusterError(f"cluster answer must be a JSON object, got {type(body).__name__}")
        intent, confidence = body.get("intent"), body.get("confidence")
        if not isinstance(intent, str) or isinstance(confidence, bool) or not isinstance(confidence, int | float):
            raise ClusterError(f"cluster answer lacks a string 'intent' and a numeric 'confidence': {str(body)[:120]}")
        version = body.get("version")
        return intent, float(confidence), version if isinstance(version, str) else "cluster"

    @staticmethod
    def _ms_since(started: float) -> float:
        return (time.perf_counter() - started) * 1000.0
