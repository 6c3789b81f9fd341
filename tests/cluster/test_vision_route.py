"""``POST /v1/vision`` through real HTTP: the ingress reads the photo (JSON or multipart), the batched vision
deployment answers with the tiny version trained once per session, the graph (the bundled grocery catalogue
added to the tiny retail graph) adds the product's facts and what goes with it;
photos that are not photos are refused with a 4xx that says why."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from cluster import RunningCluster
from cluster.graph_deployment import GraphService
from ensemble.datasets.grocery import load_grocery_catalogue
from ensemble.registry import Registry
from ensemble.vision import bundled_grocery_dir, decode_image
from ensemble.vision.images import MAX_IMAGE_BYTES
from knowledge_graph.build import build_graph
from knowledge_graph.config import BuildConfig
from tests.cluster.conftest import orders_frame, publish_tiny_intent, running_cluster
from tests.vision_training import TrainedVision, copy_vision_version

pytestmark = pytest.mark.integration

PHOTO = bundled_grocery_dir() / "images" / "test" / "Fruit" / "Banana" / "Banana_001.jpg"


@pytest.fixture(scope="module")
def grocery_graph_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cluster tests' tiny retail graph with the bundled grocery catalogue as a second merchant."""
    directory = tmp_path_factory.mktemp("grocery-graph") / "graph"
    graph = build_graph(orders_frame(), BuildConfig(min_support=1, min_category_products=1))
    graph.add_catalogue(load_grocery_catalogue(bundled_grocery_dir() / "products.csv"))
    graph.save(directory)
    return directory


@pytest.fixture(scope="module")
def vision_cluster(
    tmp_path_factory: pytest.TempPathFactory, grocery_graph_dir: Path, trained_vision: TrainedVision
) -> Iterator[RunningCluster]:
    registry = Registry(tmp_path_factory.mktemp("vision-cluster") / "registry")
    publish_tiny_intent(registry, 0)
    copy_vision_version(trained_vision, registry)
    with running_cluster(registry.root, grocery_graph_dir) as running:
        yield running


@pytest.fixture(scope="module")
def http(vision_cluster: RunningCluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=vision_cluster.url, timeout=60.0) as client:
        yield client


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _json(data: bytes, **extra: Any) -> dict[str, Any]:
    return {"image_base64": base64.b64encode(data).decode("ascii"), **extra}


def test_a_photo_as_json_is_answered_as_the_member_answers_it_in_process(
    http: httpx.Client, trained_vision: TrainedVision, grocery_graph_dir: Path
) -> None:
    # Prepare: the reference answer of the same version, in this process
    data = PHOTO.read_bytes()
    [expected] = trained_vision.predictor.predict([decode_image(data)], k=3)

    # Execute
    response = http.post("/v1/vision", json=_json(data, top_k=3))

    # Assert
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["product"]["class_id"] == expected.product.class_id
    assert body["product"]["description"] == expected.product.description
    assert body["confidence"] == pytest.approx(expected.confidence, abs=1e-4)
    assert body["coarse_name"] == expected.coarse_name
    assert body["out_of_catalogue"] == expected.out_of_catalogue
    assert [m["class_id"] for m in body["similar"]] == [m.class_id for m in expected.similar]
    assert body["version"] == "vision:v0001" and body["member"] == "vision"
    # the graph's facts and related products of the predicted catalogue product, as the graph answers them
    code = f"gs-{expected.product.class_id}"
    reference = GraphService.load(grocery_graph_dir).product_context(f"product:{code}", 3)
    assert body["facts"] == reference["facts"] and body["related"] == reference["related"]
    assert {"subject": f"product:{code}", "predicate": "in_department", "object": expected.product.department} in [
        {k: f[k] for k in ("subject", "predicate", "object")} for f in body["facts"]
    ]
    assert body["related"] and all(r["merchant"] == "grocery-store" for r in body["related"])
    assert set(body["latency_ms"]) == {"vision", "model", "graph", "total"}
    assert body["request_id"] == response.headers["x-request-id"]


def test_a_multipart_upload_gets_the_answer_the_json_form_gets(http: httpx.Client) -> None:
    data = PHOTO.read_bytes()

    uploaded = http.post("/v1/vision", files={"image": ("banana.jpg", data, "image/jpeg")}, data={"top_k": "2"})
    sent = http.post("/v1/vision", json=_json(data, top_k=2))

    assert uploaded.status_code == 200, uploaded.text
    drop = {"latency_ms", "request_id"}
    assert {k: v for k, v in uploaded.json().items() if k not in drop} == {
        k: v for k, v in sent.json().items() if k not in drop
    }
    assert len(uploaded.json()["similar"]) == 2


