"""``shopmesh kg``: build the product graph and query it from the command line."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from ensemble.datasets import default_grocery_catalogue, load_grocery_catalogue, load_online_retail
from knowledge_graph import ProductGraph, build_graph
from shopmesh.config import Workspace
from shopmesh.progress import ticking


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("kg", help="build and query the product knowledge graph")
    group = parser.add_subparsers(dest="kg_command", required=True, metavar="KG_COMMAND")

    build = group.add_parser(
        "build", help="build the graph from Online Retail order lines and the Grocery Store catalogue, and save it"
    )
    build.add_argument("--data", type=Path, default=None, help="order lines CSV (default: bundled Online Retail)")
    build.add_argument(
        "--catalogue",
        type=Path,
        default=None,
        help="the Grocery Store products.csv added as merchant grocery-store (default: the full catalogue in "
        "../shared/data when present, else the bundled subset)",
    )
    build.add_argument("--snapshot-top", type=int, default=500, help="products in the edge snapshot JSON")
    build.set_defaults(handler=run_build)

    facts = group.add_parser("facts", help="facts of a product named by stock code or free text")
    facts.add_argument("query", help="a stock code (e.g. 85123A) or words from a description")
    facts.add_argument("-k", type=int, default=3, help="candidates shown for free text")
    facts.set_defaults(handler=run_facts)

    related = group.add_parser("related", help="products that go with a product (co-purchases, category, department)")
    related.add_argument("query", help="a stock code (e.g. 85123A, gs-1) or words from a product name")
    related.add_argument("-k", type=int, default=5, help="related products shown")
    related.set_defaults(handler=run_related)

    recommend = group.add_parser("recommend", help="personalised recommendations for a customer")
    recommend.add_argument("customer_id", type=int)
    recommend.add_argument("-k", type=int, default=10)
    recommend.add_argument("--explain", action="store_true", help="say why each product is recommended")
    recommend.add_argument("--include-bought", action="store_true", help="keep products already bought")
    recommend.set_defaults(handler=run_recommend)

    stats = group.add_parser("stats", help="node and edge counts per kind")
    stats.set_defaults(handler=run_stats)


def _load(workspace: Workspace) -> ProductGraph:
    return ProductGraph.load(workspace.graph)


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def run_build(args: argparse.Namespace) -> int:
    workspace: Workspace = args.workspace
    start = time.perf_counter()
    catalogue_path: Path = args.catalogue or default_grocery_catalogue()
    catalogue = load_grocery_catalogue(catalogue_path)  # read first: a bad catalogue fails before the build
    with ticking("building the knowledge graph"):
        orders = load_online_retail(args.data)
        graph = build_graph(orders)
        graph.add_catalogue(catalogue)
    built = time.perf_counter() - start
    graph.save(workspace.graph)
    snapshot = graph.export_edge_snapshot(workspace.graph.parent / "edge-snapshot.json", top_n=args.snapshot_top)
    _print(
        {
            "order_lines": len(orders),
            "catalogue": str(catalogue_path),
            "catalogue_products": len(catalogue),
            "build_seconds": round(built, 2),
            "saved_to": str(workspace.graph),
            "edge_snapshot": str(snapshot),
            **graph.stats().to_dict(),
        }
    )
    return 0


def _product_code(graph: ProductGraph, query: str) -> str | None:
    """The stock code ``query`` is, as typed or upper-cased (``85123a``), or ``None``."""
    for code in (query.strip(), query.strip().upper()):
        if graph.has_product(code):
            return code
    return None


def run_facts(args: argparse.Namespace) -> int:
    graph = _load(args.workspace)
    code = _product_code(graph, args.query)
    if code is not None:
        _print(graph.facts(code).to_dict())
        return 0
    matches = graph.link(args.query, k=args.k)
    if not matches:
        _print(
            {
                "query": args.query,
                "matches": [],
                "hint": "no product matched; try a stock code or other words",
            }
        )
        return 1
    _print(
        {
            "query": args.query,
            "matches": [m.to_dict() for m in matches],
            "facts": graph.facts(matches[0].stock_code).to_dict(),
        }
    )
    return 0


def run_related(args: argparse.Namespace) -> int:
    graph = _load(args.workspace)
    code = _product_code(graph, args.query)
    if code is None:
        matches = graph.link(args.query, k=1)
        if not matches:
            _print({"query": args.query, "related": [], "hint": "no product matched; try a stock code or other words"})
            return 1
        code = matches[0].stock_code
    facts = graph.facts(code, top_k=0)
    items = [item.to_dict() for item in graph.related(code, k=args.k)]
    _print({"stock_code": code, "name": facts.name, "merchant": facts.merchant, "related": items})
    return 0


def run_recommend(args: argparse.Namespace) -> int:
    graph = _load(args.workspace)
    items = graph.recommend(args.customer_id, k=args.k, exclude_bought=not args.include_bought)
    rows = [item.to_dict() for item in items]
    if not args.explain:
        for row in rows:
            row.pop("explanation", None)
    _print({"customer_id": args.customer_id, "items": rows})
    return 0


def run_stats(args: argparse.Namespace) -> int:
    _print(_load(args.workspace).stats().to_dict())
    return 0
