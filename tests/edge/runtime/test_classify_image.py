"""EdgeClient.classify_image: on the device when sure, escalated to /v1/vision over real HTTP when not, queued
with its bytes when the cluster is unreachable and replayed under the same Idempotency-Key."""

from __future__ import annotations

import base64
import io
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from edge.export import BundleInfo
from edge.runtime import (
    BundleError,
    EdgeClient,
    EdgeError,
    InvalidImageError,
    Outbox,
    OutboxRecord,
    Route,
    TrustedKey,
)
from tests.edge.vision_server import VISION_ANSWER, VisionClusterServer, free_port


def _client(bundle: Path, tmp_path: Path, keys: tuple[TrustedKey, ...], port: int, **options: Any) -> EdgeClient:
    settings: dict[str, Any] = {
        "cluster_url": f"http://127.0.0.1:{port}",
        "trusted_keys": keys,
        "outbox_dir": tmp_path / "outbox",
        "timeout_s": 2.0,
        "device_id": "kiosk-1",
    }
    settings.update(options)
    return EdgeClient(bundle, **settings)


def test_a_confident_photo_is_answered_on_the_device_with_catalogue_names(
    vision_bundle: BundleInfo, test_photos: list[Path], tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: threshold 0, every photo is sure enough; nothing listens on the cluster port
    with _client(vision_bundle.path, tmp_path, trusted_keys, 9, vision_confidence_threshold=0.0) as client:
        runner = client.bundle.vision
        assert runner is not None

        # Execute: a path and the same photo's bytes
        by_path = client.classify_image(test_photos[0], top_k=3)
        by_bytes = client.classify_image(test_photos[0].read_bytes(), top_k=3)

        # Assert
        assert by_path.source == by_bytes.source == "device"
        assert by_path.version == "vision:v0001"
        assert by_path.product == by_bytes.product
        names = [entry["class_name"] for entry in runner.catalogue]
        assert by_path.product.class_name in names
        assert len(by_path.similar) == 3 and by_path.similar[0].class_name == by_path.product.class_name
        assert [m.score for m in by_path.similar] == sorted((m.score for m in by_path.similar), reverse=True)
        assert by_path.confidence == pytest.approx(by_path.product.score)
        assert by_path.out_of_catalogue == (by_path.confidence < runner.spec.ooc_threshold)
        assert len(client.outbox) == 0


@pytest.mark.parametrize(
    ("photo", "fragment"),
    [
        (b"", "empty"),
        (b"certainly not a photo", "not a readable image"),
        ("no-such-photo.jpg", "cannot read the photo file"),
        (12, "bytes or a file path"),
    ],
)
def test_bad_photos_are_refused_with_the_sdk_error(
    vision_bundle: BundleInfo, tmp_path: Path, trusted_keys: tuple[TrustedKey, ...], photo: object, fragment: str
) -> None:
    with _client(vision_bundle.path, tmp_path, trusted_keys, 9) as client:
        with pytest.raises(InvalidImageError, match=fragment):
            client.classify_image(photo)  # type: ignore[arg-type]
        assert len(client.outbox) == 0


def test_truncated_photos_and_bombs_are_refused_before_decoding(
    vision_bundle: BundleInfo, test_photos: list[Path], tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: half a JPEG; a real 10,000 x 10,000 PNG (a few kB compressed, 100 M pixels declared)
    truncated = test_photos[0].read_bytes()[:600]
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, "PNG")
    bomb = buffer.getvalue()

    with _client(vision_bundle.path, tmp_path, trusted_keys, 9) as client:
        # Execute / Assert
        with pytest.raises(InvalidImageError, match="truncated or corrupt"):
            client.classify_image(truncated)
        with pytest.raises(InvalidImageError, match=r"more pixels than the limit|10000x10000"):
            client.classify_image(bomb)
        with pytest.raises(EdgeError, match="top_k must be an integer from 1 to 20"):
            client.classify_image(test_photos[0], top_k=21)


def test_a_text_only_bundle_says_how_to_get_a_vision_model(
    tiny_bundle: BundleInfo, test_photos: list[Path], tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    with (
        _client(tiny_bundle.path, tmp_path, trusted_keys, 9) as client,
        pytest.raises(BundleError, match=r"carries no vision model.*shopmesh train vision"),
    ):
        client.classify_image(test_photos[0])


@pytest.mark.integration
def test_unsure_photos_escalate_queue_offline_and_replay_exactly_once(
    vision_bundle: BundleInfo, test_photos: list[Path], tmp_path: Path, trusted_keys: tuple[TrustedKey, ...]
) -> None:
    # Prepare: threshold 1.0, no photo is sure enough
    port = free_port()
    server = VisionClusterServer(port)
    photo = test_photos[1].read_bytes()
    client = _client(vision_bundle.path, tmp_path, trusted_keys, port, vision_confidence_threshold=1.0)
    try:
        # Execute / Assert: the cluster answers, with the contract's JSON form and an Idempotency-Key
        answer = client.classify_image(photo, top_k=4)
        assert answer.source == "cluster"
        assert answer.product.class_name == "Granny-Smith" and answer.version == "vision:v0042"
        assert answer.facts == tuple(VISION_ANSWER["facts"]) and answer.request_id == "req-1"  # type: ignore[arg-type]
        path, body, headers = server.received[-1]
        assert path == "/v1/vision"
        assert set(body) == {"image_base64", "top_k"} and body["top_k"] == 4
        assert base64.b64decode(body["image_base64"], validate=True) == photo
        assert headers["Idempotency-Key"] and headers["X-Edge-Device"] == "kiosk-1"

        # Execute: the cluster goes away; the photo is answered on the device and queued with its bytes
        server.stop()
        offline = client.classify_image(photo)
        queued = client.classify("where is my order?")  # a text message queued between photos
        assert offline.source == "device-offline" and offline.version == "vision:v0001"
        assert queued.source in ("device", "device-offline")
        pending = client.outbox.pending()
        photo_records = [r for r in pending if r.route is Route.VISION]
        assert len(photo_records) == 1 and photo_records[0].photo == photo
        assert photo_records[0].device_intent == offline.product.class_name
        client.close()

        # Execute: the device restarts, the cluster comes back, the outbox is replayed
        server = VisionClusterServer(port)
        client = _client(vision_bundle.path, tmp_path, trusted_keys, port, vision_confidence_threshold=1.0)
        result = client.flush()

        # Assert: every queued record reached its own route once, under its key; nothing is left
        assert result.delivered == len(pending) and result.remaining == 0
        replayed = {h["Idempotency-Key"]: (p, b) for p, b, h in server.received if h.get("X-Edge-Replay") == "1"}
        assert set(replayed) == {r.id for r in pending}
        route, sent = replayed[photo_records[0].id]
        assert route == "/v1/vision" and base64.b64decode(sent["image_base64"]) == photo
        assert all(replayed[r.id][0] == "/v1/chat" for r in pending if r.route is Route.CHAT)
    finally:
        client.close()
        server.stop()


def test_an_outbox_written_before_photos_opens_and_keeps_its_records(tmp_path: Path) -> None:
    # Prepare: the first schema, with one queued message
    tmp_path.mkdir(exist_ok=True)
    db = sqlite3.connect(tmp_path / "till-1.sqlite3")
    db.execute(
        "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, text TEXT NOT NULL, "
        "device_intent TEXT NOT NULL, device_confidence REAL NOT NULL, version TEXT NOT NULL, created_at TEXT NOT "
        "NULL, state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'rejected')))"
    )
    db.execute(
        "INSERT INTO outbox (id, text, device_intent, device_confidence, version, created_at) VALUES "
        "('k1', 'hello', 'greeting', 0.4, 'intent:v0001', '2026-12-01T00:00:00+00:00')"
    )
    db.commit()
    db.close()

    # Execute
    outbox = Outbox(tmp_path, "till-1")
    outbox.append(OutboxRecord.new_photo(b"\x89PNG...", "Banana", 0.3, "vision:v0001", key="k2"))
    records = outbox.pending()
    outbox.close()

    # Assert
    assert [(r.id, r.route, r.photo) for r in records] == [
        ("k1", Route.CHAT, None),
        ("k2", Route.VISION, b"\x89PNG..."),
    ]
    assert records[0].text == "hello"
