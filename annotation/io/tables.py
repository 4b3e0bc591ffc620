"""Reading tables (CSV/TSV, JSONL, Parquet) batch by batch into typed records, with per-row errors. No Django here.

Memory stays bounded by the batch, whatever the file's size: CSV goes through pyarrow's streaming reader, Parquet
row group by row group, JSONL line by line. A text file is read twice: once to infer each column's type over the
whole file, once to convert. Inference never changes a value: a column is numeric only when every value is a plain
number without leading zeros ("00501" keeps its zeros as text), the missing-value words (NA, null, ...) count as
missing in numeric, boolean and date columns only, and text keeps its spaces. Parquet keeps its declared types.

Every value ends up as a JSON scalar; the column's `dtype` says how to read it back exactly: int64 as int, float64
as float, decimal128(p, s) as a decimal string, date32 as "YYYY-MM-DD", timestamp[us] / timestamp[us, tz=UTC] as
ISO 8601 text, bool as bool, string as str; missing values as None.
"""

import codecs
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

# pyarrow and charset-normalizer are imported inside the functions that read a table: web processes load this
# module for its names and formats, and only the few requests that preview a table need them.
from core.validation import MAX_COLUMN_NAME_CHARS, MAX_COLUMNS, name_key, name_normalised, name_problem

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
TRUE, FALSE = frozenset({"true", "yes", "y", "t"}), frozenset({"false", "no", "n", "f"})
TYPES = ("numeric", "boolean", "datetime", "categorical", "text")
SNIFF_BYTES = 64 * 1024
PREVIEW_BYTES = 256 * 1024  # the preview reads at most this much of the file's head
BATCH_ROWS = 5_000
BLOCK_BYTES = 1 << 20  # pyarrow's CSV block: a batch is the rows of one block
CATEGORICAL_MAX_SHARE = 0.05
CATEGORICAL_MAX_VALUES = 50
MAX_CELL_CHARS = 131_072  # a longer text cell is cut to this length (and the import says so)
FORMATS = ("csv", "tsv", "jsonl", "parquet")
DELIMITERS = (",", ";", "\t", "|")
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
INTEGER = re.compile(r"^\s*[+-]?(0|[1-9][0-9]*)\s*$")
DECIMAL = re.compile(r"^\s*[+-]?(0|[1-9][0-9]*)\.([0-9]+)\s*$")
FLOAT = re.compile(r"^\s*[+-]?(0|[1-9][0-9]*)?(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?$")
INT64_MAX = 2**63 - 1
FLOAT_DIGITS = 15  # significant digits a float64 keeps exactly; a longer plain decimal is stored as a decimal


class TableError(ValueError):
    """The table cannot be read at all (as opposed to a bad row, which is reported and may be skipped)."""


@dataclass
class RowError:
    where: str  # "row 7" (the header is row 1) or "line 7" (JSONL)
    reason: str


@dataclass
class Column:
    name: str
    type: str  # numeric | boolean | datetime | categorical | text
    dtype: str  # how the stored JSON value reads back exactly: int64, float64, decimal128(p, s), date32, ...

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type, "dtype": self.dtype}


@dataclass
class Batch:
    rows: list[dict[str, Any]]  # typed values
    where: list[str]  # each row's place in the file, for messages
    errors: list[RowError] = field(default_factory=list)
    notes: list[RowError] = field(default_factory=list)  # rows kept with a change the user should know (truncation)


Opener = Callable[[], IO[bytes]]


def format_from_name(name: str) -> str:
    suffix = name.lower().rsplit(".", 1)[-1]
    return {"txt": "csv", "ndjson": "jsonl", "pq": "parquet"}.get(suffix, suffix)


