"""Database helpers on both backends: write transactions that queue fairly on SQLite, bulk writes (COPY on
PostgreSQL), and whole model rows read in plain SQL for the API's hottest requests.

SQLite allows one writer at a time; a waiting writer polls in SQLite's busy handler, sleeping longer and longer
between tries, so under contention a few unlucky requests wait seconds (seen here: p99 of 2.5 s with 8
annotators). Writers on hot paths first take an exclusive `flock` on a file beside the database, retried every
millisecond or two, so they queue closely instead of sleeping for long. A writer that cannot have it within the
database's lock timeout (a process frozen while holding it) gets the same OperationalError SQLite's own busy
timeout gives, which the API answers with 503. On PostgreSQL this is a plain `transaction.atomic()`: row locks
do the work there.
"""

import fcntl
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import OperationalError, connection, transaction

_POLL_S = (0.0005, 0.002)  # first and longest pause between tries for the write lock

_local = threading.local()  # one lock-file descriptor per thread: flock conflicts between descriptors


def _lock_file(database: str):
    files = getattr(_local, "files", None)
    if files is None:
        files = _local.files = {}
    if database not in files:
        files[database] = open(Path(database).with_name(Path(database).name + ".writelock"), "a")  # noqa: SIM115
    return files[database]


@contextmanager
def write_transaction() -> Iterator[None]:
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    lock = _lock_file(connection.settings_dict["NAME"])
    _flock_within(lock, connection.settings_dict.get("OPTIONS", {}).get("timeout", 5))
    try:
        with transaction.atomic():
            yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)


def _flock_within(lock, timeout_s: float) -> None:
    deadline, pause = time.monotonic() + timeout_s, _POLL_S[0]
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OperationalError("database is locked: another writer held it too long") from None
            time.sleep(pause)
            pause = min(pause * 2, _POLL_S[1])


def commit_without_waiting_for_disk() -> None:
    """PostgreSQL: the current transaction's COMMIT returns before its WAL reaches the disk (a bulk import's
    batches, which spent a good share of their COMMIT waiting on fsync). A crash may lose the last such commits but
    never corrupts; the import job's own state is committed the ordinary way afterwards, and that flush writes out
    every earlier commit's WAL too, so a job marked done has all its rows on disk. Call inside the transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def tables_analyze(*models) -> None:
    """Refresh the planner's statistics after a bulk write (an import of thousands of rows), so the very next
    queries get index plans instead of waiting for autovacuum. ANALYZE on both SQLite and PostgreSQL."""
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


SQLITE_MAX_VARIABLES = 32_000  # SQLite >= 3.32 allows 32,766 parameters in one statement


@contextmanager
def _copied(cursor, model, columns: str, rows: list[tuple], prefix: str) -> Iterator[str]:
    """PostgreSQL: `rows` COPYed into a temporary table shaped like `columns` of the model's table; yields its
    name and drops it afterwards."""
    table = connection.ops.quote_name(model._meta.db_table)
    staging = connection.ops.quote_name(f"{prefix}_{model._meta.db_table}")
    cursor.execute(f"CREATE TEMP TABLE {staging} AS SELECT {columns} FROM {table} WITH NO DATA")
    try:
        with cursor.cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        yield staging
    finally:
        cursor.execute(f"DROP TABLE {staging}")


def bulk_insert(
    model, fields: list[str], rows: list[tuple], *, ignore_conflicts: bool = False, returning: list[str] = ()
) -> list[tuple]:
    """INSERT many rows fast, for imports of hundreds of thousands of rows, where the ORM's per-value preparation
    in bulk_create costs more than the database. `rows` hold values ready for the driver (JSON already
    serialised, datetimes aware). Returns the `returning` columns of the rows actually inserted (with
    `ignore_conflicts`, the skipped ones are absent).

    PostgreSQL: COPY straight into the table when neither ON CONFLICT nor RETURNING is asked for; else COPY into a
    temporary table, then one INSERT ... SELECT (which keeps ON CONFLICT and RETURNING). SQLite: multi-row INSERT
    statements, as many rows each as its parameter limit allows.
    """
    if not rows:
        return []
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(model._meta.get_field(f).column) for f in fields)
    tail = (" ON CONFLICT DO NOTHING" if ignore_conflicts else "") + (
        f" RETURNING {', '.join(quote(model._meta.get_field(f).column) for f in returning)}" if returning else ""
    )
    inserted: list[tuple] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and not ignore_conflicts and not returning:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return []
        if connection.vendor == "postgresql":
            with _copied(cursor, model, columns, rows, "staging") as staging:
                cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging}{tail}")
                return cursor.fetchall() if returning else []
        datetimes = [i for i, f in enumerate(fields) if model._meta.get_field(f).get_internal_type() == "DateTimeField"]
        if datetimes:
            rows = _datetimes_adapted(rows, datetimes)
        group = f"({', '.join(['?'] * len(fields))})"
        per_statement = max(1, SQLITE_MAX_VARIABLES // len(fields))
        # sqlite3's own execute, with its ? placeholders: Django's turns each %s into ? with a regular expression,
        # which over statements of 30,000 placeholders cost 0.7 s an import of 100,000 rows.
        execute = sqlite3.Cursor.execute
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            values = ", ".join([group] * len(part))
            sql = f"INSERT INTO {table} ({columns}) VALUES {values}{tail}"
            execute(cursor.cursor, sql, [v for row in part for v in row])
            if returning:
                inserted.extend(cursor.fetchall())
    return inserted


def driver_datetime(value: datetime) -> datetime | str:
    """`value` as bulk_insert hands it to the driver: the text Django stores on SQLite, the datetime itself on
    PostgreSQL. Rows that carry it so need no conversion pass (an import stamps every row with one time)."""
    return str(connection.ops.adapt_datetimefield_value(value)) if connection.vendor == "sqlite" else value


def _datetimes_adapted(rows: list[tuple], positions: list[int]) -> list[tuple]:
    """SQLite: the datetimes at `positions` of each row as the text Django stores. Each distinct value is
    converted once; positions that already hold text in the first row (driver_datetime) are left as they are."""
    positions = [i for i in positions if not isinstance(rows[0][i], str)]
    if not positions:
        return rows
    adapt, done = connection.ops.adapt_datetimefield_value, {}

    def adapted(value):
        if value not in done:
            done[value] = adapt(value)
        return done[value]

    out = []
    for row in rows:
        values = list(row)
        for i in positions:
            values[i] = adapted(values[i])
        out.append(tuple(values))
    return out


def bulk_update(model, key: str, fields: list[str], rows: list[tuple]) -> None:
    """Set `fields` of many rows, matched on `key`: rows are (key, *values) with JSON fields as Python objects.
    PostgreSQL: COPY into a temporary table and one UPDATE ... FROM; SQLite: one prepared UPDATE per row (a
    single statement, executed many times: about 100,000 rows a second). Run it inside a transaction so that
    readers see all the new values or none."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = [key, *fields]
    columns = [quote(model._meta.get_field(f).column) for f in names]
    jsons = [i for i, f in enumerate(names) if model._meta.get_field(f).get_internal_type() == "JSONField"]
    rows = [tuple(json.dumps(v) if i in jsons and v is not None else v for i, v in enumerate(row)) for row in rows]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with _copied(cursor, model, ", ".join(columns), rows, "update") as staging:
                sets = ", ".join(f"{c} = s.{c}" for c in columns[1:])
                cursor.execute(
                    f"UPDATE {table} AS t SET {sets} FROM {staging} AS s WHERE t.{columns[0]} = s.{columns[0]}"
                )
            return
        sets = ", ".join(f"{c} = %s" for c in columns[1:])
        cursor.executemany(f"UPDATE {table} SET {sets} WHERE {columns[0]} = %s", [(*row[1:], row[0]) for row in rows])


