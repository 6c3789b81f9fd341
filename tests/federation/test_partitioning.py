from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from flwr.app import Context, RecordDict

from federation import FederationConfig, NodeTaskError, PartitionError
from federation.client_app import _own_data, _partition
from federation.config import PartitionScheme
from federation.partitions import PartitionSpec, partition_rows
from federation.task import load_node_data, load_splits

# 4 labels x 60 rows, with a merchant column of 3 real groups of different sizes
FRAME = pd.DataFrame(
    {
        "intent": [label for label in "abcd" for _ in range(60)],
        "merchant": ["north"] * 100 + ["south"] * 90 + ["west"] * 50,
    }
)


def _spec(scheme: PartitionScheme, num_partitions: int, *, seed: int = 0, alpha: float = 0.5) -> PartitionSpec:
    return PartitionSpec(scheme, num_partitions, seed, "intent", alpha=alpha, natural_id_column="merchant")


def _label_shares(rows: np.ndarray) -> np.ndarray:
    counts = Counter(FRAME["intent"].iloc[rows])
    return np.asarray([counts[label] for label in "abcd"], dtype=float) / len(rows)


@pytest.mark.parametrize(
    ("scheme", "num_partitions"),
    [(PartitionScheme.IID, 1), (PartitionScheme.IID, 4), (PartitionScheme.DIRICHLET, 3), (PartitionScheme.NATURAL, 3)],
)
def test_partitions_are_disjoint_and_cover_every_row(scheme: PartitionScheme, num_partitions: int) -> None:
    # Execute
    parts = [partition_rows(FRAME, _spec(scheme, num_partitions), p) for p in range(num_partitions)]

    # Assert
    together = np.concatenate(parts)
    assert sorted(together.tolist()) == list(range(len(FRAME)))


def test_iid_partitions_are_equal_sized_and_mix_every_label() -> None:
    # Execute
    parts = [partition_rows(FRAME, _spec(PartitionScheme.IID, 4), p) for p in range(4)]

    # Assert: 240 rows into 4 shards of 60, each holding every label
    assert [len(part) for part in parts] == [60, 60, 60, 60]
    assert all(set(FRAME["intent"].iloc[part]) == set("abcd") for part in parts)


def test_dirichlet_skews_the_label_mix_far_more_than_iid() -> None:
    # Prepare: the label shares of the whole frame are 1/4 each
    uniform = np.full(4, 0.25)

    # Execute
    iid = [partition_rows(FRAME, _spec(PartitionScheme.IID, 3), p) for p in range(3)]
    skewed = [partition_rows(FRAME, _spec(PartitionScheme.DIRICHLET, 3, alpha=0.1), p) for p in range(3)]

    # Assert: total-variation distance of each node's label mix from the global mix
    iid_tv = max(0.5 * np.abs(_label_shares(rows) - uniform).sum() for rows in iid)
    skewed_tv = max(0.5 * np.abs(_label_shares(rows) - uniform).sum() for rows in skewed)
    assert iid_tv < 0.15
    assert skewed_tv > 0.35
    assert skewed_tv > 3 * iid_tv


def test_natural_partitions_are_the_real_groups() -> None:
    # Execute: NaturalIdPartitioner numbers the groups in sorted order
    parts = [partition_rows(FRAME, _spec(PartitionScheme.NATURAL, 3), p) for p in range(3)]

    # Assert
    assert [set(FRAME["merchant"].iloc[part]) for part in parts] == [{"north"}, {"south"}, {"west"}]
    assert [len(part) for part in parts] == [100, 90, 50]


def test_natural_partitioning_names_the_group_count_when_the_node_count_differs() -> None:
    with pytest.raises(PartitionError, match=r"one node per value, 3 in all .*num-partitions = 2"):
        partition_rows(FRAME, _spec(PartitionScheme.NATURAL, 2), 0)
    with pytest.raises(PartitionError, match=r"no such column"):
        partition_rows(FRAME[["intent"]], _spec(PartitionScheme.NATURAL, 3), 0)


def test_partition_is_deterministic_for_a_seed_and_changes_with_it() -> None:
    # Execute
    first = partition_rows(FRAME, _spec(PartitionScheme.DIRICHLET, 3, seed=1), 1)
    again = partition_rows(FRAME, _spec(PartitionScheme.DIRICHLET, 3, seed=1), 1)
    other = partition_rows(FRAME, _spec(PartitionScheme.DIRICHLET, 3, seed=2), 1)

    # Assert
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


@pytest.mark.parametrize(("partition_id", "num_partitions"), [(3, 3), (-1, 2), (0, 0)])
def test_bad_partition_ids_are_refused(partition_id: int, num_partitions: int) -> None:
    with pytest.raises(PartitionError, match=r"partition|num-partitions"):
        partition_rows(FRAME, _spec(PartitionScheme.IID, num_partitions), partition_id)


def test_node_data_splits_the_bitext_train_and_validation_splits() -> None:
    # Prepare
    config = FederationConfig()
    train, val = load_splits("")

    # Execute
    nodes = [load_node_data(config, p, 3) for p in range(3)]

    # Assert
    assert sum(len(node.train_texts) for node in nodes) == len(train)
    assert sum(len(node.val_texts) for node in nodes) == len(val)
    train_texts = [text for node in nodes for text in node.train_texts]
    assert Counter(train_texts) == Counter(train["instruction"].tolist())
    assert len({node.fingerprint for node in nodes}) == 3


def test_a_node_with_its_own_file_uses_all_of_it_unsplit() -> None:
    # Prepare
    train, val = load_splits("")

    # Execute: the partition arguments are ignored for a node's own file
    node = load_node_data(FederationConfig(), 0, 1, own_data=True)
    other_id = load_node_data(FederationConfig(), 2, 5, own_data=True)

    # Assert
    assert Counter(node.train_texts) == Counter(train["instruction"].tolist())
    assert len(node.val_texts) == len(val)
    assert other_id.fingerprint == node.fingerprint


def test_max_train_examples_caps_each_partition() -> None:
    # Execute
    node = load_node_data(FederationConfig(max_train_examples=40), 1, 2)

    # Assert: the cap keeps a random sample, not a block of one intent
    assert len(node.train_texts) == 40
    assert len(set(node.train_labels)) > 5


@pytest.mark.parametrize(
    ("node_config", "expected"),
    [
        ({"data-path": "/srv/chats.csv"}, (True, (0, 1))),
        ({"data-path": "/srv/chats.csv", "partition-id": 1, "num-partitions": 3}, (False, (1, 3))),
        ({"partition-id": 2, "num-partitions": 4}, (False, (2, 4))),
    ],
)
def test_a_node_uses_its_own_file_whole_only_without_a_partition_id(
    node_config: dict[str, bool | float | int | str], expected: tuple[bool, tuple[int, int]]
) -> None:
    # Prepare
    context = Context(run_id=1, node_id=7, node_config=node_config, state=RecordDict(), run_config={})

    # Execute / Assert
    assert (_own_data(context), _partition(context)) == expected


def test_a_node_without_partition_or_own_file_is_told_how_to_start() -> None:
    context = Context(run_id=1, node_id=7, node_config={}, state=RecordDict(), run_config={})
    with pytest.raises(NodeTaskError, match=r'--node-config "partition-id=0 num-partitions=3"'):
        _partition(context)
