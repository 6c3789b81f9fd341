from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ensemble.errors import DataError
from ensemble.vision import bundled_grocery_dir, decode_photos, default_grocery_dir, load_grocery


def _copy_bundled(tmp_path: Path) -> Path:
    target = tmp_path / "grocery"
    shutil.copytree(bundled_grocery_dir(), target)
    return target


def test_bundled_subset_loads_with_fine_and_coarse_indices(bundled_labels: Path) -> None:
    data = load_grocery(labels=bundled_labels)
    assert data.catalogue.num_classes == 9
    assert data.splits() == ["test", "train", "val"]
    assert (len(data.split("train")), len(data.split("val")), len(data.split("test"))) == (36, 18, 18)
    apples = [data.catalogue.names.index("Golden-Delicious"), data.catalogue.names.index("Granny-Smith")]
    assert data.catalogue.fine_to_coarse[apples[0]] == data.catalogue.fine_to_coarse[apples[1]]
    assert all(path.is_file() for path in data.catalogue.iconic)


def test_decoded_photos_are_uint8_squares(bundled_labels: Path) -> None:
    images = decode_photos(load_grocery(labels=bundled_labels), "val", 32)
    assert images.pixels.shape == (18, 3, 32, 32)
    assert str(images.pixels.dtype) == "torch.uint8"
    assert images.fine.shape == images.coarse.shape == (18,)


def test_a_table_without_a_required_column_names_it(tmp_path: Path) -> None:
    root = _copy_bundled(tmp_path)
    labels = pd.read_csv(root / "images.csv").drop(columns=["coarse_id"])
    labels.to_csv(root / "images.csv", index=False)
    with pytest.raises(DataError, match="coarse_id"):
        load_grocery(labels=root / "images.csv")


def test_a_missing_photo_folder_says_what_to_pass(tmp_path: Path) -> None:
    root = _copy_bundled(tmp_path)
    with pytest.raises(DataError, match="--images"):
        load_grocery(tmp_path / "nowhere", root / "images.csv")


def test_a_class_missing_from_the_catalogue_is_named(tmp_path: Path) -> None:
    root = _copy_bundled(tmp_path)
    labels = pd.read_csv(root / "images.csv")
    labels.loc[0, "class_id"] = 77
    labels.to_csv(root / "images.csv", index=False)
    with pytest.raises(DataError, match=r"class_id \[77\]"):
        load_grocery(labels=root / "images.csv")


def test_a_coarse_id_that_contradicts_the_catalogue_is_refused(tmp_path: Path) -> None:
    root = _copy_bundled(tmp_path)
    labels = pd.read_csv(root / "images.csv")
    labels.loc[0, "coarse_id"] = 40
    labels.to_csv(root / "images.csv", index=False)
    with pytest.raises(DataError, match="coarse_id 40"):
        load_grocery(labels=root / "images.csv")


def test_a_photo_that_is_not_an_image_is_named(tmp_path: Path) -> None:
    root = _copy_bundled(tmp_path)
    first = pd.read_csv(root / "images.csv").query("split == 'val'")["path"].iloc[0]
    (root / "images" / first).write_bytes(b"not a jpeg")
    data = load_grocery(labels=root / "images.csv")
    with pytest.raises(DataError, match=Path(first).name):
        decode_photos(data, "val", 32)


def test_an_unknown_split_lists_the_splits_present(bundled_labels: Path) -> None:
    with pytest.raises(DataError, match=r"split 'holdout'.*\['test', 'train', 'val'\]"):
        decode_photos(load_grocery(labels=bundled_labels), "holdout", 32)


def test_full_set_has_the_documented_splits() -> None:
    root = default_grocery_dir()
    if not (root / "images.csv").is_file():
        pytest.skip(f"the full Grocery Store set is not at {root}; set SHOPMESH_SHARED_DATA to the shared data dir")
    data = load_grocery()
    assert (len(data.split("train")), len(data.split("val")), len(data.split("test"))) == (2640, 296, 2485)
    assert data.catalogue.num_classes == 81
    assert len(data.catalogue.coarse_ids) == data.labels["coarse_id"].nunique()
