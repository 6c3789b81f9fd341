"""EdgeClient.update over real HTTP from a stdlib server on 127.0.0.1: Range resume, truncation, kill -9."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge.export import BundleInfo, BundleSigner
from edge.runtime import EdgeClient, UpdateError

DOWNLOAD_SCRIPT = """
import sys
from edge.runtime import EdgeClient, TrustedKey
seed, install, outbox, key, url = sys.argv[1:6]
client = EdgeClient(seed, cluster_url="http://127.0.0.1:9", trusted_keys=[TrustedKey.parse(key)],
                    outbox_dir=outbox, install_dir=install, timeout_s=30)
client.update(url)
"""


class BundleServer:
    """Serves a bundle folder with HTTP Range support; can cut one file short or send it slowly."""

    def __init__(self, folder: Path, *, truncate: dict[str, int] | None = None, throttle_s: float = 0.0) -> None:
        self.requests: list[tuple[str, str | None]] = []
        self.truncate = dict(truncate or {})
        self.throttle_s = throttle_s
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                owner.requests.append((name, self.headers.get("Range")))
                path = folder / name
                if "/" in name or not path.is_file():
                    self.send_error(404)
                    return
                data = path.read_bytes()
                start, status = 0, 200
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes=") and ranged.endswith("-"):
                    start, status = int(ranged[len("bytes=") : -1]), 206
                body = data[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                cut = owner.truncate.pop(name, None)
                if cut is not None:  # announce the whole body, send part of it, hang up
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                for offset in range(0, len(body), 16384):
                    self.wfile.write(body[offset : offset + 16384])
                    if owner.throttle_s:
                        time.sleep(owner.throttle_s)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.mark.integration
def test_truncated_download_fails_keeps_the_old_version_then_resumes_with_a_range_request(
    tiny_bundle: BundleInfo, install_client: Callable[..., EdgeClient], v2: Path
) -> None:
    # Prepare: the first answer for model.onnx stops after 100 kB
    server = BundleServer(v2, truncate={"model.onnx": 100_000})
    client = install_client(tiny_bundle.path)
    try:
        # Execute / Assert: the cut download fails and v0001 keeps serving
        with pytest.raises(UpdateError, match=r"model\.onnx stopped at \d+ of \d+ bytes.*call update again to resume"):
            client.update(server.url)
        assert client.classify("hi").version == "intent:v0001"

        # Execute / Assert: the next attempt continues from byte 100000 and installs v0002
        assert client.update(server.url).version == "intent:v0002"
    finally:
        server.stop()
        client.close()
    model_requests = [rng for name, rng in server.requests if name == "model.onnx"]
    assert len(model_requests) == 2 and model_requests[0] is None
    assert model_requests[1] is not None and 0 < int(model_requests[1][len("bytes=") : -1]) <= 100_000


@pytest.mark.integration
def test_kill_9_mid_download_keeps_the_old_version_and_the_next_update_resumes(
    tmp_path: Path,
    tiny_bundle: BundleInfo,
    install_client: Callable[..., EdgeClient],
    signer: BundleSigner,
    v2: Path,
) -> None:
    # Prepare: a slow server, the device installed on v0001
    server = BundleServer(v2, throttle_s=0.05)
    install_client(tiny_bundle.path).close()
    args = [str(tiny_bundle.path), str(tmp_path / "install"), str(tmp_path / "outbox"), signer.trusted_key.hex()]
    size = (v2 / "model.onnx").stat().st_size
    staged = tmp_path / "install" / "staging"
    try:
        # Execute: the device process is killed -9 while model.onnx is half downloaded
        proc = subprocess.Popen([sys.executable, "-c", DOWNLOAD_SCRIPT, *args, server.url])
        deadline = time.monotonic() + 60
        partial = 0
        while time.monotonic() < deadline and not 0 < partial < size // 2:
            partials = list(staged.glob("*/model.onnx"))
            partial = partials[0].stat().st_size if partials else 0
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert 0 < partial < size, "the download should have been caught half way"

        # Assert: the restarted device serves v0001; its next update resumes and installs v0002
        server.throttle_s = 0.0
        with install_client(tiny_bundle.path) as client:
            assert client.classify("hi").version == "intent:v0001"
            server.requests.clear()
            assert client.update(server.url).version == "intent:v0002"
    finally:
        server.stop()
    ranges = [rng for name, rng in server.requests if name == "model.onnx"]
    assert len(ranges) == 1 and ranges[0] is not None and ranges[0].startswith("bytes=")
    assert int(ranges[0][len("bytes=") : -1]) > 0