class TableReader:
    """A table file read in batches. `open` returns a fresh binary file object at the start each time it is
    called (the file is read twice). `types` overrides the inferred type of the named columns; `text_columns`
    (ids, labels) keep their text as written."""

    def __init__(
        self,
        open: Opener,
        fmt: str,
        *,
        encoding: str | None = None,
        delimiter: str | None = None,
        text_columns=(),
        types: dict[str, str] | None = None,
        limit_bytes: int | None = None,
    ) -> None:
        if fmt not in FORMATS:
            raise TableError(f"Unsupported table format {fmt!r}; use one of {', '.join(FORMATS)}.")
        self.fmt, self.limit_bytes = fmt, limit_bytes
        head_only = limit_bytes is not None and fmt != "parquet"  # a Parquet file's schema is at its end
        self._open = _head_opener(open, limit_bytes) if head_only else open
        self.complete = True  # False when only the head was read (a preview of a longer file)
        self.text_columns, self.overrides = set(text_columns), dict(types or {})
        self.encoding, self.delimiter = "binary", None
        if fmt != "parquet":
            with open() as handle:
                head = handle.read(SNIFF_BYTES if limit_bytes is None else max(SNIFF_BYTES, limit_bytes) + 1)
            if limit_bytes is not None and len(head) > limit_bytes:
                self.complete = False
            self.encoding = detect_encoding(head, encoding)
            if fmt != "jsonl":
                text = _decoded_head(head[:SNIFF_BYTES], self.encoding)
                self.delimiter = delimiter or ("\t" if fmt == "tsv" else sniff_delimiter(text))
        self.columns: list[Column] = self._infer()
        for name in self.overrides:
            if name not in {c.name for c in self.columns}:
                raise TableError(f"A type is set for column {name!r}, which the table does not have.")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def batches(self) -> Iterator[Batch]:
        for raw in self._raw_batches():
            present = dict(zip(raw.names, raw.columns, strict=True))
            blank = [None] * len(raw.where)
            raw.columns = [present.get(name, blank) for name in self.names]  # JSONL: keys absent from a batch
            yield _convert(raw, self.columns)

    def _infer(self) -> list[Column]:
        if self.fmt == "parquet":
            return self._parquet_columns()
        states: dict[str, _Inference] = {}
        for raw in self._raw_batches():
            for name, cells in zip(raw.names, raw.columns, strict=True):
                if name not in self.text_columns:  # ids and labels keep their text: nothing to infer
                    states.setdefault(name, _Inference()).update(cells)
        names = self._names or list(states)
        columns = []
        for name in names:
            state = states.get(name) or _Inference()
            kind, dtype = ("text", "string") if name in self.text_columns else state.result()
            columns.append(_overridden(Column(name, kind, dtype), self.overrides.get(name)))
        return columns

    def _parquet_columns(self) -> list[Column]:
        schema = _parquet_file(self._open()).schema_arrow
        unsupported = [f.name for f in schema if not _flat_arrow_type(f.type)]
        if unsupported:
            raise TableError(f"Nested or binary Parquet columns are not supported: {', '.join(unsupported)}")
        self._names = _column_names(schema.names)
        columns = []
        for name, arrow_field in zip(self._names, schema, strict=True):
            kind, dtype = _arrow_column(arrow_field.type)
            if name in self.text_columns:
                kind, dtype = "text", "string"
            columns.append(Column(name, kind, dtype))
        return [_overridden(c, self.overrides.get(c.name)) for c in columns]

    _names: list[str] | None = None

    def _raw_batches(self) -> Iterator["_Raw"]:
        if self.fmt == "parquet":
            for raw in _parquet_batches(self._open(), self._names or []):
                yield raw
                if self.limit_bytes is not None:  # a preview: the first batch is the head
                    self.complete = len(raw.where) < BATCH_ROWS
                    return
        elif self.fmt == "jsonl":
            for raw in _jsonl_batches(self._open(), self.encoding, truncated=not self.complete):
                raw.names = _column_names(raw.names) if raw.names else []
                self._names = _column_names(list(dict.fromkeys([*(self._names or []), *raw.names])))
                yield raw
        else:
            self._names, batches = _csv_batches(
                self._open(), self.encoding, self.delimiter, truncated=not self.complete
            )
            for raw in batches:
                raw.names = self._names
                yield raw


def read_table(data: bytes, fmt: str, **options) -> tuple[TableReader, list[dict[str, Any]], list[RowError]]:
    """The whole of a small table in memory (a manifest): reader, typed rows, errors."""
    reader = TableReader(lambda: io.BytesIO(data), fmt, **options)
    rows, errors = [], []
    for batch in reader.batches():
        rows += batch.rows
        errors += batch.errors
    return reader, rows, errors


# --- encodings --------------------------------------------------------------------------------------


