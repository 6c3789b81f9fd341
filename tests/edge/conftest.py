"""Shared fixtures: one tiny intent model exported once per session, copied per test that alters it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge.export import BundleInfo, export_intent
from ensemble.members.intent import IntentModel

SIGNING_KEY = b"test-operator-key"
LABELS = ("order_status", "returns", "greeting")
TINY_VERSION = "intent:v0001"


@pytest.fixture(scope="session")
def signing_key() -> bytes:
    return SIGNING_KEY


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
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_model: IntentModel) -> BundleInfo:
    out = tmp_path_factory.mktemp("bundles") / "tiny"
    return export_intent(tiny_model, out, version_id=TINY_VERSION, signing_key=SIGNING_KEY)


@pytest.fixture
def bundle_copy(tmp_path: Path, tiny_bundle: BundleInfo) -> Path:
    """A private copy of the tiny bundle that a test may tamper with."""
    dest = tmp_path / "bundle"
    shutil.copytree(tiny_bundle.path, dest)
    return dest
