"""``shopmesh train intent|reply|forecaster|pricer|vision``: train a member centrally and publish a registry version."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from ensemble.central import Trainer, train_intent_version
from ensemble.datasets import (
    ColumnKind,
    bundled_intent_splits,
    load_bitext,
    load_dominicks,
    load_online_retail,
    read_csv_checked,
    split_bitext,
)
from ensemble.forecasting.service import train_forecaster_version
from ensemble.intent_ensemble import build_intent_ensemble
from ensemble.members.intent_adapter import train_adapter
from ensemble.members.reply_artifact import train_reply_version
from ensemble.members.reply_training import ReplyTrainConfig, metrics_summary
from ensemble.merchants import merchant_name_problem
from ensemble.pricing.service import fit_pricing_version
from ensemble.registry import Registry
from ensemble.training import CENTRAL_FINE_TUNE, TrainConfig
from shopmesh.commands.vision import register_train_vision
from shopmesh.errors import CommandError
from shopmesh.progress import StepBar, ticking

REPLY_COLUMNS = {"instruction": ColumnKind.STR, "intent": ColumnKind.STR, "response": ColumnKind.STR}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("train", help="train an ensemble member and publish it to the registry")
    members = parser.add_subparsers(dest="member", required=True, metavar="MEMBER")
    intent = members.add_parser("intent", help="MiniLM + classification head on customer messages")
    intent.add_argument("--data", type=Path, default=None, help="a CSV of messages (default: bundled Bitext)")
    intent.add_argument("--text-col", default="instruction", help="column holding the message text")
    intent.add_argument("--label-col", default="intent", help="column holding the intent label")
    intent.add_argument(
        "--trainer",
        choices=[t.value for t in Trainer],
        default=Trainer.FINE_TUNE.value,
        help="fine-tune: encoder layers + head on style-augmented messages (minutes); head: frozen encoder (seconds)",
    )
    intent.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default 3)")
    intent.add_argument(
        "--merchant",
        default=None,
        help="train this merchant's LoRA adapter on --data over a base version instead of a new global version",
    )
    intent.add_argument(
        "--base", default=None, help="with --merchant: the intent version the adapter adapts (default: the latest)"
    )
    intent.set_defaults(handler=run_intent)
    reply = members.add_parser("reply", help="GPT-2 reply model conditioned on intent, facts and message")
    reply.add_argument(
        "--data", type=Path, default=None, help="a CSV with instruction,intent,response (default: bundled Bitext)"
    )
    reply.add_argument(
        "--max-seconds",
        type=float,
        default=ReplyTrainConfig().max_train_seconds,
        help="training time limit in seconds (evaluation comes on top)",
    )
    reply.add_argument("--epochs", type=int, default=ReplyTrainConfig().epochs, help="epochs at most")
    reply.add_argument(
        "--base-model", type=Path, default=None, help="a local HF causal-LM directory to fine-tune instead"
    )
    reply.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on 2 shared cores)")
    reply.set_defaults(handler=run_reply)
    forecaster = members.add_parser(
        "forecaster", help="member combination with conformal P10-P90 of weekly units (Online Retail)"
    )
    forecaster.add_argument("--data", type=Path, default=None, help="order lines CSV (default: bundled Online Retail)")
    forecaster.add_argument("--top-n", type=int, default=100, help="best-selling products the served forecaster models")
    forecaster.set_defaults(handler=run_forecaster)
    pricer = members.add_parser("pricer", help="demand model and Thompson-sampling pricer (Dominick's)")
    pricer.add_argument("--data", type=Path, default=None, help="orangeJuice_yx.csv.gz (default: the shared data dir)")
    pricer.set_defaults(handler=run_pricer)
    register_train_vision(members)


def run_intent(args: argparse.Namespace) -> int:
    if args.epochs is not None and args.epochs < 1:
        raise CommandError(f"--epochs must be at least 1, got {args.epochs}")
    if args.merchant is not None:
        return run_merchant_adapter(args)
    if args.base is not None:
        raise CommandError("--base names the base of a merchant's adapter; give --merchant M with it")
    if args.data is None:
        splits = bundled_intent_splits()
    else:
        frame = read_csv_checked(args.data, {args.text_col: ColumnKind.STR, args.label_col: ColumnKind.STR})
        splits = split_bitext(frame, label_col=args.label_col)
    registry = Registry(args.workspace.registry)
    cfg = None if args.epochs is None else dataclasses.replace(CENTRAL_FINE_TUNE, epochs=args.epochs)
    with StepBar("fine-tuning the intent member", unit="batch") as bar:
        result = train_intent_version(
            registry,
            splits,
            text_col=args.text_col,
            label_col=args.label_col,
            train_config=cfg,
            trainer=Trainer(args.trainer),
            data_name=str(args.data or "bitext-customer-support (bundled)"),
            on_step=bar,
        )
    # The ensemble (kNN, logistic regression, fusion, out-of-scope threshold) is rebuilt on the new version, so
    # every command that uses the latest version gets all its members.
    with ticking("building the intent ensemble"):
        ensemble = build_intent_ensemble(
            registry, result.version.id, splits, text_col=args.text_col, label_col=args.label_col
        )
    print(json.dumps({"version": result.version.id, "ensemble": ensemble.id, **result.metrics}, indent=2))
    return 0


def run_merchant_adapter(args: argparse.Namespace) -> int:
    problem = merchant_name_problem(args.merchant)
    if problem is not None:
        raise CommandError(problem)
    if args.data is None:
        raise CommandError("a merchant's adapter is trained on its own messages: give them with --data CSV")
    frame = read_csv_checked(args.data, {args.text_col: ColumnKind.STR, args.label_col: ColumnKind.STR})
    splits = split_bitext(frame, label_col=args.label_col)
    cfg = TrainConfig(epochs=args.epochs or 3)
    with StepBar(f"training the intent adapter of {args.merchant}", unit="batch") as bar:
        result = train_adapter(
            Registry(args.workspace.registry),
            args.merchant,
            splits,
            base=args.base,
            text_col=args.text_col,
            label_col=args.label_col,
            train_config=cfg,
            data_name=str(args.data),
            on_step=bar,
        )
    print(json.dumps({"version": result.version.id, "merchant": args.merchant, **result.metrics}, indent=2))
    print(f"serve it with: shopmesh tenants adapter {args.merchant} {result.version.id}")
    return 0


def run_reply(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    frame = load_bitext() if args.data is None else read_csv_checked(args.data, REPLY_COLUMNS)
    splits = split_bitext(frame)
    cfg = ReplyTrainConfig(
        max_train_seconds=args.max_seconds,
        epochs=args.epochs,
        base_model_path=str(args.base_model) if args.base_model else None,
    )
    data = str(args.data or "bitext-customer-support (bundled)")
    with StepBar("training the reply model", unit="batch") as bar:
        version, metrics = train_reply_version(Registry(args.workspace.registry), splits, cfg, data=data, on_step=bar)
    print(metrics_summary(metrics))
    print(json.dumps({"version": version.id, **metrics}, indent=2))
    return 0


def run_forecaster(args: argparse.Namespace) -> int:
    if args.top_n < 1:
        raise CommandError(f"--top-n must be at least 1, got {args.top_n}")
    registry = Registry(args.workspace.registry)
    with ticking(f"fitting the forecaster on the top {args.top_n} products"):
        version = train_forecaster_version(registry, load_online_retail(args.data), top_n=args.top_n)
    print(json.dumps({"version": version.id, **registry.load("forecaster", version.id).metrics}, indent=2, default=str))
    return 0


def run_pricer(args: argparse.Namespace) -> int:
    registry = Registry(args.workspace.registry)
    with ticking("fitting the demand model and the pricer"):
        version = fit_pricing_version(registry, load_dominicks(args.data))
    print(json.dumps({"version": version.id, **registry.load("pricer", version.id).metrics}, indent=2, default=str))
    return 0
