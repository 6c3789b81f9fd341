"""export_intent: bundle layout, manifest, signature, fp32 parity, atomic publication."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.export import BundleExistsError, BundleInfo, BundleSigner, ExportError, ParityError, export_intent
from edge.runtime import EdgeBundle, TrustedKey
from ensemble.members.intent import IntentModel, predict_proba


class _ExportOnlyDrift(IntentModel):
    """Behaves differently while being exported, so the exported graph cannot match eager torch."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = super().forward(input_ids, attention_mask)
        return logits + 1.0 if torch.compiler.is_exporting() else logits


def test_bundle_holds_the_five_files_and_nothing_else(tiny_bundle: BundleInfo) -> None:
    # Execute
    names = sorted(p.name for p in tiny_bundle.path.iterdir())
    siblings = sorted(p.name for p in tiny_bundle.path.parent.iterdir())

    # Assert
    assert names == ["labels.json", "manifest.json", "manifest.sig", "model.onnx", "tokenizer.json"]
    assert siblings == [tiny_bundle.path.name], "the staging folder must be gone after the rename"


def test_manifest_pins_every_file_and_is_signed_with_ed25519(
    tiny_bundle: BundleInfo, signer: BundleSigner, labels: tuple[str, ...], tiny_version: str
) -> None:
    # Prepare
    raw = (tiny_bundle.path / "manifest.json").read_bytes()
    manifest = json.loads(raw)
    signature = bytes.fromhex((tiny_bundle.path / "manifest.sig").read_text().strip())

    # Execute: verify with cryptography directly, from the raw public key bytes alone
    Ed25519PublicKey.from_public_bytes(signer.trusted_key.public_key).verify(signature, raw)

    # Assert
    assert manifest["key_id"] == signer.key_id
    assert (manifest["sequence"], manifest["rollback"]) == (1, False)
    assert manifest["version_id"] == tiny_version
    assert manifest["member"] == "intent"
    assert manifest["max_length"] == 32
    assert manifest["input_names"] == ["input_ids", "attention_mask"]
    assert manifest["quantization"] == "int8-dynamic-per-channel"
    for name in ("model.onnx", "tokenizer.json", "labels.json"):
        data = (tiny_bundle.path / name).read_bytes()
        assert manifest["files"][name] == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert json.loads((tiny_bundle.path / "labels.json").read_text()) == list(labels)


def test_model_is_int8_and_smaller_than_fp32(tiny_bundle: BundleInfo) -> None:
    # Execute
    graph = onnx.load(str(tiny_bundle.path / "model.onnx"))
    op_types = {node.op_type for node in graph.graph.node}

    # Assert
    assert "DynamicQuantizeLinear" in op_types or "MatMulInteger" in op_types
    assert tiny_bundle.model_size_bytes < tiny_bundle.fp32_size_bytes
    assert tiny_bundle.probe_max_abs_diff <= 1e-4


def test_device_probabilities_follow_torch_on_batches_of_mixed_length(
    tiny_bundle: BundleInfo, tiny_model: IntentModel, trusted_keys: tuple[TrustedKey, ...], labels: tuple[str, ...]
) -> None:
    # Prepare
    texts = ["hi", "where is my parcel, it was due on monday", "refund"]
    bundle = EdgeBundle.load(tiny_bundle.path, trusted_keys)

    # Execute
    device = bundle.runner.probabilities(texts)
    reference = predict_proba(tiny_model, texts).numpy()

    # Assert: int8 weights move probabilities a little, never by much on a tiny model
    assert device.shape == reference.shape == (3, len(labels))
    assert np.abs(device - reference).max() < 0.05
    assert np.allclose(device.sum(axis=-1), 1.0, atol=1e-5)


def test_existing_folder_is_refused_without_overwrite(
    tiny_bundle: BundleInfo, tiny_model: IntentModel, signer: BundleSigner
) -> None:
    # Execute / Assert
    with pytest.raises(BundleExistsError, match="already exists"):
        export_intent(tiny_model, tiny_bundle.path, version_id="intent:v0002", signer=signer)


def test_export_whose_fp32_graph_drifts_from_torch_raises_parity_error(
    tmp_path: Path, signer: BundleSigner, labels: tuple[str, ...]
) -> None:
    # Prepare
    base = IntentModel.tiny(list(labels), seed=1)
    drifting = _ExportOnlyDrift(base.encoder, base.tokenizer, base.labels, base.config)
    out = tmp_path / "drift"

    # Execute / Assert
    with pytest.raises(ParityError, match="differ from torch"):
        export_intent(drifting, out, version_id="intent:v0009", signer=signer)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [], "a failed export must leave no staging folder behind"


def test_manifest_carries_probe_texts_with_the_intents_the_device_gives_them(
    tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    bundle = EdgeBundle.load(tiny_bundle.path, trusted_keys)
    probes = bundle.manifest.probes

    # Execute
    device = bundle.predict([p.text for p in probes])

    # Assert
    assert len(probes) == 6
    assert [p.intent for p in probes] == [d.intent for d in device]
    assert bundle.failed_probes() == []


def test_version_without_a_number_needs_an_explicit_sequence(
    tmp_path: Path, tiny_model: IntentModel, signer: BundleSigner
) -> None:
    # Execute / Assert
    with pytest.raises(ExportError, match=r"cannot read a version number from 'intent:latest'.*sequence="):
        export_intent(tiny_model, tmp_path / "b", version_id="intent:latest", signer=signer)
    assert not (tmp_path / "b").exists()
