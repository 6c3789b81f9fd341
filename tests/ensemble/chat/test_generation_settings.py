"""The decoding controls the chain's reply member uses: repetition penalty and no-repeat n-grams."""

from __future__ import annotations

import itertools

import pytest

from ensemble.errors import ModelError
from ensemble.members.reply import GenerationSettings, ReplyModel, format_prompt


def test_no_repeat_ngram_size_forbids_repeated_bigrams() -> None:
    # Prepare: a random tiny model, which repeats itself freely under plain greedy decoding.
    model = ReplyModel.tiny(["where is my order please", "your order is on its way to you"], seed=1)
    prompts = [format_prompt("track_order", "where is my order")]

    # Execute
    plain = model.generate_ids(prompts, GenerationSettings(max_new_tokens=40))[0]
    guarded = model.generate_ids(prompts, GenerationSettings(max_new_tokens=40, no_repeat_ngram_size=2))[0]

    # Assert
    bigrams = list(itertools.pairwise(guarded))
    assert len(bigrams) == len(set(bigrams))
    plain_bigrams = list(itertools.pairwise(plain))
    assert len(plain_bigrams) > len(set(plain_bigrams))  # the guard changed something real


def test_invalid_decoding_controls_are_refused() -> None:
    with pytest.raises(ModelError, match=r"repetition_penalty must be positive, got 0\.0"):
        GenerationSettings(repetition_penalty=0.0)
    with pytest.raises(ModelError, match="no_repeat_ngram_size must be >= 0, got -1"):
        GenerationSettings(no_repeat_ngram_size=-1)