def detect_encoding(head: bytes, declared: str | None) -> str:
    """The text encoding of a file from its first bytes: the declared one (checked), a byte order mark, UTF-8, or
    charset-normalizer's best guess. A binary file, or one no encoding reads, raises TableError with the reason."""
    if declared:
        try:
            if not codecs.lookup(declared)._is_text_encoding:  # base64, rot13 and the like
                raise LookupError(declared)
        except LookupError as exc:
            raise TableError(f"{declared!r} is not a text encoding this server knows.") from exc
        try:
            _decoded_head(head, declared)
        except UnicodeDecodeError as exc:
            raise TableError(f"The file is not valid {declared}: {exc}") from exc
        return declared
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    if not head:
        raise TableError("The file is empty.")
    if head.count(b"\x00") > max(8, len(head) // 100):  # a stray NUL is a bad row; many are binary data
        raise TableError(
            "This is not a text file: it holds NUL bytes (binary data, or UTF-16/32 without a byte order mark)."
        )
    try:
        _decoded_head(head, "utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = from_bytes(head)
    best = matches.best()
    if best is not None and _western(matches, best):
        return "cp1252"
    if best is None:
        raise TableError(
            "The text encoding cannot be recognised (is this a binary file?); choose one in the import options."
        )
    return best.encoding


def _western(matches, best) -> bool:
    """Whether cp1252 reads the head as well as charset-normalizer's best guess (a few accented letters fit
    several code pages equally; the most common one wins the tie)."""
    tied = [m for m in matches if m.chaos <= best.chaos]
    return any("cp1252" in (m.encoding, *m.could_be_from_charset) for m in tied)


def _decoded_head(head: bytes, encoding: str) -> str:
    """The head decoded strictly, ignoring a character cut off at its end."""
    return codecs.getincrementaldecoder(encoding)(errors="strict").decode(head, final=False)


def sniff_delimiter(text: str) -> str:
    """The candidate that splits the header most often, when the sniffer agrees or cannot decide."""
    import csv

    header = text.split("\n", 1)[0]
    counts = {candidate: header.count(candidate) for candidate in DELIMITERS}
    best = max(counts, key=counts.get)
    try:
        sniffed = csv.Sniffer().sniff(text[:SNIFF_BYTES], delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        sniffed = None
    return sniffed if sniffed and counts.get(sniffed, 0) >= counts[best] else (best if counts[best] else ",")


def _head_opener(open: Opener, limit: int) -> Opener:
    """The file's first `limit` bytes, cut after the last line break (a preview reads no more)."""

    def opened() -> IO[bytes]:
        with open() as handle:
            head = handle.read(limit + 1)
        if len(head) > limit:
            head = head[: head[:limit].rfind(b"\n") + 1] or head[:limit]
        return io.BytesIO(head)

    return opened


# --- raw batches ------------------------------------------------------------------------------------


@dataclass
class _Raw:
    names: list[str]
    columns: list[list[Any]]  # cell values as read: str for CSV, JSON scalars for JSONL, Python values for Parquet
    where: list[str]
    errors: list[RowError]


def _csv_batches(
    handle: IO[bytes], encoding: str, delimiter: str, *, truncated: bool
) -> tuple[list[str], Iterator[_Raw]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = _csv_header(handle, encoding, delimiter)
    names = _column_names(header)
    handle.seek(0)
    bad: list[tuple[int | None, str]] = []

    def invalid(row) -> str:
        bad.append((row.number, f"{row.actual_columns} fields, expected {row.expected_columns}"))
        return "skip"

    try:
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=BLOCK_BYTES, encoding=_arrow_encoding(encoding)
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise TableError(f"The file cannot be read as {delimiter!r}-separated text: {_arrow_message(exc)}") from exc
    return names, _csv_stream(reader, bad, truncated)


def _csv_header(handle: IO[bytes], encoding: str, delimiter: str) -> list[str]:
    import csv

    text = io.TextIOWrapper(handle, encoding=encoding, newline="", errors="strict")
    try:
        header = next(csv.reader(text, delimiter=delimiter, strict=True), None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise TableError(f"Row 1 (the header): {exc}") from exc
    finally:
        text.detach()
    if not header or header == [""]:
        raise TableError("The file is empty.")
    return header


def _csv_stream(reader, bad: list, truncated: bool) -> Iterator[_Raw]:
    import pyarrow as pa

    record = 1  # the header
    with reader:  # closed however the stream ends: Arrow's reading-ahead stops with it, not at interpreter exit
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                if truncated:
                    break  # a preview's head ends inside a quoted value: show what came before
                raise TableError(f"The file cannot be read past row {record}: {_arrow_message(exc)}") from exc
            skipped = sorted(number for number, _ in bad if number is not None)
            errors = [RowError(f"row {number}" if number else "a row", reason) for number, reason in bad]
            bad.clear()
            where, taken = [], set(skipped)
            while len(where) < batch.num_rows:
                record += 1
                if record not in taken:
                    where.append(f"row {record}")
            record = max([record, *skipped])
            yield _Raw([], list(batch.columns), where, errors)  # Arrow string arrays: checked and converted vectorised
    if bad:
        yield _Raw([], [], [], [RowError(f"row {n}" if n else "a row", reason) for n, reason in bad])


# pa.array() and pa.scalar() (and compute calls given Python values) load pandas on their first use, which took
# a preview's first call in a process from about 0.4 s to 0.9 s; these build the few constants a read needs
# from raw buffers instead.
def _strings(values: list[str]):
    """An Arrow string array of `values`."""
    import numpy as np
    import pyarrow as pa

    data = [value.encode() for value in values]
    offsets = np.cumsum([0, *map(len, data)], dtype=np.int32)
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(data)))


def _constant(value: str | int):
    """An Arrow scalar of a string or an int64."""
    import numpy as np
    import pyarrow as pa

    if isinstance(value, str):
        return _strings([value])[0]
    return pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(np.array([value], dtype=np.int64).tobytes())])[0]


def _arrow_encoding(encoding: str) -> str:
    return "utf8" if encoding == "utf-8" else encoding


def _arrow_message(exc: Exception) -> str:
    return str(exc).split("\n", 1)[0]


def _jsonl_batches(handle: IO[bytes], encoding: str, *, truncated: bool) -> Iterator[_Raw]:
    text = io.TextIOWrapper(handle, encoding=encoding, errors="strict")
    records, where, errors, number = [], [], [], 0
    try:
        for number, line in enumerate(text, start=1):
            if line.strip():
                _jsonl_record(line, number, records, where, errors)
            if len(records) >= BATCH_ROWS:
                yield _from_records(records, where, errors)
                records, where, errors = [], [], []
    except UnicodeDecodeError as exc:
        raise TableError(f"Line {number + 1} is not valid {encoding}: {exc}") from exc
    if truncated and errors and errors[-1].where == f"line {number}":
        errors.pop()  # the preview's head cut the last line
    yield _from_records(records, where, errors)


def _jsonl_record(line: str, number: int, records: list, where: list, errors: list) -> None:
    try:
        record = json.loads(line, parse_constant=_reject_constant)
    except ValueError as exc:
        errors.append(RowError(f"line {number}", f"not valid JSON: {exc}"))
        return
    if not isinstance(record, dict):
        errors.append(RowError(f"line {number}", "each line must be a JSON object"))
        return
    nested = [key for key, value in record.items() if isinstance(value, dict | list)]
    if nested:
        errors.append(RowError(f"line {number}", f"nested values are not supported: {', '.join(nested)}"))
        return
    records.append(record)
    where.append(f"line {number}")


def _from_records(records: list[dict], where: list[str], errors: list[RowError]) -> _Raw:
    names = list(dict.fromkeys(key for record in records for key in record))
    return _Raw(names, [[record.get(name) for record in records] for name in names], where, errors)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _parquet_file(handle: IO[bytes]):
    import pyarrow.parquet as pq

    # Plain column data only: no pandas metadata, no extension types (pyarrow never unpickles them).
    try:
        return pq.ParquetFile(handle)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise TableError(f"Not a readable Parquet file: {exc}") from exc


def _parquet_batches(handle: IO[bytes], names: list[str]) -> Iterator[_Raw]:
    parquet, row = _parquet_file(handle), 1
    try:
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
            yield _Raw(
                names, [c.to_pylist() for c in batch.columns], [f"row {row + n}" for n in range(batch.num_rows)], []
            )
            row += batch.num_rows
    except TableError:
        raise
    except Exception as exc:
        raise TableError(f"Not a readable Parquet file: {exc}") from exc


def _flat_arrow_type(arrow_type) -> bool:
    import pyarrow.types as t

    if t.is_dictionary(arrow_type):
        return t.is_string(arrow_type.value_type) or t.is_large_string(arrow_type.value_type)
    checks = (t.is_integer, t.is_floating, t.is_boolean, t.is_string, t.is_large_string, t.is_timestamp, t.is_date)
    return any(check(arrow_type) for check in (*checks, t.is_decimal, t.is_null))


def _arrow_column(arrow_type) -> tuple[str, str]:
    """(type, dtype) of a Parquet column: its declared type, kept."""
    import pyarrow.types as t

    if t.is_boolean(arrow_type):
        return "boolean", "bool"
    if t.is_integer(arrow_type):
        return "numeric", "int64"
    if t.is_floating(arrow_type):
        return "numeric", "float64"
    if t.is_decimal(arrow_type):
        return "numeric", f"decimal128({arrow_type.precision}, {arrow_type.scale})"
    if t.is_date(arrow_type):
        return "datetime", "date32"
    if t.is_timestamp(arrow_type):
        return "datetime", "timestamp[us, tz=UTC]" if arrow_type.tz else "timestamp[us]"
    if t.is_dictionary(arrow_type):
        return "categorical", "string"
    return "text", "string"


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


# --- inference --------------------------------------------------------------------------------------


def _is_missing_word(value: Any) -> bool:
    if value is None:
        return True
    if value.__class__ is str:
        return value.strip().lower() in MISSING
    return isinstance(value, float) and math.isnan(value)


class _Inference:
    """What a column's values allow, narrowed batch by batch over the whole file."""

    def __init__(self) -> None:
        self.possible = {"boolean", "int", "decimal", "float", "date", "timestamp"}
        self.present, self.distinct = 0, set()
        self.values = 0  # present and not a missing-value word
        self.zoned = self.naive = False
        self.int_max = self.scale = self.digits = 0
        self.non_string = False

    def update(self, cells) -> None:
        if not isinstance(cells, list):
            self._update_arrow(cells)
            return
        for value in cells:
            if value is None or value == "":
                continue
            self.present += 1
            if len(self.distinct) <= CATEGORICAL_MAX_VALUES:
                self.distinct.add(value)
            if value.__class__ is not str:
                self.values += 1
                self._typed(value)
            elif not _is_missing_word(value):
                self.values += 1
                if self.possible:
                    self._text(value)

    def _update_arrow(self, cells) -> None:
        """The same narrowing as for Python values, on a batch of CSV text at once (pyarrow compute)."""
        import pyarrow.compute as pc

        lowered = pc.utf8_lower(pc.utf8_trim_whitespace(cells))
        present = pc.filter(cells, pc.not_equal(cells, _constant("")))
        self.present += len(present)
        if len(self.distinct) <= CATEGORICAL_MAX_VALUES:
            self.distinct.update(pc.unique(present)[: CATEGORICAL_MAX_VALUES + 1].to_pylist())
        values = pc.filter(cells, pc.invert(pc.is_in(lowered, value_set=_strings(sorted(MISSING)))))
        self.values += len(values)
        if not len(values) or not self.possible:
            return
        possible = self.possible

        def every(pattern: re.Pattern) -> bool:
            return pc.all(pc.match_substring_regex(values, pattern.pattern)).as_py()

        if (
            "boolean" in possible
            and not pc.all(
                pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(values)), value_set=_strings(sorted(TRUE | FALSE)))
            ).as_py()
        ):
            possible.discard("boolean")
        if "int" in possible:
            if every(INTEGER):
                digits = pc.utf8_length(pc.utf8_trim(values, characters=" \t+-"))
                if pc.max(digits).as_py() >= 19:  # past int64 maybe: the long ones are measured exactly
                    long = pc.filter(values, pc.greater_equal(digits, _constant(19))).to_pylist()
                    self.int_max = max(self.int_max, *(abs(int(v)) for v in long))
                return
            possible.discard("int")
        if "decimal" in possible:
            if every(DECIMAL):
                trimmed = pc.utf8_trim(values, characters=" \t+-")
                point = pc.find_substring(trimmed, ".")
                self.digits = max(self.digits, pc.max(point).as_py())
                self.scale = max(
                    self.scale, pc.max(pc.subtract(pc.subtract(pc.utf8_length(trimmed), point), _constant(1))).as_py()
                )
            else:
                possible.discard("decimal")
        if possible & {"float", "decimal"} and not (every(FLOAT) and every(re.compile(r"[0-9]"))):
            possible -= {"float", "decimal"}
        if "date" in possible:
            dates = pc.strptime(values, format="%Y-%m-%d", unit="s", error_is_null=True)
            if not (every(DATE) and dates.null_count == 0):
                possible.discard("date")
        if "timestamp" in possible and not (
            every(TIMESTAMP) and all(_timestamp_ok(v, self) for v in values.to_pylist())
        ):
            possible.discard("timestamp")

    def _typed(self, value: Any) -> None:
        """A JSON value: its own type decides (true stays a boolean, 7 a number)."""
        self.non_string = True
        if isinstance(value, bool):
            self.possible &= {"boolean"}
        elif isinstance(value, int):
            self.possible &= {"int", "float", "decimal"}
            self.int_max = max(self.int_max, abs(value))
        elif isinstance(value, float):
            self.possible &= {"float"}
        else:
            self.possible = set()

    def _text(self, value: str) -> None:
        possible = self.possible
        lowered = value.strip().lower()
        if "boolean" in possible and lowered not in TRUE and lowered not in FALSE:
            possible.discard("boolean")
        if possible & {"int", "decimal", "float"}:
            self._number(value)
        if "date" in possible and not (DATE.match(value) and _date_ok(value)):
            possible.discard("date")
        if "timestamp" in possible and not (TIMESTAMP.match(value) and _timestamp_ok(value, self)):
            possible.discard("timestamp")

    def _number(self, value: str) -> None:
        possible = self.possible
        if INTEGER.match(value):
            self.int_max = max(self.int_max, abs(int(value)))
            return
        possible.discard("int")
        match = DECIMAL.match(value)
        if match:
            self.scale = max(self.scale, len(match.group(2)))
            self.digits = max(self.digits, len(match.group(1)))
        else:
            possible.discard("decimal")
        if not FLOAT.match(value) or not any(ch.isdigit() for ch in value):
            possible -= {"float", "decimal"}

    def result(self) -> tuple[str, str]:
        if not self.values or not self.possible:
            return self._textual()  # a column of only "NA"s is text: the words are its values
        possible = self.possible
        if "boolean" in possible:
            return "boolean", "bool"
        if "int" in possible:
            if self.int_max <= INT64_MAX:
                return "numeric", "int64"
            digits = len(str(self.int_max))
            return ("numeric", f"decimal128({digits}, 0)") if digits <= 38 else self._textual()
        if "decimal" in possible and self.digits + self.scale > FLOAT_DIGITS and self.digits + self.scale <= 38:
            return "numeric", f"decimal128({self.digits + self.scale}, {self.scale})"
        if "float" in possible or "decimal" in possible:
            return "numeric", "float64"
        if "date" in possible:
            return "datetime", "date32"
        if "timestamp" in possible and not (self.zoned and self.naive):
            return "datetime", "timestamp[us, tz=UTC]" if self.zoned else "timestamp[us]"
        return self._textual()

    def _textual(self) -> tuple[str, str]:
        distinct = len(self.distinct)
        if self.non_string and not all(isinstance(v, str) for v in self.distinct):
            return "text", "string"  # a JSON column mixing numbers and text: every value becomes text
        small = distinct <= CATEGORICAL_MAX_VALUES and distinct <= max(2, CATEGORICAL_MAX_SHARE * self.present)
        return ("categorical" if small and self.present else "text"), "string"


