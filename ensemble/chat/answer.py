"""The records of one chat answer: the mode, each member that ran and the final, verified reply."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from ensemble.chat.errors import ChatInputError

__all__ = ["MAX_MESSAGE_LENGTH", "ChatAnswer", "ChatMode", "ChatRequest", "MemberRun"]

MAX_MESSAGE_LENGTH = 2000


class ChatMode(StrEnum):
    """How the members run: one after another, side by side where they can, or with fused intent members."""

    SERIAL = "serial"
    PARALLEL = "parallel"
    FUSION = "fusion"


@dataclass(frozen=True)
class ChatRequest:
    """A customer's message and its optional context; validated on construction."""

    text: str
    mode: ChatMode = ChatMode.SERIAL
    customer_id: int | None = None
    order_id: str | None = None
    max_length: int = MAX_MESSAGE_LENGTH

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise ChatInputError(f"text must be a string, got {type(self.text).__name__}; send the message text")
        if not self.text.strip():
            raise ChatInputError("text is empty; send the customer's message as a non-empty string")
        if len(self.text) > self.max_length:
            raise ChatInputError(
                f"text has {len(self.text)} characters; at most {self.max_length} are accepted, shorten it"
            )
        try:
            object.__setattr__(self, "mode", ChatMode(self.mode))
        except ValueError as err:
            modes = [m.value for m in ChatMode]
            raise ChatInputError(f"unknown mode {self.mode!r}; choose one of {modes}") from err
        if self.customer_id is not None and self.customer_id < 0:
            raise ChatInputError(f"customer_id must be >= 0, got {self.customer_id}")
        if self.order_id is not None and not self.order_id.strip():
            raise ChatInputError("order_id is blank; leave it out or give the invoice number, e.g. 536365")


@dataclass(frozen=True)
class MemberRun:
    """One member that ran: its output, the weight its output had in the answer, its latency and any error.

    ``weight`` is the member's share in the final answer: fusion weights for intent members, 1.0 for a chain
    member whose output was used, 0.0 for one whose output was discarded (a reply replaced by the fallback).
    """

    name: str
    output: dict[str, Any]
    weight: float
    latency_ms: float
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChatAnswer:
    """The answer to one message; ``reply`` is the final text, every claim of it checked by the verifier."""

    mode: ChatMode
    intent: str
    confidence: float
    out_of_scope: bool
    version: str
    entities: dict[str, Any]
    products: list[dict[str, Any]]
    reply: str
    grounding: dict[str, Any]
    fallback: bool
    fallback_reason: str | None
    slots: dict[str, list[str]]
    members: list[MemberRun] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    adapter: str | None = None  # the merchant's intent adapter that decided the intent, if any

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        data["members"] = [m.to_dict() for m in self.members]
        return data