@pytest.mark.parametrize(
    ("mode", "colour", "fmt"),
    [("CMYK", (0, 255, 255, 0), "JPEG"), ("RGBA", (200, 120, 0, 90), "PNG"), ("L", 140, "PNG")],
)
def test_cmyk_alpha_and_greyscale_photos_are_converted_and_answered(
    http: httpx.Client, mode: str, colour: object, fmt: str
) -> None:
    data = _encode(Image.new(mode, (80, 60), colour), fmt)  # type: ignore[arg-type]

    response = http.post("/v1/vision", files={"image": (f"photo.{fmt.lower()}", data, f"image/{fmt.lower()}")})

    assert response.status_code == 200, response.text
    assert 0.0 < response.json()["confidence"] <= 1.0


def _truncated_jpeg() -> bytes:
    rng = np.random.default_rng(0)
    data = _encode(Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)), "JPEG")
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "status", "reason"),
    [
        (b"", 422, "empty (0 bytes)"),
        (b"these bytes are a shopping list, not a photo", 415, "not a readable image"),
        (_truncated_jpeg(), 422, "truncated or corrupt"),
        # a real 10,000 x 10,000 PNG: a few kB that declare 100 M pixels; refused from the header
        (_encode(Image.new("1", (10_000, 10_000)), "PNG"), 422, "more pixels than the limit"),
    ],
    ids=["empty", "not-an-image", "truncated-jpeg", "decompression-bomb"],
)
def test_bad_photos_get_a_4xx_that_says_what_was_wrong(
    http: httpx.Client, data: bytes, status: int, reason: str
) -> None:
    uploaded = http.post("/v1/vision", files={"image": ("photo.jpg", data, "image/jpeg")})
    sent = http.post("/v1/vision", json=_json(data)) if data else None

    assert uploaded.status_code == status, uploaded.text
    assert reason in uploaded.text
    if sent is not None:
        assert sent.status_code == status, sent.text
        assert reason in sent.text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"image_base64": "not base64!"}, "not standard base64 (character ' ' at position 3)"),
        ({"image_base64": "QUJD="}, "not standard base64 (length 5)"),
        ({"image_base64": ""}, "image_base64"),
        ({"image_base64": "QUJD", "top_k": 0}, "top_k"),
        ({"image_base64": "QUJD", "colour": "red"}, "colour"),
        ({"top_k": 3}, "image_base64"),
    ],
)
def test_invalid_json_bodies_get_422_naming_the_field(http: httpx.Client, content: dict[str, Any], reason: str) -> None:
    response = http.post("/v1/vision", json=content)

    assert response.status_code == 422, response.text
    assert reason in response.json()["message"]


def test_forms_without_a_photo_part_and_other_content_types_are_refused(http: httpx.Client) -> None:
    text_field = http.post("/v1/vision", files={"image": (None, "a banana")})
    bad_top_k = http.post("/v1/vision", files={"image": ("b.jpg", PHOTO.read_bytes())}, data={"top_k": "lots"})
    plain = http.post("/v1/vision", content=PHOTO.read_bytes(), headers={"content-type": "image/jpeg"})

    assert text_field.status_code == 422 and "file part 'image'" in text_field.json()["message"]
    assert bad_top_k.status_code == 422 and "top_k must be a whole number" in bad_top_k.json()["message"]
    assert plain.status_code == 415 and "multipart/form-data" in plain.json()["detail"]


def test_a_50_mb_body_is_refused_with_413_before_it_is_read(http: httpx.Client) -> None:
    # Prepare: 50 MB, declared by Content-Length, and a photo just over the byte limit sent in a small body
    body = b"0" * (50 * 1024 * 1024)
    just_over = b"\xff\xd8" + b"\x00" * (MAX_IMAGE_BYTES - 1)

    # Execute
    declared = http.post("/v1/vision", content=body, headers={"content-type": "application/json"})
    photo = http.post("/v1/vision", files={"image": ("big.jpg", just_over, "image/jpeg")})

    # Assert
    assert declared.status_code == 413 and "this cluster accepts at most" in declared.json()["detail"]
    assert photo.status_code == 413 and f"limit of {MAX_IMAGE_BYTES:,}" in photo.json()["detail"]


def test_a_repeated_escalation_gets_the_first_answer_and_a_reused_key_is_refused(http: httpx.Client) -> None:
    key = {"Idempotency-Key": "kiosk-3-photo-0001"}
    body = _json(PHOTO.read_bytes(), top_k=1)

    first = http.post("/v1/vision", json=body, headers=key)
    again = http.post("/v1/vision", json=body, headers=key)
    other = http.post("/v1/vision", json=_json(_encode(Image.new("RGB", (32, 32), (9, 9, 9)), "PNG")), headers=key)

    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert other.status_code == 409 and "another request" in other.json()["detail"]


def test_healthz_names_the_vision_version_and_its_classes(http: httpx.Client) -> None:
    vision = http.get("/healthz").json()["vision"]

    assert vision["version"] == "vision:v0001"
    assert vision["classes"] == 9
