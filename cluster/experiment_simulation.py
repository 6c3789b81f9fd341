"""Repeated experiments on given outcomes: how often each test decides, and when (the proof of the statistics).

:func:`replay` takes, per simulated experiment, the outcomes each arm would see, in order, and runs the very
functions a report uses (:mod:`cluster.experiment_stats`) on them as if the outcomes arrived one pair at a
time (one to A, one to B):

- the sequential test is checked after every pair; an experiment stops at the first decision other than
  ``continue``;
- the fixed-horizon test is checked after every ``peek_every`` pairs ("peeking": stop at the first p <= alpha)
  and once at the end (the planned look).

The unit tests run it under no difference (false-positive rate) and a real one (power); the benchmark runs it
on outcomes resampled from held-out data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import beta

from cluster.errors import ExperimentError
from cluster.experiment_stats import (
    Decision,
    OutcomeKind,
    PrefixSums,
    StopRule,
    decide,
    fixed_horizon_p,
    sequential_path,
)

__all__ = ["ReplayResult", "clopper_pearson", "replay"]

_DECISIONS = list(Decision)


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact two-sided binomial interval of a rate (each side holds ``(1 - confidence) / 2``)."""
    tail = (1.0 - confidence) / 2.0
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1.0 - tail, successes + 1, trials - successes))
    return low, high


@dataclass(frozen=True)
class ReplayResult:
    """What the tests did over ``runs`` experiments of up to ``max_pairs`` outcomes per arm.

    ``sequential``: how many runs ended with each decision (``continue`` = undecided at the end);
    ``decisions`` and ``stop_pairs``: each run's decision and the outcomes per arm when it stopped (the last
    pair for an undecided run); ``fixed_peeking_rejections`` and
    ``fixed_final_rejections``: runs where the fixed-horizon test found a difference when peeked at every
    ``peek_every`` pairs, and at the planned end only.
    """

    runs: int
    max_pairs: int
    peek_every: int
    sequential: dict[Decision, int]
    decisions: list[Decision]
    stop_pairs: NDArray[np.int_]
    fixed_peeking_rejections: int
    fixed_final_rejections: int

    def rate(self, decision: Decision) -> float:
        return self.sequential[decision] / self.runs

    def pairs_at(self, decision: Decision) -> NDArray[np.int_]:
        """Outcomes per arm at which the runs that ended with ``decision`` stopped."""
        chosen = np.array([d is decision for d in self.decisions], dtype=bool)
        pairs: NDArray[np.int_] = self.stop_pairs[chosen]
        return pairs


def replay(
    outcomes_a: NDArray[np.float64],
    outcomes_b: NDArray[np.float64],
    kind: OutcomeKind,
    rule: StopRule,
    peek_every: int = 100,
) -> ReplayResult:
    """Run both tests on ``runs x max_pairs`` outcomes per arm (row ``r``: experiment ``r``'s outcomes)."""
    a_values, b_values = np.asarray(outcomes_a, dtype=np.float64), np.asarray(outcomes_b, dtype=np.float64)
    if a_values.ndim != 2 or a_values.shape != b_values.shape:
        raise ExperimentError(
            f"outcomes must be two runs x pairs arrays of one shape, got {a_values.shape} and {b_values.shape}"
        )
    runs, pairs = a_values.shape
    if not 0 < peek_every <= pairs:
        raise ExperimentError(f"peek_every must be in 1..{pairs}, got {peek_every}")
    a, b = PrefixSums.of(a_values), PrefixSums.of(b_values)
    decisions = decide(sequential_path(a, b, kind, rule), a.n, b.n, rule)
    decided = decisions != 0
    first = np.where(decided.any(axis=1), decided.argmax(axis=1), pairs - 1)
    final = decisions[np.arange(runs), first]
    counts = {d: int((final == i).sum()) for i, d in enumerate(_DECISIONS)}
    looks = np.arange(peek_every - 1, pairs, peek_every)
    looks = looks[a.n[0, looks] >= rule.min_samples]
    at_looks = PrefixSums(a.n[:, looks], a.total[:, looks], a.squares[:, looks])
    b_looks = PrefixSums(b.n[:, looks], b.total[:, looks], b.squares[:, looks])
    _, p_looks = fixed_horizon_p(at_looks, b_looks, kind)
    _, p_final = fixed_horizon_p(
        PrefixSums(a.n[:, -1], a.total[:, -1], a.squares[:, -1]),
        PrefixSums(b.n[:, -1], b.total[:, -1], b.squares[:, -1]),
        kind,
    )
    return ReplayResult(
        runs=runs,
        max_pairs=pairs,
        peek_every=peek_every,
        sequential=counts,
        decisions=[_DECISIONS[int(i)] for i in final],
        stop_pairs=(first + 1).astype(np.int_),
        fixed_peeking_rejections=int((p_looks <= rule.alpha).any(axis=1).sum()),
        fixed_final_rejections=int((p_final <= rule.alpha).sum()),
    )
