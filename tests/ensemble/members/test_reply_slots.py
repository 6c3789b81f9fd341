"""Slot filling: given values replace slots, missing ones are rendered neutrally and reported."""

from __future__ import annotations

from ensemble.members.reply_slots import FilledReply, entity_slot_values, fill_slots, neutral_phrase


def test_fill_with_every_value() -> None:
    # Prepare
    text = "Order {{Order Number}} is on {{Website Name}}; see {{Website Name}}."
    values = {"Order Number": "536365", "Website Name": "shopmesh.example"}
    # Execute
    result = fill_slots(text, values)
    # Assert
    assert result == FilledReply(
        text="Order 536365 is on shopmesh.example; see shopmesh.example.",
        filled=("Order Number", "Website Name"),
        unfilled=(),
    )


def test_fill_without_values_is_neutral_and_reported() -> None:
    # Prepare
    text = "Log into {{Website Name}}, open {{Order History}} or call {{Customer Support Phone Number}}."
    # Execute
    result = fill_slots(text, {})
    # Assert: nothing invented; page names are kept as names; every slot is reported once.
    assert result.text == "Log into our website, open Order History or call our customer support phone line."
    assert result.filled == ()
    assert result.unfilled == ("Website Name", "Order History", "Customer Support Phone Number")
    assert "{{" not in result.text


def test_fill_mixed_matches_names_ignoring_case_and_blank_values() -> None:
    text = "Hi {{order number}} and {{Website URL}} and {{Live Chat}}"
    result = fill_slots(text, {"Order Number": "42", "Website URL": "  ", "Live Chat": "our chat"})
    assert result.text == "Hi 42 and our website and our chat"
    assert result.filled == ("order number", "Live Chat")
    assert result.unfilled == ("Website URL",)


def test_text_without_slots_is_unchanged() -> None:
    assert fill_slots("Thanks for waiting.", {"Order Number": "1"}) == FilledReply("Thanks for waiting.", (), ())


def test_neutral_phrases_for_anonymised_values() -> None:
    assert neutral_phrase("Purchase ID Anonymized") == "your order"
    assert neutral_phrase("Claim Number Anonymized") == "the details you gave"
    assert neutral_phrase("113542617735902") == "your reference"
    assert neutral_phrase("Order  History") == "Order History"


def test_entity_values_fill_order_slots() -> None:
    values = entity_slot_values("order_id", " 00123842 ")
    assert values["Order Number"] == "00123842"
    assert values["Purchase ID Anonymized"] == "00123842"
    assert entity_slot_values("delivery_city", "Leeds") == {}
    assert entity_slot_values("order_id", "") == {}
    filled = fill_slots("Cancel {{Purchase ID Anonymized}}", values)
    assert filled.text == "Cancel 00123842"
