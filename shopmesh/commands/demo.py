"""``shopmesh demo``: the end-to-end main job on the embedded defaults."""

from __future__ import annotations

import argparse

from shopmesh.demo import DemoOptions, run_demo


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="run every tier end to end on the bundled data, then keep serving")
    parser.add_argument("--no-serve", action="store_true", help="shut down and exit 0 after the summary")
    parser.add_argument("--host", default="127.0.0.1", help="address the cluster's HTTP ingress binds to")
    parser.add_argument("--port", type=int, default=8000, help="port of the cluster's HTTP ingress")
    parser.add_argument("--nodes", type=int, default=3, help="merchants in the federated rounds (at least 2)")
    parser.add_argument("--rounds", type=int, default=2, help="federated rounds (at least 1)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.nodes < 2 or args.rounds < 1:
        parser_error = f"--nodes must be >= 2 and --rounds >= 1, got {args.nodes} and {args.rounds}"
        raise SystemExit(f"shopmesh demo: error: {parser_error}")
    options = DemoOptions(serve=not args.no_serve, host=args.host, port=args.port, nodes=args.nodes, rounds=args.rounds)
    return run_demo(args.workspace, options)
