"""File writers for exported rows: JSON Lines, CSV and Parquet, each streaming.

A writer takes rows (tuples in column order) one at a time and keeps at most one buffer of
them; ``close()`` returns the file's size and sha256. Nothing here reads a clock, so the
same rows always give the same bytes.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json.encoder
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from .columns import Column, Kind

Row = Sequence[Any]
# The C string encoder behind json.dumps(ensure_ascii=False): non-ASCII text is kept as is.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring
encode_json_string = _encode_str
# OWASP CSV injection: a cell starting with one of these is read as a formula by spreadsheets.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BUFFER_ROWS = 2_000
PARQUET_ROW_GROUP = 20_000
# Rows held as Python objects before they become a compact Arrow batch: a row group of
# 50,000 raw answers as Python lists alone took ~100 MB (peak RSS 328 MB measured).
PARQUET_BATCH = 5_000


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    size: int
    sha256: str
    rows: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.size, "sha256": self.sha256, "rows": self.rows}


class RowWriter(Protocol):
    rows: int

    def write(self, row: Row) -> None: ...

    def close(self) -> FileInfo: ...


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC, the same text whichever database the value came from."""
    return None if value is None else value.astimezone(UTC).isoformat()


def neutralise(cell: str) -> str:
    """A CSV cell that a spreadsheet will show as text, never run as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


class _HashingFile:
    """A binary file that hashes and counts what is written to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    def close(self, rows: int) -> FileInfo:
        self._file.close()
        return FileInfo(self.path.name, self.size, self._hash.hexdigest(), rows)


_JSON_EXPRESSIONS = {
    Kind.INT: "str(CELL)",
    Kind.STR: "enc(CELL)",
    Kind.OPTIONAL_STR: '("null" if CELL is None else enc(CELL))',
    Kind.BOOL: '("true" if CELL else "false")',
    Kind.LABELS: '("[" + ",".join(map(enc, CELL)) + "]")',
    Kind.TIME: """('"' + CELL.astimezone(UTC).isoformat() + '"')""",
    Kind.OPTIONAL_TIME: (
        """("null" if CELL is None else '"' + CELL.astimezone(UTC).isoformat() + '"')"""
    ),
}


def json_line_formatter(columns: Sequence[Column]) -> Callable[[Row], str]:
    """A function from a row to its JSON line, compiled once for these columns.

    One expression per column in a single function is about twice as fast as calling an
    encoder per cell, and a million-row export spends most of its time here. The source is
    made only from the fixed column names (JSON-encoded) and the expressions above.
    """
    parts = []
    for index, column in enumerate(columns):
        key = ("{" if index == 0 else ",") + _encode_str(column.name) + ":"
        parts.append(repr(key))
        parts.append(_JSON_EXPRESSIONS[column.kind].replace("CELL", f"r[{index}]"))
    parts.append(repr("}\n"))
    source = "def line(r):\n    return " + " + ".join(parts) + "\n"
    namespace: dict[str, Any] = {"enc": _encode_str, "UTC": UTC}
    exec(compile(source, "<json_line_formatter>", "exec"), namespace)
    line: Callable[[Row], str] = namespace["line"]
    return line


class JsonlWriter:
    """One JSON object per line, keys in column order, UTF-8, no spaces."""

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        self._file = _HashingFile(path)
        self._line = json_line_formatter(columns)
        self._buffer: list[str] = []
        self.rows = 0

    def write(self, row: Row) -> None:
        self._buffer.append(self._line(row))
        self.rows += 1
        if len(self._buffer) >= _BUFFER_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._file.write("".join(self._buffer).encode())
        self._buffer.clear()

    def close(self) -> FileInfo:
        self._flush()
        return self._file.close(self.rows)


