"""The serial chain on stub and tiny members: verification, fallback, slots, degradation and modes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ensemble.chat import CHECK_FAILED_REPLY, OUT_OF_SCOPE_REPLY, ChatInputError, ChatMode, ChatRequest
from ensemble.chat.pipeline import answer_message

TRACK_REFERENCE = "I can help you track order {{Order Number}}. Open {{Order History}} on {{Website Name}}."


def _names(answer: Any) -> list[str]:
    return [m.name for m in answer.members]


def test_a_reply_with_a_false_price_falls_back_to_a_grounded_reference(make_members: Any) -> None:
    # Prepare: the lantern sold at £3.39 only, so £99.00 is false.
    members = make_members("The white metal lantern costs £99.00.")
    request = ChatRequest(
        text="where is my order 536365 with the white metal lantern", customer_id=12001, order_id=None
    )

    # Execute
    answer = members.answer(request)

    # Assert
    assert answer.fallback is True
    assert "£99.00" in (answer.fallback_reason or "")
    assert answer.reply == "I can help you track order 536365. Open Order History on our website."
    assert answer.grounding["checked"] is True
    assert answer.grounding["grounded"] is True
    assert answer.grounding["unsupported"] == []
    assert [c["text"] for c in answer.grounding["supported"]] == ["536365"]
    runs = {m.name: m for m in answer.members}
    assert runs["reply"].weight == 0.0  # generated, checked, discarded
    assert runs["reference"].weight == 1.0
    assert runs["reference"].output["response"] == TRACK_REFERENCE
    assert _names(answer) == ["fixed", "knowledge_graph", "reply", "verifier", "verifier", "reference"]


def test_a_reply_with_a_true_price_is_kept(make_members: Any) -> None:
    members = make_members("The white metal lantern costs £3.39.")

    answer = members.answer(ChatRequest(text="how much is the white metal lantern?"))

    assert answer.fallback is False
    assert answer.fallback_reason is None
    assert answer.reply == "The white metal lantern costs £3.39."
    assert answer.grounding["grounded"] is True
    assert {c["kind"] for c in answer.grounding["supported"]} == {"price", "product"}
    assert [p["stock_code"] for p in answer.products] == ["71053"]
    assert {m.name: m.weight for m in answer.members}["reply"] == 1.0


def test_slots_are_filled_only_with_orders_the_graph_confirms(make_members: Any) -> None:
    members = make_members("Order {{Order Number}} is on its way; see {{Website Name}}.")

    known = members.answer(ChatRequest(text="where is my order?", customer_id=12001, order_id="536366"))
    unknown = members.answer(ChatRequest(text="where is my order?", customer_id=12001, order_id="999999"))
    not_theirs = members.answer(ChatRequest(text="where is my order 536367?", customer_id=12001))

    assert known.reply == "Order 536366 is on its way; see our website."
    assert known.slots == {"filled": ["Order Number"], "unfilled": ["Website Name"]}
    for answer, number in ((unknown, "999999"), (not_theirs, "536367")):
        assert number not in answer.reply
        assert answer.reply == "Order your order is on its way; see our website."
        assert answer.slots == {"filled": [], "unfilled": ["Order Number", "Website Name"]}
        assert answer.fallback is False
    assert not_theirs.entities["order_numbers"] == ["536367"]


def test_without_a_reply_model_the_reference_answers(make_members: Any) -> None:
    members = make_members(None, intent="get_refund")

    answer = members.answer(ChatRequest(text="i want a refund", customer_id=12002))

    assert answer.fallback is True
    assert "no reply model" in (answer.fallback_reason or "")
    assert answer.reply == "I'm sorry to hear that. Refunds are handled by our customer support phone line."
    assert answer.degraded == []


def test_a_failing_reply_member_degrades_to_the_reference(make_members: Any, caplog: Any) -> None:
    members = make_members("unused", fail=True)

    answer = members.answer(ChatRequest(text="where is my order"))

    assert answer.fallback is True
    assert "RuntimeError: reply replica lost its model" in (answer.fallback_reason or "")
    assert answer.reply.startswith("I can help you track order your order.")
    assert any("reply member failed" in reason for reason in answer.degraded)
    assert {m.name: m.error for m in answer.members}["reply"] == "RuntimeError: reply replica lost its model"
    assert "chat member reply failed" in caplog.text


def test_a_failing_intent_member_still_answers(make_members: Any) -> None:
    members = make_members("Happy to help.")

    def broken(texts: Any, mode: ChatMode) -> list[dict[str, Any]]:
        raise ValueError("head weights missing")

    members.intent.decide = broken  # type: ignore[method-assign]
    answer = members.answer(ChatRequest(text="where is my order"))

    assert answer.intent == "unknown"
    assert answer.reply == "Happy to help."
    assert any("intent member failed (ValueError: head weights missing)" in r for r in answer.degraded)


def test_a_reference_that_cannot_be_grounded_gives_the_fixed_reply(make_members: Any) -> None:
    members = make_members("It costs £500.00.")

    def unsupported_reference(text: str, intent: str | None) -> dict[str, Any]:
        return {"response": "Your refund of £77.00 is on its way.", "intent": "get_refund", "row": 0}

    members.replies.reference = unsupported_reference  # type: ignore[method-assign]
    answer = members.answer(ChatRequest(text="refund for the white metal lantern"))

    assert answer.fallback is True
    assert answer.reply == CHECK_FAILED_REPLY
    assert answer.grounding["grounded"] is True
    assert {m.name: m.weight for m in answer.members}["reference"] == 0.0


def test_out_of_scope_messages_get_the_scope_reply(make_members: Any) -> None:
    members = make_members("should not be generated")

    answer = members.answer(ChatRequest(text="what is the weather on mars"))
    oos = make_members("should not be generated", out_of_scope=True).answer(
        ChatRequest(text="what is the weather on mars")
    )

    assert answer.reply == "should not be generated"
    assert oos.out_of_scope is True
    assert oos.reply == OUT_OF_SCOPE_REPLY
    assert oos.fallback is True
    assert "out of scope" in (oos.fallback_reason or "")


@pytest.mark.parametrize("mode", list(ChatMode))
def test_every_mode_gives_the_same_grounded_answer_and_reaches_the_intent_stage(
    make_members: Any, mode: ChatMode
) -> None:
    members = make_members("The white metal lantern costs £99.00.")

    answer = asyncio.run(answer_message(ChatRequest(text="where is my order 536365", mode=mode), members))

    assert answer.mode is mode
    assert members.intent.modes == [mode]
    assert answer.reply == "I can help you track order 536365. Open Order History on our website."
    assert all(m.latency_ms >= 0 for m in answer.members)
    assert answer.to_dict()["mode"] == mode.value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": ""}, "text is empty"),
        ({"text": "   "}, "text is empty"),
        ({"text": "x" * 2001}, "text has 2001 characters"),
        ({"text": 42}, "text must be a string, got int"),
        ({"text": "hi", "mode": "sequential"}, "unknown mode 'sequential'"),
        ({"text": "hi", "customer_id": -1}, "customer_id must be >= 0"),
    ],
)
def test_invalid_requests_are_refused_with_the_reason(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ChatInputError, match=message):
        ChatRequest(**kwargs)
