"""Differential privacy of a run: Flower's central-DP wrappers around the configured strategy, and the guard
that keeps each merchant within its privacy budget.

Flower 1.42 has the DP wrappers for its Message API in ``flwr/serverapp/strategy/dp_fixed_clipping.py``
(``DifferentialPrivacyServerSideFixedClipping``, ``...ClientSideFixedClipping``) and
``dp_adaptive_clipping.py`` (``...ServerSideAdaptiveClipping``, ``...ClientSideAdaptiveClipping``), and the
client mods in ``flwr/clientapp/mod/centraldp_mods.py`` (``fixedclipping_mod``, ``adaptiveclipping_mod``);
the legacy ``flwr.server.strategy`` classes of the same names work on ``Parameters``/``FitRes`` and do not
apply here. The fixed-clipping wrappers accept an optional accountant, but only without sampling
amplification, with equal weights and one epsilon for the whole run; the adaptive ones have none. So the
epsilon per merchant is kept by :class:`federation.privacy.PrivacyLedger` and enforced by
:class:`PrivacyGuard`, which hides spent merchants from the strategy's node sampling.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.proto.node_pb2 import NodeInfo
from flwr.serverapp import Grid
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Strategy,
)
from flwr.supercore.run import Run

from federation.config import DPMode, FederationConfig
from federation.errors import FederationConfigError
from federation.privacy import PrivacyLedger, RoundRelease

__all__ = ["BUDGET_KEY", "EligibleGrid", "PrivacyGuard", "dp_wrapper", "sample_size"]

logger = logging.getLogger(__name__)

# The node-config key (and query-reply key) of a merchant's own epsilon budget.
BUDGET_KEY = "dp-max-epsilon"
_BUDGET_RECORD = "privacy"
_QUERY_TIMEOUT_S = 600.0

DPWrapper = (
    DifferentialPrivacyServerSideFixedClipping
    | DifferentialPrivacyClientSideFixedClipping
    | DifferentialPrivacyServerSideAdaptiveClipping
    | DifferentialPrivacyClientSideAdaptiveClipping
)


def sample_size(config: FederationConfig, available: int) -> int:
    """How many of ``available`` nodes Flower's FedAvg samples for training (its ``configure_train`` rule)."""
    return max(int(available * config.fraction_train), config.min_nodes)


def dp_wrapper(inner: Strategy, config: FederationConfig) -> DPWrapper:
    """Flower's DP wrapper for ``config.dp`` around ``inner`` (``config.dp`` must not be ``none``)."""
    if config.dp == DPMode.NONE:
        raise FederationConfigError('dp="none" has no DP wrapper; choose one of the DP modes')
    sampled = sample_size(config, config.min_nodes)
    sigma, clip = config.dp_noise_multiplier, config.dp_clipping_norm
    try:
        if config.dp == DPMode.SERVER_FIXED:
            return DifferentialPrivacyServerSideFixedClipping(inner, sigma, clip, sampled)
        if config.dp == DPMode.CLIENT_FIXED:
            return DifferentialPrivacyClientSideFixedClipping(inner, sigma, clip, sampled)
        adaptive_class = (
            DifferentialPrivacyServerSideAdaptiveClipping
            if config.dp == DPMode.SERVER_ADAPTIVE
            else DifferentialPrivacyClientSideAdaptiveClipping
        )
        return adaptive_class(
            inner,
            sigma,
            sampled,
            initial_clipping_norm=clip,
            target_clipped_quantile=config.dp_target_quantile,
            clip_norm_lr=config.dp_clip_norm_lr,
            clipped_count_stddev=config.dp_clipped_count_stddev or None,
        )
    except ValueError as err:
        raise FederationConfigError(f"Flower refused dp={config.dp.value!r} with these settings: {err}") from err


class EligibleGrid(Grid):
    """A view of a Grid that lists only the eligible nodes; everything else goes to the real Grid."""

    def __init__(self, grid: Grid, eligible: Iterable[int]) -> None:
        self._grid = grid
        self._eligible = frozenset(eligible)

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(self, *args, **kwargs):  # type: ignore[no-untyped-def]  # Flower's own signature
        return self._grid.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return [node for node in self._grid.get_node_ids() if node in self._eligible]

    def get_nodes(self) -> Iterable[NodeInfo]:
        return [info for info in self._grid.get_nodes() if info.node_id in self._eligible]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        return self._grid.send_and_receive(messages, timeout=timeout)


