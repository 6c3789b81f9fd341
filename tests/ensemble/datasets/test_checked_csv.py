from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pandas as pd
import pytest

from ensemble.datasets import ColumnKind, read_csv_checked
from ensemble.errors import DataError

KINDS = {
    "name": ColumnKind.STR,
    "qty": ColumnKind.INT,
    "price": ColumnKind.FLOAT,
    "when": ColumnKind.DATETIME,
    "customer": ColumnKind.NULLABLE_INT,
}

GOOD = (
    "name,qty,price,when,customer,note\n"
    "mug,6,2.55,2010-12-01 08:26:00,17850,a\n"
    '"tea, green",-1,0.5,2011-11-01 00:00:00,,"two\nlines"\n'
)


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_every_kind_with_its_dtype(tmp_path: Path) -> None:
    # Prepare
    path = write(tmp_path, GOOD)

    # Execute
    frame = read_csv_checked(path, KINDS)

    # Assert
    assert list(frame.columns) == ["name", "qty", "price", "when", "customer", "note"]
    assert frame["qty"].dtype == "int64"
    assert frame["price"].dtype == "float64"
    assert frame["when"].dtype == "datetime64[ns]"
    assert frame["customer"].dtype == pd.Int64Dtype()
    assert pd.api.types.is_string_dtype(frame["name"])
    assert frame["name"].tolist() == ["mug", "tea, green"]
    assert frame["qty"].tolist() == [6, -1]
    assert frame["price"].tolist() == [2.55, 0.5]
    assert frame["when"].tolist() == [pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2011-11-01")]
    assert frame["customer"].iloc[0] == 17850
    assert pd.isna(frame["customer"].iloc[1])
    assert frame["note"].tolist() == ["a", "two\nlines"]


def test_keep_extra_false_drops_other_columns(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)

    frame = read_csv_checked(path, {"qty": ColumnKind.INT}, keep_extra=False)

    assert list(frame.columns) == ["qty"]


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress], ids=["gz", "xz"])
def test_reads_compressed_files(tmp_path: Path, compress: object) -> None:
    suffix = ".gz" if compress is gzip.compress else ".xz"
    path = tmp_path / f"data.csv{suffix}"
    path.write_bytes(compress(GOOD.encode()))  # type: ignore[operator]

    frame = read_csv_checked(path, KINDS)

    assert len(frame) == 2


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.csv"

    with pytest.raises(DataError, match="does not exist") as caught:
        read_csv_checked(path, KINDS)

    assert str(path) in str(caught.value)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a file"):
        read_csv_checked(tmp_path, KINDS)


@pytest.mark.parametrize("text", ["", "  \n"], ids=["zero-bytes", "blank"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(DataError, match="is empty") as caught:
        read_csv_checked(path, KINDS)

    assert str(path) in str(caught.value)


def test_header_without_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "name,qty,price,when,customer\n")

    with pytest.raises(DataError, match="no data rows"):
        read_csv_checked(path, KINDS)


def test_missing_column_names_missing_and_found(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("price", "Price"))

    with pytest.raises(DataError) as caught:
        read_csv_checked(path, KINDS)

    message = str(caught.value)
    assert "'price'" in message
    assert "found columns 'name', 'qty', 'Price'" in message
    assert "Did you mean 'price' -> 'Price'?" in message
    assert caught.value.column == "price"
    assert caught.value.line == 1


def test_duplicate_header(tmp_path: Path) -> None:
    path = write(tmp_path, "a,a\n1,2\n")

    with pytest.raises(DataError, match="column name 'a' twice"):
        read_csv_checked(path, {"a": ColumnKind.INT})


def test_unparsable_date_reports_physical_line(tmp_path: Path) -> None:
    # The second record spans lines 3-4, so the third record starts on line 5.
    path = write(tmp_path, GOOD + "cup,1,1.0,01/12/2011,1,x\n")

    with pytest.raises(DataError) as caught:
        read_csv_checked(path, KINDS)

    error = caught.value
    assert (error.line, error.column, error.value) == (5, "when", "01/12/2011")
    assert "line 5, column 'when'" in str(error)
    assert "ISO 8601" in str(error)
    assert str(path) in str(error)


@pytest.mark.parametrize(
    ("column", "row", "bad"),
    [
        ("qty", "cup,six,1.0,2011-01-01,1,x", "six"),
        ("qty", "cup,1.5,1.0,2011-01-01,1,x", "1.5"),
        ("price", "cup,1,£2,2011-01-01,1,x", "£2"),
        ("customer", "cup,1,1.0,2011-01-01,12a,x", "12a"),
    ],
)
def test_unparsable_number(tmp_path: Path, column: str, row: str, bad: str) -> None:
    path = write(tmp_path, GOOD + row + "\n")

    with pytest.raises(DataError) as caught:
        read_csv_checked(path, KINDS)

    assert (caught.value.line, caught.value.column, caught.value.value) == (5, column, bad)
    assert f"value {bad!r}" in str(caught.value)


def test_blank_in_required_number(tmp_path: Path) -> None:
    path = write(tmp_path, 'qty\n1\n""\n')

    with pytest.raises(DataError, match="line 3, column 'qty': an empty value is not an integer"):
        read_csv_checked(path, {"qty": ColumnKind.INT})


def test_utf16_file_is_refused_with_its_encoding(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(GOOD.encode("utf-16"))

    with pytest.raises(DataError, match="UTF-16") as caught:
        read_csv_checked(path, KINDS)

    assert str(path) in str(caught.value)


def test_utf16_without_bom_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(GOOD.encode("utf-16-le"))

    with pytest.raises(DataError, match="NUL bytes"):
        read_csv_checked(path, KINDS)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"name,qty\nmug,1\ncaf\xe9,2\n")

    with pytest.raises(DataError, match=r"line 3: bytes b'\\xe9' are not valid utf-8") as caught:
        read_csv_checked(path, {"name": ColumnKind.STR, "qty": ColumnKind.INT})

    assert caught.value.line == 3


def test_other_encoding_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes("name,qty\ncafé,2\n".encode("latin-1"))

    frame = read_csv_checked(path, {"name": ColumnKind.STR, "qty": ColumnKind.INT}, encoding="latin-1")

    assert frame["name"].tolist() == ["café"]


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xef\xbb\xbfqty\n1\n")

    frame = read_csv_checked(path, {"qty": ColumnKind.INT})

    assert frame["qty"].tolist() == [1]


def test_ragged_row_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b\n1,2\n3,4,5\n")

    with pytest.raises(DataError, match="line 3: found 3 field") as caught:
        read_csv_checked(path, {"a": ColumnKind.INT})

    assert caught.value.line == 3


def test_corrupt_compressed_file(tmp_path: Path) -> None:
    path = tmp_path / "data.csv.xz"
    path.write_bytes(b"this is not xz")

    with pytest.raises(DataError, match="cannot be read or decompressed"):
        read_csv_checked(path, KINDS)


def test_semicolon_separated_file_gets_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path, "name;qty\nmug;1\n")

    with pytest.raises(DataError, match="separated by semicolons"):
        read_csv_checked(path, {"name": ColumnKind.STR, "qty": ColumnKind.INT})
