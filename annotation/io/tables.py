"""Reading tables (CSV/TSV, JSONL, Parquet) into typed records, with per-line errors. No Django here.

Every value ends up as a JSON scalar of the column's inferred type: numbers as int/float, booleans as bool,
datetimes as ISO 8601 strings, categories and text as str, missing values as None.
"""

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# pandas and pyarrow are imported inside the functions that read a table: web processes load this module for its
# names and formats, and only the few requests that preview a table need them.
from core.validation import MAX_COLUMN_NAME_CHARS, MAX_COLUMNS, name_key, name_normalised, name_problem

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
TRUE, FALSE = frozenset({"true", "yes", "y", "t"}), frozenset({"false", "no", "n", "f"})
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
SNIFF_BYTES = 64 * 1024
CATEGORICAL_MAX_SHARE = 0.05
CATEGORICAL_MAX_VALUES = 50
MAX_CELL_CHARS = 100_000
FORMATS = ("csv", "tsv", "jsonl", "parquet")
DELIMITERS = (",", ";", "\t", "|")


class TableError(ValueError):
    """The table cannot be read at all (as opposed to a bad row, which is reported and may be skipped)."""


@dataclass
class RowError:
    where: str  # "line 7"
    reason: str


@dataclass
class Table:
    columns: list[dict[str, str]]  # [{"name": ..., "type": numeric|boolean|datetime|categorical|text}]
    rows: list[dict[str, Any]]  # typed values
    lines: list[int]  # source line (or row) number of each row, for error messages
    errors: list[RowError] = field(default_factory=list)
    encoding: str = "utf-8"
    delimiter: str | None = None


def format_from_name(name: str) -> str:
    suffix = name.lower().rsplit(".", 1)[-1]
    return {"txt": "csv", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)


