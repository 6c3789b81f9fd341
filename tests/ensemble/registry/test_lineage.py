from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from ensemble.errors import DataError, RegistryError
from ensemble.registry import Lineage, fingerprint_file, fingerprint_frame


def test_lineage_roundtrip() -> None:
    lineage = Lineage(
        parent="intent:v0002",
        data_fingerprint="sha256:abc",
        method="federated",
        details={"round": 3, "participants": ["m1", "m2"], "epsilon": 2.5},
    )

    restored = Lineage.from_dict(lineage.to_dict())

    assert restored == lineage


def test_lineage_rejects_unknown_method() -> None:
    with pytest.raises(RegistryError, match="unknown lineage method 'magic'"):
        Lineage(parent=None, data_fingerprint="x", method="magic")  # type: ignore[arg-type]


def test_lineage_rejects_a_parent_that_is_not_a_full_id() -> None:
    with pytest.raises(RegistryError, match="not a full version id"):
        Lineage(parent="v0002", data_fingerprint="x", method="central")


def test_lineage_from_incomplete_record() -> None:
    with pytest.raises(RegistryError, match="lacks the field 'method'"):
        Lineage.from_dict({"parent": None, "data_fingerprint": "x", "created_at": "t"})


def test_fingerprint_frame_is_stable_and_sensitive() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})

    same = fingerprint_frame(frame.copy())
    changed_value = frame.copy()
    changed_value.loc[1, "a"] = 5
    renamed = frame.rename(columns={"b": "c"})

    assert fingerprint_frame(frame) == same
    assert fingerprint_frame(frame).startswith("sha256:")
    assert fingerprint_frame(changed_value) != same
    assert fingerprint_frame(renamed) != same
    assert fingerprint_frame(frame.iloc[:2]) != same


def test_fingerprint_file_is_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"a,b\n1,2\n")

    assert fingerprint_file(path) == "sha256:" + hashlib.sha256(b"a,b\n1,2\n").hexdigest()


def test_fingerprint_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot fingerprint"):
        fingerprint_file(tmp_path / "absent.csv")