def _date_ok(value: str) -> bool:
    try:
        date.fromisoformat(value)
        return True
    except ValueError:
        return False


def _timestamp_ok(value: str, state: _Inference) -> bool:
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return False
    if stamp.tzinfo is None:
        state.naive = True
    else:
        state.zoned = True
    return True


def _overridden(column: Column, wanted: str | None) -> Column:
    """The column with the type the user chose in the preview; values that do not fit become row errors."""
    if wanted is None or wanted == column.type:
        return column
    if wanted not in TYPES:
        raise TableError(f"Unknown column type {wanted!r}; use one of {', '.join(TYPES)}.")
    dtype = {"numeric": "float64", "boolean": "bool", "datetime": "timestamp[us]"}.get(wanted, "string")
    if wanted == "numeric" and column.dtype.startswith(("int64", "decimal")):
        dtype = column.dtype
    if wanted == "datetime" and column.dtype.startswith(("date32", "timestamp")):
        dtype = column.dtype
    return Column(column.name, wanted, dtype)


# --- conversion -------------------------------------------------------------------------------------


class _Invalid(ValueError):
    pass


def _convert(raw: _Raw, columns: list[Column]) -> Batch:
    converters = [_converter(column) for column in columns]
    count = len(raw.where)
    values: list[list[Any]] = []
    reasons: dict[int, str] = {}
    notes: list[RowError] = []
    for column, convert, cells in zip(columns, converters, raw.columns, strict=True):
        if not isinstance(cells, list):
            values.append(_arrow_converted(column, cells, raw.where, reasons, notes))
            continue
        out = [None] * count
        for index, cell in enumerate(cells):
            if cell is None or cell == "":
                continue  # an empty cell is missing in every column
            try:
                out[index] = convert(cell)
            except _Invalid as exc:
                reasons.setdefault(index, f"column {column.name!r}: {exc}")
                continue
            if out[index].__class__ is str:
                if "\x00" in out[index]:
                    reasons.setdefault(
                        index, f"column {column.name!r}: contains the NUL character, which cannot be stored"
                    )
                elif len(out[index]) > MAX_CELL_CHARS:
                    out[index] = out[index][:MAX_CELL_CHARS]
                    notes.append(
                        RowError(raw.where[index], f"column {column.name!r}: cut to {MAX_CELL_CHARS:,} characters")
                    )
        values.append(out)
    names = [column.name for column in columns]
    keep = [i for i in range(count) if i not in reasons]
    rows = [dict(zip(names, cells, strict=True)) for cells in zip(*values, strict=True)] if values else []
    rows = rows or [{} for _ in range(count)]
    if reasons:
        rows = [rows[i] for i in keep]
    errors = raw.errors + [RowError(raw.where[i], reasons[i]) for i in sorted(reasons)]
    return Batch(rows=rows, where=[raw.where[i] for i in keep], errors=errors, notes=notes)


