"""``shopmesh eval``: evaluate a member on the bundled data or on a user's CSV; prints one JSON object."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ensemble.datasets import ColumnKind, read_csv_checked
from ensemble.intent_ensemble import EnsembleMode, score_decisions
from ensemble.pricing import check_demand_model, evaluate_pricing, evaluate_pricing_seeds
from shopmesh.commands.evaluate_forecast import register_forecast
from shopmesh.commands.evaluate_recommend import register_recommend
from shopmesh.commands.predict import intent_ensemble_for
from shopmesh.commands.vision import register_eval_vision
from shopmesh.errors import CommandError
from shopmesh.plots import confusion_matrix_plot, png_path, pricing_regret
from shopmesh.progress import ticking

FloatArray = NDArray[np.float64]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("eval", help="evaluate an ensemble member; prints one JSON object")
    group = parser.add_subparsers(dest="eval_target", required=True, metavar="MEMBER")
    register_recommend(group)

    register_forecast(group)

    register_eval_vision(group)

    pricing = group.add_parser("pricing", help="bandit pricing against baselines in the Dominick's simulator")
    pricing.add_argument("--weeks", type=int, default=80, help="simulated weeks")
    pricing.add_argument("--seed", type=int, default=0, help="the seed of a single run (without --seeds)")
    pricing.add_argument(
        "--seeds", type=int, default=None, help="repeat over seeds 0..N-1 and give each share with a 95%% interval"
    )
    pricing.add_argument(
        "--competitor-reaction",
        type=float,
        default=0.0,
        help="0 = historical competitor prices; r in (0, 1] = competitors follow r x our last price move",
    )
    pricing.add_argument("--plot", type=Path, default=None, help="regret curve PNG (default: in the workspace)")
    pricing.set_defaults(handler=run_pricing)

    demand = group.add_parser(
        "demand", help="the pricing simulator's demand model on held-out stores and weeks, against simpler models"
    )
    demand.add_argument(
        "--calibration-share", type=float, default=0.5, help="share of the odd stores' weeks that calibrates levels"
    )
    demand.set_defaults(handler=run_demand)

    intent = group.add_parser("intent", help="the intent ensemble: accuracy, macro-F1, ECE, out-of-scope detection")
    intent.add_argument("--data", type=Path, required=True, help="CSV of labelled messages")
    intent.add_argument("--text-col", default="text", help="column holding the message text")
    intent.add_argument("--label-col", default="intent", help="column holding the intent label")
    intent.add_argument("--oos-data", type=Path, default=None, help="CSV whose rows are all out of scope")
    intent.add_argument(
        "--mode", choices=[m.value for m in EnsembleMode], default=EnsembleMode.FUSION.value, help="ensemble mode"
    )
    intent.add_argument("--version", default=None, help="intent-ensemble version (default: latest)")
    intent.add_argument(
        "--plot", type=Path, default=None, help="confusion matrix PNG (default: intent_confusion.png in the workspace)"
    )
    intent.set_defaults(handler=run_intent)


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result, indent=2, default=str))


def run_pricing(args: argparse.Namespace) -> int:
    if args.weeks < 1:
        raise CommandError(f"--weeks must be at least 1, got {args.weeks}")
    if not 0.0 <= args.competitor_reaction <= 1.0:
        raise CommandError(f"--competitor-reaction must be between 0 and 1, got {args.competitor_reaction}")
    if args.seeds is not None and args.seeds < 2:
        raise CommandError(f"--seeds must be at least 2 for an interval, got {args.seeds}; leave it out for one run")
    plot = png_path(args.plot, args.workspace.root / "pricing_regret.png")
    title = f"Pricing policies on Dominick's odd stores, competitor reaction {args.competitor_reaction:g}"

    def draw(weekly_profit: Mapping[str, FloatArray] | Sequence[Mapping[str, FloatArray]]) -> None:
        pricing_regret(weekly_profit, plot, title=title)

    if args.seeds is None:
        with ticking(f"simulating {args.weeks} weeks of pricing"):
            result = evaluate_pricing(
                weeks=args.weeks, seed=args.seed, on_weekly_profit=draw, competitor_reaction=args.competitor_reaction
            )
    else:
        with ticking(f"simulating {args.weeks} weeks of pricing for {args.seeds} seeds"):
            result = evaluate_pricing_seeds(
                seeds=args.seeds, weeks=args.weeks, competitor_reaction=args.competitor_reaction, on_weekly_profit=draw
            )
    result["plot"] = str(plot)
    _print(result)
    return 0


def run_demand(args: argparse.Namespace) -> int:
    if not 0.0 < args.calibration_share < 1.0:
        raise CommandError(f"--calibration-share must be strictly between 0 and 1, got {args.calibration_share}")
    _print(check_demand_model(calibration_share=args.calibration_share))
    return 0


def run_intent(args: argparse.Namespace) -> int:
    frame = read_csv_checked(
        args.data, {args.text_col: ColumnKind.STR, args.label_col: ColumnKind.STR}, what="labelled messages CSV"
    )
    oos_texts = None
    if args.oos_data is not None:
        oos = read_csv_checked(args.oos_data, {args.text_col: ColumnKind.STR}, what="out-of-scope messages CSV")
        oos_texts = oos[args.text_col].astype(str).tolist()
    texts = frame[args.text_col].astype(str).tolist()
    labels = frame[args.label_col].astype(str).tolist()
    if not texts:
        raise CommandError(f"{args.data} has no rows to evaluate; give a CSV with at least one labelled message")
    plot = png_path(args.plot, args.workspace.root / "intent_confusion.png")
    ensemble = intent_ensemble_for(args)
    with ticking(f"evaluating on {len(texts)} messages"):
        decisions = ensemble.predict(texts, args.mode)
        scores = score_decisions(ensemble, decisions, labels, mode=args.mode, oos_texts=oos_texts)
    confusion_matrix_plot(labels, [d.intent for d in decisions], plot, title=f"{ensemble.version}, {args.mode} mode")
    result: dict[str, Any] = {"version": ensemble.version, "mode": args.mode, **scores, "plot": str(plot)}
    _print(result)
    return 0
