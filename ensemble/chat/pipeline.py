"""The chain of one chat answer: intent -> entities and graph facts -> reply -> slots -> verifier -> fallback.

:func:`answer_message` drives members given as a :class:`ChatMembers` (in-process objects for the CLI, Ray
Serve handles in the cluster), so the same logic runs in both places. Each member call is a boundary: an
exception is logged with its traceback and the answer degrades instead of failing (no intent: the reference
is found among all intents; no reply: the reference response; no verifier: a fixed reply that states no
facts). The reply is always checked: if the verifier finds a claim the graph does not support, the answer
falls back to the reference response of the most similar training message, its slots filled with confirmed
values only, and checked again; ``fallback`` and ``fallback_reason`` say that it happened and why.

In ``serial`` and ``fusion`` mode members run one after another; in ``parallel`` mode the intent and graph
members run at the same time, and so do the reply and the reference retrieval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Final, Protocol

from ensemble.chat.answer import ChatAnswer, ChatMode, ChatRequest, MemberRun
from ensemble.members.reply import format_prompt
from ensemble.members.reply_slots import FilledReply, fill_slots

__all__ = [
    "CHECK_FAILED_REPLY",
    "GRAPH_MEMBER",
    "OUT_OF_SCOPE_REPLY",
    "REFERENCE_MEMBER",
    "REPLY_MEMBER",
    "VERIFIER_MEMBER",
    "ChatMembers",
    "answer_message",
]

logger = logging.getLogger(__name__)

GRAPH_MEMBER: Final = "knowledge_graph"
REPLY_MEMBER: Final = "reply"
REFERENCE_MEMBER: Final = "reference"
VERIFIER_MEMBER: Final = "verifier"
UNKNOWN_INTENT: Final = "unknown"

# Fixed replies that state no checkable fact (no price, number, date or product).
OUT_OF_SCOPE_REPLY: Final = (
    "I can help with orders, deliveries, payments, refunds and your account. "
    "Could you tell me a little more about what you need?"
)
CHECK_FAILED_REPLY: Final = (
    "Thank you for your message. I could not confirm the details against our records just now, "
    "so a member of our customer support team will follow up with you."
)


class ChatMembers(Protocol):
    """The members of the chain as async calls returning JSON-ready dicts."""

    async def classify(self, text: str, mode: ChatMode) -> dict[str, Any]:
        """An intent decision (see :mod:`ensemble.chat.intent_stage`)."""
        ...

    async def ground(self, text: str, order_id: str | None, customer_id: int | None) -> dict[str, Any]:
        """Entities and graph facts (see :func:`ensemble.chat.facts.ground_message`)."""
        ...

    async def reply(self, prompt: str) -> dict[str, Any]:
        """``{"text", "version"}``; ``text`` is None (with a ``reason``) when no reply model is loaded."""
        ...

    async def verify(
        self, reply: str, customer_id: int | None, invoice_no: str | None, stock_codes: list[str]
    ) -> dict[str, Any]:
        """``GroundingReport.to_dict()`` of ``reply`` in that context."""
        ...

    async def reference(self, text: str, intent: str | None) -> dict[str, Any]:
        """``{"response", "intent", "row", "similarity"}`` of the nearest training message."""
        ...


@dataclass
class _Outcome:
    value: dict[str, Any] | None
    latency_ms: float
    error: str | None


async def _call(name: str, call: Awaitable[dict[str, Any]]) -> _Outcome:
    """Run one member call; an exception is logged and returned as the error, never raised."""
    started = time.perf_counter()
    try:
        value = await call
    except Exception as err:  # a member boundary: the answer degrades instead of failing
        logger.exception("chat member %s failed", name)
        return _Outcome(None, _ms(started), f"{type(err).__name__}: {err}")
    return _Outcome(value, _ms(started), None)


def _ms(started: float) -> float:
    return round(1000 * (time.perf_counter() - started), 3)


def _claims(report: dict[str, Any], supported: bool) -> list[dict[str, Any]]:
    return [c for c in report.get("claims", []) if bool(c.get("supported")) is supported]


class _Chain:
    """The state of one answer while its members run."""

    def __init__(self, request: ChatRequest, members: ChatMembers) -> None:
        self.request = request
        self.members = members
        self.runs: list[MemberRun] = []
        self.degraded: list[str] = []
        self.facts: dict[str, Any] = {}

    def record(self, name: str, outcome: _Outcome, output: dict[str, Any], weight: float) -> None:
        self.runs.append(MemberRun(name, output, weight, outcome.latency_ms, outcome.error))

    async def check(self, text: str, what: str) -> dict[str, Any] | None:
        """The verifier's report on ``text`` (None when the verifier failed)."""
        f = self.facts
        outcome = await _call(
            VERIFIER_MEMBER,
            self.members.verify(text, self.request.customer_id, f.get("invoice_no"), list(f.get("stock_codes", []))),
        )
        report = outcome.value
        output = {"checked": what, **(report or {})}
        self.record(VERIFIER_MEMBER, outcome, output, 1.0)
        if report is None:
            self.degraded.append(f"verifier failed ({outcome.error}); the reply could not be checked")
        return report

    async def checked_reference(self, reference: _Outcome) -> tuple[FilledReply, dict[str, Any] | None]:
        """The reference response with confirmed slot values, else neutral slots, else the fixed reply."""
        if reference.value is None:
            self.degraded.append(f"reference member failed ({reference.error}); answered with a fixed reply")
            return FilledReply(CHECK_FAILED_REPLY, (), ()), None
        template = str(reference.value["response"])
        confirmed: dict[str, str] = self.facts.get("slot_values", {})
        for values in (confirmed, {}):
            filled = fill_slots(template, values)
            report = await self.check(filled.text, REFERENCE_MEMBER)
            if report is None:
                return FilledReply(CHECK_FAILED_REPLY, (), ()), None
            if report["grounded"]:
                return filled, report
        return FilledReply(CHECK_FAILED_REPLY, (), ()), await self.check(CHECK_FAILED_REPLY, "fixed_reply")


