"""The statistics of a two-arm experiment: per-arm summaries, a fixed-horizon test and an always-valid one.

Outcomes are binary (resolved, clicked, bought: the arm's rate) or numeric (basket value: the arm's mean); the
effect is ``mean(B) - mean(A)``, and a larger outcome is the better one.

- **Per arm**: count, rate or mean and a ``1 - alpha`` confidence interval (Wilson for a rate, Student's t for
  a mean).
- **Fixed horizon**: the two-proportion z test (pooled) or Welch's t test, with its p-value and a Wald / Welch
  interval for the difference. It is valid only when looked at once, at a sample size fixed in advance;
  looked at after every batch, its false-positive rate grows far beyond ``alpha``
  (``tests/cluster/test_experiment_stats.py`` shows it).
- **Sequential (always valid)**: the mixture sequential probability ratio test of Johari, Koomen, Pekelis and
  Walsh ("Always valid inference", Operations Research 2022). The estimated difference ``d`` is taken as normal
  with variance ``V = s_A^2/n_A + s_B^2/n_B``; the likelihood ratio of ``d`` against "no difference", mixed
  over a normal prior ``N(0, tau^2)`` on the difference, is::

      Lambda = sqrt(V / (V + tau^2)) * exp(d^2 * tau^2 / (2 V (V + tau^2)))

  The always-valid p-value is ``min(1, 1 / max Lambda)`` over every look so far, and the confidence
  sequence is the running intersection of ``d +- sqrt(2 V (V + tau^2) / tau^2 * (log(1/alpha) +
  log((V + tau^2) / V) / 2))``. Both hold at any stopping time, so peeking is safe. Here the statistic is
  evaluated after *every* outcome in arrival order (the most frequent peeking possible), so a report does not
  depend on when anyone looked. ``tau`` is ``mixture_scale`` times the pooled standard deviation (0.2: a
  standardised effect of 0.2 is what the test is tuned for). The variances are plug-in estimates, so the
  guarantee is asymptotic; the minimum sample per arm keeps early estimates out of the decision.

The decision (:class:`Decision`), per :class:`StopRule`: ``continue`` until both arms have ``min_samples``
outcomes; then ``arm B better`` / ``arm A better`` as soon as the always-valid p-value is at most ``alpha``
(the sign of ``d`` says which); ``no difference`` when the confidence sequence lies inside ``(-mde, +mde)``
(with ``mde`` set) or when both arms reach ``max_samples`` (with it set) without significance; else
``continue``. Everything here is numpy/scipy/statsmodels and vectorised, so the simulations run the very code
the reports use.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from cluster.errors import ExperimentError

__all__ = [
    "ArmSummary",
    "Decision",
    "ExperimentAnalysis",
    "FixedHorizonTest",
    "OutcomeKind",
    "PrefixSums",
    "SequentialTest",
    "StopRule",
    "analyse",
    "decide",
    "fixed_horizon_p",
    "msprt_log_likelihood_ratio",
    "sequential_path",
]

Floats = NDArray[np.float64]


class OutcomeKind(StrEnum):
    """What one outcome is: ``binary`` (true/false) or ``numeric`` (a finite number)."""

    BINARY = "binary"
    NUMERIC = "numeric"


class Decision(StrEnum):
    """Where an experiment stands under its stop rule."""

    CONTINUE = "continue"
    B_BETTER = "arm B better"
    A_BETTER = "arm A better"
    NO_DIFFERENCE = "no difference"


@dataclass(frozen=True)
class StopRule:
    """When an experiment may stop and what it then says (see the module docstring)."""

    alpha: float = 0.05
    min_samples: int = 100
    max_samples: int | None = None
    mde: float | None = None
    mixture_scale: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 0.5:
            raise ExperimentError(f"alpha must be in (0, 0.5), got {self.alpha}; 0.05 is usual")
        if self.min_samples < 2:
            raise ExperimentError(f"min_samples must be at least 2 per arm, got {self.min_samples}")
        if self.max_samples is not None and self.max_samples < self.min_samples:
            raise ExperimentError(
                f"max_samples ({self.max_samples}) must be at least min_samples ({self.min_samples}); raise it"
            )
        if self.mde is not None and not self.mde > 0:
            raise ExperimentError(f"mde must be > 0 (in outcome units), got {self.mde}; or leave it unset")
        if not self.mixture_scale > 0:
            raise ExperimentError(f"mixture_scale must be > 0, got {self.mixture_scale}; 0.2 is a good start")

    def describe(self) -> str:
        """The rule in words, for reports."""
        parts = [
            f"continue until each arm has {self.min_samples} outcomes; then stop with the better arm as soon as "
            f"the always-valid p-value (mixture SPRT, checked after every outcome) is <= {self.alpha}"
        ]
        if self.mde is not None:
            parts.append(
                f"stop with 'no difference' once the {1 - self.alpha:.0%} confidence sequence lies within "
                f"+-{self.mde:g}"
            )
        if self.max_samples is not None:
            parts.append(f"stop with 'no difference' when both arms reach {self.max_samples} outcomes")
        return "; ".join(parts)


@dataclass(frozen=True)
class PrefixSums:
    """Running sums of one arm's outcomes (any array shape, e.g. one entry per look or runs x looks)."""

    n: Floats
    total: Floats
    squares: Floats

    @classmethod
    def of(cls, values: Floats, axis: int = -1) -> PrefixSums:
        """The sums after each outcome of ``values`` along ``axis``."""
        counts = np.cumsum(np.ones_like(values), axis=axis)
        return cls(counts, np.cumsum(values, axis=axis), np.cumsum(values * values, axis=axis))

    def means(self) -> Floats:
        return np.divide(self.total, self.n, out=np.zeros_like(self.total), where=self.n > 0)

    def variances(self, kind: OutcomeKind) -> Floats:
        """Sample variances; for a rate, that of the rate shrunk by half an outcome each way, so that an arm
        of all successes or all failures does not claim zero variance."""
        if kind is OutcomeKind.BINARY:
            shrunk = (self.total + 0.5) / (self.n + 1.0)
            return shrunk * (1.0 - shrunk) * self.n / np.maximum(self.n - 1.0, 1.0)
        centred = self.squares - np.divide(self.total**2, self.n, out=np.zeros_like(self.total), where=self.n > 0)
        return np.maximum(centred, 0.0) / np.maximum(self.n - 1.0, 1.0)


