"""The device SDK must import without any of the heavy server-side stack, module by module."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# Pillow is the optional "vision" extra: imported when a photo is classified, never by importing the SDK.
FORBIDDEN = (
    "torch",
    "ray",
    "flwr",
    "transformers",
    "fastapi",
    "ensemble",
    "knowledge_graph",
    "edge.export",
    "cluster",
    "PIL",
)
RUNTIME_MODULES = sorted(f"edge.runtime.{m.name}" for m in pkgutil.iter_modules([str(REPO_ROOT / "edge" / "runtime")]))


def test_every_runtime_module_is_listed() -> None:
    # Assert: the parametrisation below really covers the SDK's modules (a new module is picked up by itself)
    for expected in ("client", "async_client", "trust", "store", "fetch", "outbox", "resilience", "serving", "vision"):
        assert f"edge.runtime.{expected}" in RUNTIME_MODULES


@pytest.mark.parametrize("module", ["edge.runtime", *RUNTIME_MODULES])
def test_edge_runtime_module_imports_no_heavy_module_in_a_fresh_interpreter(module: str) -> None:
    # Prepare
    code = (
        f"import {module}, sys\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "loaded = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in forbidden))\n"
        "print(','.join(loaded))\n"
    )

    # Execute
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    # Assert
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"{module} pulled in: {result.stdout.strip()}"
