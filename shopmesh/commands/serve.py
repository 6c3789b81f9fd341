"""``shopmesh serve``: host the ensemble on Ray Serve from the workspace's registry and graph, on a local Ray or
on a running Ray cluster (``--address``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cluster
from cluster import ClusterConfig, Topology, public_routes, ray_address_from_env, serve_config_yaml, serving_from_env
from shopmesh.config import Workspace
from shopmesh.errors import CommandError
from shopmesh.signals import wait_for_shutdown


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="serve the ensemble over HTTP until Ctrl-C")
    parser.add_argument("--host", default="127.0.0.1", help="address the HTTP ingress binds to")
    parser.add_argument("--port", type=int, default=8000, help="port of the HTTP ingress")
    parser.add_argument("--version", default=None, help="intent version to serve (default: latest)")
    parser.add_argument("--replicas", type=int, default=1, help="replicas per deployment")
    parser.add_argument(
        "--address",
        default=None,
        help="a running Ray cluster to deploy onto: `auto` or the head's HOST:PORT (default: $RAY_ADDRESS, "
        "else a local Ray is started)",
    )
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray (ignored with --address)")
    parser.add_argument(
        "--dashboard-port",
        type=int,
        default=None,
        help="start Ray's dashboard with the local Ray on this port (e.g. 8265): it serves the Serve REST API that "
        "`shopmesh rollout` uses, and takes about 1.2 GiB of memory (default: no dashboard; ignored with --address)",
    )
    parser.add_argument(
        "--reply-model",
        type=Path,
        default=None,
        help="a local HF causal-LM directory to write replies (default: the registry's reply version, if any)",
    )
    parser.add_argument(
        "--serving",
        type=_serving_json,
        default=None,
        help="per-member serving options as JSON, e.g. "
        '\'{"intent": {"replicas": 2, "max_batch_size": 16}, "reply": {"resources": {"gpu_pool": 1}}}\' '
        "(default: $SHOPMESH_CLUSTER_SERVING)",
    )
    parser.add_argument(
        "--topology",
        choices=[t.value for t in Topology],
        default=Topology.COLOCATED.value,
        help="colocated: the chat chain's members (intent, graph, reply) in one deployment, one call per chat; "
        "composed: one deployment per member, each scaled on its own (default: colocated)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the Serve application config (for `serve deploy` / KubeRay) and exit",
    )
    parser.set_defaults(handler=run)


def _serving_json(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--serving must be a JSON object of per-member options: {err}") from err
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f"--serving must be a JSON object, got {value!r}")
    return parsed


def config_from_args(args: argparse.Namespace) -> ClusterConfig:
    """The cluster configuration these command-line settings describe (paths absolute)."""
    workspace: Workspace = args.workspace
    return ClusterConfig(
        registry_dir=workspace.registry.absolute(),
        graph_dir=workspace.graph.absolute(),
        intent_version=args.version,
        host=args.host,
        port=args.port,
        replicas=args.replicas,
        num_cpus=args.num_cpus,
        reply_model_path=args.reply_model.absolute() if args.reply_model else None,
        ray_temp_dir=workspace.ray_tmp,
        address=args.address or ray_address_from_env(),
        serving=args.serving if args.serving is not None else serving_from_env(),
        topology=Topology(args.topology),
        dashboard_port=args.dashboard_port,
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.print_config:
        print(serve_config_yaml(config), end="")
        return 0
    workspace: Workspace = args.workspace
    if not workspace.graph.exists():
        raise CommandError(f"no knowledge graph in {workspace.graph}; run `shopmesh kg build` first")
    try:
        running = cluster.start(config)
        where = f"the Ray cluster at {config.address}" if config.address else "a local Ray"
        announcement = f"serving on {running.url} on {where} ({', '.join(public_routes())}); Ctrl-C to stop"
        print(f"received {wait_for_shutdown(announcement)}; stopping", flush=True)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        cluster.stop(config)
    return 0