def json_int(column: str, key: str) -> str:
    """SQL for the integer at top-level `key` of a JSON column (null when absent), on either database."""
    if connection.vendor == "postgresql":
        return f"({column}->>'{key}')::bigint"
    return f"json_extract({column}, '$.{key}')"


def in_list(values: list) -> tuple[str, list]:
    """An `IN` test for a long list of values: `= ANY(%s)` with one array parameter on PostgreSQL, `IN (%s, ...)`
    elsewhere. Returns (sql after the column, params)."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [list(values)]
    return f"IN ({', '.join(['%s'] * len(values))})", list(values)


# --- whole model rows in plain SQL ----------------------------------------------------------------------------
# The API's hottest requests (token sign-in, the project and the caller's role, the item handed out) read a few
# whole rows per call, and building each query through the ORM cost more than running it. These read the same
# columns in plain SQL and turn a row into a model instance exactly as the ORM does (the backend's and the
# fields' converters: JSON text, SQLite's datetimes and booleans), so the instance is indistinguishable.


def fetch_one(sql: str, params: list) -> Any:
    """The first row (a tuple) of one plain-SQL statement, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def model_columns(model, alias: str) -> str:
    """Every concrete column of `model`, as `alias.column`, in the order `model_from_row` reads them."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


@functools.lru_cache(maxsize=128)
def _row_reader(model, vendor: str) -> tuple[tuple[str, ...], tuple]:
    """(attnames, per-field converter lists) of `model` on one database backend. The converters are the first
    connection's; they read only settings every connection of the backend shares (the time zone)."""
    ops = connection.ops
    fields = model._meta.concrete_fields
    converters = []
    for field in fields:
        column = field.get_col(model._meta.db_table)
        converters.append((column, tuple(ops.get_db_converters(column) + field.get_db_converters(ops.connection))))
    return tuple(field.attname for field in fields), tuple(converters)


def model_from_row(model, values) -> Any:
    """A `model` instance from the values of `model_columns(model, ...)`, as a queryset would have made it."""
    names, converters = _row_reader(model, connection.vendor)
    converted = []
    for value, (column, functions) in zip(values, converters, strict=True):
        for function in functions:
            value = function(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, names, converted)