def msprt_log_likelihood_ratio(difference: Floats, variance: Floats, tau2: Floats) -> Floats:
    """``log Lambda`` of the normal-mixture SPRT (module docstring) for estimated differences with variance
    ``variance`` and mixture variance ``tau2``."""
    total = variance + tau2
    return 0.5 * np.log(variance / total) + difference**2 * tau2 / (2.0 * variance * total)


_TINY = 1e-12


@dataclass(frozen=True)
class SequentialPath:
    """The sequential statistics at each look: the always-valid p-value (running), the confidence
    sequence's bounds (running intersection), and the raw difference and its variance."""

    p_value: Floats
    cs_low: Floats
    cs_high: Floats
    difference: Floats
    variance: Floats
    tau: Floats


def sequential_path(a: PrefixSums, b: PrefixSums, kind: OutcomeKind, rule: StopRule, axis: int = -1) -> SequentialPath:
    """The mixture SPRT along ``axis`` (looks in order); looks before both arms have ``min_samples`` outcomes
    count as no evidence (p-value 1, an unbounded confidence sequence)."""
    var_a, var_b = a.variances(kind), b.variances(kind)
    n_a, n_b = np.maximum(a.n, 1.0), np.maximum(b.n, 1.0)
    variance = np.maximum(var_a / n_a + var_b / n_b, _TINY)
    tau2 = np.maximum(rule.mixture_scale**2 * (var_a + var_b) / 2.0, _TINY)
    difference = b.means() - a.means()
    ready = (a.n >= rule.min_samples) & (b.n >= rule.min_samples)
    log_lr = np.where(ready, msprt_log_likelihood_ratio(difference, variance, tau2), 0.0)
    p_value = np.minimum(1.0, np.exp(-np.maximum.accumulate(log_lr, axis=axis)))
    half = np.sqrt(
        2.0 * variance * (variance + tau2) / tau2 * (np.log(1.0 / rule.alpha) + 0.5 * np.log1p(tau2 / variance))
    )
    low = np.maximum.accumulate(np.where(ready, difference - half, -np.inf), axis=axis)
    high = np.minimum.accumulate(np.where(ready, difference + half, np.inf), axis=axis)
    return SequentialPath(p_value, low, np.maximum(high, low), difference, variance, np.sqrt(tau2))


