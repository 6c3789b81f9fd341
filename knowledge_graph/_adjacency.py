"""Bulk insertion of keyed edges into a ``networkx.MultiDiGraph``.

``MultiDiGraph.add_edges_from`` spends several microseconds per edge on argument checks, key lookups and
attribute-dict copies; the product graph adds about a million edges on every build and load. NetworkX documents
its adjacency layout (``G._succ[u][v]`` and ``G._pred[v][u]`` are one shared ``{key: attribute dict}``), so
:func:`insert_edges` writes that layout directly, with the same result as ``add_edges_from``: an existing edge
of the same key gets its attributes updated, missing end nodes are added, and NetworkX's cache is cleared.
Graphs of a subclass or with custom dict factories take ``add_edges_from`` instead.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from typing import Any

import networkx as nx


@contextmanager
def gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector while a graph is filled.

    Building or loading allocates about two million dicts that are never garbage; each allocation burst
    would otherwise trigger generation scans over every live container, which costs more than the inserts.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _plain(graph: nx.MultiDiGraph) -> bool:
    """Whether ``graph`` uses NetworkX's default dict-of-dicts layout (the only one written directly)."""
    return (
        type(graph) is nx.MultiDiGraph
        and graph.node_dict_factory is dict
        and graph.adjlist_outer_dict_factory is dict
        and graph.adjlist_inner_dict_factory is dict
        and graph.edge_key_dict_factory is dict
        and graph.edge_attr_dict_factory is dict
    )


def insert_edges(
    graph: nx.MultiDiGraph,
    key: str,
    sources: Sequence[str],
    targets: Sequence[str],
    attrs: Sequence[dict[str, Any]] | None = None,
) -> None:
    """Add the edges ``(sources[i], targets[i], key, attrs[i])`` exactly as ``add_edges_from`` would.

    The attribute dicts are stored as given (not copied): pass fresh dicts.
    """
    if len(sources) != len(targets) or (attrs is not None and len(attrs) != len(sources)):
        raise ValueError(
            f"edge columns differ in length: {len(sources)} sources, {len(targets)} targets, "
            f"{'no' if attrs is None else len(attrs)} attribute dicts; pass one entry per edge"
        )
    data: Sequence[dict[str, Any]] = attrs if attrs is not None else [{} for _ in sources]
    if not _plain(graph):
        graph.add_edges_from(zip(sources, targets, [key] * len(sources), data, strict=True))
        return
    known = graph._node
    missing = [n for n in dict.fromkeys(chain.from_iterable(zip(sources, targets, strict=True))) if n not in known]
    if missing:
        graph.add_nodes_from(missing)
    succ, pred = graph._succ, graph._pred
    for u, v, attr in zip(sources, targets, data, strict=True):
        out = succ[u]
        keydict = out.get(v)
        if keydict is None:
            keydict = {key: attr}
            out[v] = keydict
            pred[v][u] = keydict
        elif key in keydict:
            keydict[key].update(attr)
        else:
            keydict[key] = attr
    nx._clear_cache(graph)


def column_dicts(columns: dict[str, list[Any]], length: int) -> list[dict[str, Any]]:
    """One dict per row from equally long column lists (``{}`` per row when there are no columns)."""
    if not columns:
        return [{} for _ in range(length)]
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