def _arrow_converted(column: Column, cells, where: list[str], reasons: dict[int, str], notes: list) -> list[Any]:
    """A batch of one CSV column (Arrow strings) as typed Python values, vectorised where the type allows; cells
    that do not fit the column's type get their reason in `reasons`, by row index."""
    import pyarrow as pa
    import pyarrow.compute as pc

    empty = pc.equal(cells, _constant(""))
    if column.type in ("text", "categorical"):
        out = pc.if_else(empty, pa.nulls(1, pa.string())[0], cells).to_pylist()
        if pc.any(pc.match_substring(cells, "\x00")).as_py():
            for index, value in enumerate(out):
                if value and "\x00" in value:
                    reasons.setdefault(
                        index, f"column {column.name!r}: contains the NUL character, which cannot be stored"
                    )
        if pc.max(pc.utf8_length(cells)).as_py() > MAX_CELL_CHARS:
            for index, value in enumerate(out):
                if value and len(value) > MAX_CELL_CHARS:
                    out[index] = value[:MAX_CELL_CHARS]
                    notes.append(
                        RowError(where[index], f"column {column.name!r}: cut to {MAX_CELL_CHARS:,} characters")
                    )
        return out
    trimmed = pc.utf8_trim_whitespace(cells)
    missing = pc.is_in(pc.utf8_lower(trimmed), value_set=_strings(sorted(MISSING)))
    fits = {
        "bool": lambda: pc.is_in(pc.utf8_lower(trimmed), value_set=_strings(sorted(TRUE | FALSE))),
        "int64": lambda: pc.match_substring_regex(cells, INTEGER.pattern),
        "float64": lambda: pc.and_(
            pc.match_substring_regex(cells, FLOAT.pattern), pc.match_substring_regex(cells, "[0-9]")
        ),
        "date32": lambda: pc.match_substring_regex(cells, DATE.pattern),
    }.get(column.dtype)
    if fits is None:  # decimals and timestamps: exact text, value by value
        convert = _converter(column)
        return [_checked(convert, value, index, column, reasons) for index, value in enumerate(cells.to_pylist())]
    good = pc.or_(missing, fits())
    if not pc.all(good).as_py():
        convert = _converter(column)
        for index in pc.indices_nonzero(pc.invert(good)).to_pylist():
            _checked(convert, cells[index].as_py(), index, column, reasons)
    usable = pc.if_else(pc.or_(missing, pc.invert(good)), pa.nulls(1, pa.string())[0], trimmed)
    if column.dtype == "bool":
        out = pc.is_in(pc.utf8_lower(usable), value_set=_strings(sorted(TRUE)))
        return pc.if_else(usable.is_null(), pa.nulls(1, pa.bool_())[0], out).to_pylist()
    if column.dtype == "date32":
        dates = pc.strptime(usable, format="%Y-%m-%d", unit="s", error_is_null=True)
        for index in pc.indices_nonzero(pc.and_(dates.is_null(), usable.is_valid())).to_pylist():
            reasons.setdefault(index, f"column {column.name!r}: {cells[index].as_py()!r} is not a date (YYYY-MM-DD)")
        return pc.cast(pc.cast(dates, pa.date32()), pa.string()).to_pylist()
    numbers = pc.cast(usable, pa.int64() if column.dtype == "int64" else pa.float64())
    if column.dtype == "float64":
        finite = pc.or_kleene(pc.is_finite(numbers), pc.is_null(numbers))
        for index in pc.indices_nonzero(pc.invert(finite)).to_pylist():
            reasons.setdefault(index, f"column {column.name!r}: {cells[index].as_py()!r} is not a finite number")
    return numbers.to_pylist()


