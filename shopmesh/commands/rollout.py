"""``shopmesh rollout MEMBER [VERSION]`` and ``shopmesh rollback MEMBER``: change the version a member of a
running cluster serves, without restarting its replicas, from any process that reaches the cluster.
``shopmesh rollout intent VERSION --canary PERCENT`` (or ``--shadow``) serves the version beside the live one
until ``shopmesh promote intent`` or ``shopmesh abort intent``."""

from __future__ import annotations

import argparse

import cluster
from cluster import CandidateEnd, RolloutMember, RolloutResult, ray_address_from_env
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
    side = parser.add_mutually_exclusive_group()
    side.add_argument(
        "--canary",
        type=int,
        metavar="PERCENT",
        default=None,
        help="intent only: serve the version beside the live one to PERCENT (1-99) of customers or sessions, "
        "sticky by a hash, until `shopmesh promote intent` or `shopmesh abort intent`",
    )
    side.add_argument(
        "--shadow",
        action="store_true",
        help="intent only: answer a copy of all traffic with the version in the background and log it beside "
        "the live answer (never returned), until `promote` or `abort`",
    )
    _address_argument(parser)
    parser.set_defaults(handler=run_rollout)
    back = sub.add_parser("rollback", help="serve the version a member served before its last rollout")
    back.add_argument("member", choices=MEMBERS, help="the member to roll back")
    _address_argument(back)
    back.set_defaults(handler=run_rollback)
    for name, handler, help_text in (
        ("promote", run_promote, "make the canary or shadow of a member its live version"),
        ("abort", run_abort, "stop serving the canary or shadow of a member"),
    ):
        end = sub.add_parser(name, help=help_text)
        end.add_argument("member", choices=[RolloutMember.INTENT.value], help="the member with a canary or shadow")
        _address_argument(end)
        end.set_defaults(handler=handler)


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
    if args.canary is not None and not 1 <= args.canary <= 99:
        raise CommandError(f"--canary is a percentage of traffic in 1..99, got {args.canary}")
    result = cluster.rollout(
        _address(args),
        args.member,
        args.version,
        app_name=args.app_name,
        timeout_s=args.timeout,
        canary=args.canary,
        shadow=args.shadow,
    )
    if args.canary is not None:
        print(
            f"canary: {result.member} {result.version} answers {args.canary} % of customers beside "
            f"{result.previous} on {result.replicas} replica(s) of {result.deployment}; end it with "
            f"`shopmesh promote {result.member}` or `shopmesh abort {result.member}`"
        )
        return 0
    if args.shadow:
        print(
            f"shadow: {result.member} {result.version} answers a copy of the traffic beside {result.previous} on "
            f"{result.replicas} replica(s) of {result.deployment} (logged, never returned); end it with "
            f"`shopmesh promote {result.member}` or `shopmesh abort {result.member}`"
        )
        return 0
    return _say(result, "rolled out")


def _ended(end: CandidateEnd) -> None:
    if end.shadow is not None:
        print(end.shadow.describe())


def run_promote(args: argparse.Namespace) -> int:
    end = cluster.promote(_address(args), args.member, app_name=args.app_name, timeout_s=args.timeout)
    _ended(end)
    if end.promoted is None:
        raise CommandError(f"the {end.plan.mode} of {args.member} was not promoted")
    return _say(end.promoted, f"promoted {end.plan.mode}")


def run_abort(args: argparse.Namespace) -> int:
    end = cluster.abort(_address(args), args.member, app_name=args.app_name, timeout_s=args.timeout)
    _ended(end)
    print(f"aborted {end.plan.mode}: {args.member} {end.plan.version} no longer serves; the live version answers all")
    return 0


def run_rollback(args: argparse.Namespace) -> int:
    result = cluster.rollback(_address(args), args.member, app_name=args.app_name, timeout_s=args.timeout)
    return _say(result, "rolled back")
