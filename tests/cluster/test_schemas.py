from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cluster.schemas import ChatMode, ChatRequest, RecommendRequest


def test_a_valid_chat_request_gets_defaults() -> None:
    request = ChatRequest.model_validate({"text": "where is my order?"})

    assert request.mode is ChatMode.SERIAL
    assert request.customer_id is None
    assert request.order_id is None


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        ({"text": ""}, "string_too_short", "at least 1 character"),
        ({"text": "   "}, "value_error", "text is blank"),
        ({"text": "x" * 3000}, "string_too_long", "at most 2000 characters"),
        ({"text": 42}, "string_type", "valid string"),
        ({}, "missing", "Field required"),
        ({"text": "hi", "mode": "shouting"}, "enum", "'serial', 'parallel' or 'fusion'"),
        ({"text": "hi", "customer_id": "12"}, "int_type", "valid integer"),
        ({"text": "hi", "extra": 1}, "extra_forbidden", "Extra inputs are not permitted"),
    ],
)
def test_invalid_chat_requests_say_why(body: dict[str, Any], kind: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ChatRequest.model_validate(body)

    errors = caught.value.errors()
    assert [e["type"] for e in errors] == [kind]
    assert message in errors[0]["msg"]


@pytest.mark.parametrize("k", [0, 101])
def test_recommend_k_is_bounded(k: int) -> None:
    with pytest.raises(ValidationError, match="k"):
        RecommendRequest.model_validate({"customer_id": 1, "k": k})
