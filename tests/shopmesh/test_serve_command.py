"""``shopmesh serve`` as an operator runs it: serves over HTTP, then stops cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_serve_answers_then_stops_on_signal(tiny_workspace: Path, free_port: int, stop_signal: signal.Signals) -> None:
    # Prepare
    env = {**os.environ, "SHOPMESH_HOME": str(tiny_workspace), "RAY_TMPDIR": f"/tmp/shopmesh-serve-{free_port}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopmesh.cli", "serve", "--port", str(free_port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout or []:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        # Execute: wait until the command says it is serving (its signal handlers are in place by then).
        deadline = time.monotonic() + 300
        while not any("serving on" in line for line in list(lines)):
            assert proc.poll() is None, "serve exited early:\n" + "".join(lines)
            assert time.monotonic() < deadline, "serve did not start in 300 s:\n" + "".join(lines)
            time.sleep(1)
        url = f"http://127.0.0.1:{free_port}"
        chat = httpx.post(f"{url}/v1/chat", json={"text": "where is my white metal lantern?"}, timeout=30.0)
        proc.send_signal(stop_signal)
        proc.wait(timeout=120)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(lines)
    # Assert
    assert chat.status_code == 200
    assert chat.json()["intent"] in {"track_order", "cancel_order"}
    assert proc.returncode == 0, output[-3000:]
    assert f"received {stop_signal.name}; stopping" in output
