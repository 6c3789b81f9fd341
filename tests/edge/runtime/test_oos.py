"""On-device out-of-scope detection: the manifest's ``oos`` entry, its export-time fit and the client's decision,
on the tiny exported bundle with a real ONNX Runtime session."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from edge.export import BundleInfo, BundleSigner, Calibration, ExportError, export_intent, fit_oos
from edge.runtime import (
    BundleError,
    BundleSignatureError,
    EdgeBundle,
    EdgeClient,
    Manifest,
    OosScore,
    OosSpec,
    TrustedKey,
)
from ensemble.members.intent import IntentModel

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens there, escalations fail at once
TEXTS = [
    "where is my order",
    "I want to return these shoes",
    "hello there",
    "what is the weather in Leeds",
    "can I get a refund for order 1234",
    "good morning",
    "my parcel never arrived",
    "tell me a joke",
]
GOOD = {"score": "energy", "temperature": 1.0, "threshold": -1.5, "target": 0.95, "fitted_on": "8 in-scope texts"}


def reference_energy(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np.asarray(-temperature * logsumexp(logits / temperature, axis=-1))


def device_logits(bundle: EdgeBundle, texts: list[str]) -> np.ndarray:
    return np.concatenate([bundle.runner.logits(bundle.runner.encode([t])) for t in texts])


@pytest.fixture(scope="module")
def oos_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_model: IntentModel, signer: BundleSigner) -> BundleInfo:
    """The tiny model exported with its thresholds fitted on TEXTS, out-of-scope detection by energy."""
    calibration = Calibration(
        TEXTS, ["order_status"] * len(TEXTS), teacher="tiny", oos_score=OosScore.ENERGY, oos_target=0.5
    )
    out = tmp_path_factory.mktemp("oos") / "bundle"
    return export_intent(tiny_model, out, version_id="intent:v0001", signer=signer, calibration=calibration)


def _with_oos(bundle: Path, signer: BundleSigner, oos: object) -> Path:
    """Rewrite the manifest's ``oos`` entry and re-sign it (a platform exporting another threshold)."""
    path = bundle / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["oos"] = oos
    raw = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    path.write_bytes(raw)
    (bundle / "manifest.sig").write_text(signer.sign(raw))
    return bundle


def test_manifest_round_trips_the_oos_entry(tiny_bundle: BundleInfo, tmp_path: Path) -> None:
    # Prepare
    spec = OosSpec(OosScore.MAX_SOFTMAX, 2.0, -0.4, 0.95, "452 in-scope validation texts")
    manifest = dataclasses.replace(tiny_bundle.manifest, oos=spec)

    # Execute
    parsed = Manifest.from_bytes(manifest.to_bytes(), tmp_path / "manifest.json")

    # Assert
    assert parsed == manifest
    assert json.loads(manifest.to_bytes())["oos"] == {
        "score": "max-softmax",
        "temperature": 2.0,
        "threshold": -0.4,
        "target": 0.95,
        "fitted_on": "452 in-scope validation texts",
    }


def test_manifest_without_detection_keeps_its_earlier_form(tiny_bundle: BundleInfo) -> None:
    raw = (tiny_bundle.path / "manifest.json").read_bytes()
    assert "oos" not in json.loads(raw)
    assert tiny_bundle.manifest.oos is None
    assert tiny_bundle.manifest.to_bytes() == raw


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"score": "cosine"}, "oos.score must be one of"),
        ({"temperature": 0.0}, "oos.temperature must be positive"),
        ({"temperature": "1"}, "oos.temperature must be a finite number"),
        ({"threshold": float("nan")}, "oos.threshold must be a finite number"),
        ({"threshold": True}, "oos.threshold must be a finite number"),
        ({"target": 1.0}, "oos.target must lie strictly between 0 and 1"),
        ({"fitted_on": " "}, "oos.fitted_on must name"),
        ({"extra": 1}, "oos must have exactly the fields"),
    ],
)
def test_bad_oos_entry_is_refused_naming_the_field(
    tiny_bundle: BundleInfo, tmp_path: Path, change: dict[str, object], named: str
) -> None:
    data = json.loads(tiny_bundle.manifest.to_bytes())
    data["oos"] = {**GOOD, **change}
    with pytest.raises(BundleError, match=named):
        Manifest.from_bytes(json.dumps(data).encode(), tmp_path / "manifest.json")


def test_oos_entry_that_is_not_an_object_is_refused(tiny_bundle: BundleInfo, tmp_path: Path) -> None:
    data = json.loads(tiny_bundle.manifest.to_bytes())
    data["oos"] = [1, 2]
    with pytest.raises(BundleError, match="oos must be an object or null"):
        Manifest.from_bytes(json.dumps(data).encode(), tmp_path / "manifest.json")


