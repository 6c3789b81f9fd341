"""How the ingress turns a member's outcome dict into an answer or an HTTP error (no Ray needed)."""

from __future__ import annotations

import pytest

from cluster.errors import MemberUnavailableError, NotFoundError, RequestRejectedError
from cluster.ingress import _outcome


def test_ok_returns_the_result() -> None:
    assert _outcome({"status": "ok", "result": {"price": 0.04}}, "pricer") == {"price": 0.04}


def test_not_found_names_what_was_looked_up() -> None:
    with pytest.raises(NotFoundError) as caught:
        _outcome({"status": "not_found", "what": "store", "value": 999, "error": "no store 999"}, "pricer")
    assert (caught.value.what, caught.value.value, str(caught.value)) == ("store", 999, "no store 999")


def test_invalid_is_a_rejected_request() -> None:
    with pytest.raises(RequestRejectedError, match=r"horizon must be 1\.\.8"):
        _outcome({"status": "invalid", "error": "horizon must be 1..8"}, "forecaster")


def test_not_trained_is_unavailable_with_the_member_named() -> None:
    with pytest.raises(MemberUnavailableError) as caught:
        _outcome({"status": "not_trained", "error": "run `shopmesh train forecaster`"}, "forecaster")
    assert caught.value.member == "forecaster"
