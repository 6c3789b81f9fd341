from __future__ import annotations

import hashlib
import lzma
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ensemble.datasets import (
    default_bitext_path,
    default_grocery_catalogue,
    default_online_retail_path,
    load_bitext,
    load_dominicks,
    load_dominicks_stores,
    load_grocery_catalogue,
    load_online_retail,
    shared_data_dir,
)
from ensemble.datasets.grocery import bundled_grocery_dir
from ensemble.errors import DataError

# sha256 values as listed in the shared data README (and in each bundled PROVENANCE.md).
ONLINE_RETAIL_XZ_SHA256 = "a407dafe0d56e8cd045bed169bb1951878b3c5cf25b5a74e01e73b60e15ffc74"
BITEXT_CSV_SHA256 = "079b0cec48d34c319c9877b6d178390bf7187a7f7a604958e0ed5a096bba5af6"

Loader = Callable[[Path | None], pd.DataFrame]

# One valid small file per loader: header, a good row, a bad-number row and the column holding that number.
PRICES = ",".join(f"price{i}" for i in range(1, 12))
SAMPLES: dict[str, tuple[Loader, str, str, str, str]] = {
    "online_retail": (
        load_online_retail,
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country",
        "536365,85123A,WHITE MUG,6,2010-12-01 08:26:00,2.55,17850,United Kingdom",
        "536366,85123A,WHITE MUG,six,2010-12-01 08:26:00,2.55,17850,United Kingdom",
        "Quantity",
    ),
    "bitext": (
        load_bitext,
        "instruction,intent,category,response,entity_type,entity_value,start_offset,end_offset",
        'cancel order 1,cancel_order,ORDER,"Sure.\nDone.",order_id,1,13,14',
        "cancel order 2,cancel_order,ORDER,Sure.,order_id,2,thirteen,14",
        "start_offset",
    ),
    "dominicks": (
        load_dominicks,
        f"store,brand,week,logmove,constant,{PRICES},deal,feat,profit",
        "2,1,40,9.01,1," + ",".join(["0.06"] * 11) + ",1,0.0,37.9",
        "2,1,41,lots,1," + ",".join(["0.06"] * 11) + ",1,0.0,37.9",
        "logmove",
    ),
    "dominicks_stores": (
        load_dominicks_stores,
        "STORE,AGE60,EDUC,ETHNIC,INCOME,HHLARGE,WORKWOM,HVAL150,SSTRDIST,SSTRVOL,CPDIST5,CPWVOL5",
        "2," + ",".join(["0.5"] * 11),
        "5,n/a," + ",".join(["0.5"] * 10),
        "AGE60",
    ),
}


def test_bundled_online_retail_is_the_shared_file() -> None:
    digest = hashlib.sha256(default_online_retail_path().read_bytes()).hexdigest()

    assert digest == ONLINE_RETAIL_XZ_SHA256


def test_bundled_bitext_decompresses_to_the_shared_file() -> None:
    digest = hashlib.sha256(lzma.decompress(default_bitext_path().read_bytes())).hexdigest()

    assert digest == BITEXT_CSV_SHA256
    assert (default_bitext_path().parent / "LICENSE.txt").is_file()
    assert (default_bitext_path().parent / "PROVENANCE.md").is_file()


def test_online_retail_full_bundled_copy() -> None:
    # Execute
    frame = load_online_retail()

    # Assert: counts as documented in the shared data README
    assert len(frame) == 541_909
    assert frame["InvoiceNo"].str.startswith("C").sum() == 9_288
    assert frame["CustomerID"].isna().sum() == 135_080
    assert frame["StockCode"].nunique() >= 4_070
    assert frame["Country"].nunique() == 38
    assert list(frame.columns) == [
        "InvoiceNo",
        "StockCode",
        "Description",
        "Quantity",
        "InvoiceDate",
        "UnitPrice",
        "CustomerID",
        "Country",
    ]
    for text_column in ("InvoiceNo", "StockCode", "Description", "Country"):
        assert pd.api.types.is_string_dtype(frame[text_column])
    assert frame["Quantity"].dtype == "int64"
    assert frame["InvoiceDate"].dtype == "datetime64[ns]"
    assert frame["UnitPrice"].dtype == "float64"
    assert frame["CustomerID"].dtype == pd.Int64Dtype()
    assert frame["InvoiceDate"].min() == pd.Timestamp("2010-12-01 08:26:00")
    assert frame["InvoiceDate"].max().date() == pd.Timestamp("2011-12-09").date()
    assert (frame["Description"] == "").sum() > 0
    assert frame.iloc[0].tolist()[:6] == [
        "536365",
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        6,
        pd.Timestamp("2010-12-01 08:26:00"),
        2.55,
    ]


def test_bitext_bundled_copy() -> None:
    frame = load_bitext()

    assert len(frame) == 4_514
    assert frame["intent"].nunique() == 27
    assert frame["category"].nunique() == 11
    required = {"instruction", "intent", "category", "response", "entity_type", "entity_value"}
    assert required <= set(frame.columns)
    assert frame["response"].str.contains("\n").any()
    assert frame["start_offset"].dtype == pd.Int64Dtype()
    first = frame.iloc[0]
    assert first["instruction"] == "how can I cancel purchase 113542617735902?"
    assert (first["intent"], first["entity_value"], first["start_offset"]) == (
        "cancel_order",
        "113542617735902",
        26,
    )


