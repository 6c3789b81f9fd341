"""Bytes on the wire: counted from Flower messages, compared with a full fine-tune of the same model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flwr.app import ArrayRecord, ConfigRecord, Message, Metadata, MetricRecord, RecordDict

from federation import FederationConfig
from federation.errors import FederationConfigError
from federation.task import base_state, initial_adapters
from federation.traffic import DirectionBytes, RoundTraffic, array_record_bytes, full_model_bytes, traffic_summary


def _metadata(dst: int) -> Metadata:
    return Metadata(
        run_id=1,
        message_id="",
        src_node_id=0,
        dst_node_id=dst,
        reply_to_message_id="",
        group_id="1",
        created_at=0.0,
        ttl=60.0,
        message_type="train",
    )


def _message(adapters: ArrayRecord) -> Message:
    content = RecordDict({"arrays": adapters, "config": ConfigRecord({"base-version": "", "lr": 0.1})})
    return Message(content=content, metadata=_metadata(7))


def test_adapter_messages_and_the_full_fine_tune_reference(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    # Prepare: adapters on query/value, and on every linear module, of the same base version
    registry = tmp_path / "registry"
    base_id = publish_tiny_base(registry, bitext_intents)
    narrow = FederationConfig(registry_dir=str(registry), lora_r=4)
    wide = FederationConfig(registry_dir=str(registry), lora_r=4, lora_targets="query,key,value,dense")
    narrow_adapters, wide_adapters = initial_adapters(narrow, base_id), initial_adapters(wide, base_id)
    # Execute: two down messages and their replies (an empty config string included)
    traffic = RoundTraffic()
    down = traffic.direction("train", "down")
    down.add([_message(ArrayRecord(narrow_adapters)) for _ in range(2)])
    reply = Message(RecordDict({"metrics": MetricRecord({"num-examples": 12})}), metadata=_metadata(0))
    traffic.direction("train", "up").add([reply])
    model_bytes = full_model_bytes(base_state(narrow, base_id))
    summary = traffic_summary([traffic], model_bytes, array_record_bytes(narrow_adapters))
    # Assert: the tensors of each message are the adapters' serialised size; the rest is small
    adapter_bytes = array_record_bytes(narrow_adapters)
    assert down.messages == down.with_arrays == 2
    assert down.array_bytes == 2 * adapter_bytes
    assert 0 < down.other_bytes < 2 * 2_000
    assert array_record_bytes(wide_adapters) > adapter_bytes  # more modules, more tensors
    assert any(".key." in name for name in wide_adapters) and not any(".key." in name for name in narrow_adapters)
    assert model_bytes > adapter_bytes
    entry = summary["rounds"][0]
    assert entry["full_fine_tune_bytes"] == down.other_bytes + 2 * model_bytes + traffic.total("up")
    assert summary["ratio"] == pytest.approx((entry["bytes_down"] + entry["bytes_up"]) / entry["full_fine_tune_bytes"])


def test_a_target_module_the_encoder_lacks_is_refused_with_the_modules_it_has(
    tmp_path: Path, bitext_intents: list[str], publish_tiny_base: Callable[[Path, list[str]], str]
) -> None:
    registry = tmp_path / "registry"
    base_id = publish_tiny_base(registry, bitext_intents)
    config = FederationConfig(registry_dir=str(registry), lora_targets="qkv_proj")
    with pytest.raises(FederationConfigError, match=r"'lora-targets' = 'qkv_proj' names a module .*'query'"):
        initial_adapters(config, base_id)


def test_an_error_reply_carries_no_tensors() -> None:
    direction = DirectionBytes()
    direction.add([])
    assert direction.total == 0 and direction.full_fine_tune(10**6) == 0
