"""Shared fixtures: one tiny intent model exported once per session, copied per test that alters it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from edge.export import BundleInfo, BundleSigner, export_intent
from edge.runtime import EdgeClient, TrustedKey
from ensemble.members.intent import IntentModel

LABELS = ("order_status", "returns", "greeting")
TINY_VERSION = "intent:v0001"


@pytest.fixture(scope="session")
def signer() -> BundleSigner:
    """The platform's private key for the session's bundles."""
    return BundleSigner.generate()


@pytest.fixture(scope="session")
def trusted_keys(signer: BundleSigner) -> tuple[TrustedKey, ...]:
    """What a device holds: the platform's public key only."""
    return (signer.trusted_key,)


@pytest.fixture(scope="session")
def labels() -> tuple[str, ...]:
    return LABELS


@pytest.fixture(scope="session")
def tiny_version() -> str:
    return TINY_VERSION


@pytest.fixture(scope="session")
def tiny_model() -> IntentModel:
    model = IntentModel.tiny(list(LABELS), seed=0)
    model.eval()
    return model


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_model: IntentModel, signer: BundleSigner) -> BundleInfo:
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    return export_intent(tiny_model, out, version_id=TINY_VERSION, signer=signer)


@pytest.fixture
def bundle_copy(tmp_path: Path, tiny_bundle: BundleInfo) -> Path:
    """A private copy of the tiny bundle that a test may tamper with."""
    dest = tmp_path / "bundle"
    shutil.copytree(tiny_bundle.path, dest)
    return dest


# The discard port: nothing listens there, so escalations fail fast.
UNREACHABLE = "http://127.0.0.1:9"


def resign_bundle(bundle: Path, signer: BundleSigner, version_id: str, sequence: int, **changes: object) -> Path:
    """Rewrite and re-sign a bundle's manifest with a new version (and any other manifest changes)."""
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(version_id=version_id, sequence=sequence, key_id=signer.key_id, **changes)
    raw = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path.write_bytes(raw)
    (bundle / "manifest.sig").write_text(signer.sign(raw))
    return bundle


@pytest.fixture(scope="session")
def resign() -> Callable[..., Path]:
    """:func:`resign_bundle`: ``resign(folder, signer, "intent:v0002", 2, **manifest_changes)``."""
    return resign_bundle


@pytest.fixture
def v2(tmp_path: Path, tiny_bundle: BundleInfo, signer: BundleSigner) -> Path:
    """The tiny bundle re-signed as the next version, intent:v0002 (sequence 2)."""
    folder = tmp_path / "v2"
    shutil.copytree(tiny_bundle.path, folder)
    return resign_bundle(folder, signer, "intent:v0002", 2)


@pytest.fixture
def install_client(tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]) -> Callable[..., EdgeClient]:
    """Opens a device with OTA updates in this test's folders: ``install_client(seed_bundle, **options)``.

    Unless ``options`` say otherwise, every call opens the same install directory (a restart of the same
    device), answers every message on the device (threshold 0) and gives downloads 30 s.
    """

    def open_client(seed: Path, **options: Any) -> EdgeClient:
        settings: dict[str, Any] = {
            "cluster_url": UNREACHABLE,
            "trusted_keys": trusted_keys,
            "outbox_dir": tmp_path / "outbox",
            "install_dir": tmp_path / "install",
            "confidence_threshold": 0.0,
            "timeout_s": 30.0,
        }
        settings.update(options)
        return EdgeClient(seed, **settings)

    return open_client
