"""Bayesian linear regression of log units on price features with a Normal-inverse-gamma prior, one per
brand, with an intercept per store.

Features of one observation (store s, price p, reference price r, context deal/feat, centred competitor log
price index c)::

    [onehot(s), lp, deal*lp, feat*lp, deal, feat, c]   with lp = log(p / r)

so the own-price elasticity in a context is ``b_lp + b_deal_lp deal + b_feat_lp feat``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ensemble.errors import UnknownPricingKeyError

__all__ = ["N_SLOPES", "DemandPosterior", "PriorConfig"]

FloatArray = NDArray[np.float64]
N_SLOPES = 6


@dataclass(frozen=True)
class PriorConfig:
    """Prior: slopes ~ N(mean, noise_var / slope_precision), intercepts nearly flat; the noise variance
    ~ InvGamma(a, b) with mean ``b / (a - 1)``. The elasticity prior mean of -2 is a generic grocery
    prior, not fitted on the data the policy is scored on."""

    elasticity_mean: float = -2.0
    slope_precision: float = 0.05
    intercept_mean: float = 9.0
    intercept_precision: float = 1e-4
    noise_a: float = 2.0
    noise_b: float = 0.1


class DemandPosterior:
    """Normal-inverse-gamma posterior of one brand's log-linear demand across its stores."""

    def __init__(self, stores: Sequence[int], prior: PriorConfig | None = None) -> None:
        self.prior = prior or PriorConfig()
        self.stores = {int(s): i for i, s in enumerate(stores)}
        dim = len(self.stores) + N_SLOPES
        self.mean0 = np.zeros(dim)
        self.mean0[: len(self.stores)] = self.prior.intercept_mean
        self.mean0[len(self.stores)] = self.prior.elasticity_mean
        precision = np.full(dim, self.prior.slope_precision)
        precision[: len(self.stores)] = self.prior.intercept_precision
        self.precision0 = np.diag(precision)
        self._xtx = np.zeros((dim, dim))
        self._xty = np.zeros(dim)
        self._yty = 0.0
        self.n_obs = 0
        self._refresh()

    def store_index(self, stores: NDArray[np.int64]) -> NDArray[np.int64]:
        missing = [int(s) for s in stores if int(s) not in self.stores]
        if missing:
            raise UnknownPricingKeyError(
                f"store {missing[0]} is unknown to this brand's demand posterior; known stores: "
                f"{sorted(self.stores)[:10]}..."
            )
        return np.array([self.stores[int(s)] for s in stores], dtype=np.int64)

    def design(
        self, stores: NDArray[np.int64], lp: FloatArray, deal: FloatArray, feat: FloatArray, comp: FloatArray
    ) -> FloatArray:
        """Feature rows (n, n_stores + 6)."""
        rows = np.zeros((len(stores), len(self.stores) + N_SLOPES))
        rows[np.arange(len(stores)), self.store_index(stores)] = 1.0
        rows[:, len(self.stores) :] = np.stack([lp, deal * lp, feat * lp, deal, feat, comp], axis=1)
        return rows

    def update(self, design: FloatArray, log_units: FloatArray) -> None:
        """Add observations (rows of :meth:`design` and the observed log units)."""
        self._xtx += design.T @ design
        self._xty += design.T @ log_units
        self._yty += float(log_units @ log_units)
        self.n_obs += len(log_units)
        self._refresh()

    def _refresh(self) -> None:
        self.precision = self.precision0 + self._xtx
        self.cholesky = np.linalg.cholesky(self.precision)
        self.mean = np.linalg.solve(self.precision, self.precision0 @ self.mean0 + self._xty)
        self.a = self.prior.noise_a + self.n_obs / 2.0
        quad = self._yty + self.mean0 @ self.precision0 @ self.mean0 - self.mean @ self.precision @ self.mean
        self.b = self.prior.noise_b + 0.5 * max(float(quad), 0.0)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        """``n`` joint draws of the coefficients (n, dim): noise variance from its inverse gamma, then the
        coefficients given it."""
        noise_var = self.b / rng.gamma(self.a, 1.0, size=n)
        z = rng.standard_normal((len(self.mean), n))
        offsets = np.linalg.solve(self.cholesky.T, z).T  # (n, dim), covariance = precision^-1
        return np.asarray(self.mean + np.sqrt(noise_var)[:, None] * offsets, dtype=float)

    def noise_variance(self) -> float:
        """Posterior mean of the noise variance."""
        return self.b / (self.a - 1.0)
