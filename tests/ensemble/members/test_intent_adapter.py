"""Merchant adapters: adapter-only registry versions over a base, and many of them served on one copy of the base."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ensemble.chat import ChatMode
from ensemble.errors import ModelError, ShopmeshError
from ensemble.members.intent import IntentModel, predict_proba
from ensemble.members.intent_adapter import ADAPTER_MEMBER, AdapterBank, adapter_info
from ensemble.members.intent_artifact import load_intent, save_intent
from ensemble.members.lora import apply_lora, load_adapter_state
from ensemble.registry import Lineage, Registry
from tests.merchant_adapters import TEXTS, publish_adapter

MERCHANTS = {"alpha": "get_refund", "beta": "cancel_order"}

LABELS = ["track_order", "cancel_order", "get_refund"]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("adapters") / "registry")
    lineage = Lineage(parent=None, data_fingerprint="test", method="central")
    save_intent(registry, IntentModel.tiny(LABELS, seed=0), metrics={}, lineage=lineage)
    return registry


@pytest.fixture(scope="module")
def adapters(registry: Registry) -> dict[str, str]:
    return {merchant: publish_adapter(registry, merchant, label) for merchant, label in MERCHANTS.items()}


def test_an_adapter_version_holds_only_the_adapter_and_names_its_base(
    registry: Registry, adapters: dict[str, str]
) -> None:
    artifact = registry.load(ADAPTER_MEMBER, adapters["alpha"])
    info = adapter_info(artifact.version.id, artifact.config)
    assert (info.merchant, info.base, artifact.lineage.parent) == ("alpha", "intent:v0001", "intent:v0001")
    assert all(name.startswith(("lora.", "head.")) or name == "temperature" for name in artifact.tensors)
    base_bytes = (registry.resolve("intent", "v0001").path / "weights.safetensors").stat().st_size
    adapter_bytes = (artifact.path / "weights.safetensors").stat().st_size
    assert adapter_bytes * 10 < base_bytes
    assert artifact.metrics["accuracy"] == 1.0  # every test message carries the one label it was trained on
    assert "base_accuracy" in artifact.metrics


def _reference_model(registry: Registry, adapter: str) -> IntentModel:
    """The base with the adapter applied the plain way (one model, one adapter): what the bank must match."""
    artifact = registry.load(ADAPTER_MEMBER, adapter)
    model, _ = load_intent(registry, artifact.config["base"])
    apply_lora(model)
    tensors = dict(artifact.tensors)
    temperature = tensors.pop("temperature")
    load_adapter_state(model, tensors)
    model.temperature.copy_(temperature)
    return model.eval()


def test_two_adapters_share_one_base_and_each_answers_as_its_own_model(
    registry: Registry, adapters: dict[str, str]
) -> None:
    bank = AdapterBank(registry)
    alpha = bank.load(adapters["alpha"])
    beta = bank.load(adapters["beta"])
    assert bank.bases() == {"intent:v0001": sorted(adapters.values())}
    texts = [text for texts in TEXTS.values() for text in texts]
    for served in (alpha, beta, alpha):  # switching back and forth leaves each adapter's answers unchanged
        expected = predict_proba(_reference_model(registry, served.version_id), texts).max(dim=1).values
        decisions = served.decide(texts, ChatMode.SERIAL)
        got = torch.tensor([d["confidence"] for d in decisions])
        assert torch.allclose(got, expected, atol=1e-5)
        assert {d["adapter"] for d in decisions} == {served.version_id}
        assert {d["version"] for d in decisions} == {"intent:v0001"}
    assert {d["intent"] for d in alpha.decide(texts, ChatMode.SERIAL)} == {"get_refund"}
    assert {d["intent"] for d in beta.decide(texts, ChatMode.SERIAL)} == {"cancel_order"}
    alpha.release()
    alpha.release()
    assert bank.bases() == {"intent:v0001": [adapters["beta"]]}
    with pytest.raises(ModelError, match="unloaded"):
        alpha.decide(texts, ChatMode.SERIAL)
    assert {d["intent"] for d in beta.decide(texts, ChatMode.SERIAL)} == {"cancel_order"}
    del beta  # what Ray Serve's cache does on eviction; the last adapter takes its base with it
    assert bank.bases() == {}


def test_the_base_is_not_changed_by_the_adapters_on_it(registry: Registry, adapters: dict[str, str]) -> None:
    base, _ = load_intent(registry, "intent:v0001")
    texts = ["where is my parcel", "refund please"]
    before = predict_proba(base, texts)
    bank = AdapterBank(registry)
    served = bank.load(adapters["alpha"])
    served.decide(texts, ChatMode.SERIAL)
    assert torch.allclose(predict_proba(load_intent(registry, "intent:v0001")[0], texts), before)
    served.release()


def test_a_version_that_is_no_adapter_or_is_missing_is_refused_with_the_reason(
    registry: Registry, adapters: dict[str, str], tmp_path: Path
) -> None:
    bank = AdapterBank(registry)
    with pytest.raises(ShopmeshError, match="not in the registry"):
        bank.load("intent-adapter:v0099")
    with pytest.raises(ModelError, match="not an intent adapter"):
        adapter_info("intent:v0001", registry.load("intent", "v0001").config)
    assert bank.bases() == {}


def test_two_holders_of_one_version_share_it_until_the_last_lets_go(
    registry: Registry, adapters: dict[str, str]
) -> None:
    bank = AdapterBank(registry)
    first = bank.load(adapters["alpha"])
    second = bank.load(adapters["alpha"])
    first.release()
    assert bank.bases() == {"intent:v0001": [adapters["alpha"]]}
    assert {d["intent"] for d in second.decide(["where is my parcel"], ChatMode.SERIAL)} == {"get_refund"}
    second.release()
    assert bank.bases() == {}
