"""Settings helpers: the environment decides the database, storage and secret key."""

import stat

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from loupe.config import database_config, redis_transport_options, secret_key_from_data_dir, storages_config


def env_with(monkeypatch, **values) -> environ.Env:
    for name in (
        "DATABASE_URL",
        "S3_BUCKET",
        "S3_ENDPOINT_URL",
        "DATABASE_LOCK_TIMEOUT_S",
        "DATABASE_STATEMENT_TIMEOUT_S",
        "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_S",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return environ.FileAwareEnv()


def test_default_database_is_sqlite_set_up_for_concurrent_writers(monkeypatch, tmp_path):
    config = database_config(env_with(monkeypatch), tmp_path / "loupe.sqlite3")

    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "loupe.sqlite3")
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]
    assert 1 <= config["OPTIONS"]["timeout"] <= 10  # writers queue on a file lock; a longer wait is a stuck writer
    assert config["TEST"]["NAME"] == str(tmp_path / "test_loupe.sqlite3")


def test_sqlite_directory_is_created_when_missing(monkeypatch, tmp_path):
    path = tmp_path / "new" / "dir" / "loupe.sqlite3"
    database_config(env_with(monkeypatch, DATABASE_URL=f"sqlite:///{path}"), tmp_path / "unused.sqlite3")
    assert path.parent.is_dir()


def test_postgres_url_gives_postgres_with_health_checked_persistent_connections(monkeypatch, tmp_path):
    config = database_config(env_with(monkeypatch, DATABASE_URL="postgres://u:p@db.internal:5433/loupe"), tmp_path)

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == ("db.internal", 5433, "loupe", "u")
    assert config["CONN_HEALTH_CHECKS"] is True
    assert config["CONN_MAX_AGE"] > 0


def test_postgres_sessions_time_out_lock_waits_statements_and_idle_transactions_by_default(monkeypatch, tmp_path):
    config = database_config(env_with(monkeypatch, DATABASE_URL="postgres://u:p@db.internal:5433/loupe"), tmp_path)

    options = config["OPTIONS"]["options"]
    assert "-c lock_timeout=5000" in options
    assert "-c statement_timeout=30000" in options
    assert "-c idle_in_transaction_session_timeout=30000" in options
    assert 0 < config["OPTIONS"]["connect_timeout"] <= 10


def test_database_timeouts_are_set_per_process_by_the_environment(monkeypatch, tmp_path):
    env = env_with(
        monkeypatch,
        DATABASE_URL="postgres://u:p@db.internal:5433/loupe",
        DATABASE_LOCK_TIMEOUT_S="2.5",
        DATABASE_STATEMENT_TIMEOUT_S="0",
        DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_S="600",
    )
    options = database_config(env, tmp_path)["OPTIONS"]["options"]
    sqlite = database_config(env_with(monkeypatch, DATABASE_LOCK_TIMEOUT_S="2.5"), tmp_path / "loupe.sqlite3")

    assert options == "-c lock_timeout=2500 -c statement_timeout=0 -c idle_in_transaction_session_timeout=600000"
    assert sqlite["OPTIONS"]["timeout"] == 2.5


def test_negative_database_timeout_is_refused_loudly(monkeypatch, tmp_path):
    env = env_with(monkeypatch, DATABASE_URL="postgres://u:p@db/loupe", DATABASE_STATEMENT_TIMEOUT_S="-1")
    with pytest.raises(ImproperlyConfigured, match="statement_timeout"):
        database_config(env, tmp_path)


def test_redis_broker_gives_up_on_a_silent_server_after_its_timeout():
    options = redis_transport_options(3600, timeout_s=2)

    assert options["socket_timeout"] == options["socket_connect_timeout"] == 2
    assert options["visibility_timeout"] == 3600


def test_unsupported_database_is_refused_loudly(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="sqlite:// or postgres://"):
        database_config(env_with(monkeypatch, DATABASE_URL="mysql://u:p@host/db"), tmp_path)


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    first = secret_key_from_data_dir(tmp_path)
    second = secret_key_from_data_dir(tmp_path)

    assert first == second
    assert len(first) >= 50
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_short_secret_key_file_is_refused(tmp_path):
    (tmp_path / "secret_key").write_text("short")
    with pytest.raises(ImproperlyConfigured, match="shorter than 50"):
        secret_key_from_data_dir(tmp_path)


def test_media_goes_to_local_directory_by_default(monkeypatch, tmp_path):
    storages = storages_config(env_with(monkeypatch), tmp_path / "media")
    assert storages["default"]["BACKEND"] == "core.storage.FileSystemStorage"  # whole files or none
    assert storages["default"]["OPTIONS"]["location"] == str(tmp_path / "media")


def test_s3_bucket_switches_media_to_object_storage(monkeypatch, tmp_path):
    env = env_with(monkeypatch, S3_BUCKET="loupe-media", S3_ENDPOINT_URL="http://minio:9000")
    default = storages_config(env, tmp_path)["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"]["bucket_name"] == "loupe-media"
    assert default["OPTIONS"]["endpoint_url"] == "http://minio:9000"
    assert default["OPTIONS"]["querystring_auth"] is True  # media stays private: signed, short-lived URLs
