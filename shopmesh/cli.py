"""The ``shopmesh`` command line: one entry point, a sub-command per job.

Errors that the packages raise on purpose (bad data, unknown versions, tampered artifacts, ...) are shown as one
line on stderr with exit status 2; nothing else is caught here, so real bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from shopmesh.commands import (
    chat,
    demo,
    edge,
    evaluate,
    experiment,
    federate,
    federation,
    kg,
    predict,
    registry,
    rollout,
    serve,
    tenants,
    train,
)
from shopmesh.config import workspace_from
from shopmesh.errors import user_errors

Handler = Callable[[argparse.Namespace], int]

OUR_PACKAGES = ("knowledge_graph", "ensemble", "cluster", "federation", "edge", "shopmesh")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopmesh",
        description="An e-commerce AI ensemble across a Ray Serve cluster, Flower federation and ONNX edge devices.",
    )
    parser.add_argument("--home", default=None, help="workspace directory (default: $SHOPMESH_HOME or ./.shopmesh)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (
        demo,
        train,
        federate,
        federation,
        edge,
        serve,
        rollout,
        experiment,
        chat,
        evaluate,
        predict,
        kg,
        registry,
        tenants,
    ):
        module.register(sub)
    return parser


def _quiet_libraries(verbose: bool) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for package in OUR_PACKAGES:
        logging.getLogger(package).setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
            hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        except ImportError:
            pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet_libraries(args.verbose)
    args.workspace = workspace_from(args.home)
    handler: Handler = args.handler
    try:
        return handler(args)
    except user_errors() as err:
        print(f"shopmesh {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
