from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from ensemble.errors import ArtifactIntegrityError, RegistryError, VersionNotFoundError
from ensemble.registry import (
    MANIFEST_NAME,
    WEIGHTS_NAME,
    Lineage,
    ModelVersion,
    Registry,
)


def lineage(parent: str | None = None) -> Lineage:
    return Lineage(parent=parent, data_fingerprint="sha256:abc", method="central", details={"epochs": 2})


def tensors(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "encoder.weight": torch.randn(4, 3, generator=generator),
        "head.bias": torch.arange(5, dtype=torch.int64),
    }


def publish(registry: Registry, seed: int = 0, **kwargs: object) -> ModelVersion:
    return registry.publish(
        "intent",
        tensors=kwargs.pop("tensors", tensors(seed)),  # type: ignore[arg-type]
        config={"labels": ["a", "b"], "hidden": 3},
        metrics={"accuracy": 0.5 + seed / 10},
        lineage=kwargs.pop("lineage", lineage()),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def test_publish_list_latest_load_roundtrip(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path / "registry")
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    (tokenizer / "vocab.txt").write_text("[PAD]\nhello\n")
    notes = tmp_path / "notes.txt"
    notes.write_text("trained on bitext")

    # Execute
    first = publish(registry, seed=0)
    second = publish(
        registry,
        seed=1,
        lineage=lineage(parent=first.id),
        files={"tokenizer": tokenizer, "notes.txt": notes},
    )
    loaded = registry.load("intent")

    # Assert
    assert (first.id, second.id) == ("intent:v0001", "intent:v0002")
    assert [version.version for version in registry.list("intent")] == ["v0001", "v0002"]
    assert registry.latest("intent") == second
    assert loaded.version == second
    assert loaded.path == tmp_path / "registry" / "intent" / "v0002"
    expected = tensors(1)
    assert set(loaded.tensors) == set(expected)
    for name, tensor in expected.items():
        assert torch.equal(loaded.tensors[name], tensor)
        assert loaded.tensors[name].dtype == tensor.dtype
    assert loaded.config == {"labels": ["a", "b"], "hidden": 3}
    assert loaded.metrics == {"accuracy": 0.6}
    assert loaded.lineage == Lineage(
        parent="intent:v0001",
        data_fingerprint="sha256:abc",
        method="central",
        details={"epochs": 2},
        created_at=loaded.lineage.created_at,
    )
    assert loaded.files["tokenizer"].joinpath("vocab.txt").read_text() == "[PAD]\nhello\n"
    assert loaded.files["notes.txt"].read_text() == "trained on bitext"
    manifest = json.loads((second.path / MANIFEST_NAME).read_text())
    assert set(manifest["files"]) == {
        "weights.safetensors",
        "config.json",
        "metrics.json",
        "lineage.json",
        "tokenizer/vocab.txt",
        "notes.txt",
    }
    assert manifest["files"]["notes.txt"]["size"] == len("trained on bitext")


def test_load_a_given_version_in_any_spelling(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    publish(registry, seed=0)
    publish(registry, seed=1)

    for spelling in ("v0001", "1", "intent:v0001"):
        loaded = registry.load("intent", spelling)
        assert loaded.version.version == "v0001"
        assert torch.equal(loaded.tensors["encoder.weight"], tensors(0)["encoder.weight"])
    assert registry.resolve("intent", "latest").version == "v0002"


def test_unknown_version_lists_the_available_ones(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    publish(registry)

    with pytest.raises(VersionNotFoundError, match=r"intent:v0007 .*available: v0001"):
        registry.load("intent", "v0007")
    with pytest.raises(VersionNotFoundError, match="belongs to member 'reply'"):
        registry.resolve("intent", "reply:v0001")


def test_latest_of_an_empty_registry_says_to_train(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "nothing-here")

    assert registry.list("intent") == []
    with pytest.raises(VersionNotFoundError, match="shopmesh train intent"):
        registry.latest("intent")
    with pytest.raises(VersionNotFoundError, match="shopmesh train intent"):
        registry.load("intent")


def test_failed_publish_leaves_no_version(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish(registry, seed=0)

    # Execute: a missing extra file, then a value that is not a tensor
    with pytest.raises(RegistryError, match="cannot copy extra file 'tokenizer'"):
        publish(registry, seed=1, files={"tokenizer": tmp_path / "absent"})
    with pytest.raises(RegistryError, match=r"must be a torch\.Tensor"):
        publish(registry, tensors={"w": [1.0, 2.0]})

    # Assert
    assert [version.version for version in registry.list("intent")] == ["v0001"]
    assert sorted(path.name for path in (tmp_path / "intent").iterdir()) == ["v0001"]
    assert publish(registry, seed=2).version == "v0002"


def test_half_written_folder_of_a_crashed_publish_is_ignored(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    publish(registry, seed=0)
    crashed = tmp_path / "intent" / ".tmp-0123abcd"
    crashed.mkdir()
    (crashed / WEIGHTS_NAME).write_bytes(b"partial")

    versions = registry.list("intent")
    next_version = publish(registry, seed=1)

    assert [version.version for version in versions] == ["v0001"]
    assert next_version.version == "v0002"
    assert registry.latest("intent") == next_version


def test_tampered_weights_are_refused_and_the_previous_version_loads(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    publish(registry, seed=0)
    second = publish(registry, seed=1)
    weights = second.path / WEIGHTS_NAME
    content = bytearray(weights.read_bytes())
    content[-1] ^= 0xFF
    weights.write_bytes(bytes(content))

    # Execute / Assert
    with pytest.raises(ArtifactIntegrityError) as caught:
        registry.load("intent")
    message = str(caught.value)
    assert "intent:v0002" in message
    assert "'weights.safetensors'" in message
    assert "sha256" in message
    assert "--version v0001" in message
    with pytest.raises(ArtifactIntegrityError):
        registry.verify("intent", "v0002")
    previous = registry.load("intent", "v0001")
    assert torch.equal(previous.tensors["encoder.weight"], tensors(0)["encoder.weight"])


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = publish(registry)
    metrics = version.path / "metrics.json"
    original_size = metrics.stat().st_size
    metrics.write_text("{}")

    with pytest.raises(
        ArtifactIntegrityError, match=rf"'metrics\.json' has 2 bytes, the manifest says {original_size}"
    ):
        registry.load("intent")


def test_missing_file_is_refused(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = publish(registry)
    (version.path / "config.json").unlink()

    with pytest.raises(ArtifactIntegrityError, match=r"intent:v0001: file 'config.json' .* missing") as caught:
        registry.load("intent")

    assert "no earlier version" in str(caught.value)


def test_missing_manifest_is_refused_but_still_listed(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    version = publish(registry)
    (version.path / MANIFEST_NAME).unlink()

    assert [listed.version for listed in registry.list("intent")] == ["v0001"]
    with pytest.raises(ArtifactIntegrityError, match=r"manifest\.json is missing"):
        registry.load("intent")


def test_concurrent_publishes_get_distinct_ids(tmp_path: Path) -> None:
    # Prepare
    registry = Registry(tmp_path)
    count = 8
    barrier = threading.Barrier(count)
    ids: list[str] = []
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        barrier.wait()
        try:
            ids.append(publish(registry, seed=seed).id)
        except BaseException as err:  # collected and asserted below
            errors.append(err)

    # Execute
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Assert
    assert errors == []
    assert sorted(ids) == [f"intent:v{number:04d}" for number in range(1, count + 1)]
    for version in registry.list("intent"):
        registry.verify("intent", version.version)


def test_tensors_sharing_storage_are_saved(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    shared = torch.randn(3, 2)
    tied = {"embed.weight": shared, "lm_head.weight": shared, "row": shared[1]}

    publish(registry, tensors=tied)
    loaded = registry.load("intent")

    assert torch.equal(loaded.tensors["embed.weight"], shared)
    assert torch.equal(loaded.tensors["lm_head.weight"], shared)
    assert torch.equal(loaded.tensors["row"], shared[1])


@pytest.mark.parametrize("member", ["Intent", "../x", "", "a b"])
def test_invalid_member_name(tmp_path: Path, member: str) -> None:
    with pytest.raises(RegistryError, match="invalid member name"):
        Registry(tmp_path).list(member)


@pytest.mark.parametrize("name", ["config.json", "../escape", ".hidden", "/abs"])
def test_invalid_extra_file_name(tmp_path: Path, name: str) -> None:
    source = tmp_path / "file.txt"
    source.write_text("x")
    registry = Registry(tmp_path / "registry")

    with pytest.raises(RegistryError, match="invalid extra file name"):
        publish(registry, files={name: source})

    assert registry.list("intent") == []


def test_metrics_that_are_not_json(tmp_path: Path) -> None:
    registry = Registry(tmp_path)

    with pytest.raises(RegistryError, match="cannot write metrics as JSON"):
        registry.publish("intent", tensors={}, config={}, metrics={"curve": object()}, lineage=lineage())

    assert registry.list("intent") == []


def test_members_lists_published_members(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    publish(registry)
    registry.publish("reply", tensors={}, config={}, metrics={}, lineage=lineage())

    assert registry.members() == ["intent", "reply"]
