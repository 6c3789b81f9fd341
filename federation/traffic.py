"""Bytes on the wire of a federated run, counted from the messages themselves.

Flower 1.42 moves a message as a tree of serialised objects (the message, its record dict, each record, each array
and its chunks; identical chunks once), pushed by the sender and pulled by the receiver. The content of every
message the server sends or receives (its record dict and everything below it) is measured as the sum of those
objects' serialised sizes (Flower's own ``deflate()`` of each object in the tree), per round, phase and direction;
the tensors' objects are counted apart from the rest (config, metrics). The message's own header (ids, type,
timestamps: about a hundred bytes) is left out. The reference is a full fine-tune of the same model: the same
messages, each carrying the base model's whole state instead of the adapters. Transport framing (gRPC, TLS) is
left out of both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from flwr.app import Array, ArrayRecord, Message
from flwr.app.message.arraychunk import ArrayChunk
from flwr.supercore.inflatable.inflatable_object import InflatableObject, get_all_nested_objects

__all__ = [
    "DirectionBytes",
    "MessageBytes",
    "RoundTraffic",
    "array_record_bytes",
    "full_model_bytes",
    "message_bytes",
    "traffic_summary",
]


@dataclass(frozen=True)
class MessageBytes:
    """The payload of one message: its tensors (array records) and everything else (config and metrics)."""

    arrays: int
    other: int

    @property
    def total(self) -> int:
        return self.arrays + self.other


_TENSOR_OBJECTS = (ArrayRecord, Array, ArrayChunk)


def _serialised(obj: InflatableObject) -> tuple[int, int]:
    """``(tensor bytes, other bytes)`` of ``obj`` and everything it holds, as Flower serialises them."""
    tensors = other = 0
    for nested in get_all_nested_objects(obj).values():
        size = len(nested.deflate())
        if isinstance(nested, _TENSOR_OBJECTS):
            tensors += size
        else:
            other += size
    return tensors, other


def message_bytes(message: Message) -> MessageBytes:
    """The serialised size of ``message``'s content (see the module docstring), tensors apart from the rest; an
    error reply has no content and counts 0."""
    if message.has_error():
        return MessageBytes(0, 0)
    return MessageBytes(*_serialised(message.content))


@dataclass
class DirectionBytes:
    """What travelled one way in one phase of a round (``down``: server to nodes; ``up``: back)."""

    messages: int = 0
    with_arrays: int = 0
    array_bytes: int = 0
    other_bytes: int = 0

    def add(self, messages: Iterable[Message]) -> None:
        for message in messages:
            size = message_bytes(message)
            self.messages += 1
            self.with_arrays += int(size.arrays > 0)
            self.array_bytes += size.arrays
            self.other_bytes += size.other

    @property
    def total(self) -> int:
        return self.array_bytes + self.other_bytes

    def full_fine_tune(self, model_bytes: int) -> int:
        """The same messages if each array payload were the whole model (``model_bytes``)."""
        return self.other_bytes + self.with_arrays * model_bytes

    def to_dict(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "with_arrays": self.with_arrays,
            "array_bytes": self.array_bytes,
            "other_bytes": self.other_bytes,
            "total_bytes": self.total,
        }


@dataclass
class RoundTraffic:
    """Per phase (``train``, ``evaluate``) and direction, what one round moved."""

    phases: dict[str, dict[str, DirectionBytes]] = field(default_factory=dict)

    def direction(self, phase: str, way: str) -> DirectionBytes:
        return self.phases.setdefault(phase, {}).setdefault(way, DirectionBytes())

    def total(self, way: str) -> int:
        return sum(ways[way].total for ways in self.phases.values() if way in ways)

    def full_fine_tune(self, way: str, model_bytes: int) -> int:
        return sum(ways[way].full_fine_tune(model_bytes) for ways in self.phases.values() if way in ways)

    def to_dict(self) -> dict[str, Any]:
        return {phase: {way: d.to_dict() for way, d in ways.items()} for phase, ways in self.phases.items()}


def array_record_bytes(state: Mapping[str, torch.Tensor]) -> int:
    """The serialised size of ``state`` as one array record, as a message would carry it."""
    tensors, _ = _serialised(ArrayRecord({name: tensor.detach().cpu() for name, tensor in state.items()}))
    return tensors


def full_model_bytes(state: Mapping[str, torch.Tensor]) -> int:
    """The tensor bytes one message would carry for ``state``, the whole model (a full fine-tune's payload)."""
    return array_record_bytes(state)


def traffic_summary(rounds: Iterable[RoundTraffic], model_bytes: int, adapter_bytes: int) -> dict[str, Any]:
    """Per round and over the run: bytes down and up, the full fine-tune's bytes for the same messages, and the
    share (``ratio``) the run moved of what a full fine-tune would have."""
    per_round = []
    for number, traffic in enumerate(rounds, start=1):
        down, up = traffic.total("down"), traffic.total("up")
        full = traffic.full_fine_tune("down", model_bytes) + traffic.full_fine_tune("up", model_bytes)
        per_round.append(
            {
                "round": number,
                "bytes_down": down,
                "bytes_up": up,
                "full_fine_tune_bytes": full,
                "ratio": (down + up) / full if full else 0.0,
            }
        )
    moved = sum(entry["bytes_down"] + entry["bytes_up"] for entry in per_round)
    full_total = sum(entry["full_fine_tune_bytes"] for entry in per_round)
    return {
        "adapter_bytes": adapter_bytes,
        "full_model_bytes": model_bytes,
        "rounds": per_round,
        "mean_bytes_per_round": moved / len(per_round) if per_round else 0.0,
        "ratio": moved / full_total if full_total else 0.0,
        "counted": "serialised size of every message's Flower object tree; transport framing excluded",
    }
