from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from federation import FederationConfig, PartitionError
from federation.task import load_node_data, load_splits, partition_indices

LABELS = ["a"] * 10 + ["b"] * 7 + ["c"] * 5 + ["d"] * 1


@pytest.mark.parametrize("num_partitions", [1, 2, 3, 5])
def test_partitions_are_disjoint_and_cover_every_row(num_partitions: int) -> None:
    # Execute
    parts = [partition_indices(LABELS, num_partitions, p, seed=7) for p in range(num_partitions)]

    # Assert
    together = np.concatenate(parts)
    assert sorted(together.tolist()) == list(range(len(LABELS)))
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= 1


def test_each_partition_gets_its_share_of_every_label() -> None:
    # Execute
    parts = [partition_indices(LABELS, 2, p, seed=0) for p in range(2)]

    # Assert: a label with n rows lands floor(n/2) or ceil(n/2) times in each half
    for part in parts:
        counts = Counter(LABELS[i] for i in part)
        assert counts["a"] == 5
        assert counts["b"] in (3, 4)
        assert counts["c"] in (2, 3)


def test_partition_is_deterministic_for_a_seed_and_changes_with_it() -> None:
    # Execute
    first = partition_indices(LABELS, 3, 1, seed=1)
    again = partition_indices(LABELS, 3, 1, seed=1)
    other = partition_indices(LABELS, 3, 1, seed=2)

    # Assert
    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


@pytest.mark.parametrize(("partition_id", "num_partitions"), [(3, 3), (-1, 2), (0, 0)])
def test_bad_partition_ids_are_refused(partition_id: int, num_partitions: int) -> None:
    with pytest.raises(PartitionError, match=r"partition|num-partitions"):
        partition_indices(LABELS, num_partitions, partition_id, seed=0)


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


def test_max_train_examples_caps_each_partition() -> None:
    # Execute
    node = load_node_data(FederationConfig(max_train_examples=40), 1, 2)

    # Assert: the cap keeps a random sample, not a block of one intent
    assert len(node.train_texts) == 40
    assert len(set(node.train_labels)) > 5
