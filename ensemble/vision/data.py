"""The Grocery Store data: the photo table (``images.csv``), the catalogue (``products.csv``) and decoded photos.

A photo table has the dataset's own columns ``split``, ``path`` (relative to the images folder), ``class_id`` and
``coarse_id``. The catalogue has one row per fine class with its coarse class, department, an iconic catalogue
photo (relative to the catalogue file's folder) and an English description. Photos are decoded once into one
uint8 tensor, squashed to a square; that cache is what training and evaluation read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from ensemble.datasets import ColumnKind, read_csv_checked
from ensemble.datasets.grocery import PRODUCTS_COLUMNS, bundled_grocery_dir, default_grocery_dir
from ensemble.errors import DataError, ImageError
from ensemble.vision.images import decode_image

__all__ = [
    "IMAGES_COLUMNS",
    "PRODUCTS_COLUMNS",
    "Catalogue",
    "GroceryData",
    "ImageSet",
    "bundled_grocery_dir",
    "decode_photos",
    "default_grocery_dir",
    "load_grocery",
]

logger = logging.getLogger(__name__)

IMAGES_COLUMNS = {
    "split": ColumnKind.STR,
    "path": ColumnKind.STR,
    "class_id": ColumnKind.INT,
    "coarse_id": ColumnKind.INT,
}


@dataclass(frozen=True)
class Catalogue:
    """The fine classes in a fixed order (index = position), with their coarse class and catalogue text.

    ``fine_to_coarse[i]`` is the coarse index of fine class ``i``; coarse indices follow ``coarse_ids``.
    """

    class_ids: list[int]
    names: list[str]
    coarse_ids: list[int]  # one per coarse class
    coarse_names: list[str]  # one per coarse class
    fine_to_coarse: list[int]  # one per fine class
    departments: list[str]
    descriptions: list[str]
    iconic: list[Path]

    @property
    def num_classes(self) -> int:
        return len(self.class_ids)

    def texts(self) -> list[str]:
        """The text that stands for each class in the joint text-image space: name, type and description."""
        return [
            f"{name.replace('-', ' ')} ({self.coarse_names[c]}, {dept}). {text}"
            for name, c, dept, text in zip(
                self.names, self.fine_to_coarse, self.departments, self.descriptions, strict=True
            )
        ]

    def to_records(self) -> list[dict[str, object]]:
        """JSON-ready rows (iconic photos by file name) to store with a model version."""
        return [
            {
                "class_id": self.class_ids[i],
                "class_name": self.names[i],
                "coarse_id": self.coarse_ids[self.fine_to_coarse[i]],
                "coarse_name": self.coarse_names[self.fine_to_coarse[i]],
                "department": self.departments[i],
                "description_en": self.descriptions[i],
                "iconic_image": self.iconic[i].name,
            }
            for i in range(self.num_classes)
        ]

    @classmethod
    def from_frame(cls, products: pd.DataFrame, root: Path) -> Catalogue:
        products = products.sort_values("class_id").reset_index(drop=True)
        duplicated = products["class_id"][products["class_id"].duplicated()]
        if not duplicated.empty:
            raise DataError(
                f"products CSV lists class_id {int(duplicated.iloc[0])} twice; keep one row per class.",
                column="class_id",
                value=str(int(duplicated.iloc[0])),
            )
        if len(products) < 2:
            raise DataError(f"products CSV has {len(products)} class(es); a classifier needs at least two.")
        coarse = products.drop_duplicates("coarse_id").sort_values("coarse_id")
        coarse_index = {int(c): i for i, c in enumerate(coarse["coarse_id"])}
        return cls(
            class_ids=[int(c) for c in products["class_id"]],
            names=[str(n) for n in products["class_name"]],
            coarse_ids=[int(c) for c in coarse["coarse_id"]],
            coarse_names=[str(n) for n in coarse["coarse_name"]],
            fine_to_coarse=[coarse_index[int(c)] for c in products["coarse_id"]],
            departments=[str(d) for d in products["department"]],
            descriptions=[str(d) for d in products["description_en"]],
            iconic=[root / str(p) for p in products["iconic_image"]],
        )

    @classmethod
    def from_records(cls, records: list[dict[str, object]], iconic_dir: Path) -> Catalogue:
        frame = pd.DataFrame(records)
        frame["iconic_image"] = [str(p) for p in frame["iconic_image"]]
        return cls.from_frame(frame, iconic_dir)


@dataclass(frozen=True)
class GroceryData:
    """A photo table checked against its catalogue: ``labels`` gains a ``fine`` and ``coarse`` index column."""

    images_dir: Path
    labels: pd.DataFrame
    catalogue: Catalogue
    labels_path: Path

    def split(self, name: str) -> pd.DataFrame:
        rows = self.labels[self.labels["split"] == name]
        return rows.reset_index(drop=True)

    def splits(self) -> list[str]:
        return sorted({str(s) for s in self.labels["split"]})


def load_grocery(
    images_dir: Path | None = None,
    labels: Path | None = None,
    products: Path | None = None,
    *,
    catalogue: Catalogue | None = None,
) -> GroceryData:
    """Read and check a photo table and its catalogue.

    Defaults: the full set in the shared data folder (``images/``, ``images.csv``, ``products.csv``); the images
    folder defaults to ``images/`` and the catalogue to ``products.csv`` beside the labels file. A ``catalogue``
    passed in (e.g. the one stored with a model version) replaces the products file. Raises :class:`DataError`
    when a folder or file is missing, a column is missing or malformed, or a photo's class is not in the
    catalogue.
    """
    root = default_grocery_dir()
    labels_path = Path(labels) if labels is not None else root / "images.csv"
    images = Path(images_dir) if images_dir is not None else labels_path.parent / "images"
    products_path = Path(products) if products is not None else labels_path.parent / "products.csv"
    if not images.is_dir():
        raise DataError(
            f"photo folder {images} does not exist; pass --images DIR (the folder that the 'path' column is "
            f"relative to) or put the Grocery Store data set at {root}.",
            path=images,
        )
    needed = [(labels_path, "photo table")] + ([] if catalogue else [(products_path, "products catalogue")])
    for path, what in needed:
        if not path.is_file():
            raise DataError(
                f"{what} {path} does not exist; pass its path (--labels / --products) or put the Grocery Store "
                f"data set at {root}.",
                path=path,
            )
    frame = read_csv_checked(labels_path, IMAGES_COLUMNS, keep_extra=False, what="photo table CSV")
    if catalogue is None:
        catalogue = Catalogue.from_frame(
            read_csv_checked(products_path, PRODUCTS_COLUMNS, keep_extra=False, what="products catalogue CSV"),
            products_path.parent,
        )
    index = {c: i for i, c in enumerate(catalogue.class_ids)}
    unknown = sorted(set(int(c) for c in frame["class_id"]) - set(index))
    if unknown:
        raise DataError(
            f"photo table {labels_path} uses class_id {unknown[:5]} that the catalogue does not list "
            f"(known: {catalogue.class_ids[:10]}{'...' if catalogue.num_classes > 10 else ''}); use the catalogue "
            "or the model version that belongs to these photos.",
            path=labels_path,
            column="class_id",
            value=str(unknown[0]),
        )
    frame = frame.assign(fine=[index[int(c)] for c in frame["class_id"]])
    frame = frame.assign(coarse=[catalogue.fine_to_coarse[i] for i in frame["fine"]])
    expected = [catalogue.coarse_ids[c] for c in frame["coarse"]]
    mismatch = np.flatnonzero(frame["coarse_id"].to_numpy() != np.asarray(expected))
    if mismatch.size:
        row = frame.iloc[int(mismatch[0])]
        raise DataError(
            f"photo {row['path']} has coarse_id {row['coarse_id']} but the catalogue puts class_id "
            f"{row['class_id']} under coarse_id {expected[int(mismatch[0])]}; fix the table or the catalogue.",
            path=labels_path,
            column="coarse_id",
            value=str(row["coarse_id"]),
        )
    logger.info("loaded %s photos of %s classes from %s", len(frame), catalogue.num_classes, labels_path)
    return GroceryData(images, frame, catalogue, labels_path)


@dataclass(frozen=True)
class ImageSet:
    """Decoded photos: ``pixels`` uint8 [N, 3, S, S], ``fine`` and ``coarse`` int64 [N]."""

    pixels: torch.Tensor
    fine: torch.Tensor
    coarse: torch.Tensor

    def __len__(self) -> int:
        return int(self.pixels.shape[0])


def image_to_tensor(image: Image.Image, size: int) -> torch.Tensor:
    """An RGB image squashed to size x size: uint8 [3, S, S]."""
    resized = image.resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(resized, dtype=np.uint8)  # [S, S, 3]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def decode_photos(data: GroceryData, split: str, size: int) -> ImageSet:
    """Decode every photo of ``split`` to the cache tensor; raises :class:`DataError` naming a missing or bad file."""
    rows = data.split(split)
    if rows.empty:
        raise DataError(
            f"photo table {data.labels_path} has no rows with split {split!r}; splits present: {data.splits()}.",
            path=data.labels_path,
            column="split",
            value=split,
        )
    pixels = torch.empty((len(rows), 3, size, size), dtype=torch.uint8)
    for i, relative in enumerate(rows["path"]):
        path = data.images_dir / str(relative)
        try:
            raw = path.read_bytes()
        except OSError as err:
            raise DataError(
                f"photo {path} listed in {data.labels_path} cannot be read ({err}); check --images DIR.", path=path
            ) from err
        try:
            pixels[i] = image_to_tensor(decode_image(raw), size)
        except ImageError as err:
            raise DataError(f"photo {path}: {err}", path=path) from err
    fine = torch.as_tensor(rows["fine"].to_numpy(dtype=np.int64))
    coarse = torch.as_tensor(rows["coarse"].to_numpy(dtype=np.int64))
    logger.info("decoded %s %s photos at %sx%s", len(rows), split, size, size)
    return ImageSet(pixels, fine, coarse)
