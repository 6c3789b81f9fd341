"""ROUGE-L (longest common subsequence) between a generated reply and its reference.

Texts are compared as lower-cased word sequences in which each ``{{Slot}}`` counts as one word, so emitting
the right slot scores like emitting the right word. F1 is the harmonic mean of LCS/len(candidate) and
LCS/len(reference) (the ROUGE-L F-measure with beta = 1).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ensemble.errors import ModelError

_WORD = re.compile(r"\{\{[^{}\r\n]+\}\}|\w+")


@dataclass(frozen=True)
class RougeL:
    precision: float
    recall: float
    f1: float


def rouge_words(text: str) -> list[str]:
    """Lower-cased words and whole slots of ``text``; punctuation and spaces are dropped."""
    return [word.lower() for word in _WORD.findall(text)]


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two word sequences (O(len(a) * len(b)) time)."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for word in a:
        current = [0]
        for j, other in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if word == other else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(candidate: str, reference: str) -> RougeL:
    """ROUGE-L precision, recall and F1 of ``candidate`` against ``reference`` (all 0 if either is empty)."""
    cand, ref = rouge_words(candidate), rouge_words(reference)
    common = lcs_length(cand, ref)
    if common == 0:
        return RougeL(0.0, 0.0, 0.0)
    precision, recall = common / len(cand), common / len(ref)
    return RougeL(precision, recall, 2 * precision * recall / (precision + recall))


def mean_rouge_l_f1(candidates: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F1 over aligned pairs; NaN when there are none."""
    if len(candidates) != len(references):
        raise ModelError(f"got {len(candidates)} candidates but {len(references)} references; they must pair up")
    if not candidates:
        return float("nan")
    return sum(rouge_l(c, r).f1 for c, r in zip(candidates, references, strict=True)) / len(candidates)
