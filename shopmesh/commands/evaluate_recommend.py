"""``shopmesh eval recommend``: every recommendation member and their fusion on Online Retail or a user's
interactions CSV; prints one JSON object. Registered on the ``eval`` group by :func:`register_recommend`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ensemble.datasets import ONLINE_RETAIL_CUTOFF
from ensemble.recommendation import (
    evaluate_recommenders,
    online_retail_interactions,
    plan_split,
    read_catalog_csv,
    read_interactions_csv,
)
from shopmesh.errors import CommandError
from shopmesh.progress import ticking

__all__ = ["register_recommend", "run_recommend"]

_DESCRIPTION = (
    "Fit popularity, item-kNN, BPR, graph (personalised PageRank) and content (MiniLM) recommenders and their "
    "weighted reciprocal-rank fusion, then print HR@10, NDCG@10, Recall@20 and catalogue coverage per member and "
    "for the fusion as one JSON object. Fusion weights are fitted on a validation window at the end of the "
    "training period (members refitted before it), never on the test window. Rankings cover every training "
    "item; items a user already bought are excluded, so the target is new items. The interactions CSV needs a "
    "user, an item and a time column (a date or a unix timestamp, detected); any other column, such as a "
    "rating, is ignored. Without --interactions the bundled Online Retail data is used (test from "
    f"{ONLINE_RETAIL_CUTOFF})."
)


def register_recommend(group: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``recommend`` to the ``eval`` sub-command group."""
    parser = group.add_parser(
        "recommend", help="recommendation members and their fusion on held-out time", description=_DESCRIPTION
    )
    parser.add_argument(
        "--interactions",
        type=Path,
        default=None,
        help="CSV of interactions, one row each (default: bundled Online Retail); a ratings column is ignored",
    )
    parser.add_argument("--user-col", default="user_id", help="user id column (default: user_id)")
    parser.add_argument("--item-col", default="item_id", help="item id column (default: item_id)")
    parser.add_argument(
        "--time-col", default="timestamp", help="time column: dates or unix timestamps (default: timestamp)"
    )
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--test-from", default=None, help="first date of the test window (e.g. 2011-11-01)")
    when.add_argument(
        "--test-fraction",
        type=float,
        default=None,
        help="share of the latest interactions held out for testing (default 0.2 for a CSV)",
    )
    parser.add_argument("--catalog", type=Path, default=None, help="CSV of item descriptions for the content member")
    parser.add_argument("--catalog-item-col", default="item_id", help="catalogue item id column (default: item_id)")
    parser.add_argument(
        "--catalog-text-col", default="description", help="catalogue description column (default: description)"
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="share of the latest training interactions used to fit the fusion weights (default: 0.2)",
    )
    parser.set_defaults(handler=run_recommend)


def run_recommend(args: argparse.Namespace) -> int:
    """Run the evaluation the options describe and print its JSON report."""
    if args.test_fraction is not None and not 0.0 < args.test_fraction < 1.0:
        raise CommandError(f"--test-fraction must be between 0 and 1, got {args.test_fraction}; use e.g. 0.2")
    if not 0.0 < args.validation_fraction < 1.0:
        raise CommandError(
            f"--validation-fraction must be between 0 and 1, got {args.validation_fraction}; use e.g. 0.2"
        )
    if args.interactions is None:
        interactions, catalog = online_retail_interactions()
        if args.test_fraction is None and args.test_from is None:
            args.test_from = ONLINE_RETAIL_CUTOFF
    else:
        interactions = read_interactions_csv(args.interactions, args.user_col, args.item_col, args.time_col)
        catalog = None
        if args.test_fraction is None and args.test_from is None:
            args.test_fraction = 0.2
    if args.catalog is not None:
        catalog = read_catalog_csv(args.catalog, args.catalog_item_col, args.catalog_text_col)
    split = plan_split(
        interactions,
        test_from=args.test_from,
        test_fraction=args.test_fraction,
        validation_fraction=args.validation_fraction,
    )
    with ticking("fitting and ranking with every recommender"):
        report = evaluate_recommenders(interactions, split, catalog)
    print(json.dumps(report.to_dict(), indent=2, default=str))
    return 0
