"""Versioned, pickle-free persistence of a product graph: parquet tables plus a JSON manifest of sha256
hashes.

Layout of a saved directory::

    manifest.json            format_version, schema_version, build config, {file: sha256}, counts
    nodes-<kind>.parquet     one table per NodeKind: id + attributes
    edges-<kind>.parquet     one table per EdgeKind: source, target + attributes
    lines.parquet            the prepared order lines (needed by add_orders)

A save writes a sibling temporary directory, then swaps it in by renames, so an existing save is never left
half-written. Loading rebuilds the NetworkX graph from the tables without recomputing any aggregate, reading
columns in bulk; the invoice ``contains`` edges (over half of all edges) are inserted on first need. A graph
saved with an older schema is upgraded as it is loaded (:mod:`knowledge_graph._upgrade`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from knowledge_graph._adjacency import column_dicts, gc_paused, insert_edges
from knowledge_graph._records import finish_lines
from knowledge_graph._upgrade import READABLE_SCHEMAS, saved_kinds, upgrade
from knowledge_graph._walk import WalkTables
from knowledge_graph.config import BuildConfig
from knowledge_graph.errors import GraphStoreError
from knowledge_graph.queries import product_facts
from knowledge_graph.schema import SCHEMA_VERSION, EdgeKind, NodeKind

logger = logging.getLogger(__name__)

FORMAT_VERSION: Final = 1
MANIFEST: Final = "manifest.json"
_TUPLE_ATTRS: Final = ("countries", "attributes")
_LINE_COLUMNS: Final = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json_atomic(data: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def save_graph(graph: nx.MultiDiGraph, lines: pd.DataFrame, config: BuildConfig, directory: Path) -> Path:
    """Save ``graph`` and its lines to ``directory`` (see the module docstring); returns the directory."""
    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.saving-", dir=directory.parent))
    try:
        nodes: dict[str, list[dict[str, Any]]] = {k.value: [] for k in NodeKind}
        for node, data in graph.nodes(data=True):
            nodes[data["kind"]].append({"id": node, **{k: v for k, v in data.items() if k != "kind"}})
        edges: dict[str, list[dict[str, Any]]] = {k.value: [] for k in EdgeKind}
        for u, v, key, data in graph.edges(keys=True, data=True):
            edges[key].append({"source": u, "target": v, **data})
        files: dict[str, str] = {}
        for prefix, tables in (("nodes", nodes), ("edges", edges)):
            for kind, rows in tables.items():
                name = f"{prefix}-{kind}.parquet"
                table = _table(rows) if rows else pa.table({"id": pa.array([], pa.string())})
                pq.write_table(table, staging / name)
                files[name] = _sha256(staging / name)
        lines[_LINE_COLUMNS].to_parquet(staging / "lines.parquet", index=False)
        files["lines.parquet"] = _sha256(staging / "lines.parquet")
        manifest = {
            "format_version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "config": config.to_dict(),
            "files": files,
            "counts": {
                "nodes": graph.number_of_nodes(),
                "edges": graph.number_of_edges(),
                "lines": len(lines),
            },
        }
        _write_json_atomic(manifest, staging / MANIFEST)
        if directory.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
            os.replace(directory, retired / "graph")
            os.replace(staging, directory)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("saved product graph to %s", directory)
    return directory


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    """Rows as a table with a column for every key any row has (missing values are nulls)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return pa.table({key: [row.get(key) for row in rows] for key in keys})


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a saved graph, checked for a supported format version."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise GraphStoreError(
            f"no saved graph at {directory}: {MANIFEST} is missing; save one with ProductGraph.save()"
        ) from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GraphStoreError(f"corrupt manifest {path}: {err}; save the graph again") from err
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        seen = manifest.get("format_version") if isinstance(manifest, dict) else manifest
        raise GraphStoreError(
            f"saved graph {directory} has format_version {seen!r}, this code reads {FORMAT_VERSION}; "
            "rebuild the graph and save it again"
        )
    if manifest.get("schema_version") not in READABLE_SCHEMAS:
        raise GraphStoreError(
            f"saved graph {directory} has schema_version {manifest.get('schema_version')!r}, this code reads "
            f"{' and '.join(map(str, READABLE_SCHEMAS))}; rebuild the graph from its order lines and save it "
            "again (`shopmesh kg build`)"
        )
    return manifest


