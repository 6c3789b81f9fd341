"""Style augmentation: reproducible, intent-preserving rewrites of training messages."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from ensemble.augmentation import AugmentConfig, StyleAugmenter
from ensemble.errors import ModelError

MESSAGES = [
    "I would like to cancel my order 4471902, can you help me?",
    "where can I download the invoice for my purchase?",
    "I want to subscribe to your newsletter",
    "how do I speak with a human agent?",
]
OFF = AugmentConfig(
    rate=1.0, synonym=0.0, typo=0.0, lower=0.0, strip_punctuation=0.0, context=0.0, greeting=0.0, sign_off=0.0
)


def test_same_seed_same_rewrites_and_rate_zero_keeps_text() -> None:
    # Prepare
    augmenter = StyleAugmenter()
    # Execute
    first = augmenter.batch(MESSAGES * 5, random.Random(3))
    second = augmenter.batch(MESSAGES * 5, random.Random(3))
    untouched = StyleAugmenter(AugmentConfig(rate=0.0)).batch(MESSAGES, random.Random(3))
    # Assert
    assert first == second
    assert first != MESSAGES * 5
    assert untouched == MESSAGES


def test_everything_off_is_the_identity() -> None:
    assert StyleAugmenter(OFF).batch(MESSAGES, random.Random(0)) == MESSAGES


def test_thesaurus_swaps_terms_for_listed_alternatives_only() -> None:
    # Prepare: only the thesaurus, applied to every rule.
    augmenter = StyleAugmenter(dataclasses.replace(OFF, synonym=1.0))
    rng = random.Random(0)
    # Execute
    rewrites = {augmenter.rewrite("I want to subscribe to your newsletter", rng) for _ in range(200)}
    # Assert: the newsletter is named by one of its alternatives and the request keeps its meaning.
    newsletter = ("newsletter", "mailing list", "marketing emails", "promo emails", "offers by email")
    assert all(any(n in r for n in newsletter) for r in rewrites)
    assert any("mailing list" in r for r in rewrites)
    assert len(rewrites) > 5


def test_typos_keep_the_first_letter_and_change_length_by_at_most_one() -> None:
    # Prepare
    augmenter = StyleAugmenter(dataclasses.replace(OFF, typo=1.0))
    words = ["cancel", "purchase", "invoice", "newsletter"]
    # Execute
    rewritten = augmenter.rewrite(" ".join(words), random.Random(1)).split()
    # Assert
    assert len(rewritten) == len(words)
    for before, after in zip(words, rewritten, strict=True):
        assert after[0] == before[0] and abs(len(after) - len(before)) <= 1
    assert rewritten != words


def test_context_surrounds_the_request_without_changing_it() -> None:
    # Prepare
    augmenter = StyleAugmenter(dataclasses.replace(OFF, context=1.0, greeting=1.0, sign_off=1.0))
    rng = random.Random(2)
    # Execute
    rewrites = [augmenter.rewrite(m, rng) for m in MESSAGES]
    # Assert: the original request is still there, with text around it and no template left unfilled.
    for message, rewrite in zip(MESSAGES, rewrites, strict=True):
        assert message in rewrite and len(rewrite) > len(message)
        assert not re.search(r"\{\w+\}", rewrite)


def test_probabilities_outside_zero_one_are_refused() -> None:
    with pytest.raises(ModelError, match=r"typo must lie in \[0, 1\], got 1.5"):
        AugmentConfig(typo=1.5)
