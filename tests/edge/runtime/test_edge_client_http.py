"""Escalation, offline answers and outbox replay over real HTTP to a stdlib server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge.runtime import EdgeClient, TrustedKey


class _ChatServer:
    """A /v1/chat endpoint in a background thread that records what it received."""

    def __init__(self, port: int) -> None:
        self.received: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat":
                    self.send_error(404)
                    return
                owner.received.append(body["text"])
                payload = json.dumps({"intent": "returns", "confidence": 0.88, "version": "intent:v0099"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.mark.integration
def test_escalate_then_go_offline_then_replay_over_real_http(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...], port: int
) -> None:
    # Prepare
    outbox_dir = tmp_path / "outbox"
    settings = {
        "cluster_url": f"http://127.0.0.1:{port}",
        "trusted_keys": trusted_keys,
        "outbox_dir": outbox_dir,
        "confidence_threshold": 1.0,  # nothing is sure enough: every message goes to the cluster
        "timeout_s": 2.0,
        "device_id": "till-3",
    }
    server = _ChatServer(port)
    client = EdgeClient(bundle_copy, **settings)  # type: ignore[arg-type]

    # Execute / Assert: the cluster answers
    online = client.classify("the zip broke on my new jacket")
    assert (online.source, online.intent, online.confidence, online.version) == (
        "cluster",
        "returns",
        0.88,
        "intent:v0099",
    )
    assert server.received == ["the zip broke on my new jacket"]

    # Execute / Assert: the cluster is gone; the device answers and queues
    server.stop()
    offline = [client.classify(text) for text in ("where is my parcel", "hello")]
    assert [a.source for a in offline] == ["device-offline", "device-offline"]
    assert [a.intent for a in offline] == [p.intent for p in client.bundle.predict(["where is my parcel", "hello"])]
    assert len(client.outbox.pending()) == 2
    assert client.flush().remaining == 2, "nothing may leave the outbox while the cluster is down"
    client.close()

    # Execute / Assert: a restarted device still has its outbox; a restarted cluster receives everything once
    restarted = EdgeClient(bundle_copy, **settings)  # type: ignore[arg-type]
    assert [r.text for r in restarted.outbox.pending()] == ["where is my parcel", "hello"]
    server = _ChatServer(port)
    try:
        result = restarted.flush()
        left = restarted.outbox.pending()
    finally:
        server.stop()
        restarted.close()
    assert (result.delivered, result.remaining) == (2, 0)
    assert server.received == ["where is my parcel", "hello"]
    assert left == []