def test_export_fits_the_threshold_on_the_device_scores(
    oos_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    bundle = EdgeBundle.load(oos_bundle.path, trusted_keys)

    # Execute
    spec = bundle.manifest.oos

    # Assert: the 0.5 quantile (a score of the set) of energies computed independently from the session's logits
    assert spec is not None
    energies = np.sort(reference_energy(device_logits(bundle, TEXTS)))
    assert (spec.score, spec.temperature, spec.target) == (OosScore.ENERGY, 1.0, 0.5)
    assert spec.threshold == pytest.approx(energies[math.ceil(0.5 * (len(TEXTS) - 1))], abs=1e-6)
    assert spec.fitted_on == f"{len(TEXTS)} in-scope validation texts"


def test_oos_entry_is_covered_by_the_signature(
    oos_bundle: BundleInfo, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    folder = shutil.copytree(oos_bundle.path, tmp_path / "bundle")
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["oos"]["threshold"] = 1e9  # nothing flagged any more, without the platform's key
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with pytest.raises(BundleSignatureError):
        EdgeBundle.load(folder, trusted_keys)


@pytest.mark.parametrize("score", list(OosScore))
def test_device_scores_match_a_reference(
    oos_bundle: BundleInfo,
    tmp_path: Path,
    signer: BundleSigner,
    trusted_keys: tuple[TrustedKey, ...],
    score: OosScore,
) -> None:
    # Prepare: temperature 2 so that the temperature is really applied
    folder = shutil.copytree(oos_bundle.path, tmp_path / "bundle")
    _with_oos(folder, signer, {**GOOD, "score": str(score), "temperature": 2.0, "threshold": 0.0})
    bundle = EdgeBundle.load(folder, trusted_keys)
    logits = device_logits(bundle, TEXTS).astype(np.float64)

    # Execute
    got = [g.oos_score for g in (bundle.predict([t])[0] for t in TEXTS)]

    # Assert
    if score is OosScore.ENERGY:
        expected = reference_energy(logits, 2.0)
    else:
        expected = -softmax(logits / 2.0, axis=-1).max(axis=-1)
    assert got == pytest.approx(expected.tolist(), abs=1e-5)


def test_fit_oos_refuses_bad_targets() -> None:
    logits = np.zeros((4, 3))
    with pytest.raises(ExportError, match=r"target must lie strictly between 0 and 1, got 1\.5"):
        fit_oos(logits, OosScore.ENERGY, target=1.5)
    with pytest.raises(ExportError, match=r"temperature must be a positive number, got 0\.0"):
        fit_oos(logits, OosScore.ENERGY, temperature=0.0)


def _client(bundle: Path, outbox: Path, keys: tuple[TrustedKey, ...], **kwargs: object) -> EdgeClient:
    return EdgeClient(bundle, cluster_url=UNREACHABLE, trusted_keys=keys, outbox_dir=outbox, **kwargs)  # type: ignore[arg-type]


def test_out_of_scope_message_is_escalated_and_queued_offline(
    oos_bundle: BundleInfo, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: every message is confident enough (threshold 0), so only the out-of-scope flag escalates
    client = _client(oos_bundle.path, tmp_path / "out", trusted_keys, confidence_threshold=0.0)
    spec = client.bundle.manifest.oos
    assert spec is not None
    flagged = reference_energy(device_logits(client.bundle, TEXTS)) > spec.threshold
    assert 0 < flagged.sum() < len(TEXTS)  # the 0.5 target splits TEXTS

    # Execute: one at a time, as the threshold was fitted
    answers = [client.classify(text) for text in TEXTS]

    # Assert
    assert [a.out_of_scope for a in answers] == flagged.tolist()
    assert [a.source for a in answers] == ["device-offline" if f else "device" for f in flagged]
    assert all(a.oos_score is not None for a in answers)
    assert sorted(r.text for r in client.outbox.pending()) == sorted(
        t for t, f in zip(TEXTS, flagged, strict=True) if f
    )
    client.close()


def test_out_of_scope_message_reaches_the_cluster(
    oos_bundle: BundleInfo, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    seen: list[str] = []

    def cluster(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["text"])
        return httpx.Response(200, json={"intent": "greeting", "confidence": 0.4, "out_of_scope": True})

    http = httpx.Client(transport=httpx.MockTransport(cluster))
    client = EdgeClient(
        oos_bundle.path,
        cluster_url="http://cluster.test",
        trusted_keys=trusted_keys,
        outbox_dir=tmp_path / "out",
        http_client=http,
        confidence_threshold=0.0,
    )
    flagged = [t for t in TEXTS if client.bundle.predict([t])[0].out_of_scope]

    # Execute
    answers = [client.classify(text) for text in flagged]

    # Assert
    assert seen == flagged
    assert {(a.source, a.out_of_scope) for a in answers} == {("cluster", True)}
    assert len(client.outbox) == 0
    client.close()
    http.close()


def test_bundle_without_detection_decides_by_confidence_alone(
    tiny_bundle: BundleInfo, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: a threshold between the confidences, so both branches are taken
    bundle = EdgeBundle.load(tiny_bundle.path, trusted_keys)
    confidences = sorted(bundle.predict([t])[0].confidence for t in TEXTS)
    threshold = (confidences[3] + confidences[4]) / 2
    client = _client(tiny_bundle.path, tmp_path / "out", trusted_keys, confidence_threshold=threshold)

    # Execute
    answers = [client.classify(text) for text in TEXTS]

    # Assert
    expected = ["device" if bundle.predict([t])[0].confidence >= threshold else "device-offline" for t in TEXTS]
    assert [a.source for a in answers] == expected
    assert all(not a.out_of_scope and a.oos_score is None for a in answers)
    client.close()


def test_empty_batch_predicts_nothing(oos_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...]) -> None:
    assert EdgeBundle.load(oos_bundle.path, trusted_keys).predict([]) == []
