"""Parquet exports built as Arrow columns, a chunk of items at a time: the items' stored JSON is parsed by
pyarrow's JSON reader (typed by the project's columns) instead of row by row in Python, and only items with
answers or corrections take a Python step each. A million unlabeled rows took 96 s row by row. On PostgreSQL the
database hands over each chunk as two texts (its item fields as CSV, its stored JSON as JSON lines) built by one
query, read one chunk ahead on a second connection that shares the export's snapshot.

pyarrow is imported inside the functions: web processes import the exporters that import this module.
"""

import io
import json
import re
from collections.abc import Generator, Iterator
from functools import partial
from typing import Any

from django.db.models import TextField
from django.db.models.functions import Cast

from annotation.io import tables
from annotation.models import DataKind, Label, Project, ReviewStatus, TaskType
from core.ahead import read_ahead

PARQUET_CHUNK = 50_000  # items a chunk (and a Parquet row group): about 30 MB of Python values at its peak

# The item's own export values as a CSV line (the external id quoted, NULL as nothing), in the order of
# _fields_schema: cheaper for PostgreSQL to build than a JSON object (50 ms against 190 ms for 50,000 items) and
# for pyarrow to read.
ITEM_CSV = (
    "concat(id, ',\"', replace(external_id, '\"', '\"\"'), '\",', width, ',', height, ',', status, ',', "
    "review_status, ',', agreement)"
)


def parquet_tables(project: Project, filters: dict, schema) -> Generator[Any, None, None]:
    """The export's rows as Arrow tables shaped like `schema` (exporters._parquet_schema), in id order."""
    from django.db import connection

    from annotation.io.exporters import filtered_items

    items, label_filter = filtered_items(project, filters)
    names = dict(Label.objects.filter(project=project).values_list("id", "name"))
    chunks = _postgres_chunks(project, items) if connection.vendor == "postgresql" else _cursor_chunks(items)
    for fields, data in chunks:
        yield _chunk_table(project, fields, data, names, label_filter, schema)


def _postgres_chunks(project: Project, items) -> Iterator[tuple[Any, bytes]]:
    """(item fields as an Arrow table, the items' stored JSON as JSON lines) a chunk at a time, each chunk's text
    built by PostgreSQL in one query: row by row, reading a million items took Python about 4 s of cursor
    fetches and tuple handling. The chunks are id ranges found first in one pass over the ids, so that no chunk
    query depends on the planner guessing a LIMIT's cost (with stale statistics, `id > last ... LIMIT` had sorted
    the rest of the project for every chunk)."""
    from django.db import connection

    from annotation.io.exporters import shared_snapshot

    ids_sql, ids_params = items.values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM (" + ids_sql + ") AS q) AS s "
            "WHERE mod(n, %s) = 0 ORDER BY id",
            [*ids_params, PARQUET_CHUNK],
        )
        ends = [row[0] for row in cursor.fetchall()]
    data = "data::text" if project.data_kind == DataKind.TABULAR else "''"
    queries = []
    for last, end in zip([0, *ends], [*ends, None], strict=True):
        chunk = items.filter(id__gt=last) if end is None else items.filter(id__gt=last, id__lte=end)
        chunk_sql, chunk_params = chunk.values("id", *ITEM_FIELDS).query.sql_with_params()
        sql = f"SELECT string_agg({ITEM_CSV}, E'\\n'), string_agg({data}, E'\\n') FROM ({chunk_sql}) AS chunk"
        queries.append((sql, chunk_params))
    snapshot = shared_snapshot.get()
    if snapshot and len(queries) > 1:
        texts = read_ahead(partial(_snapshot_rows, queries, snapshot), name="export-read-ahead")
    else:
        texts = map(_fetch_one, queries)
    for fields_text, data_text in texts:
        if fields_text is None:
            return  # the last range was empty
        yield _csv_lines(fields_text.encode(), _fields_schema()), data_text.encode()


def _fetch_one(query: tuple[str, list]) -> tuple:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(*query)
        return cursor.fetchone()