def fixed_horizon_p(a: PrefixSums, b: PrefixSums, kind: OutcomeKind) -> tuple[Floats, Floats]:
    """``(statistic, two-sided p-value)`` of the two-proportion z test (pooled) or Welch's t test."""
    if kind is OutcomeKind.BINARY:
        pooled = (a.total + b.total) / (a.n + b.n)
        se = np.sqrt(np.maximum(pooled * (1.0 - pooled) * (1.0 / a.n + 1.0 / b.n), _TINY))
        z = (b.means() - a.means()) / se
        return z, 2.0 * stats.norm.sf(np.abs(z))
    sd_a, sd_b = np.sqrt(a.variances(kind)), np.sqrt(b.variances(kind))
    with np.errstate(divide="ignore", invalid="ignore"):
        t, p = stats.ttest_ind_from_stats(b.means(), sd_b, b.n, a.means(), sd_a, a.n, equal_var=False)
    return np.nan_to_num(np.asarray(t, dtype=np.float64)), np.nan_to_num(np.asarray(p, dtype=np.float64), nan=1.0)


def decide(path: SequentialPath, n_a: Floats, n_b: Floats, rule: StopRule) -> NDArray[np.int_]:
    """The decision at each look as an index into ``list(Decision)`` (0 continue, 1 B better, 2 A better,
    3 no difference), by the stop rule (the module docstring)."""
    ready = (n_a >= rule.min_samples) & (n_b >= rule.min_samples)
    significant = ready & (path.p_value <= rule.alpha)
    decision = np.zeros(np.shape(path.p_value), dtype=np.int_)
    settled = np.zeros(np.shape(path.p_value), dtype=bool)
    if rule.mde is not None:
        settled |= ready & (path.cs_low > -rule.mde) & (path.cs_high < rule.mde)
    if rule.max_samples is not None:
        settled |= (n_a >= rule.max_samples) & (n_b >= rule.max_samples)
    decision[settled] = 3
    decision[significant & (path.difference > 0)] = 1
    decision[significant & (path.difference <= 0)] = 2
    return decision


_DECISIONS = list(Decision)


@dataclass(frozen=True)
class ArmSummary:
    """One arm's outcomes: count, rate or mean, standard deviation and a ``1 - alpha`` interval."""

    arm: str
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    successes: int | None = None


@dataclass(frozen=True)
class FixedHorizonTest:
    """The classic test on everything so far (valid only for one look at a planned size)."""

    test: str
    statistic: float
    p_value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class SequentialTest:
    """The always-valid test on everything so far: p-value and confidence sequence of ``B - A``."""

    test: str
    p_value: float
    cs_low: float | None
    cs_high: float | None
    mixture_sd: float


@dataclass(frozen=True)
class ExperimentAnalysis:
    """A report's statistics: both arms, the difference ``B - A``, both tests and the decision."""

    outcome: OutcomeKind
    arms: tuple[ArmSummary, ArmSummary]
    difference: float
    fixed_horizon: FixedHorizonTest | None
    sequential: SequentialTest | None
    decision: Decision
    stop_rule: str
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _arm(name: str, values: Floats, kind: OutcomeKind, alpha: float) -> ArmSummary:
    n = len(values)
    if n == 0:
        successes = 0 if kind is OutcomeKind.BINARY else None
        return ArmSummary(name, 0, float("nan"), float("nan"), float("nan"), float("nan"), successes)
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if n > 1 else 0.0
    if kind is OutcomeKind.BINARY:
        successes = int(values.sum())
        low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
        return ArmSummary(name, n, mean, std, float(low), float(high), successes)
    if n < 2:
        return ArmSummary(name, n, mean, std, float("-inf"), float("inf"))
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * std / np.sqrt(n)
    return ArmSummary(name, n, mean, std, mean - half, mean + half)


