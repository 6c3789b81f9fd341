"""Offline without loss or duplicates: 1,000 events queued offline reach a real receiver exactly once.

The receiver is a plain HTTP server in its own process that drops repeats with cluster/idempotency.py and logs
every event it accepts; it is restarted twice during the sync, and one device process is killed -9 mid-sync.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.export import BundleInfo, BundleSigner
from edge.runtime import IDEMPOTENCY_HEADER, EdgeClient, TrustedKey

logger = logging.getLogger(__name__)

STORE_MODULE = Path(__file__).resolve().parents[3] / "cluster" / "idempotency.py"
EVENTS = 1000

# The store depends on the standard library only; loading it by file keeps the receiver from importing the
# whole cluster package (Ray, Serve) at each restart.
RECEIVER = """
import importlib.util, json, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
spec = importlib.util.spec_from_file_location("idempotency", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
store = module.IdempotencyStore(Path(sys.argv[2]))
log = open(sys.argv[3], "a", encoding="utf-8")
port, header = int(sys.argv[4]), sys.argv[5]
stopping = []

class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = self.headers[header]
        duplicate = store.seen_or_record(key)
        log.write(json.dumps({"key": key, "text": body["text"], "duplicate": duplicate}) + "\\n")
        log.flush()
        os.fsync(log.fileno())
        payload = json.dumps({"intent": "order_status", "confidence": 0.9, "version": "intent:v0100"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        return

server = HTTPServer(("127.0.0.1", port), Handler)
server.timeout = 0.05
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
print("ready", flush=True)
while not stopping:
    server.handle_request()
server.server_close()
"""

DEVICE = """
import json, sys
from edge.runtime import EdgeClient, TrustedKey
bundle, outbox, key, url = sys.argv[1:5]
client = EdgeClient(bundle, cluster_url=url, trusted_keys=[TrustedKey.parse(key)], outbox_dir=outbox,
                    device_id="till-1", timeout_s=5)
result = client.flush()
print(json.dumps({"delivered": result.delivered, "remaining": result.remaining}), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_lines(log: Path) -> list[dict[str, object]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.endswith("}")]


def _accepted(log: Path) -> int:
    return sum(1 for line in _log_lines(log) if not line["duplicate"])


def _wait_until(condition: object, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class _Receiver:
    def __init__(self, tmp: Path, port: int) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                RECEIVER,
                str(STORE_MODULE),
                str(tmp / "keys.sqlite3"),
                str(tmp / "received.jsonl"),
                str(port),
                IDEMPOTENCY_HEADER,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    def restart_gracefully(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


@pytest.mark.integration
def test_thousand_offline_events_arrive_exactly_once_across_receiver_restarts_and_a_device_kill(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...], signer: BundleSigner
) -> None:
    # Prepare: the device is offline; every message is unsure, so each one is queued
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    texts = [f"message {n}: where is my parcel" for n in range(EVENTS)]
    outbox = tmp_path / "outbox"
    with EdgeClient(
        tiny_bundle.path,
        cluster_url=url,
        trusted_keys=trusted_keys,
        outbox_dir=outbox,
        device_id="till-1",
        confidence_threshold=1.0,
    ) as offline:
        answers = offline.classify_batch(texts)
        queued = offline.outbox.pending()
    assert {a.source for a in answers} == {"device-offline"}
    assert len(queued) == EVENTS
    device = [sys.executable, "-c", DEVICE, str(tiny_bundle.path), str(outbox), signer.trusted_key.hex(), url]
    log = tmp_path / "received.jsonl"

    # Execute 1: the first device process is killed -9 in the middle of its sync
    receiver = _Receiver(tmp_path, port)
    first = subprocess.Popen(device, stdout=subprocess.PIPE, text=True)
    _wait_until(lambda: _accepted(log) >= 250, "250 events received")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    # Execute 2: the receiver restarts (1st), a new device process syncs; the receiver restarts again (2nd) mid-sync
    receiver.restart_gracefully()
    receiver = _Receiver(tmp_path, port)
    second = subprocess.Popen(device, stdout=subprocess.PIPE, text=True)
    _wait_until(lambda: _accepted(log) >= 600, "600 events received")
    receiver.restart_gracefully()
    second_out, _ = second.communicate(timeout=120)
    receiver = _Receiver(tmp_path, port)

    # Execute 3: a last sync delivers the rest
    third = subprocess.run(device, capture_output=True, text=True, timeout=300, check=False)
    receiver.restart_gracefully()

    # Assert: every event accepted exactly once, none lost; the outbox is empty
    lines = _log_lines(log)
    accepted = [line for line in lines if not line["duplicate"]]
    by_key = {str(line["key"]): str(line["text"]) for line in accepted}
    assert first.returncode == -9
    assert json.loads(second_out)["remaining"] > 0, "the second sync should have been cut by the receiver restart"
    assert third.returncode == 0, third.stderr[-2000:]
    assert json.loads(third.stdout)["remaining"] == 0
    assert len(accepted) == len(by_key) == EVENTS, "no event accepted twice"
    assert by_key == {r.id: r.text for r in queued}, "every queued event accepted under its own key"
    with EdgeClient(
        tiny_bundle.path, cluster_url=url, trusted_keys=trusted_keys, outbox_dir=outbox, device_id="till-1"
    ) as after:
        assert after.outbox.pending() == []
    repeats = len(lines) - len(accepted)
    logger.info(
        "exactly-once: %s events, %s deliveries, %s repeat(s) dropped by the store", EVENTS, len(lines), repeats
    )
