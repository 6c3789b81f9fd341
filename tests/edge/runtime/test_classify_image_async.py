"""AsyncEdgeClient.classify_image: the sync client's photo contract on an event loop — the same device answer,
escalation to /v1/vision over real HTTP, the offline outbox with the photo's bytes, and a flush that replays
queued photos (its own and the sync client's) under their keys."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edge.export import BundleInfo, BundleSigner
from edge.runtime import (
    AsyncEdgeClient,
    BundleError,
    EdgeClient,
    EdgeError,
    InvalidImageError,
    Route,
    TrustedKey,
    VisionAnswer,
)
from tests.edge.conftest import resign_bundle
from tests.edge.vision_server import VISION_ANSWER, VisionClusterServer, free_port


def _settings(tmp_path: Path, keys: tuple[TrustedKey, ...], port: int, **options: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "cluster_url": f"http://127.0.0.1:{port}",
        "trusted_keys": keys,
        "outbox_dir": tmp_path / "outbox",
        "timeout_s": 2.0,
        "device_id": "kiosk-2",
    }
    settings.update(options)
    return settings


async def _classify(bundle: Path, settings: dict[str, Any], photos: list[Any], top_k: int) -> list[VisionAnswer]:
    async with await AsyncEdgeClient.open(bundle, **settings) as client:
        return list(await asyncio.gather(*(client.classify_image(p, top_k=top_k) for p in photos)))


def test_a_confident_photo_gets_the_sync_clients_device_answer(
    vision_bundle: BundleInfo, test_photos: list[Path], tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: threshold 0, every photo is sure enough; nothing listens on the cluster port
    settings = _settings(tmp_path, trusted_keys, 9, vision_confidence_threshold=0.0)
    photos = test_photos[:3]
    with EdgeClient(vision_bundle.path, **settings) as sync_client:
        expected = [sync_client.classify_image(p, top_k=3) for p in photos]

    # Execute: the same photos, concurrently, once by path and once as bytes
    by_path = asyncio.run(_classify(vision_bundle.path, settings, list(photos), 3))
    by_bytes = asyncio.run(_classify(vision_bundle.path, settings, [p.read_bytes() for p in photos], 3))

    # Assert: the device answers as the sync client does, and nothing was queued
    for answers in (by_path, by_bytes):
        assert [a.source for a in answers] == ["device"] * len(photos)
        assert [(a.product, a.similar, a.coarse_id, a.version) for a in answers] == [
            (e.product, e.similar, e.coarse_id, e.version) for e in expected
        ]
        assert [a.confidence for a in answers] == pytest.approx([e.confidence for e in expected], abs=1e-6)
    with EdgeClient(vision_bundle.path, **settings) as sync_client:
        assert len(sync_client.outbox) == 0


@pytest.mark.parametrize(
    ("photo", "top_k", "error", "fragment"),
    [
        (b"", 5, InvalidImageError, "empty"),
        (b"certainly not a photo", 5, InvalidImageError, "not a readable image"),
        ("no-such-photo.jpg", 5, InvalidImageError, "cannot read the photo file"),
        (None, 0, EdgeError, "top_k must be an integer from 1 to 20"),
    ],
)
def test_bad_photos_and_top_k_are_refused_and_nothing_is_queued(
    vision_bundle: BundleInfo,
    test_photos: list[Path],
    tmp_path: Path,
    trusted_keys: tuple[TrustedKey, ...],
    photo: object,
    top_k: int,
    error: type[Exception],
    fragment: str,
) -> None:
    settings = _settings(tmp_path, trusted_keys, 9)
    with pytest.raises(error, match=fragment):
        asyncio.run(_classify(vision_bundle.path, settings, [test_photos[0] if photo is None else photo], top_k))
    with EdgeClient(vision_bundle.path, **settings) as client:
        assert len(client.outbox) == 0


def test_a_text_only_bundle_says_how_to_get_a_vision_model(
    tiny_bundle: BundleInfo, test_photos: list[Path], tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    settings = _settings(tmp_path, trusted_keys, 9)
    with pytest.raises(BundleError, match=r"carries no vision model.*shopmesh train vision"):
        asyncio.run(_classify(tiny_bundle.path, settings, [test_photos[0]], 5))


@pytest.mark.integration
def test_an_out_of_catalogue_photo_escalates_from_both_clients_however_confident(
    vision_bundle: BundleInfo,
    test_photos: list[Path],
    tmp_path: Path,
    trusted_keys: tuple[TrustedKey, ...],
    signer: BundleSigner,
) -> None:
    # Prepare: the bundle re-signed with an out-of-catalogue threshold no probability reaches; threshold 0
    bundle = tmp_path / "ooc-bundle"
    shutil.copytree(vision_bundle.path, bundle)
    vision = json.loads((bundle / "manifest.json").read_text())["vision"]
    resign_bundle(bundle, signer, "intent:v0001", 1, vision={**vision, "ooc_threshold": 1.5})
    port = free_port()
    server = VisionClusterServer(port)
    settings = _settings(tmp_path, trusted_keys, port, vision_confidence_threshold=0.0)
    try:
        # Execute
        [from_async] = asyncio.run(_classify(bundle, settings, [test_photos[0]], 2))
        with EdgeClient(bundle, **settings) as sync_client:
            from_sync = sync_client.classify_image(test_photos[0], top_k=2)
    finally:
        server.stop()

    # Assert: both asked the cluster, and took its answer
    assert from_async.source == from_sync.source == "cluster"
    assert from_async.product == from_sync.product and from_async.version == "vision:v0042"
    assert [(path, body["top_k"]) for path, body, _ in server.received] == [("/v1/vision", 2), ("/v1/vision", 2)]


@pytest.mark.integration
def test_unsure_photos_escalate_queue_offline_and_an_async_flush_replays_them_once(
    vision_bundle: BundleInfo, test_photos: list[Path], tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: threshold 1.0, no photo is sure enough; a real cluster on a loopback port
    port = free_port()
    server = VisionClusterServer(port)
    settings = _settings(tmp_path, trusted_keys, port, vision_confidence_threshold=1.0)
    photos = [test_photos[1].read_bytes(), test_photos[2].read_bytes()]

    async def online_then_offline() -> tuple[VisionAnswer, list[VisionAnswer]]:
        async with await AsyncEdgeClient.open(vision_bundle.path, **settings) as client:
            answer = await client.classify_image(photos[0], top_k=4)
            server.stop()  # the cluster goes away
            offline = await asyncio.gather(*(client.classify_image(p) for p in photos))
            return answer, list(offline)

    try:
        # Execute: one escalation answered, then two photos while the cluster is away
        answer, offline = asyncio.run(online_then_offline())

        # Assert: the cluster's answer, in the contract's JSON form with an Idempotency-Key
        assert answer.source == "cluster" and answer.version == "vision:v0042"
        assert answer.facts == tuple(VISION_ANSWER["facts"]) and answer.request_id == "req-1"  # type: ignore[arg-type]
        [(path, body, headers)] = server.received
        assert path == "/v1/vision" and set(body) == {"image_base64", "top_k"} and body["top_k"] == 4
        assert base64.b64decode(body["image_base64"], validate=True) == photos[0]
        assert headers["Idempotency-Key"] and headers["X-Edge-Device"] == "kiosk-2"
        # offline, each photo is answered on the device and queued with its bytes
        assert [a.source for a in offline] == ["device-offline", "device-offline"]
        assert all(a.version == "vision:v0001" for a in offline)
        with EdgeClient(vision_bundle.path, **settings) as sync_client:
            queued_by_sync = sync_client.classify_image(test_photos[3])  # a photo the sync client queues too
            pending = sync_client.outbox.pending()
        assert queued_by_sync.source == "device-offline"
        assert [r.route for r in pending] == [Route.VISION] * 3
        assert sorted(r.photo for r in pending[:2]) == sorted(photos)  # type: ignore[type-var]
        assert {r.device_intent for r in pending[:2]} == {a.product.class_name for a in offline}

        # Execute: the cluster comes back; a restarted async client flushes the outbox
        server = VisionClusterServer(port)

        async def flush() -> Any:
            async with await AsyncEdgeClient.open(vision_bundle.path, **settings) as client:
                return await client.flush(), len(client.outbox)

        result, left = asyncio.run(flush())

        # Assert: every queued photo reached /v1/vision once, under its own key, with its bytes; nothing is left
        assert result.delivered == 3 and result.remaining == 0 and left == 0
        replayed = {h["Idempotency-Key"]: (p, b) for p, b, h in server.received if h.get("X-Edge-Replay") == "1"}
        assert set(replayed) == {r.id for r in pending} and len(server.received) == 3
        for record in pending:
            route, sent = replayed[record.id]
            assert route == "/v1/vision" and base64.b64decode(sent["image_base64"]) == record.photo
    finally:
        server.stop()
