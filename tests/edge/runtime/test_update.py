"""EdgeClient.update from a bundle folder: atomic switch, persistence, refusals, health check, crash mid-swap."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.export import BundleInfo, BundleSigner
from edge.runtime import (
    AsyncEdgeClient,
    BundleDowngradeError,
    BundleIntegrityError,
    BundleSignatureError,
    EdgeClient,
    HealthCheckError,
    InstallPhase,
    TrustedKey,
    UpdateError,
)
from tests.edge.conftest import UNREACHABLE

CRASH_SCRIPT = """
import os, signal, sys
from edge.runtime import EdgeClient, TrustedKey
seed, install, outbox, key, source, phase = sys.argv[1:7]
client = EdgeClient(seed, cluster_url="http://127.0.0.1:9", trusted_keys=[TrustedKey.parse(key)],
                    outbox_dir=outbox, install_dir=install)
def observe(reached):
    if reached == phase:
        os.kill(os.getpid(), signal.SIGKILL)
client.update(source, observe)
"""


def _serving_after_restart(open_client: Callable[..., EdgeClient], seed: Path) -> str:
    with open_client(seed) as client:
        return client.classify("hi").version


def test_update_switches_version_and_the_switch_survives_a_restart(
    tmp_path: Path, tiny_bundle: BundleInfo, install_client: Callable[..., EdgeClient], v2: Path
) -> None:
    # Prepare
    client = install_client(tiny_bundle.path)
    phases: list[InstallPhase] = []

    # Execute
    result = client.update(v2, phases.append)
    again = client.update(v2)
    client.close()

    # Assert
    assert (result.previous_version, result.version, result.changed) == ("intent:v0001", "intent:v0002", True)
    assert (again.version, again.changed) == ("intent:v0002", False)
    assert phases == list(InstallPhase)
    assert _serving_after_restart(install_client, tiny_bundle.path) == "intent:v0002"
    installed = sorted(p.name.split("-")[1] for p in (tmp_path / "install" / "versions").iterdir())
    assert installed == ["v0001", "v0002"]
    assert list((tmp_path / "install" / "staging").iterdir()) == []


@pytest.mark.parametrize("case", ["tampered-model", "untrusted-key", "downgrade"])
def test_a_refused_update_leaves_the_old_version_serving_and_nothing_installed(
    tmp_path: Path,
    tiny_bundle: BundleInfo,
    install_client: Callable[..., EdgeClient],
    resign: Callable[..., Path],
    signer: BundleSigner,
    case: str,
) -> None:
    # Prepare
    start = tmp_path / "v5"
    shutil.copytree(tiny_bundle.path, start)
    resign(start, signer, "intent:v0005", 5)
    client = install_client(start)
    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle.path, bad)
    if case == "tampered-model":
        resign(bad, signer, "intent:v0006", 6)
        data = bytearray((bad / "model.onnx").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (bad / "model.onnx").write_bytes(bytes(data))
        expected: type[Exception] = BundleIntegrityError
    elif case == "untrusted-key":
        resign(bad, BundleSigner.generate(), "intent:v0006", 6)
        expected = BundleSignatureError
    else:
        resign(bad, signer, "intent:v0004", 4)
        expected = BundleDowngradeError

    # Execute
    with pytest.raises(expected):
        client.update(bad)

    # Assert
    assert client.classify("hi").version == "intent:v0005"
    assert [p.name.split("-")[1] for p in (tmp_path / "install" / "versions").iterdir()] == ["v0005"]
    assert list((tmp_path / "install" / "staging").iterdir()) == []
    client.close()
    assert _serving_after_restart(install_client, start) == "intent:v0005"


def test_a_signed_rollback_is_installed_over_a_newer_version(
    tmp_path: Path,
    tiny_bundle: BundleInfo,
    install_client: Callable[..., EdgeClient],
    resign: Callable[..., Path],
    signer: BundleSigner,
    v2: Path,
) -> None:
    # Prepare
    client = install_client(v2)
    back = tmp_path / "back"
    shutil.copytree(tiny_bundle.path, back)
    resign(back, signer, "intent:v0001", 1, rollback=True)

    # Execute
    result = client.update(back)

    # Assert
    assert (result.previous_version, result.version) == ("intent:v0002", "intent:v0001")


def test_a_bundle_failing_its_probe_texts_is_rolled_back(
    tmp_path: Path,
    tiny_bundle: BundleInfo,
    install_client: Callable[..., EdgeClient],
    resign: Callable[..., Path],
    signer: BundleSigner,
) -> None:
    # Prepare: a correctly signed bundle whose model no longer gives the intents its probes expect
    client = install_client(tiny_bundle.path)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle.path, broken)
    probes = json.loads((broken / "manifest.json").read_text())["probes"]
    labels = json.loads((broken / "labels.json").read_text())
    wrong = [{"text": p["text"], "intent": next(x for x in labels if x != p["intent"])} for p in probes]
    resign(broken, signer, "intent:v0002", 2, probes=wrong)

    # Execute
    with pytest.raises(HealthCheckError, match=r"6 of 6 probe texts classified otherwise.*rolled back to intent:v0001"):
        client.update(broken)

    # Assert: the old version serves now and after a restart
    assert client.version == "intent:v0001"
    client.close()
    assert _serving_after_restart(install_client, tiny_bundle.path) == "intent:v0001"


def test_update_is_refused_without_an_install_directory(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...], v2: Path
) -> None:
    # Prepare
    client = EdgeClient(tiny_bundle.path, cluster_url=UNREACHABLE, trusted_keys=trusted_keys, outbox_dir=tmp_path)

    # Execute / Assert
    with pytest.raises(UpdateError, match="install_dir="):
        client.update(v2)


@pytest.mark.integration
@pytest.mark.parametrize("phase", [InstallPhase.STAGED, InstallPhase.MOVED, InstallPhase.SWAPPING])
def test_kill_9_mid_swap_keeps_the_old_version_and_a_retry_completes(
    tmp_path: Path,
    tiny_bundle: BundleInfo,
    install_client: Callable[..., EdgeClient],
    signer: BundleSigner,
    v2: Path,
    phase: InstallPhase,
) -> None:
    # Prepare: the device is installed on v0001
    install_client(tiny_bundle.path).close()
    args = [str(tiny_bundle.path), str(tmp_path / "install"), str(tmp_path / "outbox"), signer.trusted_key.hex()]

    # Execute: a device process is killed -9 at the given step of its update
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, *args, str(v2), phase.value], capture_output=True, timeout=120
    )

    # Assert: the restarted device serves the whole old version; a new update then completes
    assert crashed.returncode == -9, crashed.stderr.decode()[-2000:]
    assert _serving_after_restart(install_client, tiny_bundle.path) == "intent:v0001"
    assert not list((tmp_path / "install").glob(".current.*.tmp")), "a dead update's pointer is cleaned up"
    with install_client(tiny_bundle.path) as client:
        assert client.update(v2).version == "intent:v0002"
    assert _serving_after_restart(install_client, tiny_bundle.path) == "intent:v0002"


def test_async_client_updates_in_a_worker_thread_and_serves_the_new_version(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...], v2: Path
) -> None:
    # Prepare
    async def scenario() -> tuple[str, str, str]:
        async with await AsyncEdgeClient.open(
            tiny_bundle.path,
            cluster_url=UNREACHABLE,
            trusted_keys=trusted_keys,
            outbox_dir=tmp_path / "outbox",
            install_dir=tmp_path / "install",
            confidence_threshold=0.0,
        ) as client:
            before = (await client.classify("hi")).version
            result = await client.update(v2)
            after = (await client.classify("hi")).version
        return before, result.version, after

    # Execute
    before, installed, after = asyncio.run(scenario())

    # Assert
    assert (before, installed, after) == ("intent:v0001", "intent:v0002", "intent:v0002")
