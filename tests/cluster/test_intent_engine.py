"""The intent encoder on ONNX Runtime in a replica's runner (no Ray): the same decisions as torch from an
fp32 or int8 graph exported once per version and reused, a refused graph served on torch with the reason, and
the serving option that chooses the engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from cluster.config import ClusterConfig
from cluster.errors import ClusterConfigError
from cluster.intent_deployment import IntentRunner
from cluster.members import MemberServing
from ensemble.errors import ModelError
from ensemble.members.intent import encode
from ensemble.members.intent_artifact import load_intent
from ensemble.members.intent_onnx import EncoderEngine, attach_encoder
from ensemble.registry import Registry

TEXTS = ["where is my parcel", "cancel it now please", "I want my money back for the broken lamp", "hi"]


@pytest.fixture(scope="module")
def engine_registry(
    tmp_path_factory: pytest.TempPathFactory, publish_intent: Callable[[Registry, int], str]
) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("engine") / "registry")
    publish_intent(registry, 3)
    publish_intent(registry, 4)
    return registry


@pytest.mark.parametrize("engine", [EncoderEngine.ONNX, EncoderEngine.ONNX_INT8])
def test_a_runner_on_onnx_decides_like_torch_and_says_which_engine_runs(
    engine_registry: Registry, tmp_path: Path, engine: EncoderEngine
) -> None:
    # Prepare: the same version on torch and on the ONNX engine
    torch_runner = IntentRunner(engine_registry)
    onnx_runner = IntentRunner(engine_registry, engine=engine, cache_dir=tmp_path / "cache")

    # Execute
    expected = torch_runner.classify(TEXTS)
    answered = onnx_runner.classify(TEXTS)

    # Assert: fp32 gives the same intents and confidences to 1e-5; int8 (a random-weight model's near-uniform
    # probabilities can flip between close classes) the same confidences to within a few points
    if engine is EncoderEngine.ONNX:
        assert [a["intent"] for a in answered] == [e["intent"] for e in expected]
    tolerance = 1e-5 if engine is EncoderEngine.ONNX else 0.05
    assert [a["confidence"] for a in answered] == pytest.approx([e["confidence"] for e in expected], abs=tolerance)
    status = onnx_runner.status()
    assert (status["engine"], status["engine_error"]) == (engine.value, None)
    assert torch_runner.status()["engine"] == "torch"
    cached = [p.name for p in (tmp_path / "cache").iterdir()]
    assert len(cached) == 1
    assert cached[0].startswith(status["version"].replace(":", "-")) and cached[0].endswith(f"-{engine.value}.onnx")


def test_the_graph_is_exported_once_per_version_and_a_rollout_exports_the_new_one(
    engine_registry: Registry, tmp_path: Path
) -> None:
    # Prepare
    cache = tmp_path / "cache"
    first = IntentRunner(engine_registry, "v0001", engine="onnx", cache_dir=cache)
    exported = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}

    # Execute: a second replica of the same version, then a switch to the other version
    IntentRunner(engine_registry, "v0001", engine="onnx", cache_dir=cache)
    first.switch("v0002")

    # Assert: the cached graph was reused untouched; the new version has its own graph and engine
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir() if p.name in exported} == exported
    assert len(list(cache.iterdir())) == 2
    assert first.status()["version"].endswith("v0002") and first.status()["engine"] == "onnx"
    model = first.current.model
    with torch.no_grad():
        on_engine = encode(model, TEXTS)
    engine, model.embedding_engine = model.embedding_engine, None
    reference = encode(model, TEXTS)
    model.embedding_engine = engine
    assert torch.allclose(on_engine, reference, atol=1e-5)


def test_a_graph_that_disagrees_with_torch_is_refused_and_the_version_serves_on_torch(
    engine_registry: Registry, tmp_path: Path
) -> None:
    # Prepare: the cached graph of v0001 replaced by v0002's (another model's encoder)
    cache = tmp_path / "cache"
    IntentRunner(engine_registry, "v0002", engine="onnx", cache_dir=cache)
    wrong = next(cache.iterdir())
    model, artifact = load_intent(engine_registry, "v0001")
    IntentRunner(engine_registry, "v0001", engine="onnx", cache_dir=cache)
    right = next(p for p in cache.iterdir() if p != wrong)
    wrong.replace(right)

    # Execute
    with pytest.raises(ModelError, match="disagrees with torch"):
        attach_encoder(model, artifact.version.id, artifact.path, cache, "onnx")
    runner = IntentRunner(engine_registry, "v0001", engine="onnx", cache_dir=cache)

    # Assert: the model is left on torch; the runner serves on torch and says why
    assert model.embedding_engine is None
    status = runner.status()
    assert status["engine"] == "torch"
    assert "onnx engine not used" in status["engine_error"] and "disagrees with torch" in status["engine_error"]
    assert runner.classify(["hello"])[0]["version"] == artifact.version.id


def test_the_engine_is_a_serving_option_of_the_intent_member_only(tmp_path: Path) -> None:
    base = {"registry_dir": tmp_path, "graph_dir": tmp_path}

    config = ClusterConfig(**base, serving={"intent": {"engine": "onnx-int8"}})

    assert config.member("intent").engine == "onnx-int8"
    assert config.member("reply").engine is None
    with pytest.raises(ClusterConfigError, match="engine must be one of"):
        MemberServing(engine="tensorrt")
    with pytest.raises(ClusterConfigError, match="only the intent member"):
        ClusterConfig(**base, serving={"reply": {"engine": "onnx"}})