def _snapshot_rows(queries: list[tuple[str, list]], snapshot: str) -> Iterator[tuple]:
    """Each query's row, read on a connection of this thread that shares the export's snapshot: run one chunk
    ahead (core.ahead), PostgreSQL builds the next chunk while the export parses and writes the last (a million
    items at load 4: 5.3-6.9 s, against 6.4-11.8 s one after the other)."""
    from django.db import connection, transaction

    if not re.fullmatch(r"[0-9A-F-]+", snapshot):
        raise ValueError(f"Not a snapshot id: {snapshot!r}")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            for sql, params in queries:
                cursor.execute(sql, params)
                yield cursor.fetchone()
    finally:
        connection.close()


ITEM_FIELDS = ("external_id", "data", "width", "height", "status", "review_status", "agreement")


def _fields_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("item_id", pa.int64()),
            ("external_id", pa.string()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("status", pa.string()),
            ("review_status", pa.string()),
            ("agreement", pa.float64()),
        ]
    )


def _cursor_chunks(items) -> Iterator[tuple[Any, bytes]]:
    """As _postgres_chunks, from one query read in chunks: one pass over the index in id order, where a query
    per chunk may each sort the rest of the project when the planner's statistics are stale."""
    rows = items.annotate(data_text=Cast("data", TextField())).values_list(
        "id", "external_id", "data_text", "width", "height", "status", "review_status", "agreement"
    )
    schema = _fields_schema()
    chunk: list[tuple] = []
    for row in rows.iterator(chunk_size=PARQUET_CHUNK):
        chunk.append(row)
        if len(chunk) == PARQUET_CHUNK:
            yield _python_fields(chunk, schema)
            chunk = []
    if chunk:
        yield _python_fields(chunk, schema)


def _python_fields(chunk: list[tuple], schema) -> tuple[Any, bytes]:
    import pyarrow as pa

    ids, external_ids, data, widths, heights, statuses, reviews, agreements = zip(*chunk, strict=True)
    columns = (ids, external_ids, widths, heights, statuses, reviews, agreements)
    arrays = [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema), "\n".join(data).encode()


def _csv_lines(text: bytes, schema) -> Any:
    """CSV lines without a header parsed by pyarrow as `schema` says: empty is null, except in text columns."""
    import pyarrow.csv as pacsv

    return pacsv.read_csv(
        io.BytesIO(text),
        read_options=pacsv.ReadOptions(
            column_names=schema.names, use_threads=False, block_size=max(1 << 20, len(text) + 1)
        ),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )


def _json_lines(text: bytes, schema) -> Any:
    """JSON lines parsed by pyarrow as `schema` says, in one call (fields not in it are ignored)."""
    import pyarrow.json as pajson

    return pajson.read_json(
        io.BytesIO(text),
        read_options=pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, len(text) + 1)),
        parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
    )


def _chunk_table(project: Project, fields, data: bytes, names: dict[int, str], label_filter: str | None, schema):
    import pyarrow as pa
    import pyarrow.compute as pc

    from annotation.io.exporters import answered_row, chunk_answers

    ids = fields.column("item_id").to_pylist()
    # A pattern, not a Python value to compare with: that would make pyarrow load pandas.
    is_corrected = pc.match_substring_regex(fields.column("review_status"), f"^{ReviewStatus.CORRECTED}$")
    corrected = fields.column("item_id").filter(is_corrected).to_pylist()
    answers, corrections = chunk_answers(project, sorted(ids), corrected, names)
    multi = project.task_type == TaskType.MULTI_LABEL
    count = len(ids)
    arrays: dict[str, Any] = _unanswered(count, schema)
    keep = []
    if answers or corrections:
        answered: dict[str, list[Any]] = {
            "label": [[] if multi else None] * count,
            "annotations": [[]] * count,
            "first_annotated_at": [None] * count,
            "last_annotated_at": [None] * count,
            "time_spent_ms": [None] * count,
        }
        for index, item_id in enumerate(ids):
            if item_id in answers or item_id in corrections:
                row = answered_row(answers.get(item_id, []), corrections.get(item_id))
                _answered_into(answered, index, row, multi)
                if label_filter in row["final_labels"]:
                    keep.append(index)
        arrays |= {name: pa.array(values, type=schema.field(name).type) for name, values in answered.items()}
    arrays["item_id"] = fields.column("item_id").combine_chunks()
    arrays["external_id"] = fields.column("external_id").combine_chunks()
    arrays["agreement"] = fields.column("agreement").combine_chunks()
    for name in ("status", "review_status"):
        arrays[name] = fields.column(name).combine_chunks().cast(schema.field(name).type)
    if project.data_kind == DataKind.TABULAR:
        arrays |= data_arrays(project, data, schema)
    else:
        arrays |= {
            "file": arrays["external_id"],
            "width": fields.column("width").combine_chunks(),
            "height": fields.column("height").combine_chunks(),
        }
    table = pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)
    if label_filter:
        table = table.take(pa.array(keep, type=pa.int64()))
    if ids != sorted(ids):  # PostgreSQL aggregates in the subquery's order: a guard, not the expected case
        table = table.sort_by("item_id")
    return table