class CsvWriter:
    """The same columns as JSONL, ``labels`` joined by ``|``, then one 0/1 column per label.

    Every field is quoted and every text cell is neutralised against formula injection.
    """

    def __init__(self, path: Path, columns: Sequence[Column], label_slugs: Sequence[str]) -> None:
        self._file = _HashingFile(path)
        self._text = io.StringIO(newline="")
        self._csv = csv.writer(self._text, quoting=csv.QUOTE_ALL)
        self._columns = list(columns)
        self._slugs = list(label_slugs)
        self._csv.writerow(
            [neutralise(c.name) for c in columns] + [f"label:{slug}" for slug in self._slugs]
        )
        self.rows = 0

    def write(self, row: Row) -> None:
        cells: list[str] = []
        labels: Sequence[str] = ()
        for column, value in zip(self._columns, row, strict=True):
            kind = column.kind
            if kind is Kind.LABELS:
                labels = value
                cells.append(neutralise("|".join(value)))
            elif kind in (Kind.STR, Kind.OPTIONAL_STR):
                cells.append("" if value is None else neutralise(value))
            elif kind is Kind.BOOL:
                cells.append("true" if value else "false")
            elif kind in (Kind.TIME, Kind.OPTIONAL_TIME):
                cells.append(iso(value) or "")
            else:
                cells.append(str(value))
        chosen = set(labels)
        cells.extend("1" if slug in chosen else "0" for slug in self._slugs)
        self._csv.writerow(cells)
        self.rows += 1
        if self.rows % _BUFFER_ROWS == 0:
            self._flush()

    def _flush(self) -> None:
        self._file.write(self._text.getvalue().encode())
        self._text.seek(0)
        self._text.truncate()

    def close(self) -> FileInfo:
        self._flush()
        return self._file.close(self.rows)


def arrow_schema(columns: Sequence[Column]) -> Any:
    # pyarrow is imported only by Parquet exports: it adds ~60 MB to a process that loads it.
    import pyarrow as pa  # type: ignore[import-untyped]

    _ARROW_TYPES = {
        Kind.INT: pa.int64(),
        Kind.STR: pa.string(),
        Kind.OPTIONAL_STR: pa.string(),
        Kind.BOOL: pa.bool_(),
        Kind.LABELS: pa.list_(pa.string()),
        Kind.TIME: pa.timestamp("us", tz="UTC"),
        Kind.OPTIONAL_TIME: pa.timestamp("us", tz="UTC"),
    }
    return pa.schema(
        [
            pa.field(
                c.name,
                _ARROW_TYPES[c.kind],
                nullable=c.kind in (Kind.OPTIONAL_STR, Kind.OPTIONAL_TIME),
            )
            for c in columns
        ]
    )


class ParquetWriter:
    """Typed columns, written one row group of ``PARQUET_ROW_GROUP`` rows at a time; rows
    become Arrow batches every ``PARQUET_BATCH`` rows meanwhile."""

    def __init__(self, path: Path, columns: Sequence[Column]) -> None:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self._path = path
        self._schema = arrow_schema(columns)
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._buffer: list[list[Any]] = [[] for _ in columns]
        self._batches: list[Any] = []
        self._batched = 0  # rows in self._batches
        self._group = PARQUET_ROW_GROUP
        self._batch = min(PARQUET_BATCH, self._group)
        self.rows = 0

    def write(self, row: Row) -> None:
        for values, cell in zip(self._buffer, row, strict=True):
            values.append(cell)
        self.rows += 1
        if len(self._buffer[0]) >= self._batch:
            self._to_batch()
            if self._batched >= self._group:
                self._flush()

    def _to_batch(self) -> None:
        import pyarrow as pa

        if not self._buffer[0]:
            return
        self._batches.append(
            pa.record_batch(
                [
                    pa.array(values, type=field.type)
                    for values, field in zip(self._buffer, self._schema, strict=True)
                ],
                schema=self._schema,
            )
        )
        self._batched += len(self._buffer[0])
        for values in self._buffer:
            values.clear()

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._batches:
            return
        table = pa.Table.from_batches(self._batches, schema=self._schema)
        self._writer.write_table(table, row_group_size=self._group)
        self._batches.clear()
        self._batched = 0

    def close(self) -> FileInfo:
        self._to_batch()
        self._flush()
        self._writer.close()
        size = self._path.stat().st_size
        return FileInfo(self._path.name, size, file_sha256(self._path), self.rows)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
