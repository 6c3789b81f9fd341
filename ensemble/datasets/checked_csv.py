"""Read a CSV file into typed pandas columns, or fail with a :class:`DataError` that says exactly what is
wrong.

The file is decompressed (``.xz``, ``.gz``, ``.bz2``), decoded, parsed by pyarrow with every column as text,
and each required column is then converted to its declared :class:`ColumnKind`. Any failure names the file,
the column, the first offending line (1-based, the header is line 1; a record with quoted newlines starts on
the line given) and the value seen. Only the error path re-reads the text to find line numbers, so valid files
stay fast.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import logging
import lzma
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ensemble.errors import DataError

__all__ = ["ColumnKind", "read_csv_checked"]

logger = logging.getLogger(__name__)


class ColumnKind(StrEnum):
    """What a required column must hold, and the pandas dtype it is returned as."""

    STR = "str"  # any text, empty allowed -> pandas string dtype
    INT = "int"  # integer, no blanks -> int64
    NULLABLE_INT = "nullable_int"  # integer or blank -> pandas "Int64"
    FLOAT = "float"  # decimal number, no blanks -> float64
    DATETIME = "datetime"  # ISO 8601 date or date-time, no blanks -> datetime64[ns]


_EXPECTED = {
    ColumnKind.INT: "an integer (e.g. 12)",
    ColumnKind.NULLABLE_INT: "an integer or a blank",
    ColumnKind.FLOAT: "a number (e.g. 2.55)",
    ColumnKind.DATETIME: "an ISO 8601 date-time (e.g. 2011-11-01 08:26:00)",
}

_ARROW_TYPE = {
    ColumnKind.INT: pa.int64(),
    ColumnKind.NULLABLE_INT: pa.int64(),
    ColumnKind.FLOAT: pa.float64(),
    ColumnKind.DATETIME: pa.timestamp("ns"),
}

_HEADER_SCAN_CHARS = 1 << 16

_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
)


def read_csv_checked(
    path: Path | str,
    required: Mapping[str, ColumnKind],
    *,
    keep_extra: bool = True,
    encoding: str = "utf-8",
    what: str = "CSV file",
) -> pd.DataFrame:
    """Read ``path`` and return its rows with every ``required`` column converted to its kind.

    ``required`` maps column name to :class:`ColumnKind`. Columns not in ``required`` are kept as text when
    ``keep_extra`` is true and dropped otherwise; columns keep the file's order. ``what`` names the data in
    messages (e.g. ``"Online Retail CSV"``). Raises :class:`DataError` for a missing, empty, undecodable or
    malformed file, a missing column, or a value of the wrong kind.
    """
    path = Path(path)
    kinds = {name: ColumnKind(kind) for name, kind in required.items()}
    raw = _read_bytes(path, what)
    data, text = _decode(raw, path, encoding, what)
    header = _header(text, path, what)
    _check_columns(header, kinds, path, what)
    table = _parse(data, header, text, path, what)
    if table.num_rows == 0:
        raise DataError(
            f"{what} {path} has a header but no data rows; expected at least one row below the header line.",
        )
    columns: dict[str, pd.Series] = {}
    for name in header:
        if name in kinds:
            columns[name] = _convert(table.column(name), name, kinds[name], text, path, what)
        elif keep_extra:
            columns[name] = table.column(name).to_pandas()
    frame = pd.DataFrame(columns)
    logger.debug("read %s rows x %s columns from %s", len(frame), len(frame.columns), path)
    return frame


def _read_bytes(path: Path, what: str) -> bytes:
    if not path.exists():
        raise DataError(f"{what} not found: {path} does not exist; check the path.", path=path)
    if not path.is_file():
        raise DataError(f"{what} {path} is not a file (a directory?); pass the path of a CSV file.", path=path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".xz", ".lzma"):
            with lzma.open(path, "rb") as stream:
                return stream.read()
        if suffix == ".gz":
            with gzip.open(path, "rb") as stream:
                return stream.read()
        if suffix == ".bz2":
            with bz2.open(path, "rb") as stream:
                return stream.read()
        return path.read_bytes()
    except (lzma.LZMAError, gzip.BadGzipFile, EOFError, OSError) as err:
        raise DataError(
            f"{what} {path} cannot be read or decompressed ({err}); expected a readable CSV file, "
            f"compressed as its '{suffix}' suffix says.",
            path=path,
        ) from err


def _decode(raw: bytes, path: Path, encoding: str, what: str) -> tuple[bytes, str]:
    """Return the file as UTF-8 bytes for pyarrow and as text for error reporting."""
    if not raw or raw.isspace():
        raise DataError(f"{what} {path} is empty ({len(raw)} bytes); expected a header line and data rows.", path=path)
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise DataError(
                f"{what} {path} is encoded as {name}, not {encoding}; re-save it as UTF-8 "
                f"(e.g. `iconv -f UTF-16 -t UTF-8`).",
                path=path,
                line=1,
            )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw[:4096]:
        raise DataError(
            f"{what} {path} contains NUL bytes near its start, which looks like UTF-16 or UTF-32 text or a "
            "binary "
            f"file; re-save it as UTF-8 CSV.",
            path=path,
        )
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        bad = raw[err.start : err.end]
        raise DataError(
            f"{what} {path}, line {line}: bytes {bad!r} are not valid {encoding} ({err.reason}); re-save "
            "the file "
            f"as {encoding}.",
            path=path,
            line=line,
            value=bad.hex(),
        ) from err
    except LookupError as err:
        raise DataError(f"unknown encoding {encoding!r} for {what} {path}; use e.g. 'utf-8'.", path=path) from err
    if encoding.replace("-", "").replace("_", "").lower() not in ("utf8", "ascii"):
        raw = text.encode("utf-8")
    return raw, text


def _header(text: str, path: Path, what: str) -> list[str]:
    # The header is read from the start of the file only, so that a large file is not copied for it.
    head = text[:_HEADER_SCAN_CHARS] if "\n" in text[:_HEADER_SCAN_CHARS] else text
    try:
        header = next(csv.reader(io.StringIO(head, newline="")))
    except (StopIteration, csv.Error) as err:
        raise DataError(f"{what} {path}: the header line cannot be parsed ({err}).", path=path, line=1) from err
    seen: set[str] = set()
    for name in header:
        if name == "" or name in seen:
            problem = "an empty column name" if name == "" else f"the column name {name!r} twice"
            raise DataError(
                f"{what} {path}, line 1: the header has {problem}; found columns {header!r}. Give every "
                "column a "
                f"unique name.",
                path=path,
                line=1,
            )
        seen.add(name)
    return header


def _check_columns(header: list[str], kinds: Mapping[str, ColumnKind], path: Path, what: str) -> None:
    missing = [name for name in kinds if name not in header]
    if not missing:
        return
    by_lower = {name.lower(): name for name in header}
    hints = [f"{name!r} -> {by_lower[name.lower()]!r}?" for name in missing if name.lower() in by_lower]
    hint = f" Did you mean {', '.join(hints)}" if hints else ""
    if len(header) == 1:
        for delimiter, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delimiter in header[0]:
                hint += f" The header seems to be separated by {label}; save the file with commas."
                break
    raise DataError(
        f"{what} {path}: missing required column(s) {', '.join(repr(n) for n in missing)}; found columns "
        f"{', '.join(repr(n) for n in header)}.{hint} Rename the columns or choose others.",
        path=path,
        line=1,
        column=missing[0],
    )


def _parse(data: bytes, header: list[str], text: str, path: Path, what: str) -> pa.Table:
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(header, pa.string()),
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    parse = pacsv.ParseOptions(newlines_in_values=True)
    try:
        return pacsv.read_csv(io.BytesIO(data), parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowException) as err:
        line, fields = _first_ragged_line(text, len(header))
        if line is None:
            raise DataError(f"{what} {path} cannot be parsed as CSV: {err}", path=path) from err
        raise DataError(
            f"{what} {path}, line {line}: found {fields} field(s) where the header has {len(header)}; check "
            "the "
            f"quoting and delimiters on that line.",
            path=path,
            line=line,
        ) from err


def _records(text: str) -> list[tuple[int, list[str]]]:
    """Every non-blank data record with the (1-based) line it starts on, in the order pyarrow reads them."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    records = []
    start = reader.line_num + 1
    for row in reader:
        if row:
            records.append((start, row))
        start = reader.line_num + 1
    return records