async def answer_message(request: ChatRequest, members: ChatMembers) -> ChatAnswer:
    """Answer one message through the chain; never raises for a member's failure (see the module doc)."""
    chain = _Chain(request, members)
    text, mode = request.text, request.mode
    classify = _call("intent", members.classify(text, mode))
    ground = _call(GRAPH_MEMBER, members.ground(text, request.order_id, request.customer_id))
    if mode is ChatMode.PARALLEL:
        intent_out, graph_out = await asyncio.gather(classify, ground)
    else:
        intent_out = await classify
        graph_out = await ground

    decision = intent_out.value or {}
    if intent_out.value is None:
        chain.degraded.append(f"intent member failed ({intent_out.error}); answered without an intent")
        chain.record("intent", intent_out, {}, 0.0)
    if decision.get("adapter_error"):
        chain.degraded.append(f"merchant adapter not used: {decision['adapter_error']}")
    for member in decision.get("members", []):
        latency = float(member.get("latency_ms", intent_out.latency_ms))
        chain.runs.append(MemberRun(member["name"], member["output"], float(member["weight"]), latency))
    chain.facts = graph_out.value or {}
    if graph_out.value is None:
        chain.degraded.append(f"knowledge graph failed ({graph_out.error}); answered without graph facts")
    graph_summary = {k: v for k, v in chain.facts.items() if k not in ("products", "slot_values")}
    chain.record(GRAPH_MEMBER, graph_out, graph_summary, 1.0 if graph_out.value is not None else 0.0)

    intent = str(decision["intent"]) if "intent" in decision else None
    out_of_scope = bool(decision.get("out_of_scope", False))
    slot_values: dict[str, str] = chain.facts.get("slot_values", {})
    final: FilledReply | None = None
    report: dict[str, Any] | None = None
    reason: str | None = None
    reference: _Outcome | None = None

    if out_of_scope:
        final = FilledReply(OUT_OF_SCOPE_REPLY, (), ())
        reason = f"out of scope (intent {intent}, confidence {decision.get('confidence', 0.0):.2f})"
        report = await chain.check(final.text, "out_of_scope")
    else:
        prompt = format_prompt(intent or UNKNOWN_INTENT, text, chain.facts.get("prompt_facts"))
        reply_call = _call(REPLY_MEMBER, members.reply(prompt))
        if mode is ChatMode.PARALLEL:
            reply_out, reference = await asyncio.gather(
                reply_call, _call(REFERENCE_MEMBER, members.reference(text, intent))
            )
        else:
            reply_out = await reply_call
        generated = reply_out.value or {}
        candidate = generated.get("text")
        reply_output: dict[str, Any] = {"prompt": prompt, **generated}
        if candidate is None:
            reason = (
                f"reply member failed ({reply_out.error})"
                if reply_out.error
                else str(generated.get("reason", "no reply model loaded"))
            )
            if reply_out.error:
                chain.degraded.append(f"{reason}; answered with the reference response")
            chain.record(REPLY_MEMBER, reply_out, reply_output, 0.0)
        else:
            filled = fill_slots(str(candidate), slot_values)
            reply_output["filled"] = filled.text
            reply_index = len(chain.runs)
            chain.record(REPLY_MEMBER, reply_out, reply_output, 1.0)
            report = await chain.check(filled.text, REPLY_MEMBER)
            if report is not None and report["grounded"]:
                final = filled
            else:
                if report is None:
                    reason = "the reply could not be verified"
                else:
                    stated = "; ".join(f"{c['text']!r}: {c['reason']}" for c in _claims(report, False))
                    reason = f"the reply stated claims the graph does not support ({stated})"
                old = chain.runs[reply_index]
                chain.runs[reply_index] = MemberRun(old.name, old.output, 0.0, old.latency_ms, old.error)

    if final is None:
        if reference is None:
            reference = await _call(REFERENCE_MEMBER, members.reference(text, intent))
        final, report = await chain.checked_reference(reference)
        used = reference.value is not None and final.text != CHECK_FAILED_REPLY
        chain.record(REFERENCE_MEMBER, reference, reference.value or {}, 1.0 if used else 0.0)
    elif reference is not None:
        chain.record(REFERENCE_MEMBER, reference, reference.value or {}, 0.0)

    grounding: dict[str, Any] = {
        "checked": report is not None,
        "grounded": bool(report["grounded"]) if report is not None else None,
        "supported": _claims(report, True) if report is not None else [],
        "unsupported": _claims(report, False) if report is not None else [],
    }
    return ChatAnswer(
        mode=mode,
        intent=intent or UNKNOWN_INTENT,
        confidence=float(decision.get("confidence", 0.0)),
        out_of_scope=out_of_scope,
        version=str(decision.get("version", "")),
        adapter=str(decision["adapter"]) if decision.get("adapter") else None,
        entities=dict(chain.facts.get("entities", {})),
        products=list(chain.facts.get("products", [])),
        reply=final.text,
        grounding=grounding,
        fallback=reason is not None,
        fallback_reason=reason,
        slots={"filled": list(final.filled), "unfilled": list(final.unfilled)},
        members=chain.runs,
        degraded=chain.degraded,
    )
