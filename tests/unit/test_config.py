"""Settings helpers: the environment decides the database, storage and secret key."""

import stat

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from loupe.config import database_config, secret_key_from_data_dir, storages_config


def env_with(monkeypatch, **values) -> environ.Env:
    for name in ("DATABASE_URL", "S3_BUCKET", "S3_ENDPOINT_URL"):
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
    assert config["OPTIONS"]["timeout"] >= 10
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
    assert storages["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert storages["default"]["OPTIONS"]["location"] == str(tmp_path / "media")


def test_s3_bucket_switches_media_to_object_storage(monkeypatch, tmp_path):
    env = env_with(monkeypatch, S3_BUCKET="loupe-media", S3_ENDPOINT_URL="http://minio:9000")
    default = storages_config(env, tmp_path)["default"]
    assert default["BACKEND"] == "storages.backends.s3.S3Storage"
    assert default["OPTIONS"]["bucket_name"] == "loupe-media"
    assert default["OPTIONS"]["endpoint_url"] == "http://minio:9000"
    assert default["OPTIONS"]["querystring_auth"] is True  # media stays private: signed, short-lived URLs
