"""``shopmesh rollout MEMBER [VERSION]`` and ``shopmesh rollback MEMBER``: change the version a member of a
running cluster serves, without restarting its replicas, from any process that reaches the cluster."""

from __future__ import annotations

import argparse

import cluster
from cluster import RolloutMember, RolloutResult, ray_address_from_env
from shopmesh.errors import CommandError

MEMBERS = [m.value for m in RolloutMember]


def _address_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        default=None,
        help="the running cluster: `auto` or the Ray head's HOST:PORT (as for `shopmesh serve --address`), or "
        "its dashboard's URL http://HOST:8265 (default: $RAY_ADDRESS, else auto)",
    )
    parser.add_argument("--app-name", default="shopmesh", help="the Serve application (default: shopmesh)")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for every replica to report (default: 300)"
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("rollout", help="serve another version of a member on a running cluster")
    parser.add_argument("member", choices=MEMBERS, help="the member to roll out")
    parser.add_argument(
        "version",
        nargs="?",
        default=None,
        help="the registry version (default: the newest); for the graph, a saved graph's directory",
    )
    _address_argument(parser)
    parser.set_defaults(handler=run_rollout)
    back = sub.add_parser("rollback", help="serve the version a member served before its last rollout")
    back.add_argument("member", choices=MEMBERS, help="the member to roll back")
    _address_argument(back)
    back.set_defaults(handler=run_rollback)


def _address(args: argparse.Namespace) -> str:
    address: str = args.address or ray_address_from_env() or "auto"
    if args.timeout <= 0:
        raise CommandError(f"--timeout must be > 0 seconds, got {args.timeout}")
    return address


def _say(result: RolloutResult, action: str) -> int:
    print(
        f"{action}: {result.member} {result.previous} -> {result.version} on {result.replicas} replica(s) of "
        f"{result.deployment}"
    )
    return 0


def run_rollout(args: argparse.Namespace) -> int:
    result = cluster.rollout(_address(args), args.member, args.version, app_name=args.app_name, timeout_s=args.timeout)
    return _say(result, "rolled out")


def run_rollback(args: argparse.Namespace) -> int:
    result = cluster.rollback(_address(args), args.member, app_name=args.app_name, timeout_s=args.timeout)
    return _say(result, "rolled back")
