from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run_cli(*args: str, home: Path, timeout: float = 900.0) -> subprocess.CompletedProcess[str]:
    """Run the installed ``shopmesh`` command as a user would, in a fresh interpreter."""
    env = {**os.environ, "SHOPMESH_HOME": str(home), "HF_HUB_OFFLINE": "1", "FLWR_TELEMETRY_ENABLED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "shopmesh.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


CliRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def free_port() -> int:
    return _free_port()


@pytest.fixture
def cli() -> CliRunner:
    return _run_cli
