"""``shopmesh predict intent``: classify every message of a CSV with the intent ensemble and write the answers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ensemble.central import train_intent_version
from ensemble.datasets import ColumnKind, DataSplits, bundled_intent_splits, read_csv_checked
from ensemble.intent_ensemble import EnsembleMode, IntentEnsemble, ensure_intent_ensemble
from ensemble.registry import ModelVersion, Registry
from shopmesh.errors import CommandError
from shopmesh.progress import StepBar, ticking


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("predict", help="predict with an ensemble member on a CSV file")
    group = parser.add_subparsers(dest="predict_target", required=True, metavar="MEMBER")
    intent = group.add_parser("intent", help="intent, confidence and out-of-scope flag for every message")
    intent.add_argument("--data", type=Path, required=True, help="CSV of messages")
    intent.add_argument("--out", type=Path, required=True, help="CSV to write: text, intent, confidence, out_of_scope")
    intent.add_argument("--text-col", default="text", help="column holding the message text")
    intent.add_argument(
        "--mode", choices=[m.value for m in EnsembleMode], default=EnsembleMode.FUSION.value, help="ensemble mode"
    )
    intent.add_argument("--version", default=None, help="intent-ensemble version (default: latest)")
    intent.set_defaults(handler=run_intent)


def _bitext_splits() -> DataSplits:
    return bundled_intent_splits()


def _train_intent(registry: Registry, splits: DataSplits) -> ModelVersion:
    with StepBar("training an intent version first", unit="batch") as bar:
        return train_intent_version(registry, splits, on_step=bar).version


def intent_ensemble_for(args: argparse.Namespace) -> IntentEnsemble:
    """The ensemble ``--version`` names, else the latest; built (and an intent version trained) if none exists."""
    registry = Registry(args.workspace.registry)
    return ensure_intent_ensemble(registry, args.version, _bitext_splits, train_intent=_train_intent)


def run_intent(args: argparse.Namespace) -> int:
    frame = read_csv_checked(args.data, {args.text_col: ColumnKind.STR}, what="messages CSV")
    if not args.out.parent.is_dir():
        raise CommandError(f"cannot write {args.out}: folder {args.out.parent} does not exist; create it first")
    texts = frame[args.text_col].astype(str).tolist()
    ensemble = intent_ensemble_for(args)
    with ticking(f"classifying {len(texts)} messages"):
        decisions = ensemble.predict(texts, args.mode)
    result = pd.DataFrame(
        {
            "text": texts,
            "intent": [d.intent for d in decisions],
            "confidence": [round(d.confidence, 6) for d in decisions],
            "out_of_scope": [d.out_of_scope for d in decisions],
        }
    )
    try:
        result.to_csv(args.out, index=False)
    except OSError as err:
        raise CommandError(f"cannot write {args.out}: {err}; choose a writable path with --out") from err
    print(json.dumps({"out": str(args.out), "rows": len(result), "out_of_scope": int(result.out_of_scope.sum())}))
    return 0