def _checked(convert, value: Any, index: int, column: Column, reasons: dict[int, str]) -> Any:
    if value is None or value == "":
        return None
    try:
        return convert(value)
    except _Invalid as exc:
        reasons.setdefault(index, f"column {column.name!r}: {exc}")
        return None


def _converter(column: Column) -> Callable[[Any], Any]:
    dtype = column.dtype
    if column.type in ("text", "categorical"):
        return _to_text
    if dtype == "bool":
        return _missing_or(_to_bool)
    if dtype == "int64":
        return _missing_or(_to_int)
    if dtype.startswith("decimal"):
        return _missing_or(_to_decimal)
    if dtype == "float64":
        return _missing_or(_to_float)
    if dtype == "date32":
        return _missing_or(_to_date)
    return _missing_or(_to_timestamp)


def _missing_or(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def converted(value: Any) -> Any:
        if value.__class__ is str and value.strip().lower() in MISSING:
            return None
        if isinstance(value, float) and math.isnan(value):
            return None
        return convert(value)

    return converted


def _to_text(value: Any) -> Any:
    if value.__class__ is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise _Invalid(f"{value!r} is not yes/no or true/false")


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value.__class__ is str and INTEGER.match(value):
        return int(value)
    raise _Invalid(f"{value!r} is not a whole number")


def _to_decimal(value: Any) -> str:
    if isinstance(value, Decimal | int) and not isinstance(value, bool):
        return str(value)
    if value.__class__ is str and (INTEGER.match(value) or DECIMAL.match(value)):
        return value.strip()
    raise _Invalid(f"{value!r} is not a decimal number")


def _to_float(value: Any) -> float | int:
    if isinstance(value, bool):
        raise _Invalid(f"{value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        number = value
    elif value.__class__ is str and FLOAT.match(value) and any(ch.isdigit() for ch in value):
        number = float(value)
    else:
        raise _Invalid(f"{value!r} is not a number")
    if not math.isfinite(number):
        raise _Invalid(f"{value!r} is not a finite number")
    return number


def _to_date(value: Any) -> str:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError as exc:
        raise _Invalid(f"{value!r} is not a date (YYYY-MM-DD)") from exc


def _to_timestamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).isoformat()
    try:
        return datetime.fromisoformat(str(value).strip()).isoformat()
    except ValueError as exc:
        raise _Invalid(f"{value!r} is not a date and time (ISO 8601)") from exc


# --- typed values back to Arrow (exports) -----------------------------------------------------------


def arrow_type(column: dict[str, str]):
    """The Arrow type a stored column is exported as (columns stored before dtypes existed: from their type)."""
    import pyarrow as pa

    dtype = column.get("dtype") or {"numeric": "float64", "boolean": "bool"}.get(column["type"], "string")
    if column["type"] == "categorical":
        return pa.dictionary(pa.int32(), pa.string())
    if dtype.startswith("decimal128("):
        precision, scale = (int(part) for part in dtype[len("decimal128(") : -1].split(","))
        return pa.decimal128(precision, scale)
    if dtype.startswith("timestamp"):
        return pa.timestamp("us", tz="UTC" if "tz=" in dtype else None)
    if column["type"] == "datetime" and dtype == "string":
        return pa.string()  # stored before dtypes existed: ISO text as it was
    return {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_(), "date32": pa.date32()}.get(
        dtype, pa.string()
    )


def arrow_value(value: Any, arrow_kind) -> Any:
    """A stored JSON value as the Python value pyarrow writes for `arrow_kind`."""
    import pyarrow.types as t

    if value is None:
        return None
    if t.is_decimal(arrow_kind):
        return Decimal(str(value))
    if t.is_date(arrow_kind):
        return date.fromisoformat(value) if isinstance(value, str) else value
    if t.is_timestamp(arrow_kind):
        stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
        if arrow_kind.tz and stamp.tzinfo is None:
            from datetime import UTC

            stamp = stamp.replace(tzinfo=UTC)
        return stamp
    if t.is_integer(arrow_kind):
        return int(value)
    if t.is_floating(arrow_kind):
        return float(value)
    if t.is_boolean(arrow_kind):
        return bool(value)
    return value if isinstance(value, str) else _to_text(value)