def test_dominicks_from_shared_data(dominicks_dir: Path) -> None:
    frame = load_dominicks()
    stores = load_dominicks_stores()

    assert len(frame) == 106_139
    assert frame["store"].nunique() == 83
    assert frame["brand"].nunique() == 11
    assert (frame["week"].min(), frame["week"].max()) == (40, 160)
    assert frame[["store", "brand", "week"]].dtypes.astype(str).tolist() == ["int64"] * 3
    assert (frame.drop(columns=["store", "brand", "week"]).dtypes == "float64").all()
    assert "constant" not in frame.columns
    assert stores["store"].dtype == "int64"
    assert set(frame["store"]) <= set(stores["store"])


def test_dominicks_absent_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPMESH_SHARED_DATA", str(tmp_path))

    with pytest.raises(DataError) as caught:
        load_dominicks()

    message = str(caught.value)
    assert str(tmp_path / "dominicks-orange-juice" / "orangeJuice_yx.csv.gz") in message
    assert "--path" in message
    assert "SHOPMESH_SHARED_DATA" in message


def test_shared_data_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPMESH_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path

    monkeypatch.delenv("SHOPMESH_SHARED_DATA")
    repo_root = Path(__file__).resolve().parents[3]
    assert shared_data_dir() == (repo_root.parent / "shared" / "data").resolve()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_loader_reads_a_valid_small_file(tmp_path: Path, name: str) -> None:
    loader, header, good, _, _ = SAMPLES[name]
    path = tmp_path / "data.csv"
    path.write_text(f"{header}\n{good}\n", encoding="utf-8")

    frame = loader(path)

    assert len(frame) == 1


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_loader_missing_file(tmp_path: Path, name: str) -> None:
    loader = SAMPLES[name][0]

    with pytest.raises(DataError, match="does not exist"):
        loader(tmp_path / "absent.csv")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_loader_empty_file(tmp_path: Path, name: str) -> None:
    loader = SAMPLES[name][0]
    path = tmp_path / "data.csv"
    path.write_bytes(b"")

    with pytest.raises(DataError, match="is empty"):
        loader(path)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_loader_missing_column(tmp_path: Path, name: str) -> None:
    loader, header, good, _, column = SAMPLES[name]
    names = header.split(",")
    position = names.index(column)
    values = good.split(",")
    del names[position]
    del values[position]
    path = tmp_path / "data.csv"
    path.write_text(",".join(names) + "\n" + ",".join(values) + "\n", encoding="utf-8")

    with pytest.raises(DataError, match=f"missing required column\\(s\\) '{column}'") as caught:
        loader(path)

    assert caught.value.column == column
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_loader_unparsable_number(tmp_path: Path, name: str) -> None:
    loader, header, good, bad, column = SAMPLES[name]
    path = tmp_path / "data.csv"
    path.write_text(f"{header}\n{good}\n{bad}\n", encoding="utf-8")
    good_lines = good.count("\n") + 1

    with pytest.raises(DataError) as caught:
        loader(path)

    assert caught.value.column == column
    assert caught.value.line == 2 + good_lines
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_loader_wrong_encoding(tmp_path: Path, name: str) -> None:
    loader, header, good, _, _ = SAMPLES[name]
    path = tmp_path / "data.csv"
    path.write_bytes(f"{header}\n{good}\n".encode("utf-16"))

    with pytest.raises(DataError, match="UTF-16"):
        loader(path)


def test_online_retail_unparsable_date(tmp_path: Path) -> None:
    _, header, good, _, _ = SAMPLES["online_retail"]
    path = tmp_path / "data.csv"
    path.write_text(f"{header}\n{good}\n{good.replace('2010-12-01 08:26:00', '2010-13-01 08:26:00')}\n")

    with pytest.raises(DataError, match="line 3, column 'InvoiceDate': value '2010-13-01 08:26:00'"):
        load_online_retail(path)


def test_bundled_grocery_catalogue_names_its_photos_relative_to_its_folder() -> None:
    # Execute: the bundled 9-class subset, named explicitly (the default prefers ../shared when present).
    frame = load_grocery_catalogue(bundled_grocery_dir() / "products.csv")
    # Assert
    assert len(frame) == 9
    assert frame["class_id"].is_monotonic_increasing
    assert all(not Path(p).is_absolute() and (bundled_grocery_dir() / p).is_file() for p in frame["iconic_image"])


def test_grocery_catalogue_default_prefers_the_shared_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Prepare: an empty shared folder, then one holding a catalogue.
    monkeypatch.setenv("SHOPMESH_SHARED_DATA", str(tmp_path))
    assert default_grocery_catalogue() == bundled_grocery_dir() / "products.csv"
    (tmp_path / "grocery-store").mkdir()
    (tmp_path / "grocery-store" / "products.csv").write_text("x\n", encoding="utf-8")
    # Execute / Assert
    assert default_grocery_catalogue() == tmp_path / "grocery-store" / "products.csv"


def test_grocery_catalogue_with_a_repeated_class_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    row = "1,Granny-Smith,0,Apple,Fruit,iconic/g.jpg,A green apple."
    path.write_text(
        "class_id,class_name,coarse_id,coarse_name,department,iconic_image,description_en\n" + f"{row}\n{row}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match="class_id 1 twice"):
        load_grocery_catalogue(path)
