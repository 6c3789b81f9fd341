"""The child process of :func:`federation.simulation.run_federated_simulation`: Flower's Ray simulation.

Run as ``python -m federation._simulation_main --run-config FILE --num-nodes N``; the run config file is the
flat JSON mapping of :meth:`federation.config.FederationConfig.to_run_config`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from flwr.simulation import run_simulation

from federation.client_app import app as client_app
from federation.config import parse_run_config
from federation.server_app import build_server_app

__all__ = ["main"]

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ServerApp and ClientApp of this package on Flower's simulation runtime (Ray backend)."""
    parser = argparse.ArgumentParser(prog="python -m federation._simulation_main", description=__doc__)
    parser.add_argument("--run-config", type=Path, required=True, help="JSON file of the flat run config")
    parser.add_argument("--num-nodes", type=int, required=True, help="simulated SuperNodes")
    parser.add_argument("--cpus-per-node", type=float, default=1.0, help="Ray CPUs reserved per ClientApp")
    parser.add_argument("--total-cpus", type=int, default=2, help="CPUs Ray may use in all")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    # Flower's logger has its own console handler; propagating too would print every line twice.
    logging.getLogger("flwr").propagate = False
    config = parse_run_config(json.loads(args.run_config.read_text(encoding="utf-8")))
    backend_config = {
        "client_resources": {"num_cpus": args.cpus_per_node, "num_gpus": 0.0},
        "init_args": {"num_cpus": args.total_cpus, "logging_level": "ERROR", "log_to_driver": False},
    }
    logger.info("simulating %s nodes x %s rounds", args.num_nodes, config.num_server_rounds)
    run_simulation(
        server_app=build_server_app(config),
        client_app=client_app,
        num_supernodes=args.num_nodes,
        backend_config=backend_config,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
