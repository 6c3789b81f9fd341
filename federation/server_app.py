"""The server side: a Flower ServerApp that aggregates LoRA adapters with the configured Flower strategy and
publishes the result.

The server resolves the base version once, makes the initial adapters with the run's seed (so every node
starts from identical tensors), runs ``num-server-rounds`` of the configured strategy
(:mod:`federation.strategies`, weighted by ``num-examples`` where it weights), then publishes the merged
model as a new intent version whose lineage names the base version, the strategy, the partitioning, the
rounds, the participants and their metrics. With ``secure-aggregation`` the rounds run under Flower's SecAgg+
instead (:mod:`federation.secure_aggregation`). With ``personalise-epochs`` every node then trains its merchant's own
adapter over the published aggregate, and each is published too (:mod:`federation.personalise`). A JSON summary
goes to ``summary-path`` when one is configured.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from flwr.app import ArrayRecord, ConfigRecord, Context
from flwr.serverapp import Grid, ServerApp

from federation.config import FederationConfig, parse_run_config
from federation.errors import RoundFailedError
from federation.personalise import Personalised, personalise_nodes
from federation.publish import contributed_examples, publish_aggregate
from federation.secure_aggregation import run_secure_federation
from federation.strategies import build_strategy
from federation.summary import FederatedResult, write_summary
from federation.task import base_state, initial_adapters, resolve_base_version
from federation.tensorboard import RoundBoard
from federation.traffic import array_record_bytes, full_model_bytes, traffic_summary

__all__ = ["app", "build_server_app", "run_federation"]

logger = logging.getLogger(__name__)

# Per-round wait for node replies; a node that takes longer counts as failed.
ROUND_TIMEOUT_S = 3600.0


def run_federation(grid: Grid, config: FederationConfig) -> FederatedResult:
    """Run every round on ``grid`` and publish the aggregate.

    Raises :class:`RoundFailedError` if a round has no successful node.
    """
    start = time.perf_counter()
    base_id = resolve_base_version(config)
    logger.info(
        "federated fine-tuning of %s: %s rounds of %s", base_id, config.num_server_rounds, config.strategy.value
    )
    node_config = ConfigRecord({**config.to_run_config(), "base-version": base_id})
    strategy = build_strategy(config)
    initial = initial_adapters(config, base_id)
    board = RoundBoard(Path(config.tensorboard_dir)) if config.tensorboard_dir else None
    strategy.on_round = board
    try:
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(initial),
            num_rounds=config.num_server_rounds,
            timeout=ROUND_TIMEOUT_S,
            train_config=node_config,
            evaluate_config=ConfigRecord(dict(node_config)),
        )
    finally:
        if board is not None:
            board.close()
    rounds = [strategy.rounds[r] for r in sorted(strategy.rounds)]
    if len(result.arrays) == 0:
        raise RoundFailedError(f"{config.num_server_rounds} round(s) ended without an aggregate; check the nodes' logs")
    traffic = traffic_summary(
        [record.traffic for record in rounds],
        full_model_bytes(base_state(config, base_id)),
        array_record_bytes(initial),
    )
    logger.info(
        "traffic: %.0f bytes per round, %.2f %% of a full fine-tune's",
        traffic["mean_bytes_per_round"],
        100 * traffic["ratio"],
    )
    privacy = None
    if strategy.privacy is not None:
        privacy = strategy.privacy.ledger.to_dict() | {
            "mode": config.dp.value,
            "flower_wrapper": type(strategy.inner).__name__,
            "noise_multiplier": config.dp_noise_multiplier,
            "clipping_norm": config.dp_clipping_norm,
        }
    version, metrics = publish_aggregate(
        config,
        base_id,
        result.arrays.to_torch_state_dict(),
        rounds,
        type(strategy.aggregator).__name__,
        traffic,
        privacy,
    )
    personal = (
        personalise_nodes(grid, config, base_id, version.id, result.arrays, node_config, ROUND_TIMEOUT_S)
        if config.personalise_epochs
        else Personalised()
    )
    examples = contributed_examples(rounds)
    return FederatedResult(
        status="published",
        version_id=version.id,
        base_version_id=base_id,
        rounds=[record.to_dict() for record in rounds],
        participants=sorted(examples),
        num_examples=sum(examples.values()),
        metrics=metrics,
        traffic=traffic,
        wall_seconds=time.perf_counter() - start,
        adapters=personal.adapters,
        personalisation_failures=personal.failures,
    )


def build_server_app(config: FederationConfig | None = None) -> ServerApp:
    """A ServerApp for ``config``; with ``None`` it reads the run config Flower gives it (``flwr run``)."""
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        settings = config if config is not None else parse_run_config(context.run_config)
        summary_path = Path(settings.summary_path) if settings.summary_path else None
        try:
            if settings.secure_aggregation:
                outcome = run_secure_federation(grid, context, settings)
            else:
                outcome = run_federation(grid, settings)
        except Exception as err:  # the ServerApp boundary: record the failure for the caller, then re-raise
            logger.exception("the federated run failed")
            if summary_path is not None:
                write_summary(
                    summary_path,
                    FederatedResult(
                        status="failed",
                        version_id=None,
                        base_version_id=None,
                        error=f"{type(err).__name__}: {err}",
                    ),
                )
            raise
        if summary_path is not None:
            write_summary(summary_path, outcome)

    return server_app


app = build_server_app()
