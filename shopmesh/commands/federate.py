"""``shopmesh federate``: Flower rounds of LoRA fine-tuning on the simulation or the deployment engine."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from federation import FederatedResult, FederationConfig, run_federated_deployment, run_federated_simulation
from federation.config import DPMode, PartitionScheme, StrategyName, parse_run_config
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
        "--dp",
        choices=[m.value for m in DPMode],
        default="none",
        help="differential privacy with Flower's central-DP wrappers (clipping on the server or on each node)",
    )
    parser.add_argument("--dp-noise-multiplier", type=float, default=1.0, help="noise std / clipping norm")
    parser.add_argument("--dp-clipping-norm", type=float, default=1.0, help="L2 bound of one merchant's update")
    parser.add_argument("--dp-delta", type=float, default=1e-5, help="delta of the epsilon reported per merchant")
    parser.add_argument(
        "--dp-clipped-count-stddev",
        type=float,
        default=0.0,
        help="adaptive modes: noise of the clipped-update count (0 = Flower's default, nodes / 20)",
    )
    parser.add_argument(
        "--dp-max-epsilon",
        type=float,
        default=0.0,
        help="every merchant's budget (0 = none); a merchant leaves the rounds before it would exceed it",
    )
    parser.add_argument(
        "--secure-aggregation",
        action="store_true",
        help="aggregate with Flower's SecAgg+: each merchant uploads its adapters quantised and masked, so the "
        "server learns only their example-weighted sum (not one merchant's update); metrics and data fingerprints "
        "still travel in the clear. Runs with --strategy fedavg or fedprox and --dp none only: robust strategies "
        "need the individual updates, server-side DP clips them on the server",
    )
    parser.add_argument("--num-shares", type=int, default=3, help="SecAgg+: shares of each merchant's secrets")
    parser.add_argument(
        "--reconstruction-threshold",
        type=int,
        default=2,
        help="SecAgg+: shares that recover a dropped merchant's mask (below --num-shares)",
    )
    parser.add_argument(
        "--clipping-range",
        type=float,
        default=8.0,
        help="SecAgg+: every (examples / max-weight) x adapter value is clipped to +-this before quantising",
    )
    parser.add_argument(
        "--quantization-range", type=int, default=4_194_304, help="SecAgg+: integer levels across the clipping range"
    )
    parser.add_argument(
        "--max-weight", type=float, default=1000.0, help="SecAgg+: the most examples one merchant's update weighs"
    )
    parser.add_argument(
        "--personalise-epochs",
        type=int,
        default=0,
        help="after the rounds, each merchant trains its own adapter over the aggregate for this many epochs; "
        "published under its merchant for `shopmesh tenants adapter` (0 = none)",
    )
    parser.add_argument(
        "--tensorboard",
        type=Path,
        default=None,
        help="folder of the run's TensorBoard event files (default: federation/tensorboard/<time> in the workspace)",
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
    # Parsed back through the run-config parser so that every value is checked against its bounds here.
    config = FederationConfig(
        registry_dir=str(args.workspace.registry),
        base_version=args.base_version,
        num_server_rounds=args.rounds,
        local_epochs=args.local_epochs,
        min_nodes=args.nodes,
        strategy=StrategyName(args.strategy),
        partitioning=PartitionScheme(args.partitioning),
        dirichlet_alpha=args.dirichlet_alpha,
        dp=DPMode(args.dp),
        dp_noise_multiplier=args.dp_noise_multiplier,
        dp_clipping_norm=args.dp_clipping_norm,
        dp_delta=args.dp_delta,
        dp_clipped_count_stddev=args.dp_clipped_count_stddev,
        dp_max_epsilon=args.dp_max_epsilon,
        secure_aggregation=args.secure_aggregation,
        num_shares=args.num_shares,
        reconstruction_threshold=args.reconstruction_threshold,
        clipping_range=args.clipping_range,
        quantization_range=args.quantization_range,
        max_weight=args.max_weight,
        personalise_epochs=args.personalise_epochs,
        tensorboard_dir=str(
            args.tensorboard or args.workspace.federation / "tensorboard" / time.strftime("%Y%m%d-%H%M%S")
        ),
    )
    config = parse_run_config(config.to_run_config())
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
    shown = {**result.to_dict(), "plot": str(written) if written else None, "tensorboard": config.tensorboard_dir}
    print(json.dumps(shown, indent=2, default=str))
    return 0 if result.version_id else 1
