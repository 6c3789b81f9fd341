"""How a member's outcome becomes an answer or the HTTP error the ingress answers with (no Ray needed)."""

from __future__ import annotations

import pytest

from cluster.errors import MemberUnavailableError, NotFoundError, RequestRejectedError
from cluster.outcomes import MemberOutcome, OutcomeStatus


def test_ok_returns_the_result() -> None:
    assert MemberOutcome.ok({"price": 0.04}).unwrap("pricer") == {"price": 0.04}


def test_not_found_names_what_was_looked_up() -> None:
    with pytest.raises(NotFoundError) as caught:
        MemberOutcome.not_found("store", 999, "no store 999").unwrap("pricer")
    assert (caught.value.what, caught.value.value, str(caught.value)) == ("store", 999, "no store 999")


def test_invalid_is_a_rejected_request_on_the_field_named() -> None:
    with pytest.raises(RequestRejectedError, match=r"horizon must be 1\.\.8") as caught:
        MemberOutcome.invalid("horizon must be 1..8", field="horizon").unwrap("forecaster")
    assert caught.value.field == "horizon"


def test_not_trained_is_unavailable_with_the_member_named() -> None:
    outcome = MemberOutcome.not_trained("run `shopmesh train forecaster`")

    with pytest.raises(MemberUnavailableError) as caught:
        outcome.unwrap("forecaster")

    assert outcome.status is OutcomeStatus.NOT_TRAINED
    assert caught.value.member == "forecaster"
    assert "shopmesh train forecaster" in str(caught.value)


def test_statuses_are_their_wire_names() -> None:
    assert [s.value for s in OutcomeStatus] == ["ok", "not_found", "invalid", "not_trained"]
