"""ROUGE-L on hand-made pairs, against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from ensemble.errors import ModelError
from ensemble.members.reply_rouge import lcs_length, mean_rouge_l_f1, rouge_l, rouge_words


def test_words_keep_slots_whole_and_drop_punctuation() -> None:
    assert rouge_words("Open {{Order History}}, NOW!") == ["open", "{{order history}}", "now"]


def test_lcs_length_by_hand() -> None:
    # "a b c d e" vs "a c e f": the common subsequence a c e has length 3.
    assert lcs_length(["a", "b", "c", "d", "e"], ["a", "c", "e", "f"]) == 3
    assert lcs_length([], ["a"]) == 0
    assert lcs_length(["x", "y"], ["y", "x"]) == 1


def test_rouge_l_by_hand() -> None:
    # Candidate 4 words, reference 5 words, LCS "the cat the mat" = 4.
    # P = 4/4 = 1, R = 4/5 = 0.8, F1 = 2 * 1 * 0.8 / 1.8 = 0.888...
    score = rouge_l("the cat the mat", "the cat sat the mat")
    assert score.precision == pytest.approx(1.0)
    assert score.recall == pytest.approx(0.8)
    assert score.f1 == pytest.approx(16 / 18)


def test_rouge_l_counts_a_slot_as_one_word() -> None:
    # Candidate: call {{phone}} now (3 words); reference: please call {{phone}} (3); LCS 2 -> F1 = 2/3.
    score = rouge_l("Call {{Phone}} now", "Please call {{Phone}}.")
    assert score.f1 == pytest.approx(2 / 3)
    # A wrong slot shares nothing with the right one.
    assert rouge_l("{{Website Name}}", "{{Website URL}}").f1 == 0.0


def test_identical_disjoint_and_empty() -> None:
    assert rouge_l("Same words here.", "same words here").f1 == pytest.approx(1.0)
    assert rouge_l("alpha beta", "gamma delta").f1 == 0.0
    assert rouge_l("", "anything").f1 == 0.0


def test_mean_over_pairs() -> None:
    assert mean_rouge_l_f1(["a b", "c"], ["a b", "d"]) == pytest.approx(0.5)
    assert math.isnan(mean_rouge_l_f1([], []))
    with pytest.raises(ModelError, match="pair up"):
        mean_rouge_l_f1(["a"], [])
