"""``shopmesh federate``: Flower rounds of LoRA fine-tuning on the simulation or the deployment engine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from federation import FederatedResult, FederationConfig, run_federated_deployment, run_federated_simulation
from federation.config import PartitionScheme, StrategyName
from shopmesh.errors import CommandError
from shopmesh.plots import png_path, round_accuracy
from shopmesh.progress import RoundBar

ENGINES = ("simulation", "deployment")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("federate", help="run federated LoRA rounds of the intent member")
    parser.add_argument("--nodes", type=int, default=3, help="merchants, each with a disjoint part of the data")
    parser.add_argument("--rounds", type=int, default=2, help="server rounds")
    parser.add_argument("--base-version", default="", help="intent version to start from (default: latest)")
    parser.add_argument("--local-epochs", type=int, default=1, help="local epochs per round")
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="simulation",
        help="simulation: Flower's Ray simulation in a child process; deployment: a local flower-superlink "
        "with TLS and SuperNode authentication, one registered flower-supernode per merchant and `flwr run`",
    )
    parser.add_argument(
        "--strategy", choices=[s.value for s in StrategyName], default="fedavg", help="Flower's aggregation strategy"
    )
    parser.add_argument(
        "--partitioning",
        choices=[p.value for p in PartitionScheme],
        default="iid",
        help="how the data is split across merchants (natural: one merchant per Bitext category)",
    )
    parser.add_argument("--dirichlet-alpha", type=float, default=0.5, help="label skew of --partitioning dirichlet")
    parser.add_argument(
        "--insecure", action="store_true", help="deployment engine: no TLS and no SuperNode authentication"
    )
    parser.add_argument(
        "--superlink-port", type=int, default=None, help="deployment engine: the SuperLink's port (default: a free one)"
    )
    parser.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG of the validation accuracy per round (default: federation/round_accuracy.png in the workspace)",
    )
    parser.set_defaults(handler=run)


def write_round_plot(result: FederatedResult, out: Path) -> Path | None:
    """The accuracy-per-round figure of ``result``, or None (said on stderr) when no round reported one."""
    accuracy = result.round_accuracy()
    if not accuracy:
        print(f"no round reported a validation accuracy; {out} not written", file=sys.stderr)
        return None
    title = f"Federated rounds ({result.version_id or result.status}, {len(result.participants)} nodes)"
    return round_accuracy(accuracy, out, title=title)


def run(args: argparse.Namespace) -> int:
    if args.nodes < 1 or args.rounds < 1:
        raise CommandError(f"--nodes and --rounds must be at least 1, got {args.nodes} and {args.rounds}")
    config = FederationConfig(
        registry_dir=str(args.workspace.registry),
        base_version=args.base_version,
        num_server_rounds=args.rounds,
        local_epochs=args.local_epochs,
        min_nodes=args.nodes,
        strategy=StrategyName(args.strategy),
        partitioning=PartitionScheme(args.partitioning),
        dirichlet_alpha=args.dirichlet_alpha,
    )
    plot = png_path(args.plot, args.workspace.federation / "round_accuracy.png")
    with RoundBar(args.rounds) as rounds:
        if args.engine == "deployment":
            result = run_federated_deployment(
                config,
                args.nodes,
                work_dir=args.workspace.federation,
                superlink_port=args.superlink_port,
                insecure=args.insecure,
                progress=rounds,
            )
        else:
            result = run_federated_simulation(config, args.nodes, work_dir=args.workspace.federation, progress=rounds)
    written = write_round_plot(result, plot)
    print(json.dumps({**result.to_dict(), "plot": str(written) if written else None}, indent=2, default=str))
    return 0 if result.version_id else 1
