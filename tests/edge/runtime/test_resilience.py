"""Retries with backoff and jitter, and the circuit breaker, over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge.export import BundleInfo
from edge.runtime import (
    IDEMPOTENCY_HEADER,
    AsyncEdgeClient,
    BreakerState,
    CircuitBreaker,
    ClusterUnavailableError,
    EdgeClient,
    EdgeError,
    RetryPolicy,
    TrustedKey,
)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _SilentServer:
    """Accepts TCP connections and never answers: a cluster that hangs. Counts the connections."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


class _ScriptedServer:
    """A /v1/chat endpoint answering the given statuses in turn (then 200), recording each request's headers."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"text": body["text"], "key": self.headers.get(IDEMPOTENCY_HEADER, "")})
                status = owner.statuses.pop(0) if owner.statuses else 200
                payload = json.dumps({"intent": "returns", "confidence": 0.8, "version": "intent:v0050"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def test_backoff_doubles_up_to_the_cap_and_jitter_stays_in_its_band() -> None:
    # Prepare
    fixed = RetryPolicy(attempts=6, base_delay_s=0.1, max_delay_s=0.5, jitter=0.0)
    jittered = RetryPolicy(attempts=6, base_delay_s=0.1, max_delay_s=0.5, jitter=0.5)
    rng = random.Random(0)

    # Execute
    delays = [fixed.delay(n, rng) for n in range(5)]
    samples = [jittered.delay(2, rng) for _ in range(200)]

    # Assert
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])
    assert all(0.2 <= s <= 0.4 for s in samples) and len({round(s, 6) for s in samples}) > 100
    with pytest.raises(EdgeError, match="jitter"):
        RetryPolicy(jitter=1.5)


def test_breaker_opens_fails_fast_then_lets_one_trial_through_after_the_reset_time() -> None:
    # Prepare
    clock = _Clock()
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=10.0, clock=clock)

    # Execute / Assert: two failures open it
    breaker.record_failure()
    after_one = breaker.state
    breaker.record_failure()
    after_two = breaker.state
    assert (after_one, after_two) == (BreakerState.CLOSED, BreakerState.OPEN)
    with pytest.raises(ClusterUnavailableError, match=r"not calling it for 10\.0 s more"):
        breaker.before_call("http://cluster")

    # Execute / Assert: after the reset time one trial goes out, the next caller still fails fast
    clock.now = 10.0
    breaker.before_call("http://cluster")
    with pytest.raises(ClusterUnavailableError):
        breaker.before_call("http://cluster")
    breaker.record_failure()  # the trial failed: open again for another 10 s
    clock.now = 15.0
    with pytest.raises(ClusterUnavailableError):
        breaker.before_call("http://cluster")
    clock.now = 20.0
    breaker.before_call("http://cluster")
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


@pytest.mark.integration
def test_a_hanging_cluster_costs_one_timeout_not_one_per_message(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    silent = _SilentServer()
    clock = _Clock()
    client = EdgeClient(
        tiny_bundle.path,
        cluster_url=silent.url,
        trusted_keys=trusted_keys,
        outbox_dir=tmp_path / "outbox",
        confidence_threshold=1.0,
        timeout_s=0.3,
        clock=clock,
    )
    texts = [f"message {n}" for n in range(5)]

    # Execute
    try:
        answers = client.classify_batch(texts)
        queued = [r.text for r in client.outbox.pending()]
    finally:
        client.close()
        silent.stop()

    # Assert: one connection (one timeout, not retried); the other four answered on the device at once
    assert len(silent.accepted) == 1
    assert [a.source for a in answers] == ["device-offline"] * 5
    assert queued == texts
    assert client.breaker.state is BreakerState.OPEN


@pytest.mark.integration
def test_quick_failures_are_retried_under_one_idempotency_key(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    server = _ScriptedServer([503, 503])
    client = EdgeClient(
        tiny_bundle.path,
        cluster_url=server.url,
        trusted_keys=trusted_keys,
        outbox_dir=tmp_path / "outbox",
        confidence_threshold=1.0,
        retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.02),
    )

    # Execute
    try:
        answer = client.classify("my kettle broke")
    finally:
        client.close()
        server.stop()

    # Assert
    assert (answer.source, answer.intent, answer.version) == ("cluster", "returns", "intent:v0050")
    assert len(server.requests) == 3
    assert len({r["key"] for r in server.requests}) == 1 and len(server.requests[0]["key"]) == 32


@pytest.mark.integration
def test_async_client_escalates_queues_offline_and_replays_with_the_same_keys(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    clock = _Clock()
    texts = ["where is my parcel", "hello", "refund please"]

    async def scenario() -> tuple[list[str], list[str], int, list[dict[str, str]], list[str]]:
        down = _SilentServer()
        async with await AsyncEdgeClient.open(
            tiny_bundle.path,
            cluster_url=down.url,
            trusted_keys=trusted_keys,
            outbox_dir=tmp_path / "outbox",
            confidence_threshold=1.0,
            timeout_s=0.3,
            clock=clock,
        ) as client:
            offline = await client.classify_batch(texts)
            queued = [r.id for r in client.outbox.pending()]
        down.stop()
        server = _ScriptedServer([])
        try:
            async with await AsyncEdgeClient.open(
                tiny_bundle.path,
                cluster_url=server.url,
                trusted_keys=trusted_keys,
                outbox_dir=tmp_path / "outbox",
                confidence_threshold=1.0,
            ) as client:
                result = await client.flush()
                online = await client.classify("my kettle broke")
        finally:
            server.stop()
        return [a.source for a in offline], queued, result.delivered, server.requests, [online.source]

    # Execute
    sources, queued, delivered, requests, online = asyncio.run(scenario())

    # Assert
    assert sources == ["device-offline"] * 3
    assert delivered == 3 and len(queued) == 3
    assert sorted(r["text"] for r in requests[:3]) == sorted(texts)
    assert [r["key"] for r in requests[:3]] == queued, "replayed oldest first under the keys they were queued with"
    assert online == ["cluster"]
