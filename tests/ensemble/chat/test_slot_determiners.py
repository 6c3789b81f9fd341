"""Neutral slot phrases after a determiner in the template read naturally (no "our our website")."""

from __future__ import annotations

import pytest

from ensemble.members.reply_slots import after_determiner, fill_slots


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Visit our {{Website Name}} today.", "Visit our website today."),
        ("Call the {{Customer Support Phone Number}}.", "Call the customer support phone line."),
        ("Check your {{Order Number}} status.", "Check your order status."),
        ("Open a {{Website}} tab.", "Open a website tab."),
        ("Our {{Company Name}} cares.", "Our company cares."),
        ("Log into {{Website Name}}.", "Log into our website."),
        ("Go to the {{Order History}} page.", "Go to the Order History page."),
        ("Find it in contour {{Website Name}}.", "Find it in contour our website."),
    ],
)
def test_a_determiner_before_a_neutral_slot_is_not_doubled(template: str, expected: str) -> None:
    # Execute
    result = fill_slots(template, {})

    # Assert
    assert result.text == expected


def test_a_known_value_after_a_determiner_is_kept_as_given() -> None:
    result = fill_slots("Track your {{Order Number}} here.", {"Order Number": "536365"})

    assert result.text == "Track your 536365 here."
    assert result.filled == ("Order Number",)


def test_after_determiner_drops_only_a_leading_determiner() -> None:
    assert after_determiner("our website") == "website"
    assert after_determiner("the stated number of days") == "stated number of days"
    assert after_determiner("during our support hours") == "during our support hours"
    assert after_determiner("our") == "our"
