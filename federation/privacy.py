"""The per-merchant privacy ledger: the user-level epsilon each merchant has spent on the released aggregates.

Each round in which Flower's DP wrapper releases a noisy aggregate is one sampled Gaussian mechanism: every
update is clipped to ``C`` and the sum gets noise of std ``sigma x C``, and the round's nodes are drawn from the
eligible merchants at rate ``q = sampled / eligible``. For a merchant, every round in which it was eligible
(connected and within its budget) counts, whether or not it was drawn — that uncertainty is what the sampling
amplification rests on (McMahan et al. 2018, "Learning differentially private recurrent language models"). A
round in which it was left out, or in which nothing was released, costs it nothing. Opacus's
:class:`~opacus.accountants.RDPAccountant` composes the events (it assumes Poisson sampling; Flower draws a fixed
number of nodes without replacement, for which the Poisson analysis is the customary approximation) and turns
the Rényi bound into ``(epsilon, delta)``.

Training and evaluation metrics the nodes report are not noised and not counted here (as in Flower's own
accountant).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from opacus.accountants import RDPAccountant

from federation.errors import FederationConfigError

__all__ = ["MerchantAccount", "PrivacyLedger", "RoundRelease"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoundRelease:
    """One released aggregate: its round, noise multiplier, clipping norm and sampling rate."""

    round: int
    noise_multiplier: float
    clipping_norm: float
    sample_rate: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "round": self.round,
            "noise_multiplier": self.noise_multiplier,
            "clipping_norm": self.clipping_norm,
            "sample_rate": self.sample_rate,
        }


@dataclass
class MerchantAccount:
    """One merchant's side of the ledger."""

    node_id: int
    max_epsilon: float | None  # None = no budget
    releases: list[RoundRelease] = field(default_factory=list)  # rounds it was eligible in, with a release
    participated: list[int] = field(default_factory=list)  # rounds its update went into the aggregate
    excluded: dict[int, str] = field(default_factory=dict)  # round -> why it was left out
    epsilon: float = 0.0

    def accountant(self) -> RDPAccountant:
        """Opacus's RDP accountant with this merchant's releases composed."""
        accountant = RDPAccountant()
        for release in self.releases:
            accountant.step(noise_multiplier=release.noise_multiplier, sample_rate=release.sample_rate)
        return accountant


class PrivacyLedger:
    """Epsilon per merchant over the rounds of one run, at one ``delta``."""

    def __init__(self, delta: float, default_max_epsilon: float | None = None) -> None:
        if not 0 < delta < 1:
            raise FederationConfigError(f"dp-delta = {delta!r} must be in (0, 1); e.g. 1e-5")
        self.delta = delta
        self.default_max_epsilon = default_max_epsilon
        self.accounts: dict[int, MerchantAccount] = {}

    def account(self, node_id: int) -> MerchantAccount:
        """The merchant's account, opened with the default budget if it is new."""
        if node_id not in self.accounts:
            self.accounts[node_id] = MerchantAccount(node_id, self.default_max_epsilon)
        return self.accounts[node_id]

    def set_budget(self, node_id: int, max_epsilon: float | None) -> None:
        """Record the budget a merchant declared (``None`` or a non-positive value = no budget)."""
        self.account(node_id).max_epsilon = max_epsilon if max_epsilon is not None and max_epsilon > 0 else None

    def knows(self, node_id: int) -> bool:
        return node_id in self.accounts

    def epsilon_after(self, node_id: int, noise_multiplier: float, sample_rate: float) -> float:
        """The merchant's epsilon if one more release at (``noise_multiplier``, ``sample_rate``) counted for it."""
        accountant = self.account(node_id).accountant()
        accountant.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
        return float(accountant.get_epsilon(delta=self.delta))

    def would_exceed(self, node_id: int, noise_multiplier: float, sample_rate: float) -> bool:
        """Whether one more release would take the merchant past its budget."""
        budget = self.account(node_id).max_epsilon
        return budget is not None and self.epsilon_after(node_id, noise_multiplier, sample_rate) > budget

    def exclude(self, server_round: int, node_id: int, reason: str) -> None:
        self.account(node_id).excluded[server_round] = reason

    def record_release(
        self,
        release: RoundRelease,
        eligible: list[int],
        participants: list[int],
    ) -> dict[int, float]:
        """Compose ``release`` for every eligible merchant; returns each one's epsilon after it."""
        spent: dict[int, float] = {}
        for node in eligible:
            account = self.account(node)
            account.releases.append(release)
            if node in participants:
                account.participated.append(release.round)
            account.epsilon = float(account.accountant().get_epsilon(delta=self.delta))
            spent[node] = account.epsilon
        logger.info("round %s: epsilon per merchant at delta %g: %s", release.round, self.delta, spent)
        return spent

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written into lineage as ``details["privacy"]``."""
        return {
            "accountant": "opacus.RDPAccountant",
            "guarantee": "user-level (one merchant's whole data), sampled Gaussian mechanism per released round",
            "delta": self.delta,
            "merchants": {
                str(node): {
                    "epsilon": account.epsilon,
                    "delta": self.delta,
                    "max_epsilon": account.max_epsilon,
                    "rounds": account.participated,
                    "rounds_eligible": [release.round for release in account.releases],
                    "noise_multiplier": sorted({release.noise_multiplier for release in account.releases}),
                    "clipping_norm": [release.clipping_norm for release in account.releases],
                    "sample_rate": [release.sample_rate for release in account.releases],
                    "excluded": {str(r): why for r, why in sorted(account.excluded.items())},
                }
                for node, account in sorted(self.accounts.items())
            },
        }