def _unanswered(count: int, schema) -> dict[str, Any]:
    """The answer columns of `count` items without answers: no label (an empty list for multi-label), no
    answers (an empty list), no times. Built from buffers: a Python value would make pyarrow load pandas."""
    import pyarrow as pa

    def empty_lists(kind):
        offsets = pa.Array.from_buffers(pa.int32(), count + 1, [None, pa.py_buffer(bytes(4 * (count + 1)))])
        return pa.ListArray.from_arrays(offsets, pa.nulls(0, kind.value_type), type=kind)

    arrays = {name: pa.nulls(count, schema.field(name).type) for name in ANSWER_COLUMNS}
    arrays["annotations"] = empty_lists(schema.field("annotations").type)
    if pa.types.is_list(schema.field("label").type):
        arrays["label"] = empty_lists(schema.field("label").type)
    return arrays


ANSWER_COLUMNS = ("label", "annotations", "first_annotated_at", "last_annotated_at", "time_spent_ms")


def _answered_into(columns: dict[str, list], index: int, row: dict[str, Any], multi: bool) -> None:
    from datetime import datetime

    def parsed(value: str | None):
        return datetime.fromisoformat(value) if value else None

    final = row["final_labels"]
    columns["label"][index] = final if multi else (final[0] if final else None)
    columns["annotations"][index] = [{**a, "created_at": parsed(a["created_at"])} for a in row["annotations"]]
    columns["first_annotated_at"][index] = parsed(row["first_annotated_at"])
    columns["last_annotated_at"][index] = parsed(row["last_annotated_at"])
    columns["time_spent_ms"][index] = row["time_spent_ms"]


def data_arrays(project: Project, data: bytes, schema) -> dict[str, Any]:
    """The table columns of a chunk of items (their stored JSON, one object a line), as Arrow arrays typed as in
    `schema`. pyarrow's JSON reader parses them in one go; values it cannot take as their column's type (data
    stored before the column had a type) are converted one by one as the row-by-row export did."""
    import pyarrow as pa
    import pyarrow.types as t

    from annotation.io.exporters import data_column

    kinds = {c["name"]: schema.field(data_column(c["name"])).type for c in project.columns}

    def read_as(kind):  # what the JSON holds: decimals, dates and times are text
        if t.is_decimal(kind) or t.is_date(kind) or t.is_timestamp(kind) or t.is_dictionary(kind):
            return pa.string()
        return kind

    try:
        parsed = _json_lines(data, pa.schema([(name, read_as(kind)) for name, kind in kinds.items()]))
    except pa.ArrowInvalid:
        parsed = None
    rows = [json.loads(line) for line in data.split(b"\n")] if parsed is None else []
    arrays = {}
    for name, kind in kinds.items():
        if parsed is None:
            arrays[data_column(name)] = pa.array([tables.arrow_value(r.get(name), kind) for r in rows], type=kind)
        elif read_as(kind) == kind:
            arrays[data_column(name)] = parsed.column(name).combine_chunks()
        elif t.is_dictionary(kind):
            arrays[data_column(name)] = parsed.column(name).combine_chunks().cast(kind)
        else:
            values = parsed.column(name).to_pylist()
            arrays[data_column(name)] = pa.array([tables.arrow_value(v, kind) for v in values], type=kind)
    return arrays
