"""A stand-in cluster for the device's photo tests: a real HTTP server on 127.0.0.1 that answers ``POST
/v1/vision`` with a fixed answer in the shared contract's shape and ``POST /v1/chat`` with a fixed intent, and
records every request (path, JSON body, headers)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["VISION_ANSWER", "VisionClusterServer", "free_port"]

# The body of a 200 from POST /v1/vision, in the shape the shared contract fixes.
_PRODUCT = {
    "class_id": 7,
    "class_name": "Granny-Smith",
    "coarse_name": "Apple",
    "department": "Fruit",
    "description": "A green, sour apple.",
    "iconic_image": "Granny-Smith_Iconic.jpg",
    "score": 0.91,
}
VISION_ANSWER = {
    "product": _PRODUCT,
    "coarse_id": 0,
    "coarse_name": "Apple",
    "coarse_confidence": 0.97,
    "confidence": 0.91,
    "out_of_catalogue": False,
    "similar": [_PRODUCT],
    "facts": [{"subject": "product:gs-7", "relation": "in_category", "object": "Apple"}],
    "related": [],
    "version": "vision:v0042",
    "member": "vision",
    "latency_ms": {"vision": 12.0},
    "request_id": "req-1",
}


class VisionClusterServer:
    """/v1/vision and /v1/chat on 127.0.0.1 in a background thread, recording each request."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.received.append((self.path, body, dict(self.headers)))
                if self.path == "/v1/vision":
                    payload = VISION_ANSWER
                elif self.path == "/v1/chat":
                    payload = {"intent": "returns", "confidence": 0.9, "version": "intent:v0099"}
                else:
                    self.send_error(404)
                    return
                raw = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