class PrivacyGuard:
    """Keeps the ledger of a DP run and decides, before each round, which merchants may still take part."""

    def __init__(self, config: FederationConfig, wrapper: DPWrapper) -> None:
        self.config = config
        self.wrapper = wrapper
        self.ledger = PrivacyLedger(config.dp_delta, config.dp_max_epsilon or None)
        self._eligible: dict[int, list[int]] = {}
        self._clipping_norm: dict[int, float] = {}
        self._unreported: dict[int, str] = {}  # node -> why its budget query failed

    def _wait_for_nodes(self, grid: Grid) -> list[int]:
        # As Flower's sample_nodes does: a round waits until min-nodes are connected.
        while len(nodes := list(grid.get_node_ids())) < self.config.min_nodes:
            logger.info("waiting for nodes: %s connected, %s needed", len(nodes), self.config.min_nodes)
            time.sleep(1)
        return nodes

    def learn_budgets(self, grid: Grid, nodes: Iterable[int]) -> None:
        """Ask every node the ledger has not met yet for its budget (``dp-max-epsilon`` in its node config)."""
        new = [node for node in nodes if not self.ledger.knows(node)]
        if not new:
            return
        questions = [
            Message(
                RecordDict({"config": ConfigRecord({BUDGET_KEY: self.config.dp_max_epsilon})}),
                dst_node_id=node,
                message_type=MessageType.QUERY,
            )
            for node in new
        ]
        answered: set[int] = set()
        for reply in grid.send_and_receive(questions, timeout=_QUERY_TIMEOUT_S):
            node = reply.metadata.src_node_id
            if reply.has_error():
                self._unreported[node] = str(reply.error.reason)
                logger.warning("node %s did not report its privacy budget: %s", node, reply.error.reason)
                continue
            if _BUDGET_RECORD not in reply.content.config_records:
                self._unreported[node] = f"its reply had no {_BUDGET_RECORD!r} record"
                logger.warning("node %s answered the budget query without a %r record", node, _BUDGET_RECORD)
                continue
            budget = reply.content.config_records[_BUDGET_RECORD][BUDGET_KEY]
            self.ledger.set_budget(node, float(budget) if isinstance(budget, int | float) else None)
            answered.add(node)
        logger.info(
            "privacy budgets: %s",
            {node: self.ledger.account(node).max_epsilon for node in sorted(answered)},
        )

    def prepare_round(self, server_round: int, grid: Grid) -> tuple[EligibleGrid | None, dict[int, str]]:
        """The grid the strategy may sample from this round (``None`` if too few merchants remain) and the
        merchants left out, each with the reason."""
        nodes = self._wait_for_nodes(grid)
        self.learn_budgets(grid, nodes)
        excluded: dict[int, str] = {}
        candidates = [node for node in nodes if self.ledger.knows(node)]
        for node in nodes:
            if node not in candidates:
                excluded[node] = "did not report its privacy budget: " + self._unreported.get(node, "no reply")
        sigma = self.config.dp_noise_multiplier
        # Leaving merchants out raises the sampling rate of the rest, so repeat until no one else would overspend.
        while len(candidates) >= self.config.min_nodes:
            rate = sample_size(self.config, len(candidates)) / len(candidates)
            over = [node for node in candidates if self.ledger.would_exceed(node, sigma, rate)]
            if not over:
                break
            for node in over:
                account = self.ledger.account(node)
                excluded[node] = (
                    f"privacy budget: epsilon would reach {self.ledger.epsilon_after(node, sigma, rate):.4g} "
                    f"> dp-max-epsilon {account.max_epsilon:g} (spent {account.epsilon:.4g})"
                )
            candidates = [node for node in candidates if node not in over]
        for node, reason in excluded.items():
            self.ledger.exclude(server_round, node, reason)
            logger.warning("round %s: node %s left out: %s", server_round, node, reason)
        if len(candidates) < self.config.min_nodes:
            return None, excluded
        # The noise std is sigma x C / sampled nodes: the wrapper must divide by this round's sample size.
        self.wrapper.num_sampled_clients = sample_size(self.config, len(candidates))
        self._eligible[server_round] = candidates
        self._clipping_norm[server_round] = float(self.wrapper.clipping_norm)
        return EligibleGrid(grid, candidates), excluded

    def after_train(self, server_round: int, participants: list[int], released: bool) -> dict[int, float]:
        """Charge the round's release to every eligible merchant; returns each one's epsilon after it."""
        eligible = self._eligible.pop(server_round, [])
        if not released or not eligible:
            return {}
        used = self._clipping_norm.pop(server_round)
        # The adaptive wrappers draw the noise with the norm they have just updated; when it shrank, the noise
        # is smaller than sigma x the norm the updates were clipped to, and the ledger counts that smaller sigma.
        shrink = min(1.0, float(self.wrapper.clipping_norm) / used)
        release = RoundRelease(
            round=server_round,
            noise_multiplier=self.config.dp_noise_multiplier * shrink,
            clipping_norm=used,
            sample_rate=sample_size(self.config, len(eligible)) / len(eligible),
        )
        return self.ledger.record_release(release, eligible, participants)