class _LazyLines:
    """Reads the saved order lines on first use (only add_orders and ``ProductGraph.lines`` need them)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __call__(self) -> pd.DataFrame:
        try:
            return finish_lines(pd.read_parquet(self._path))
        except (pa.ArrowException, OSError) as err:
            raise GraphStoreError(f"could not read order lines {self._path}: {err}; save the graph again") from err


def load_graph(
    directory: Path,
) -> tuple[nx.MultiDiGraph, Callable[[], pd.DataFrame], BuildConfig, WalkTables, DeferredEdges]:
    """Load what :func:`save_graph` wrote, verifying every file's sha256 first.

    Tables are read column-wise and their edges written into the graph in bulk (see
    :mod:`knowledge_graph._adjacency`); the purchased and co_purchased tables are also returned as
    :class:`~knowledge_graph._walk.WalkTables` for the recommender. The ``contains`` edges are not inserted:
    the returned :class:`DeferredEdges` inserts them when called (``ProductGraph`` does so on first need).
    """
    started = time.perf_counter()
    manifest = read_manifest(directory)
    schema_version = int(manifest["schema_version"])
    node_kinds, edge_kinds = saved_kinds(schema_version)
    expected = {f"nodes-{k.value}.parquet" for k in node_kinds} | {f"edges-{k.value}.parquet" for k in edge_kinds}
    expected.add("lines.parquet")
    files: dict[str, str] = manifest.get("files", {})
    if set(files) != expected:
        raise GraphStoreError(
            f"manifest of {directory} lists {sorted(files)}, expected {sorted(expected)}; save the graph again"
        )
    for name, digest in files.items():
        path = directory / name
        if not path.is_file():
            raise GraphStoreError(f"saved graph {directory} lacks {name}; save the graph again")
        if _sha256(path) != digest:
            raise GraphStoreError(
                f"{path} does not match its sha256 in the manifest (file corrupt or changed); save the graph again"
            )
    try:
        with gc_paused():
            graph, tables = _read_tables(directory, node_kinds, edge_kinds)
            upgrade(graph, schema_version)
        lines = _LazyLines(directory / "lines.parquet")
        config = BuildConfig.from_dict(manifest["config"])
    except (pa.ArrowException, OSError, KeyError, TypeError, ValueError) as err:
        raise GraphStoreError(f"could not read saved graph {directory}: {err}; save the graph again") from err
    logger.info("loaded product graph from %s in %.1f s", directory, time.perf_counter() - started)
    return graph, lines, config, tables, DeferredEdges(directory / f"edges-{DEFERRED_KIND.value}.parquet")


def _read_tables(
    directory: Path, node_kinds: list[NodeKind], edge_kinds: list[EdgeKind]
) -> tuple[nx.MultiDiGraph, WalkTables]:
    """The graph and the recommender's tables from the parquet files of the given kinds of a saved graph."""
    graph = nx.MultiDiGraph(schema_version=SCHEMA_VERSION)
    for kind in node_kinds:
        columns = _columns(pq.read_table(directory / f"nodes-{kind.value}.parquet"))
        ids = columns.pop("id")
        for attr in _TUPLE_ATTRS:
            if attr in columns:
                columns[attr] = [tuple(v or ()) for v in columns[attr]]
        columns["kind"] = [kind] * len(ids)
        graph.add_nodes_from(zip(ids, column_dicts(columns, len(ids)), strict=True))
    walk: dict[EdgeKind, pa.Table] = {}
    for edge_kind in edge_kinds:
        if edge_kind == DEFERRED_KIND:
            continue
        table = pq.read_table(directory / f"edges-{edge_kind.value}.parquet")
        walk[edge_kind] = table
        _insert_table(graph, edge_kind, table)
    return graph, _walk_tables(walk[EdgeKind.PURCHASED], walk[EdgeKind.CO_PURCHASED])


DEFERRED_KIND: Final = EdgeKind.CONTAINS
"""The edge kind a loaded graph inserts only when first needed (over half of all edges: invoice lines)."""


def _insert_table(graph: nx.MultiDiGraph, kind: EdgeKind, table: pa.Table) -> None:
    if table.num_rows == 0:
        return
    columns = _columns(table)
    sources, targets = columns.pop("source"), columns.pop("target")
    insert_edges(graph, kind, sources, targets, column_dicts(columns, len(sources)))


