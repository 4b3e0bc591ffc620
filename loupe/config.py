"""Typed helpers that turn the environment into Django settings; each fails loudly on bad input."""

import os
import secrets
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

DATABASE_LOCK_TIMEOUT_S = 5
DATABASE_STATEMENT_TIMEOUT_S = 30
DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_S = 30
DATABASE_CONNECT_TIMEOUT_S = 5
BROKER_TIMEOUT_S = 2


def secret_key_from_data_dir(data_dir: Path) -> str:
    """The install's secret key: generated once, kept (mode 0600) in the data directory."""
    path = data_dir / "secret_key"
    if not path.exists():
        # O_EXCL: two processes starting at once must not each write a different key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
    key = path.read_text().strip()
    if len(key) < 50:
        raise ImproperlyConfigured(f"{path} holds a secret key shorter than 50 characters; delete it to regenerate.")
    return key


def database_config(env: environ.Env, default_sqlite_path: Path) -> dict[str, Any]:
    """DATABASE_URL, defaulting to a SQLite file set up for concurrent writers. No request waits long on a stuck
    writer: a lock wait past DATABASE_LOCK_TIMEOUT_S fails (the API answers 503 with Retry-After), as do, on
    PostgreSQL, a statement past DATABASE_STATEMENT_TIMEOUT_S and a transaction left idle past
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_S (a frozen process's transaction is ended and its row locks released).
    Each is set per process by its environment (0 = no limit); workers whose statements run longer raise theirs."""
    config = env.db_url("DATABASE_URL", default=f"sqlite:///{default_sqlite_path}")
    lock_timeout_s = env.float("DATABASE_LOCK_TIMEOUT_S", default=DATABASE_LOCK_TIMEOUT_S)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers run beside one writer; IMMEDIATE takes the write lock at BEGIN, so two
        # read-then-write transactions queue up behind the busy timeout instead of interleaving. The busy
        # timeout is the lock timeout: hot-path writers already queue on core.db's file lock, and a few
        # seconds is hundreds of times their p99, so a longer wait means a stuck writer, not a queue.
        config["OPTIONS"] = {
            "timeout": lock_timeout_s or 365 * 86400,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            **config.get("OPTIONS", {}),
        }
        config["TEST"] = {"NAME": str(Path(config["NAME"]).with_name("test_" + Path(config["NAME"]).name))}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        config.setdefault("CONN_MAX_AGE", 60)
        config["CONN_HEALTH_CHECKS"] = True
        config["OPTIONS"] = {
            "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT_S", default=DATABASE_CONNECT_TIMEOUT_S),
            "options": postgresql_timeouts(
                lock_timeout_s=lock_timeout_s,
                statement_timeout_s=env.float("DATABASE_STATEMENT_TIMEOUT_S", default=DATABASE_STATEMENT_TIMEOUT_S),
                idle_in_transaction_s=env.float(
                    "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_S", default=DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_S
                ),
            ),
            **config.get("OPTIONS", {}),
        }
    else:
        raise ImproperlyConfigured(f"DATABASE_URL must be sqlite:// or postgres://, not {config['ENGINE']}")
    return config


def postgresql_timeouts(*, lock_timeout_s: float, statement_timeout_s: float, idle_in_transaction_s: float) -> str:
    """libpq `options` that set the session's timeouts at connect time (no extra round trip per connection)."""
    values = {
        "lock_timeout": lock_timeout_s,
        "statement_timeout": statement_timeout_s,
        "idle_in_transaction_session_timeout": idle_in_transaction_s,
    }
    for name, seconds in values.items():
        if seconds < 0:
            raise ImproperlyConfigured(f"{name} must be 0 (no limit) or more seconds, not {seconds}")
    return " ".join(f"-c {name}={round(seconds * 1000)}" for name, seconds in values.items())


def storages_config(env: environ.Env, media_root: Path) -> dict[str, Any]:
    """Local media directory by default; S3-compatible object storage when S3_BUCKET is set."""
    bucket = env.str("S3_BUCKET", default="")
    if bucket:
        default: dict[str, Any] = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
                "region_name": env.str("S3_REGION", default=None),
                "access_key": env.str("S3_ACCESS_KEY_ID", default=None),
                "secret_key": env.str("S3_SECRET_ACCESS_KEY", default=None),
                "location": env.str("S3_PREFIX", default=""),
                "file_overwrite": False,
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 300,
            },
        }
    else:
        default = {
            "BACKEND": "core.storage.FileSystemStorage",  # writes whole files or none
            "OPTIONS": {"location": str(media_root)},
        }
    return {
        "default": default,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }


def redis_transport_options(visibility_timeout: int, timeout_s: float = BROKER_TIMEOUT_S) -> dict:
    """Kombu options for a Redis broker. `visibility_timeout` must exceed the longest task (acks_late). When the
    web process publishes and Redis is down: one quick reconnect, then fail (the API answers 503), instead of
    kombu's default of reconnecting for seconds while the request waits. Workers reconnect by their own rules.
    A Redis that accepts connections but never answers (paused, failing over) is treated like one that refuses:
    every connect and command gives up after `timeout_s` (kombu's own default is to wait forever). It must stay
    above the workers' BRPOP timeout (1 s)."""
    return {
        "visibility_timeout": visibility_timeout,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.2,
        "interval_max": 0.2,
    }
