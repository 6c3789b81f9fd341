"""Splitting the shared training data across nodes with flwr-datasets' partitioners.

The pandas frame of a split becomes a ``datasets.Dataset`` in memory (no hub download) holding the label,
the natural-id column and each row's position; the partitioner named by the run config picks this node's
rows: ``IidPartitioner`` over a seeded shuffle, ``DirichletPartitioner`` over the labels with ``alpha``, or
``NaturalIdPartitioner`` (one node per value of a column, such as a merchant id).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import datasets
import numpy as np
import pandas as pd
from flwr_datasets.partitioner import DirichletPartitioner, IidPartitioner, NaturalIdPartitioner, Partitioner

from federation.config import PartitionScheme
from federation.errors import PartitionError

__all__ = ["PartitionSpec", "partition_rows"]

logger = logging.getLogger(__name__)

_ROW = "__row__"
# DirichletPartitioner redraws until every partition holds this many rows (fewer when the data is small).
_DIRICHLET_MIN_ROWS = 10


@dataclass(frozen=True)
class PartitionSpec:
    """Which partitioner splits the data, and its parameters."""

    scheme: PartitionScheme
    num_partitions: int
    seed: int
    label_column: str
    alpha: float = 0.5
    natural_id_column: str = "category"


def _dataset(frame: pd.DataFrame, spec: PartitionSpec) -> datasets.Dataset:
    columns = [spec.label_column]
    if spec.scheme == PartitionScheme.NATURAL:
        if spec.natural_id_column not in frame.columns:
            raise PartitionError(
                f"natural partitioning by {spec.natural_id_column!r}, but the data has no such column; its "
                f"columns are {list(frame.columns)!r}. Set natural-id-column to the column naming each merchant"
            )
        columns.append(spec.natural_id_column)
    table = frame[list(dict.fromkeys(columns))].astype(str).reset_index(drop=True)
    table[_ROW] = np.arange(len(table))
    return datasets.Dataset.from_pandas(table, preserve_index=False)


def _partitioner(dataset: datasets.Dataset, spec: PartitionSpec) -> Partitioner:
    partitioner: Partitioner
    if spec.scheme == PartitionScheme.IID:
        partitioner = IidPartitioner(num_partitions=spec.num_partitions)
        dataset = dataset.shuffle(seed=spec.seed)  # IidPartitioner takes contiguous shards
    elif spec.scheme == PartitionScheme.DIRICHLET:
        partitioner = DirichletPartitioner(
            num_partitions=spec.num_partitions,
            partition_by=spec.label_column,
            alpha=spec.alpha,
            min_partition_size=min(_DIRICHLET_MIN_ROWS, len(dataset) // spec.num_partitions),
            self_balancing=False,
            shuffle=True,
            seed=spec.seed,
        )
    else:
        partitioner = NaturalIdPartitioner(partition_by=spec.natural_id_column)
    partitioner.dataset = dataset
    return partitioner


def partition_rows(frame: pd.DataFrame, spec: PartitionSpec, partition_id: int) -> np.ndarray:
    """Row positions (into ``frame``) of partition ``partition_id``, in a seeded random order.

    Partitions are disjoint and together cover every row. Raises :class:`PartitionError` for a bad id,
    a natural-id column with a different number of values than ``spec.num_partitions``, or data that the
    partitioner cannot split.
    """
    if spec.num_partitions < 1:
        raise PartitionError(f"num-partitions must be at least 1, got {spec.num_partitions}")
    if not 0 <= partition_id < spec.num_partitions:
        raise PartitionError(
            f"partition-id {partition_id} is outside [0, {spec.num_partitions - 1}]; "
            "give each node a distinct id below num-partitions"
        )
    partitioner = _partitioner(_dataset(frame, spec), spec)
    if spec.scheme == PartitionScheme.NATURAL and partitioner.num_partitions != spec.num_partitions:
        values = sorted(set(frame[spec.natural_id_column].astype(str)))
        raise PartitionError(
            f"natural partitioning by {spec.natural_id_column!r} makes one node per value, {len(values)} in all "
            f"({values[:12]}), but num-partitions = {spec.num_partitions}; start {len(values)} nodes or choose "
            "another partitioning"
        )
    try:
        rows = np.asarray(partitioner.load_partition(partition_id)[_ROW], dtype=np.int64)
    except ValueError as err:  # e.g. Dirichlet cannot give every partition its minimum size
        raise PartitionError(
            f"{spec.scheme.value} partitioning of {len(frame)} rows into {spec.num_partitions} failed: {err}; "
            "use fewer partitions, more data or a larger dirichlet-alpha"
        ) from err
    return rows[np.random.default_rng(spec.seed + partition_id).permutation(len(rows))]
