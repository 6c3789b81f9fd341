"""``shopmesh experiment start|stop|report|list``: A/B experiments of a cluster, on its state directory.

The commands work on the experiment store in the cluster's state directory, the file every ingress replica
reads on each request: a started experiment enrols the next request, a stopped one enrols none after it, and
a report needs no running cluster (outcomes stay in the file). That is simpler than an admin route and as
correct, since the store is the cluster's one source of experiment state; a multi-node cluster shares the
state directory (see :mod:`cluster.experiments`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cluster.experiment_definition import Experiment, ExperimentTarget
from cluster.experiment_stats import OutcomeKind, StopRule
from cluster.experiments import ExperimentStore
from shopmesh.commands.state_dir import add_state_dir_argument, state_dir_of


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("experiment", help="A/B experiments between two ensemble modes, with statistics")
    group = parser.add_subparsers(dest="experiment_command", required=True, metavar="ACTION")

    start = group.add_parser("start", help="start splitting a route's traffic between two modes")
    start.add_argument("name", help="the experiment's name (letters, digits, _ . -)")
    start.add_argument("--target", required=True, choices=[t.value for t in ExperimentTarget], help="the route")
    start.add_argument("--arms", required=True, help="arm A's and arm B's mode, e.g. serial,fusion")
    start.add_argument("--split", type=int, default=50, help="percentage of customers/sessions in arm B (default 50)")
    start.add_argument("--outcome", choices=[k.value for k in OutcomeKind], default="binary", help="default binary")
    start.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    start.add_argument("--min-samples", type=int, default=100, help="outcomes per arm before any decision")
    start.add_argument("--max-samples", type=int, default=None, help="outcomes per arm at which to call no difference")
    start.add_argument("--mde", type=float, default=None, help="smallest difference worth finding (outcome units)")
    add_state_dir_argument(start)
    start.set_defaults(handler=run_start)

    for action, handler, text in (
        ("stop", run_stop, "stop enrolling requests (outcomes of enrolled ones are still recorded)"),
        ("report", run_report, "per-arm counts, intervals, both tests and the decision"),
    ):
        one = group.add_parser(action, help=text)
        one.add_argument("name", help="the experiment's name")
        add_state_dir_argument(one)
        one.set_defaults(handler=handler)

    listing = group.add_parser("list", help="every experiment with its status and decision")
    add_state_dir_argument(listing)
    listing.set_defaults(handler=run_list)


def _store(args: argparse.Namespace) -> ExperimentStore:
    state_dir = state_dir_of(args)
    return ExperimentStore.in_state_dir(state_dir)


def _say(data: dict[str, Any]) -> int:
    print(json.dumps(data, indent=2, default=str))
    return 0


def run_start(args: argparse.Namespace) -> int:
    rule = StopRule(alpha=args.alpha, min_samples=args.min_samples, max_samples=args.max_samples, mde=args.mde)
    arms = [arm.strip() for arm in args.arms.split(",")]
    experiment = Experiment.define(args.name, args.target, arms, outcome=args.outcome, split=args.split, rule=rule)
    store = _store(args)
    store.start(experiment)
    return _say({**experiment.to_dict(), "stop_rule": rule.describe(), "store": str(store.path)})


def run_stop(args: argparse.Namespace) -> int:
    return _say(_store(args).stop(args.name).to_dict())


def run_report(args: argparse.Namespace) -> int:
    return _say(_store(args).report(args.name).to_dict())


def run_list(args: argparse.Namespace) -> int:
    store = _store(args)
    rows = []
    for experiment in store.list():
        report = store.report(experiment.name)
        rows.append(
            {
                "name": experiment.name,
                "target": experiment.target.value,
                "arms": [arm.name for arm in experiment.arms],
                "status": experiment.status.value,
                "exposures": list(report.exposures),
                "outcomes": [arm.n for arm in report.analysis.arms],
                "decision": report.analysis.decision.value,
            }
        )
    return _say({"experiments": rows})