class DeferredEdges:
    """The saved ``contains`` edges of a loaded graph: looked up per invoice from the parquet table, or
    inserted into the graph when called (see ``ProductGraph``)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._table: pa.Table | None = None
        self._rows: dict[str, tuple[int, int]] = {}
        self._order: np.ndarray[Any, np.dtype[np.int64]] = np.zeros(0, dtype=np.int64)

    def _read(self) -> pa.Table:
        if self._table is None:
            try:
                self._table = pq.read_table(self._path)
            except (pa.ArrowException, OSError) as err:
                raise GraphStoreError(f"could not read edges {self._path}: {err}; save the graph again") from err
            if self._table.num_rows:
                self._index(self._table)
        return self._table

    def _index(self, table: pa.Table) -> None:
        """Group the rows by source node: source → (start, stop) into a stable sort of the rows.

        The cyclic GC stays paused: these few allocations would otherwise trigger a full collection over the
        millions of graph objects just loaded.
        """
        with gc_paused():
            encoded = pc.dictionary_encode(table.column("source").combine_chunks())
            codes = encoded.indices.to_numpy()
            self._order = np.argsort(codes, kind="stable")
            sizes = np.bincount(codes, minlength=len(encoded.dictionary))
            stops = np.cumsum(sizes)
            starts = stops - sizes
            self._rows = dict(
                zip(encoded.dictionary.to_pylist(), zip(starts.tolist(), stops.tolist(), strict=True), strict=True)
            )

    def counts(self) -> dict[str, int]:
        """Number of deferred edges per kind (from the parquet footer)."""
        try:
            return {DEFERRED_KIND.value: pq.read_metadata(self._path).num_rows}
        except (pa.ArrowException, OSError) as err:
            raise GraphStoreError(f"could not read edges {self._path}: {err}; save the graph again") from err

    def out_edges(self, node: str) -> list[tuple[str, dict[str, Any]]]:
        """``(target, attributes)`` of the deferred edges leaving ``node``."""
        table = self._read()
        start, stop = self._rows.get(node, (0, 0))
        if start == stop:
            return []
        rows = table.take(pa.array(self._order[start:stop])).drop_columns(["source"]).to_pylist()
        return [(row.pop("target"), row) for row in rows]

    def __call__(self, graph: nx.MultiDiGraph) -> None:
        started = time.perf_counter()
        table = self._read()
        with gc_paused():
            _insert_table(graph, DEFERRED_KIND, table)
        self._table, self._rows = None, {}
        logger.info("inserted %s %s edges in %.1f s", table.num_rows, DEFERRED_KIND, time.perf_counter() - started)


def _columns(table: pa.Table) -> dict[str, list[Any]]:
    return {name: table.column(name).to_pylist() for name in table.column_names}


def _keys(table: pa.Table, column: str, prefix: str) -> pa.Array:
    """Raw keys of a column of node ids (``"product:85123A"`` → ``"85123A"``)."""
    return pc.utf8_slice_codeunits(table.column(column), len(prefix))


def _walk_tables(purchased: pa.Table, copurchased: pa.Table) -> WalkTables:
    """Saved purchased/co_purchased edges (node ids) as the recommender's tables (raw keys)."""
    purchases = pd.DataFrame(columns=["CustomerID", "StockCode", "n_orders", "last_date"])
    if purchased.num_rows:
        purchases = pd.DataFrame(
            {
                "CustomerID": pc.cast(_keys(purchased, "source", "customer:"), pa.int64()).to_numpy(),
                "StockCode": _keys(purchased, "target", "product:").to_pandas(),
                "n_orders": purchased.column("n_orders").to_pandas(),
                "last_date": purchased.column("last_date").to_pandas(),
            }
        )
    copurchases = pd.DataFrame(columns=["source", "target", "weight"])
    if copurchased.num_rows:
        copurchases = pd.DataFrame(
            {
                "source": _keys(copurchased, "source", "product:").to_pandas(),
                "target": _keys(copurchased, "target", "product:").to_pandas(),
                "weight": copurchased.column("weight").to_pandas(),
            }
        )
    return WalkTables(purchases, copurchases)


def export_edge_snapshot(graph: nx.MultiDiGraph, path: Path, top_n: int) -> Path:
    """Plain JSON of the ``top_n`` merchandise products with most orders: facts and co-purchase lists."""
    products = [
        (int(d["n_orders"]), d["key"])
        for _, d in graph.nodes(data=True)
        if d.get("kind") == NodeKind.PRODUCT and d.get("merchandise")
    ]
    products.sort(key=lambda t: (-t[0], t[1]))
    snapshot = {
        "format_version": FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "products": [product_facts(graph, code).to_dict() for _, code in products[:top_n]],
    }
    _write_json_atomic(snapshot, path)
    return path
