"""The experiment statistics against references (statsmodels, scipy, numerical integration of the mixture) and
by simulation with fixed seeds: peeking at the sequential test keeps the false-positive rate at most alpha,
peeking at the fixed-horizon test does not, and a real difference is found.

The simulated rates are judged by exact binomial (Clopper-Pearson) bounds over the runs, so a check passes by
luck with probability under 5 %: "false-positive rate <= alpha" is asserted as the one-sided 95 % upper bound of
the observed rate being <= alpha (a method whose true rate exceeds alpha passes with probability < 5 %), and
"power >= 0.8" / "rate > alpha" as the one-sided 95 % lower bound being above the threshold.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from cluster.errors import ExperimentError
from cluster.experiment_simulation import clopper_pearson, replay
from cluster.experiment_stats import (
    Decision,
    OutcomeKind,
    PrefixSums,
    StopRule,
    analyse,
    fixed_horizon_p,
    msprt_log_likelihood_ratio,
)

ALPHA = 0.05
RUNS = 1000  # experiments per simulation
PAIRS = 2000  # outcomes per arm at most
RULE = StopRule(alpha=ALPHA, min_samples=100, max_samples=PAIRS)


def _upper(successes: int, trials: int) -> float:
    return clopper_pearson(successes, trials, confidence=0.90)[1]  # the one-sided 95 % upper bound


def _lower(successes: int, trials: int) -> float:
    return clopper_pearson(successes, trials, confidence=0.90)[0]


def _sums(values: np.ndarray) -> PrefixSums:
    return PrefixSums(
        np.array([float(len(values))]), np.array([float(values.sum())]), np.array([float((values**2).sum())])
    )


def test_the_mixture_likelihood_ratio_equals_the_integral_over_the_normal_mixture() -> None:
    # Prepare: an estimated difference d ~ N(theta, V), theta ~ N(0, tau^2)
    for d, variance, tau2 in [(0.03, 4e-4, 0.01), (-0.2, 0.01, 0.04), (0.0, 1.0, 0.5)]:
        sd = np.sqrt(variance)

        def ratio(theta: float, d: float = d, sd: float = sd, tau2: float = tau2) -> float:
            return float(
                stats.norm.pdf(d, theta, sd) / stats.norm.pdf(d, 0.0, sd) * stats.norm.pdf(theta, 0, np.sqrt(tau2))
            )

        expected, _ = integrate.quad(ratio, -10 * np.sqrt(tau2), 10 * np.sqrt(tau2), points=[0.0, d])

        # Execute
        got = msprt_log_likelihood_ratio(np.array([d]), np.array([variance]), np.array([tau2]))

        # Assert
        assert np.exp(got[0]) == pytest.approx(expected, rel=1e-6)


def test_the_fixed_horizon_tests_match_statsmodels_and_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.random(400) < 0.30).astype(float), (rng.random(300) < 0.37).astype(float)
    z, p = fixed_horizon_p(_sums(a), _sums(b), OutcomeKind.BINARY)
    ref_z, ref_p = proportions_ztest([b.sum(), a.sum()], [len(b), len(a)])
    assert (z[0], p[0]) == pytest.approx((ref_z, ref_p), rel=1e-9)

    x, y = rng.lognormal(3.0, 1.0, 250), rng.lognormal(3.1, 1.2, 180)
    t, p = fixed_horizon_p(_sums(x), _sums(y), OutcomeKind.NUMERIC)
    reference = stats.ttest_ind(y, x, equal_var=False)
    assert (t[0], p[0]) == pytest.approx((reference.statistic, reference.pvalue), rel=1e-7)


def test_a_report_gives_wilson_intervals_and_both_tests() -> None:
    # Prepare: 600 outcomes alternating between the arms, B's rate higher
    rng = np.random.default_rng(1)
    in_b = np.arange(600) % 2 == 1
    values = (rng.random(600) < np.where(in_b, 0.6, 0.3)).astype(float)

    # Execute
    report = analyse(OutcomeKind.BINARY, in_b, values, StopRule(min_samples=50))

    # Assert
    a, b = report.arms
    assert (a.n, b.n) == (300, 300)
    assert a.successes == int(values[~in_b].sum())
    assert (a.ci_low, a.ci_high) == pytest.approx(proportion_confint(a.successes, 300, alpha=0.05, method="wilson"))
    assert report.difference == pytest.approx(values[in_b].mean() - values[~in_b].mean())
    assert report.fixed_horizon is not None and report.sequential is not None
    assert report.fixed_horizon.p_value < 1e-6
    assert report.sequential.p_value <= ALPHA
    assert report.sequential.cs_low is not None and report.sequential.cs_low > 0
    assert report.decision is Decision.B_BETTER
    assert "50 outcomes" in report.stop_rule


def test_the_rule_continues_below_the_minimum_and_settles_no_difference_by_mde_or_max() -> None:
    rng = np.random.default_rng(2)
    in_b = np.arange(4000) % 2 == 1
    values = rng.normal(10.0, 1.0, 4000)

    assert (
        analyse(OutcomeKind.NUMERIC, in_b[:100], values[:100], StopRule(min_samples=60)).decision is Decision.CONTINUE
    )
    assert analyse(OutcomeKind.NUMERIC, in_b, values, StopRule(min_samples=60)).decision is Decision.CONTINUE
    settled = analyse(OutcomeKind.NUMERIC, in_b, values, StopRule(min_samples=60, mde=0.3))
    assert settled.decision is Decision.NO_DIFFERENCE
    assert settled.sequential is not None and settled.sequential.cs_high is not None
    assert -0.3 < settled.sequential.cs_low < settled.sequential.cs_high < 0.3  # type: ignore[operator]
    capped = analyse(OutcomeKind.NUMERIC, in_b, values, StopRule(min_samples=60, max_samples=2000))
    assert capped.decision is Decision.NO_DIFFERENCE


def test_bad_rules_and_outcomes_are_refused_with_the_value() -> None:
    with pytest.raises(ExperimentError, match="alpha must be in"):
        StopRule(alpha=0.7)
    with pytest.raises(ExperimentError, match="max_samples \\(10\\)"):
        StopRule(min_samples=50, max_samples=10)
    with pytest.raises(ExperimentError, match="binary outcomes must be 0/1"):
        analyse(OutcomeKind.BINARY, np.array([True, False]), np.array([0.5, 1.0]), StopRule())


@pytest.fixture(scope="module")
def null_binary() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261202)
    return (rng.random((RUNS, PAIRS)) < 0.3).astype(float), (rng.random((RUNS, PAIRS)) < 0.3).astype(float)


def test_peeking_at_the_sequential_test_keeps_false_positives_at_most_alpha(
    null_binary: tuple[np.ndarray, np.ndarray],
) -> None:
    # Execute: checked after every pair of outcomes, 1,000 experiments with no difference
    result = replay(*null_binary, OutcomeKind.BINARY, RULE, peek_every=100)

    # Assert
    false_positives = result.sequential[Decision.B_BETTER] + result.sequential[Decision.A_BETTER]
    assert _upper(false_positives, RUNS) <= ALPHA, false_positives
    assert result.sequential[Decision.NO_DIFFERENCE] == RUNS - false_positives  # every other run hit max_samples


def test_peeking_at_the_fixed_horizon_test_exceeds_alpha_and_one_look_does_not(
    null_binary: tuple[np.ndarray, np.ndarray],
) -> None:
    result = replay(*null_binary, OutcomeKind.BINARY, RULE, peek_every=100)

    assert _lower(result.fixed_peeking_rejections, RUNS) > ALPHA, result.fixed_peeking_rejections  # 20 looks
    low, high = clopper_pearson(result.fixed_final_rejections, RUNS, confidence=0.99)
    assert low <= ALPHA <= high  # one planned look is calibrated


def test_peeking_at_the_sequential_test_on_skewed_numeric_outcomes_keeps_false_positives_at_most_alpha() -> None:
    # basket-value-like outcomes: log-normal, the same distribution in both arms
    rng = np.random.default_rng(7)
    a, b = rng.lognormal(3.0, 1.0, (RUNS, PAIRS)), rng.lognormal(3.0, 1.0, (RUNS, PAIRS))

    result = replay(a, b, OutcomeKind.NUMERIC, RULE, peek_every=100)

    false_positives = result.sequential[Decision.B_BETTER] + result.sequential[Decision.A_BETTER]
    assert _upper(false_positives, RUNS) <= ALPHA, false_positives
    assert _lower(result.fixed_peeking_rejections, RUNS) > ALPHA, result.fixed_peeking_rejections


def test_the_sequential_test_finds_a_real_difference_with_high_power() -> None:
    # Prepare: 30 % against 36 % (a standardised effect of 0.13)
    rng = np.random.default_rng(11)
    a, b = (rng.random((RUNS, PAIRS)) < 0.30).astype(float), (rng.random((RUNS, PAIRS)) < 0.36).astype(float)

    # Execute
    result = replay(a, b, OutcomeKind.BINARY, RULE, peek_every=100)

    # Assert
    assert _lower(result.sequential[Decision.B_BETTER], RUNS) >= 0.8, result.sequential
    assert result.sequential[Decision.A_BETTER] <= 2
    assert np.median(result.pairs_at(Decision.B_BETTER)) < PAIRS / 2  # it stops early, typically