def _first_ragged_line(text: str, width: int) -> tuple[int | None, int]:
    try:
        for line, row in _records(text):
            if len(row) != width:
                return line, len(row)
    except csv.Error:
        return None, 0
    return None, 0


def _convert(column: pa.ChunkedArray, name: str, kind: ColumnKind, text: str, path: Path, what: str) -> pd.Series:
    if kind is ColumnKind.STR:
        text_values: pd.Series = column.to_pandas()
        return text_values
    values = pc.utf8_trim_whitespace(column.combine_chunks())
    if kind is ColumnKind.NULLABLE_INT:
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    target = _ARROW_TYPE[kind]
    try:
        converted = pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        index = _first_bad_index(values, target)
        line = _records(text)[index][0]
        value = column[index].as_py()
        shown = "an empty value" if value.strip() == "" else f"value {value!r}"
        raise DataError(
            f"{what} {path}, line {line}, column {name!r}: {shown} is not {_EXPECTED[kind]}; fix or remove that row.",
            path=path,
            line=line,
            column=name,
            value=value,
        ) from err
    mapper = {pa.int64(): pd.Int64Dtype()}.get if kind is ColumnKind.NULLABLE_INT else None
    typed: pd.Series = converted.to_pandas(types_mapper=mapper)
    return typed


def _first_bad_index(values: pa.Array, target: pa.DataType) -> int:
    """Index of the first value that does not cast to ``target``, by bisection with the same cast."""
    low, high = 0, len(values)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            pc.cast(values.slice(low, middle - low), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            high = middle
        else:
            low = middle
    return low
