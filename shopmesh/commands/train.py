"""``shopmesh train intent``: train a member centrally and publish a registry version."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ensemble.central import train_intent_version
from ensemble.datasets import ColumnKind, load_bitext, read_csv_checked, split_bitext
from ensemble.registry import Registry


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("train", help="train an ensemble member and publish it to the registry")
    members = parser.add_subparsers(dest="member", required=True, metavar="MEMBER")
    intent = members.add_parser("intent", help="MiniLM + classification head on customer messages")
    intent.add_argument("--data", type=Path, default=None, help="a CSV of messages (default: bundled Bitext)")
    intent.add_argument("--text-col", default="instruction", help="column holding the message text")
    intent.add_argument("--label-col", default="intent", help="column holding the intent label")
    intent.set_defaults(handler=run_intent)


def run_intent(args: argparse.Namespace) -> int:
    if args.data is None:
        frame = load_bitext()
    else:
        frame = read_csv_checked(args.data, {args.text_col: ColumnKind.STR, args.label_col: ColumnKind.STR})
    splits = split_bitext(frame, label_col=args.label_col)
    result = train_intent_version(
        Registry(args.workspace.registry),
        splits,
        text_col=args.text_col,
        label_col=args.label_col,
        data_name=str(args.data or "bitext-customer-support (bundled)"),
    )
    print(json.dumps({"version": result.version.id, **result.metrics}, indent=2))
    return 0
