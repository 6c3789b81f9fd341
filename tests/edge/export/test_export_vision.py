"""The vision member's int8 export: static QDQ graph validated against torch, signed into the bundle with its
catalogue, preprocessing and calibration; text-only bundles stay as they were."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge.export import BundleInfo
from edge.export.errors import QuantizationLossError
from edge.export.vision_bundle import VisionExport
from edge.export.vision_onnx import network_inputs, torch_vision_logits
from edge.export.vision_validation import VisionValidationReport, check_quantization_loss
from edge.runtime import BundleIntegrityError, EdgeBundle, TrustedKey
from edge.runtime.manifest import file_digest
from ensemble.vision.augment import INPUT_MEAN, INPUT_STD


def test_bundle_pins_and_describes_the_vision_model(vision_bundle: BundleInfo, tiny_vision: VisionExport) -> None:
    # Prepare
    manifest = vision_bundle.manifest
    spec = manifest.vision
    assert spec is not None

    # Assert: both files are pinned by the signed manifest, with their real digests
    for name in (spec.model_file, spec.catalogue_file):
        assert manifest.files[name] == file_digest(vision_bundle.path / name)
    # the device gets what the torch member uses: sizes, normalisation, temperature, out-of-catalogue threshold
    assert spec.preprocessing.cache_size == tiny_vision.config.cache_size == 128
    assert spec.preprocessing.image_size == tiny_vision.config.image_size == 32
    assert spec.preprocessing.mean == (INPUT_MEAN,) * 3 and spec.preprocessing.std == (INPUT_STD,) * 3
    assert spec.temperature == pytest.approx(float(tiny_vision.model.temperature))
    assert spec.ooc_threshold == pytest.approx(tiny_vision.ooc_threshold)
    assert spec.version_id == "vision:v0001"
    # the escalation threshold is fitted on the validation photos against the torch member
    assert spec.threshold_fit is not None
    assert spec.threshold_fit.n_texts == len(tiny_vision.threshold_photos)
    assert spec.threshold_fit.disagreement <= spec.threshold_fit.max_loss
    assert spec.confidence_threshold == spec.threshold_fit.threshold
    # the catalogue travels in output order so that the device answers with names
    catalogue = json.loads((vision_bundle.path / spec.catalogue_file).read_text())
    assert [c["class_name"] for c in catalogue] == tiny_vision.catalogue.names
    assert [c["description"] for c in catalogue] == tiny_vision.catalogue.descriptions


def test_the_vision_graph_is_statically_quantized_per_channel(vision_bundle: BundleInfo) -> None:
    # Prepare
    assert vision_bundle.vision is not None
    graph = onnx.load(str(vision_bundle.path / vision_bundle.vision.spec.model_file))

    # Execute
    ops = {node.op_type for node in graph.graph.node}
    weight_scales = [
        init
        for init in graph.graph.initializer
        if init.name.endswith("_scale") and len(init.dims) == 1 and init.dims[0] > 1
    ]

    # Assert: QDQ nodes around convolutions, weights with one scale per output channel, smaller than fp32
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    assert weight_scales, "per-channel quantization keeps a scale vector per weight tensor"
    assert vision_bundle.vision.model_size_bytes < vision_bundle.vision.fp32_size_bytes / 3


def test_validation_report_matches_torch_on_the_test_photos(
    vision_bundle: BundleInfo, tiny_vision: VisionExport
) -> None:
    # Prepare
    assert vision_bundle.vision is not None
    report = vision_bundle.vision.report
    inputs = network_inputs(tiny_vision.test.pixels, tiny_vision.config.image_size)

    # Execute: the torch accuracy computed here, independently of the exporter
    torch_best = torch_vision_logits(tiny_vision.model, inputs).argmax(axis=1)
    accuracy = float((torch_best == tiny_vision.test.fine.numpy()).mean())

    # Assert
    assert report.n_photos == len(tiny_vision.test) == 18
    assert report.fp32_max_abs_diff <= report.atol == 1e-3
    assert report.torch_accuracy_fine == pytest.approx(accuracy)
    assert 0.0 <= report.int8_agreement <= 1.0
    assert report.torch_accuracy_fine - report.int8_accuracy_fine <= report.max_accuracy_loss


def _report(**changes: float) -> VisionValidationReport:
    base = VisionValidationReport(
        n_photos=100,
        atol=1e-3,
        fp32_max_abs_diff=1e-5,
        int8_max_abs_diff=0.1,
        int8_agreement=0.98,
        torch_accuracy_fine=0.80,
        int8_accuracy_fine=0.795,
        torch_accuracy_coarse=0.90,
        int8_accuracy_coarse=0.90,
        max_accuracy_loss=0.01,
        quantization="int8-static-qdq-per-channel",
    )
    return dataclasses.replace(base, **changes)


def test_int8_losing_more_than_the_tolerance_is_refused_with_the_figures() -> None:
    check_quantization_loss(_report())  # 0.5 point lost: within one point
    check_quantization_loss(_report(int8_accuracy_fine=0.79))  # exactly one point: still within
    with pytest.raises(QuantizationLossError, match=r"loses 2\.00 points of fine accuracy.*tolerance of 1\.00"):
        check_quantization_loss(_report(int8_accuracy_fine=0.78))
    with pytest.raises(QuantizationLossError, match="of coarse accuracy"):
        check_quantization_loss(_report(int8_accuracy_coarse=0.85))


def test_a_bundle_with_vision_loads_and_a_tampered_vision_graph_is_refused(
    vision_bundle: BundleInfo, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    bundle = EdgeBundle.load(vision_bundle.path, trusted_keys)
    assert bundle.vision is not None and bundle.vision.spec.version_id == "vision:v0001"
    copy = tmp_path / "bundle"
    shutil.copytree(vision_bundle.path, copy)
    graph = copy / "vision.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))

    # Execute / Assert
    with pytest.raises(BundleIntegrityError, match=r"vision\.onnx does not match"):
        EdgeBundle.load(copy, trusted_keys)


def test_text_only_bundles_are_unchanged(tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...]) -> None:
    manifest = json.loads((tiny_bundle.path / "manifest.json").read_text())
    assert "vision" not in manifest
    assert not any(name.startswith("vision") for name in manifest["files"])
    assert EdgeBundle.load(tiny_bundle.path, trusted_keys).vision is None


def test_int8_answers_equal_a_reference_run_of_the_shipped_graph(
    vision_bundle: BundleInfo, tiny_vision: VisionExport, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: the shipped graph through the SDK, and the same graph fed the torch member's preprocessing
    bundle = EdgeBundle.load(vision_bundle.path, trusted_keys)
    assert bundle.vision is not None
    inputs = network_inputs(tiny_vision.test.pixels, tiny_vision.config.image_size)

    # Execute
    probs = bundle.vision.probabilities(inputs)

    # Assert: rows are distributions and the temperature was applied (softmax of logits / T)
    logits = np.asarray(bundle.vision.session.run(["logits"], {"pixels": inputs})[0])
    shifted = logits / float(tiny_vision.model.temperature) - (logits / float(tiny_vision.model.temperature)).max(
        axis=1, keepdims=True
    )
    expected = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, expected, atol=1e-6)
