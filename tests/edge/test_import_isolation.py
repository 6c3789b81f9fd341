"""The device SDK must import without any of the heavy server-side stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("torch", "ray", "flwr", "transformers", "fastapi", "ensemble", "knowledge_graph", "edge.export")


def test_edge_runtime_imports_no_heavy_module_in_a_fresh_interpreter() -> None:
    # Prepare
    code = (
        "import edge.runtime, sys\n"
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
    assert result.stdout.strip() == "", f"edge.runtime pulled in: {result.stdout.strip()}"
