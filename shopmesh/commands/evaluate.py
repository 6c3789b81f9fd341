"""``shopmesh eval``: evaluate a member on the bundled data or on a user's CSV; prints one JSON object."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ensemble.datasets import ColumnKind, read_csv_checked
from ensemble.intent_ensemble import EnsembleMode, evaluate_intent_ensemble
from ensemble.pricing import evaluate_pricing
from shopmesh.commands.evaluate_forecast import register_forecast
from shopmesh.commands.evaluate_recommend import register_recommend
from shopmesh.commands.predict import intent_ensemble_for
from shopmesh.commands.vision import register_eval_vision
from shopmesh.errors import CommandError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("eval", help="evaluate an ensemble member; prints one JSON object")
    group = parser.add_subparsers(dest="eval_target", required=True, metavar="MEMBER")
    register_recommend(group)

    register_forecast(group)

    register_eval_vision(group)

    pricing = group.add_parser("pricing", help="bandit pricing against baselines in the Dominick's simulator")
    pricing.add_argument("--weeks", type=int, default=80, help="simulated weeks")
    pricing.add_argument("--seed", type=int, default=0)
    pricing.add_argument("--plot", type=Path, default=None, help="regret curve PNG (default: in the workspace)")
    pricing.set_defaults(handler=run_pricing)

    intent = group.add_parser("intent", help="the intent ensemble: accuracy, macro-F1, ECE, out-of-scope detection")
    intent.add_argument("--data", type=Path, required=True, help="CSV of labelled messages")
    intent.add_argument("--text-col", default="text", help="column holding the message text")
    intent.add_argument("--label-col", default="intent", help="column holding the intent label")
    intent.add_argument("--oos-data", type=Path, default=None, help="CSV whose rows are all out of scope")
    intent.add_argument(
        "--mode", choices=[m.value for m in EnsembleMode], default=EnsembleMode.FUSION.value, help="ensemble mode"
    )
    intent.add_argument("--version", default=None, help="intent-ensemble version (default: latest)")
    intent.set_defaults(handler=run_intent)


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2, default=str))


def run_pricing(args: argparse.Namespace) -> int:
    if args.weeks < 1:
        raise CommandError(f"--weeks must be at least 1, got {args.weeks}")
    plot = args.plot or args.workspace.root / "pricing_regret.png"
    plot.parent.mkdir(parents=True, exist_ok=True)
    result = evaluate_pricing(weeks=args.weeks, seed=args.seed, plot_path=plot)
    result["plot"] = str(plot)
    _print(result)
    return 0


def run_intent(args: argparse.Namespace) -> int:
    frame = read_csv_checked(
        args.data, {args.text_col: ColumnKind.STR, args.label_col: ColumnKind.STR}, what="labelled messages CSV"
    )
    oos_texts = None
    if args.oos_data is not None:
        oos = read_csv_checked(args.oos_data, {args.text_col: ColumnKind.STR}, what="out-of-scope messages CSV")
        oos_texts = oos[args.text_col].astype(str).tolist()
    ensemble = intent_ensemble_for(args)
    result: dict[str, Any] = evaluate_intent_ensemble(
        ensemble,
        frame[args.text_col].astype(str).tolist(),
        frame[args.label_col].astype(str).tolist(),
        mode=args.mode,
        oos_texts=oos_texts,
    )
    result = {"version": ensemble.version, "mode": args.mode, **result}
    _print(result)
    return 0
