"""Shared fixtures: one tiny intent model exported once per session, copied per test that alters it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.export import BundleInfo, BundleSigner, export_intent
from edge.runtime import TrustedKey
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
