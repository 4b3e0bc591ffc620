"""`migrate`, one at a time: two upgrades started together (two containers booting) would otherwise both plan the
same migrations and the second fail half-way (a table that already exists). The second run waits, then finds
nothing left to do."""

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.management.commands import migrate
from django.db import connections

LOCK_NAME = "loupe.migrate"


class Command(migrate.Command):
    help = migrate.Command.help + " Concurrent runs on one database wait for each other."

    def handle(self, *args, **options):
        with _migrations_lock(options["database"]):
            return super().handle(*args, **options)


@contextmanager
def _migrations_lock(alias: str) -> Iterator[None]:
    connection = connections[alias]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # A migration may rewrite a big table, and the wait for the other run is a lock wait too: the
            # web's statement and lock timeouts are not for this session.
            cursor.execute(
                "SET lock_timeout = 0; SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0"
            )
            cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [LOCK_NAME])  # held by this session
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [LOCK_NAME])
                cursor.execute("RESET lock_timeout; RESET statement_timeout; RESET idle_in_transaction_session_timeout")
        return
    name = str(connection.settings_dict["NAME"])
    if connection.vendor != "sqlite" or name == ":memory:" or name.startswith("file:"):
        yield
        return
    with open(Path(name).with_name(Path(name).name + ".migratelock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, even if this process dies
        yield