def read_table(
    data: bytes, fmt: str, *, encoding: str | None = None, delimiter: str | None = None, text_columns=()
) -> Table:
    """Parse `data` and infer column types, except for `text_columns` (ids, labels), which keep their text as
    written ("007" stays "007"). Raises TableError when the whole file is unreadable."""
    if fmt not in FORMATS:
        raise TableError(f"Unsupported table format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt == "parquet":
        names, raw, lines, errors, used = _parquet(data), [], [], [], "binary"
        names, raw = names
        lines = list(range(1, len(raw) + 1))
        delimiter = None
    else:
        text, used = _decode(data, encoding)
        if fmt == "jsonl":
            names, raw, lines, errors = _jsonl(text)
            delimiter = None
        else:
            delimiter = delimiter or ("\t" if fmt == "tsv" else _sniff_delimiter(text))
            names, raw, lines, errors = _delimited(text, delimiter)
    columns, rows, lines, cell_errors = _typed(names, raw, lines, set(text_columns))
    return Table(
        columns=columns, rows=rows, lines=lines, errors=errors + cell_errors, encoding=used, delimiter=delimiter
    )


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    for candidate in [encoding] if encoding else ENCODINGS:
        try:
            return data.decode(candidate), candidate  # bytes.decode accepts text encodings only
        except (UnicodeDecodeError, LookupError) as exc:
            if encoding:
                raise TableError(f"The file is not valid {encoding}: {exc}") from exc
    raise TableError("Could not detect the text encoding.")  # latin-1 decodes anything; kept for safety


def _sniff_delimiter(text: str) -> str:
    """The candidate that splits the header most often, when the sniffer agrees or cannot decide."""
    header = text.split("\n", 1)[0]
    counts = {candidate: header.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=counts.get)
    try:
        sniffed = csv.Sniffer().sniff(text[:SNIFF_BYTES], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    return sniffed if sniffed and counts.get(sniffed, 0) >= counts[best] else (best if counts[best] else ",")


def _delimited(text: str, delimiter: str) -> tuple[list[str], list[list[Any]], list[int], list[RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration as exc:
        raise TableError("The file is empty.") from exc
    except csv.Error as exc:
        raise TableError(f"Line 1: {exc}") from exc
    names = _column_names(header)
    raw, lines, errors = [], [], []
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(f"line {reader.line_num}", str(exc)))
            continue
        if not row or row == [""]:
            continue
        if len(row) != len(names):
            errors.append(RowError(f"line {reader.line_num}", f"{len(row)} fields, expected {len(names)}"))
            continue
        raw.append(row)
        lines.append(reader.line_num)
    return names, raw, lines, errors


def _jsonl(text: str) -> tuple[list[str], list[list[Any]], list[int], list[RowError]]:
    names: dict[str, None] = {}
    records, lines, errors = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_constant=_reject_constant)
        except ValueError as exc:
            errors.append(RowError(f"line {number}", f"not valid JSON: {exc}"))
            continue
        if not isinstance(record, dict):
            errors.append(RowError(f"line {number}", "each line must be a JSON object"))
            continue
        nested = [key for key, value in record.items() if isinstance(value, dict | list)]
        if nested:
            errors.append(RowError(f"line {number}", f"nested values are not supported: {', '.join(nested)}"))
            continue
        names.update(dict.fromkeys(record))
        records.append(record)
        lines.append(number)
    columns = _column_names(list(names))
    return columns, [[record.get(name) for name in names] for record in records], lines, errors


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _parquet(data: bytes) -> tuple[list[str], list[list[Any]]]:
    import pyarrow.parquet as pq

    # Plain column data only: no pandas metadata, no extension types (pyarrow never unpickles them).
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise TableError(f"Not a readable Parquet file: {exc}") from exc
    unsupported = [f.name for f in table.schema if not _flat_arrow_type(f.type)]
    if unsupported:
        raise TableError(f"Nested or binary Parquet columns are not supported: {', '.join(unsupported)}")
    names = _column_names(table.column_names)
    return names, [list(row.values()) for row in table.to_pylist()]


def _flat_arrow_type(arrow_type) -> bool:
    import pyarrow.types as t

    return any(
        check(arrow_type)
        for check in (
            t.is_integer,
            t.is_floating,
            t.is_boolean,
            t.is_string,
            t.is_large_string,
            t.is_timestamp,
            t.is_date,
            t.is_decimal,
            t.is_dictionary,
            t.is_null,
        )
    )


def _column_names(header: list[str]) -> list[str]:
    """The header's names, NFC; refused when empty, invisible, too many, or alike once case folded."""
    if len(header) > MAX_COLUMNS:
        raise TableError(f"The table has {len(header):,} columns; the limit is {MAX_COLUMNS:,}.")
    names = [name_normalised(str(name).strip()) for name in header]
    if not names or any(not name for name in names):
        raise TableError("Every column needs a name in the header.")
    for position, name in enumerate(names, start=1):
        too_long = len(name) > MAX_COLUMN_NAME_CHARS
        problem = name_problem(name) or (f"is longer than {MAX_COLUMN_NAME_CHARS} characters" if too_long else None)
        if problem:
            raise TableError(f"The name of column {position} {problem}.")
    keys = [name_key(name) for name in names]
    duplicates = sorted({name for name, key in zip(names, keys, strict=True) if keys.count(key) > 1})
    if duplicates:
        raise TableError(f"Columns named twice: {', '.join(duplicates)}")
    return names


def _typed(names, raw, lines, text_columns: set[str]) -> tuple[list, list, list, list[RowError]]:
    columns, converted, reasons = [], {}, {}
    for position, name in enumerate(names):
        cells = [row[position] for row in raw]
        if name in text_columns:
            kind, values, invalid = "text", [None if _is_missing(v) else str(v).strip() for v in cells], []
        else:
            kind, values, invalid = _infer(cells)
        columns.append({"name": name, "type": kind})
        converted[name] = values
        for index in invalid:
            reasons.setdefault(index, f"column {name!r}: {raw[index][position]!r} is not a finite number")
        for index in _with_nul(cells):
            reasons.setdefault(index, f"column {name!r}: contains the NUL character, which cannot be stored")
    errors = [RowError(f"line {lines[i]}", reasons[i]) for i in sorted(reasons)]
    keep = [i for i in range(len(raw)) if i not in reasons]
    rows = [{name: converted[name][i] for name in names} for i in keep]
    return columns, rows, [lines[i] for i in keep], errors


def _with_nul(cells: list[Any]) -> list[int]:
    """Indices of text cells holding NUL (PostgreSQL refuses it); one scan of the joined column first, as
    almost no table has any."""
    strings = [cell for cell in cells if cell.__class__ is str]
    if not strings or "\x00" not in "".join(strings):
        return []
    return [index for index, cell in enumerate(cells) if cell.__class__ is str and "\x00" in cell]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if value.__class__ is str:  # the common case, checked first: this runs once per cell
        return (value.strip().lower() if value else value) in MISSING
    return isinstance(value, float) and math.isnan(value)


def _infer(cells: list[Any]) -> tuple[str, list[Any], list[int]]:
    """(type, typed values with None for missing, indices of cells that cannot be stored)."""
    import pandas as pd

    missing = [_is_missing(v) for v in cells]
    present = [(i, v.strip() if isinstance(v, str) else v) for i, v in enumerate(cells) if not missing[i]]
    values: list[Any] = [None] * len(cells)
    if not present:
        return "text", values, []
    if all(isinstance(v, bool) or (isinstance(v, str) and v.lower() in TRUE | FALSE) for _, v in present):
        for i, v in present:
            values[i] = v if isinstance(v, bool) else v.lower() in TRUE
        return "boolean", values, []
    if not any(isinstance(v, bool) for _, v in present):
        numbers = pd.to_numeric(pd.Series([v for _, v in present], dtype=object), errors="coerce")
        if numbers.notna().all():
            finite = [math.isfinite(n) for n in numbers]
            integral = all(
                float(n).is_integer() and abs(n) < 2**53 for n, ok in zip(numbers, finite, strict=False) if ok
            )
            invalid = []
            for (i, _), number, ok in zip(present, numbers, finite, strict=True):
                if ok:
                    values[i] = int(number) if integral else float(number)
                else:
                    invalid.append(i)
            return "numeric", values, invalid
    if all(isinstance(v, str) for _, v in present):
        dates = pd.to_datetime(pd.Series([v for _, v in present]), errors="coerce", format="ISO8601")
        if dates.notna().all():
            for (i, _), stamp in zip(present, dates, strict=True):
                values[i] = stamp.isoformat()
            return "datetime", values, []
    for i, v in present:
        values[i] = str(v)[:MAX_CELL_CHARS]
    distinct = len({values[i] for i, _ in present})
    categorical = distinct <= CATEGORICAL_MAX_VALUES and distinct <= max(2, CATEGORICAL_MAX_SHARE * len(present))
    return ("categorical" if categorical else "text"), values, []


def iter_batches(rows: list[Any], size: int) -> Iterator[tuple[int, list[Any]]]:
    for start in range(0, len(rows), size):
        yield start, rows[start : start + size]
