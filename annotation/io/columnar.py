"""Parquet exports built as Arrow columns, a chunk of items at a time: the items' stored JSON is parsed by
pyarrow's JSON reader (typed by the project's columns) instead of row by row in Python, and only items with
answers or corrections take a Python step each. A million unlabeled rows took 96 s row by row.

pyarrow is imported inside the functions: web processes import the exporters that import this module.
"""

import io
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import TextField
from django.db.models.functions import Cast

from annotation.io import tables
from annotation.models import DataKind, Label, Project, ReviewStatus, TaskType

PARQUET_CHUNK = 50_000  # items a chunk (and a Parquet row group): about 30 MB of Python values at its peak


def parquet_tables(project: Project, filters: dict, schema) -> Iterator[Any]:
    """The export's rows as Arrow tables shaped like `schema` (exporters._parquet_schema), in id order."""
    from annotation.io.exporters import filtered_items

    items, label_filter = filtered_items(project, filters)
    names = dict(Label.objects.filter(project=project).values_list("id", "name"))
    rows = items.annotate(data_text=Cast("data", TextField())).values_list(
        "id", "external_id", "data_text", "width", "height", "status", "review_status", "agreement"
    )
    # One query read in chunks (a server-side cursor on PostgreSQL): one pass over the index in id order, where
    # a query per chunk may each sort the rest of the project when the planner's statistics are stale.
    chunk: list[tuple] = []
    for row in rows.iterator(chunk_size=PARQUET_CHUNK):
        chunk.append(row)
        if len(chunk) == PARQUET_CHUNK:
            yield _chunk_table(project, chunk, names, label_filter, schema)
            chunk = []
    if chunk:
        yield _chunk_table(project, chunk, names, label_filter, schema)


def _chunk_table(project: Project, chunk: list[tuple], names: dict[int, str], label_filter: str | None, schema):
    import pyarrow as pa

    from annotation.io.exporters import answered_row, chunk_answers

    ids, external_ids, data, widths, heights, statuses, reviews, agreements = zip(*chunk, strict=True)
    corrected = [i for i, review in zip(ids, reviews, strict=True) if review == ReviewStatus.CORRECTED]
    answers, corrections = chunk_answers(project, list(ids), corrected, names)
    multi = project.task_type == TaskType.MULTI_LABEL
    count = len(ids)
    answered: dict[str, list[Any]] = {
        "label": [[] if multi else None] * count,
        "annotations": [[]] * count,
        "first_annotated_at": [None] * count,
        "last_annotated_at": [None] * count,
        "time_spent_ms": [None] * count,
    }
    keep = []
    if answers or corrections:
        for index, item_id in enumerate(ids):
            if item_id in answers or item_id in corrections:
                row = answered_row(answers.get(item_id, []), corrections.get(item_id))
                _answered_into(answered, index, row, multi)
                if label_filter in row["final_labels"]:
                    keep.append(index)
    columns: dict[str, Any] = {"item_id": ids, "external_id": external_ids, "status": statuses}
    columns |= {"review_status": reviews, "agreement": agreements, **answered}
    arrays = {name: pa.array(values, type=schema.field(name).type) for name, values in columns.items()}
    if project.data_kind == DataKind.TABULAR:
        arrays |= data_arrays(project, data, schema)
    else:
        arrays |= {
            "file": arrays["external_id"],
            "width": pa.array(widths, type=pa.int64()),
            "height": pa.array(heights, type=pa.int64()),
        }
    table = pa.Table.from_arrays([arrays[name] for name in schema.names], schema=schema)
    return table.take(pa.array(keep, type=pa.int64())) if label_filter else table


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


def data_arrays(project: Project, data: tuple[str, ...], schema) -> dict[str, Any]:
    """The table columns of a chunk of items (their stored JSON text), as Arrow arrays typed as in `schema`.
    pyarrow's JSON reader parses them in one go; values it cannot take as their column's type (data stored
    before the column had a type) are converted one by one as the row-by-row export did."""
    import pyarrow as pa
    import pyarrow.json as pajson
    import pyarrow.types as t

    from annotation.io.exporters import data_column

    kinds = {c["name"]: schema.field(data_column(c["name"])).type for c in project.columns}

    def read_as(kind):  # what the JSON holds: decimals, dates and times are text
        if t.is_decimal(kind) or t.is_date(kind) or t.is_timestamp(kind) or t.is_dictionary(kind):
            return pa.string()
        return kind

    text = "\n".join(data).encode()
    try:
        parsed = pajson.read_json(
            io.BytesIO(text),
            read_options=pajson.ReadOptions(use_threads=False, block_size=max(1 << 20, len(text) + 1)),
            parse_options=pajson.ParseOptions(
                explicit_schema=pa.schema([(name, read_as(kind)) for name, kind in kinds.items()]),
                unexpected_field_behavior="ignore",
            ),
        )
    except pa.ArrowInvalid:
        parsed = None
    arrays = {}
    for name, kind in kinds.items():
        if parsed is None:
            values = [json.loads(row).get(name) for row in data]
            arrays[data_column(name)] = pa.array([tables.arrow_value(v, kind) for v in values], type=kind)
        elif read_as(kind) == kind:
            arrays[data_column(name)] = parsed.column(name).combine_chunks()
        elif t.is_dictionary(kind):
            arrays[data_column(name)] = parsed.column(name).combine_chunks().cast(kind)
        else:
            values = parsed.column(name).to_pylist()
            arrays[data_column(name)] = pa.array([tables.arrow_value(v, kind) for v in values], type=kind)
    return arrays
