"""The reply tokenizer: slots and prompt markers as single tokens, lossless round trips, save and load."""

from __future__ import annotations

from pathlib import Path

import pytest

from ensemble.errors import ModelError
from ensemble.members.reply_tokenizer import (
    SPECIAL_TOKENS,
    count_slots,
    find_slots,
    load_reply_tokenizer,
    normalise_text,
    slot_tokens,
    train_reply_tokenizer,
)

from .conftest import MESSAGES, REPLIES


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [*MESSAGES, *REPLIES]


def test_find_and_count_slots() -> None:
    # Prepare
    text = "Open {{Website Name}}, then {{Order History}} on {{Website Name}}. {not a slot} {{}}"
    # Execute
    found = find_slots(text)
    counts = count_slots([text, "{{Order History}}"])
    # Assert
    assert found == ["{{Website Name}}", "{{Order History}}", "{{Website Name}}"]
    assert counts == {"{{Website Name}}": 2, "{{Order History}}": 2}


def test_every_slot_is_one_token(texts: list[str]) -> None:
    # Prepare
    tokenizer = train_reply_tokenizer(texts, vocab_size=400, min_frequency=1)
    expected_slots = sorted(set(count_slots(texts)))
    text = "Log into {{Website Name}} and call {{Customer Support Phone Number}}."
    # Execute
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(text, add_special_tokens=False)["input_ids"])
    # Assert
    assert slot_tokens(tokenizer) == expected_slots
    assert "{{Website Name}}" in pieces
    assert "{{Customer Support Phone Number}}" in pieces
    assert not any("{{" in piece and piece not in expected_slots for piece in pieces)


def test_prompt_markers_are_single_special_tokens(texts: list[str]) -> None:
    tokenizer = train_reply_tokenizer(texts, vocab_size=400, min_frequency=1)
    for marker in SPECIAL_TOKENS:
        ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1
        assert tokenizer.convert_ids_to_tokens(ids) == [marker]


def test_round_trip_is_lossless(texts: list[str]) -> None:
    # Prepare: text with a slot, a newline, punctuation, a non-ASCII letter and a word never seen in training.
    tokenizer = train_reply_tokenizer(texts, vocab_size=400, min_frequency=1)
    samples = [*REPLIES, "Crème brûlée costs £5!\nSee {{Order History}}; zygomorphic {{Unknown Slot}}."]
    for text in samples:
        # Execute
        decoded = tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"])
        # Assert
        assert decoded == text


def test_slots_survive_skipping_special_tokens(texts: list[str]) -> None:
    tokenizer = train_reply_tokenizer(texts, vocab_size=400, min_frequency=1)
    ids = tokenizer("<|reply|> open {{Order History}}<|endoftext|>", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True).strip() == "open {{Order History}}"


def test_save_and_load_give_the_same_ids(texts: list[str], tmp_path: Path) -> None:
    # Prepare
    tokenizer = train_reply_tokenizer(texts, vocab_size=400, min_frequency=1)
    tokenizer.save_pretrained(str(tmp_path))
    # Execute
    loaded = load_reply_tokenizer(tmp_path)
    # Assert
    assert (tmp_path / "tokenizer.json").is_file()
    for text in REPLIES:
        assert loaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert loaded.pad_token == "<|pad|>"


def test_normalise_text_uses_unix_line_ends() -> None:
    assert normalise_text("  a\r\nb\rc \n") == "a\nb\nc"


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no texts"):
        train_reply_tokenizer([])
    with pytest.raises(ModelError, match="vocab_size 10"):
        train_reply_tokenizer(["hello"], vocab_size=10)
    with pytest.raises(ModelError, match="does not exist"):
        load_reply_tokenizer(tmp_path / "missing")
