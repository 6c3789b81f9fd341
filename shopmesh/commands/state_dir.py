"""The ``--state-dir`` option of the commands that act on a cluster's state (keys, experiments, edge bundles)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cluster.config import default_state_dir

__all__ = ["add_state_dir_argument", "state_dir_of"]


def add_state_dir_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the cluster's state directory (default: the one `shopmesh serve` uses, cluster-state in the workspace)",
    )


def state_dir_of(args: argparse.Namespace) -> Path:
    """The state directory named by ``--state-dir``, else the one ``shopmesh serve`` uses for the workspace."""
    given: Path | None = args.state_dir
    return given if given is not None else default_state_dir(args.workspace.registry)
