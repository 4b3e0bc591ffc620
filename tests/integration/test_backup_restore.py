"""Backup and restore as docs/operations.md tells an operator to do them: the database (pg_dump / pg_restore on
PostgreSQL, sqlite3's .backup on SQLite) plus the media folder, restored into a fresh database and folder that a
fresh Loupe process then reads."""

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from django.db import connection

from annotation.models import Label
from tests.factories import UserFactory, make_annotation, make_image_item, make_project
from tests.integration.conftest import ROOT
from tests.integration.conftest import _database_url as database_url

READ_BACK = """
import hashlib, json
from django.core.files.storage import default_storage
from annotation.models import Annotation, Project
project = Project.objects.get(name="Backed up")
item = project.items.get()
with default_storage.open(item.image.name, "rb") as handle:
    digest = hashlib.sha256(handle.read()).hexdigest()
print(json.dumps({"labels": sorted(project.labels.values_list("name", flat=True)), "image_sha256": digest,
                  "content_hash": item.content_hash, "annotations": Annotation.objects.filter(item=item).count()}))
"""


def pg_env() -> dict[str, str]:
    s = connection.settings_dict
    return {
        **os.environ,
        "PGHOST": s["HOST"] or "localhost",
        "PGPORT": str(s["PORT"] or 5432),
        "PGUSER": s["USER"],
        "PGPASSWORD": s["PASSWORD"] or "",
    }


def run(*command: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result.stdout


def database_backup(path: Path) -> None:
    if connection.vendor == "postgresql":
        run("pg_dump", "--format=custom", f"--file={path}", connection.settings_dict["NAME"], env=pg_env())
    else:
        run("sqlite3", connection.settings_dict["NAME"], f".backup '{path}'")


def database_restore(path: Path, folder: Path) -> str:
    """Into a fresh database; returns its DATABASE_URL."""
    if connection.vendor == "postgresql":
        name = f"{connection.settings_dict['NAME']}_restored"
        run("dropdb", "--if-exists", name, env=pg_env())
        run("createdb", name, env=pg_env())
        run("pg_restore", "--no-owner", f"--dbname={name}", str(path), env=pg_env())
        return database_url().rsplit("/", 1)[0] + f"/{name}"
    restored = folder / "loupe.sqlite3"
    run("sqlite3", str(restored), f".restore '{path}'")
    return f"sqlite:///{restored}"


@pytest.mark.django_db(transaction=True)
def test_backup_of_database_and_media_restores_into_a_fresh_install(tmp_path_factory, settings):
    manager = UserFactory(username="manager", is_staff=True)
    project = make_project(owner=manager, name="Backed up")
    item = make_image_item(project, "kept.png")
    make_annotation(item, manager, Label.objects.get(project=project, name="cat"))
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    backups, fresh = tmp_path_factory.mktemp("backups"), tmp_path_factory.mktemp("fresh")

    database_backup(backups / "loupe.db")
    with tarfile.open(backups / "media.tar.gz", "w:gz") as archive:
        archive.add(media, arcname=".")

    restored_url = database_restore(backups / "loupe.db", fresh)
    restored_media = fresh / "media"
    with tarfile.open(backups / "media.tar.gz") as archive:
        archive.extractall(restored_media, filter="data")
    env = {**os.environ, "DATABASE_URL": restored_url, "LOUPE_MEDIA_ROOT": str(restored_media)}
    try:
        read = json.loads(run(sys.executable, "manage.py", "shell", "-c", READ_BACK, env=env).splitlines()[-1])
    finally:
        if connection.vendor == "postgresql":
            run("dropdb", "--if-exists", restored_url.rsplit("/", 1)[1], env=pg_env())

    assert read["labels"] == ["cat", "dog"]
    assert read["annotations"] == 1
    assert read["image_sha256"] == read["content_hash"] == hashlib.sha256(item.image.read()).hexdigest()
