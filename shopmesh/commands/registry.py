"""``shopmesh registry``: look at the versions in the workspace's registry.

``shopmesh registry show intent:v0003`` prints the version's metrics and lineage and, for a version published by
a differentially private federated run, the per-merchant epsilon ledger as a table (``--json`` prints one
JSON object instead).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from ensemble.registry import Registry
from shopmesh.config import Workspace
from shopmesh.errors import CommandError

# Lineage details shown as their own table, not in the JSON dump of the rest.
_LEDGER_KEY = "privacy"
_ROUNDS_KEY = "round_metrics"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("registry", help="look at the registry's versions")
    group = parser.add_subparsers(dest="registry_command", required=True, metavar="REGISTRY_COMMAND")
    show = group.add_parser("show", help="a version's metrics, lineage and privacy ledger")
    show.add_argument("version", help="a version id MEMBER:VERSION, e.g. intent:v0003 or intent:latest")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.add_argument("--rounds", action="store_true", help="include the federated run's per-round records")
    show.set_defaults(handler=run_show)


def _split(version_id: str) -> tuple[str, str]:
    member, sep, version = version_id.partition(":")
    if not sep or not member or not version:
        raise CommandError(
            f"version {version_id!r} does not name its member; write MEMBER:VERSION, e.g. intent:v0003 or intent:latest"
        )
    return member, version


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(_cell(item) for item in value) or "-"
    if isinstance(value, Mapping):
        return "; ".join(f"round {key}: {why}" for key, why in value.items()) or "-"
    return str(value)


def ledger_table(privacy: Mapping[str, Any]) -> str:
    """The per-merchant epsilon ledger as aligned plain-text columns."""
    header = ["merchant", "epsilon", "delta", "max epsilon", "rounds", "eligible", "sigma", "clip norm", "left out"]
    rows = [header]
    for node, entry in privacy.get("merchants", {}).items():
        rows.append(
            [
                node,
                _cell(entry.get("epsilon")),
                _cell(entry.get("delta")),
                _cell(entry.get("max_epsilon")),
                _cell(entry.get("rounds")),
                _cell(entry.get("rounds_eligible")),
                _cell(entry.get("noise_multiplier")),
                _cell(sorted(set(entry.get("clipping_norm", [])))),
                _cell(entry.get("excluded")),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        lines.append("  ".join([*padded, row[-1]]).rstrip())
    return "\n".join(lines)


def run_show(args: argparse.Namespace) -> int:
    workspace: Workspace = args.workspace
    member, version = _split(args.version)
    artifact = Registry(workspace.registry).load(member, version)
    lineage = artifact.lineage.to_dict()
    details = dict(lineage["details"])
    privacy = details.pop(_LEDGER_KEY, None)
    rounds = details.pop(_ROUNDS_KEY, None)
    if args.json:
        full = artifact.lineage.to_dict()
        if not args.rounds:
            full["details"].pop(_ROUNDS_KEY, None)
        shown: dict[str, Any] = {
            "version": artifact.version.id,
            "created_at": artifact.version.created_at,
            "path": str(artifact.path),
            "metrics": artifact.metrics,
            "lineage": full,
        }
        print(json.dumps(shown, indent=2, sort_keys=True))
        return 0
    print(f"version     {artifact.version.id}")
    print(f"created at  {artifact.version.created_at}")
    print(f"path        {artifact.path}")
    print("metrics")
    for name, value in sorted(artifact.metrics.items()):
        print(f"  {name}: {_cell(value)}")
    print("lineage")
    for name in ("parent", "method", "data_fingerprint", "created_at"):
        print(f"  {name}: {_cell(lineage[name])}")
    if details:
        print("  details: " + json.dumps(details, indent=2, sort_keys=True).replace("\n", "\n  "))
    if rounds is not None and args.rounds:
        print("  round_metrics: " + json.dumps(rounds, indent=2, sort_keys=True).replace("\n", "\n  "))
    if privacy is not None:
        settings = {key: value for key, value in privacy.items() if key != "merchants"}
        print("privacy: " + ", ".join(f"{key}={_cell(value)}" for key, value in sorted(settings.items())))
        print(ledger_table(privacy))
    return 0
