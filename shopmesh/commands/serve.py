"""``shopmesh serve``: host the ensemble on Ray Serve from the workspace's registry and graph."""

from __future__ import annotations

import argparse
from pathlib import Path

import cluster
from cluster import ClusterConfig
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
        "--reply-model",
        type=Path,
        default=None,
        help="a local HF causal-LM directory to write replies (default: the registry's reply version, if any)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    workspace: Workspace = args.workspace
    if not workspace.graph.exists():
        raise CommandError(f"no knowledge graph in {workspace.graph}; run `shopmesh kg build` first")
    config = ClusterConfig(
        registry_dir=workspace.registry,
        graph_dir=workspace.graph,
        intent_version=args.version,
        host=args.host,
        port=args.port,
        replicas=args.replicas,
        reply_model_path=args.reply_model,
        ray_temp_dir=workspace.ray_tmp,
    )
    try:
        running = cluster.start(config)
        announcement = (
            f"serving on {running.url} (POST /v1/chat, /v1/recommend, /v1/forecast, /v1/price); Ctrl-C to stop"
        )
        print(f"received {wait_for_shutdown(announcement)}; stopping", flush=True)
    except KeyboardInterrupt:
        print("stopping", flush=True)
    finally:
        cluster.stop()
    return 0
