"""EdgeClient decisions over an in-process transport (httpx.MockTransport): device, cluster, offline, swap."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from edge.export import BundleInfo, BundleSigner
from edge.runtime import (
    BundleDowngradeError,
    BundleIntegrityError,
    EdgeClient,
    EdgeError,
    InvalidTextError,
    TrustedKey,
)

CLUSTER = "http://cluster.test"


def _client(
    bundle: Path,
    outbox: Path,
    key: tuple[TrustedKey, ...],
    handler: Callable[[httpx.Request], httpx.Response],
    **kwargs: object,
) -> EdgeClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return EdgeClient(
        bundle,
        cluster_url=CLUSTER,
        trusted_keys=key,
        outbox_dir=outbox,
        device_id="kiosk-7",
        http_client=http,
        **kwargs,  # type: ignore[arg-type]
    )


def _cluster_ok(seen: list[dict[str, object]]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append({"path": request.url.path, "body": json.loads(request.content)})
        return httpx.Response(200, json={"intent": "returns", "confidence": 0.91, "version": "intent:v0042"})

    return handler


def _resign(bundle: Path, signer: BundleSigner, version_id: str, sequence: int, *, rollback: bool = False) -> None:
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(version_id=version_id, sequence=sequence, rollback=rollback)
    raw = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path.write_bytes(raw)
    (bundle / "manifest.sig").write_text(signer.sign(raw))


def test_confident_answer_stays_on_the_device(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    seen: list[dict[str, object]] = []
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, _cluster_ok(seen), confidence_threshold=0.0)

    # Execute
    answer = client.classify("where is my order")

    # Assert
    expected = client.bundle.predict(["where is my order"])[0]
    assert (answer.source, answer.intent, answer.version) == ("device", expected.intent, "intent:v0001")
    assert answer.confidence == pytest.approx(expected.confidence)
    assert seen == []


def test_unsure_answer_is_escalated_to_v1_chat(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    seen: list[dict[str, object]] = []
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, _cluster_ok(seen), confidence_threshold=1.0)

    # Execute
    answer = client.classify("my kettle broke")

    # Assert
    assert (answer.source, answer.intent, answer.confidence, answer.version) == (
        "cluster",
        "returns",
        0.91,
        "intent:v0042",
    )
    assert seen == [{"path": "/v1/chat", "body": {"text": "my kettle broke"}}]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(503, text="overloaded"),
        httpx.Response(200, json={"intent": "returns"}),
        httpx.Response(200, text="<html>proxy login</html>"),
    ],
)
def test_failing_cluster_gives_the_device_guess_and_queues_the_message(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...], response: httpx.Response
) -> None:
    # Prepare
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, lambda _: response, confidence_threshold=1.0)

    # Execute
    answer = client.classify("my kettle broke")

    # Assert
    guess = client.bundle.predict(["my kettle broke"])[0]
    assert (answer.source, answer.intent, answer.version) == ("device-offline", guess.intent, "intent:v0001")
    assert [r.text for r in client.outbox.pending()] == ["my kettle broke"]


def test_flush_sets_aside_what_the_cluster_refuses_for_good(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    down = _client(bundle_copy, tmp_path / "out", trusted_keys, lambda _: httpx.Response(502), confidence_threshold=1.0)
    down.classify("first")
    down.classify("second")
    refusing = _client(
        bundle_copy,
        tmp_path / "out",
        trusted_keys,
        lambda r: httpx.Response(422 if json.loads(r.content)["text"] == "first" else 200, json={}),
    )

    # Execute
    result = refusing.flush()

    # Assert
    assert (result.delivered, result.rejected, result.remaining) == (1, 1, 0)
    assert [r.text for r in refusing.outbox.rejected()] == ["first"]


def test_manifest_threshold_is_the_default(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Execute
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, _cluster_ok([]))

    # Assert
    assert client.confidence_threshold == client.bundle.manifest.confidence_threshold == 0.7


@pytest.mark.parametrize("bad", ["", "   \n", None, 42, b"bytes"])
def test_empty_or_non_string_text_is_a_clear_value_error(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...], bad: object
) -> None:
    # Prepare
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, _cluster_ok([]))

    # Execute / Assert
    with pytest.raises(InvalidTextError, match="text") as info:
        client.classify(bad)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidTextError):
        client.classify_batch(["fine", bad])  # type: ignore[list-item]


def test_classify_batch_keeps_order_and_length(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, _cluster_ok([]), confidence_threshold=0.0)
    texts = ["hi", "where is my parcel", "refund please"]

    # Execute
    answers = client.classify_batch(texts)

    # Assert
    assert [a.text for a in answers] == texts
    assert [a.intent for a in answers] == [p.intent for p in client.bundle.predict(texts)]
    assert client.classify_batch([]) == []


def test_swap_to_a_good_bundle_serves_its_version(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...], signer: BundleSigner
) -> None:
    # Prepare
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, _cluster_ok([]), confidence_threshold=0.0)
    newer = tmp_path / "newer"
    shutil.copytree(bundle_copy, newer)
    _resign(newer, signer, "intent:v0002", 2)

    # Execute
    serving = client.swap_bundle(newer)

    # Assert
    assert serving == client.version == client.classify("hi").version == "intent:v0002"


def test_swap_to_a_tampered_bundle_keeps_the_old_one_serving(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare
    client = _client(bundle_copy, tmp_path / "out", trusted_keys, _cluster_ok([]), confidence_threshold=0.0)
    bad = tmp_path / "bad"
    shutil.copytree(bundle_copy, bad)
    (bad / "labels.json").write_text('["a", "b", "c"]\n')

    # Execute
    with pytest.raises(BundleIntegrityError, match=r"labels\.json"):
        client.swap_bundle(bad)

    # Assert
    assert client.version == "intent:v0001"
    assert client.classify("hi").source == "device"


def test_swap_to_an_older_bundle_is_refused_unless_signed_as_a_rollback(
    tmp_path: Path, tiny_bundle: BundleInfo, trusted_keys: tuple[TrustedKey, ...], signer: BundleSigner
) -> None:
    # Prepare: the device runs v0005; v0003 comes along, first as a plain bundle, then as a signed rollback
    newest = tmp_path / "v5"
    shutil.copytree(tiny_bundle.path, newest)
    _resign(newest, signer, "intent:v0005", 5)
    client = _client(newest, tmp_path / "out", trusted_keys, _cluster_ok([]), confidence_threshold=0.0)
    older = tmp_path / "v3"
    shutil.copytree(tiny_bundle.path, older)
    _resign(older, signer, "intent:v0003", 3)
    rollback = tmp_path / "v3-rollback"
    shutil.copytree(tiny_bundle.path, rollback)
    _resign(rollback, signer, "intent:v0003", 3, rollback=True)

    # Execute / Assert: the downgrade is refused and v0005 keeps serving
    with pytest.raises(BundleDowngradeError, match=r"sequence 3\) is older than the installed intent:v0005"):
        client.swap_bundle(older)
    assert client.version == "intent:v0005"

    # Execute / Assert: the signed rollback is accepted
    assert client.swap_bundle(rollback) == "intent:v0003"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cluster_url", "cluster:8000", "http"),
        ("confidence_threshold", 1.5, r"\[0, 1\]"),
        ("timeout_s", 0.0, "positive"),
        ("device_id", "../etc", "device_id"),
    ],
)
def test_invalid_settings_are_refused(
    bundle_copy: Path, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...], field: str, value: object, message: str
) -> None:
    # Prepare
    kwargs: dict[str, object] = {
        "cluster_url": CLUSTER,
        "trusted_keys": trusted_keys,
        "outbox_dir": tmp_path / "out",
        field: value,
    }

    # Execute / Assert
    with pytest.raises(EdgeError, match=message):
        EdgeClient(bundle_copy, **kwargs)  # type: ignore[arg-type]
