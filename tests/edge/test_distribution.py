"""The device SDK as shipped: the `shopmesh-edge` wheel alone in a fresh virtualenv loads a bundle and classifies.

The wheel is built from ``edge/runtime`` (its own pyproject.toml) and installed into a new venv with pip, which
takes onnxruntime, numpy, tokenizers, httpx and cryptography from the package index (or pip's cache). Nothing of
the repository is on that interpreter's path.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.export import BundleInfo, BundleSigner
from edge.runtime import EdgeBundle, TrustedKey

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNTIME_SRC = REPO_ROOT / "edge" / "runtime"
FORBIDDEN = ("torch", "ray", "flwr", "transformers", "fastapi")
TEXTS = ["hi", "where is my parcel", "refund my jacket please"]

_DEVICE_SCRIPT = """
import json, sys
import edge.runtime as sdk
from edge.runtime import EdgeClient, TrustedKey
bundle_dir, public_key, texts, work = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
with EdgeClient(bundle_dir, cluster_url="http://127.0.0.1:9", trusted_keys=[TrustedKey.parse(public_key)],
                outbox_dir=work + "/outbox", install_dir=work + "/install", confidence_threshold=0.0) as client:
    answers = client.classify_batch(texts)
    probes_failed = len(client.bundle.failed_probes())
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
print(json.dumps({{
    "sdk_file": sdk.__file__,
    "sources": sorted({{a.source for a in answers}}),
    "versions": sorted({{a.version for a in answers}}),
    "predictions": [[a.intent, a.confidence] for a in answers],
    "probes_failed": probes_failed,
    "heavy_modules": heavy,
}}))
"""


def _run(cmd: list[str], cwd: Path, timeout: float) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.integration
def test_shopmesh_edge_wheel_alone_in_a_fresh_venv_loads_a_bundle_and_classifies(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...], signer: BundleSigner
) -> None:
    # Prepare: build the wheel from a copy of edge/runtime (the build writes build/ and *.egg-info beside it)
    source = tmp_path / "shopmesh-edge-src"
    shutil.copytree(RUNTIME_SRC, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(dist)],
        tmp_path,
        timeout=120,
    )
    (wheel,) = dist.glob("shopmesh_edge-*.whl")
    venv = tmp_path / "device-venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, timeout=120)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], tmp_path, timeout=300)
    expected = EdgeBundle.load(tiny_bundle.path, trusted_keys).predict(TEXTS)

    # Execute
    installed = json.loads(_run([str(python), "-m", "pip", "list", "--format", "json"], tmp_path, timeout=60))
    script = _DEVICE_SCRIPT.format(forbidden=set(FORBIDDEN))
    device = json.loads(
        _run(
            [
                str(python),
                "-c",
                script,
                str(tiny_bundle.path),
                signer.trusted_key.hex(),
                json.dumps(TEXTS),
                str(tmp_path / "device"),
            ],
            tmp_path,
            timeout=120,
        )
    )

    # Assert: none of the server stack is installed or imported; the SDK came from the venv, not the repository
    names = {str(p["name"]).lower() for p in installed}
    assert "shopmesh-edge" in names and "shopmesh" not in names
    assert names.isdisjoint(FORBIDDEN), f"the device venv holds {sorted(names & set(FORBIDDEN))}"
    assert device["heavy_modules"] == []
    assert Path(device["sdk_file"]).resolve().is_relative_to(venv.resolve())
    assert device["sources"] == ["device"]
    assert device["versions"] == [tiny_bundle.manifest.version_id]
    assert device["probes_failed"] == 0
    assert [p[0] for p in device["predictions"]] == [e.intent for e in expected]
    assert [p[1] for p in device["predictions"]] == pytest.approx([e.confidence for e in expected], abs=1e-6)
    logger.info("shopmesh-edge device venv: %.1f MiB installed", _tree_bytes(venv) / 2**20)
