"""Shared fixtures: one tiny intent model (and one tiny vision member) exported once per session, copied per test
that alters it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from edge.export import BundleInfo, BundleSigner, export_intent
from edge.export.vision_bundle import VisionExport
from edge.runtime import EdgeClient, TrustedKey
from ensemble.members.intent import IntentModel
from ensemble.vision import VisionConfig, bundled_grocery_dir, decode_photos, load_grocery
from ensemble.vision.calibration import fit_ooc_threshold, fit_temperature
from ensemble.vision.model import VisionModel
from ensemble.vision.training import fine_tune, logits_and_embeddings

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


VISION_VERSION = "vision:v0001"
# The bundled subset has 18 test photos, so one photo is 5.6 accuracy points: the tiny model's tolerance is wide.
TINY_VISION_MAX_LOSS = 0.2


@pytest.fixture(scope="session")
def tiny_vision() -> VisionExport:
    """A tiny vision member really trained (one head epoch on the frozen backbone at 32 px) and calibrated on the
    bundled subset, with the splits its export calibrates, fits and validates on."""
    data = load_grocery(labels=bundled_grocery_dir() / "images.csv")
    config = VisionConfig(image_size=32, epochs=0, warmup_epochs=1)
    torch.manual_seed(config.seed)
    splits = {name: decode_photos(data, name, config.cache_size) for name in ("train", "val", "test")}
    model = VisionModel.pretrained(data.catalogue.num_classes, image_size=config.image_size, dropout=config.dropout)
    fine_tune(model, splits["train"], splits["val"], config)
    logits, _ = logits_and_embeddings(model, splits["val"], config)
    model.temperature.fill_(fit_temperature(logits, splits["val"].fine))
    probs = torch.softmax(logits / model.temperature, dim=1).numpy()
    correct = probs.argmax(axis=1) == splits["val"].fine.numpy()
    ooc = fit_ooc_threshold(probs.max(axis=1), correct, config.ooc_quantile)
    model.eval()
    return VisionExport(
        model,
        config,
        data.catalogue,
        ooc,
        VISION_VERSION,
        splits["train"],
        splits["val"],
        splits["test"],
        max_accuracy_loss=TINY_VISION_MAX_LOSS,
    )


@pytest.fixture(scope="session")
def vision_bundle(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: IntentModel, signer: BundleSigner, tiny_vision: VisionExport
) -> BundleInfo:
    """The tiny intent bundle with the tiny vision member beside it."""
    out = tmp_path_factory.mktemp("bundles") / "with-vision"
    return export_intent(tiny_model, out, version_id=TINY_VERSION, signer=signer, vision=tiny_vision)


@pytest.fixture(scope="session")
def test_photos() -> list[Path]:
    """The bundled subset's test photos, as files a device would be handed."""
    data = load_grocery(labels=bundled_grocery_dir() / "images.csv")
    return [data.images_dir / str(p) for p in data.split("test")["path"]]