def analyse(
    kind: OutcomeKind, in_b: NDArray[np.bool_], values: Floats, rule: StopRule, arms: tuple[str, str] = ("A", "B")
) -> ExperimentAnalysis:
    """The statistics of outcomes in arrival order: ``in_b[i]`` says whether outcome ``values[i]`` came from
    arm B (else arm A). Tests need two outcomes per arm; before that they are ``None``."""
    in_b = np.asarray(in_b, dtype=bool)
    values = np.asarray(values, dtype=np.float64)
    if in_b.shape != values.shape or values.ndim != 1:
        raise ExperimentError(f"arm flags {in_b.shape} and outcomes {values.shape} must be one-dimensional and alike")
    if kind is OutcomeKind.BINARY and not np.isin(values, (0.0, 1.0)).all():
        raise ExperimentError("binary outcomes must be 0/1 (false/true); record numeric ones as a numeric experiment")
    summaries = (_arm(arms[0], values[~in_b], kind, rule.alpha), _arm(arms[1], values[in_b], kind, rule.alpha))
    difference = summaries[1].mean - summaries[0].mean
    if summaries[0].n < 2 or summaries[1].n < 2:
        return ExperimentAnalysis(
            kind, summaries, difference, None, None, Decision.CONTINUE, rule.describe(), rule.alpha
        )
    # running sums of each arm at every outcome in arrival order (an arm's sums stay put on the other's outcomes)
    b_values, a_values = np.where(in_b, values, 0.0), np.where(in_b, 0.0, values)
    a = PrefixSums(np.cumsum(~in_b, dtype=np.float64), np.cumsum(a_values), np.cumsum(a_values**2))
    b = PrefixSums(np.cumsum(in_b, dtype=np.float64), np.cumsum(b_values), np.cumsum(b_values**2))
    path = sequential_path(a, b, kind, rule)
    decision = _DECISIONS[int(decide(path, a.n, b.n, rule)[-1])]
    last = PrefixSums(a.n[-1:], a.total[-1:], a.squares[-1:]), PrefixSums(b.n[-1:], b.total[-1:], b.squares[-1:])
    statistic, p_fixed = fixed_horizon_p(last[0], last[1], kind)
    # the interval of the difference: Wald for rates, Welch (Satterthwaite's degrees of freedom) for means
    var_a, var_b = summaries[0].std ** 2 / summaries[0].n, summaries[1].std ** 2 / summaries[1].n
    se = float(np.sqrt(var_a + var_b))
    if kind is OutcomeKind.BINARY:
        crit = float(stats.norm.ppf(1 - rule.alpha / 2))
        test = "two-proportion z test (pooled)"
    else:
        dof = (var_a + var_b) ** 2 / max(var_a**2 / (summaries[0].n - 1) + var_b**2 / (summaries[1].n - 1), _TINY)
        crit = float(stats.t.ppf(1 - rule.alpha / 2, dof))
        test = "Welch's t test"
    fixed = FixedHorizonTest(
        test, float(statistic[0]), float(p_fixed[0]), difference - crit * se, difference + crit * se
    )
    bounded = bool(np.isfinite(path.cs_low[-1]))
    sequential = SequentialTest(
        "mixture SPRT (always valid)",
        float(path.p_value[-1]),
        float(path.cs_low[-1]) if bounded else None,
        float(path.cs_high[-1]) if bounded else None,
        float(path.tau[-1]),
    )
    return ExperimentAnalysis(kind, summaries, difference, fixed, sequential, decision, rule.describe(), rule.alpha)
