"""Local media storage that fails closed when the disk fills up.

Django's FileSystemStorage writes in place, so a write that fails part-way (ENOSPC) leaves a partial file for
good. Here a file is written beside its final name and renamed into place only once whole. A web request that
saved some files and then ran out of space (an import of several uploads) also loses the files it did save:
ServiceFaultsMiddleware deletes them when the request ends in a 507.
"""

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.files import File
from django.core.files.storage import FileSystemStorage as DjangoFileSystemStorage
from django.core.files.storage import default_storage

logger = logging.getLogger(__name__)
_saved: ContextVar[list[str] | None] = ContextVar("saved", default=None)


class _WholeFile(File):
    """A finished file in the target directory: FileSystemStorage moves it into place with one rename."""

    def temporary_file_path(self) -> str:
        return self.name


class FileSystemStorage(DjangoFileSystemStorage):
    def _save(self, name: str, content) -> str:
        directory = os.path.dirname(self.path(name))
        os.makedirs(directory, exist_ok=True)
        if hasattr(content, "temporary_file_path") and _same_device(content.temporary_file_path(), directory):
            saved = super()._save(name, content)  # a rename on one file system: never partial
        else:
            fd, partial = tempfile.mkstemp(dir=directory, prefix=".partial-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    for chunk in content.chunks():
                        handle.write(chunk if isinstance(chunk, bytes) else chunk.encode())
                saved = super()._save(name, _WholeFile(None, name=partial))
            finally:
                if os.path.exists(partial):  # the write failed (disk full): leave nothing behind
                    os.remove(partial)
        recorded = _saved.get()
        if recorded is not None:
            recorded.append(saved)
        return saved


def _same_device(path: str, directory: str) -> bool:
    return os.stat(path).st_dev == os.stat(directory).st_dev


@contextmanager
def saves_recorded() -> Iterator[list[str]]:
    """Within the block, the names of files saved through FileSystemStorage (in this thread or task)."""
    saved: list[str] = []
    token = _saved.set(saved)
    try:
        yield saved
    finally:
        _saved.reset(token)


def saved_delete(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.exception("could not delete %s after a failed request", name)
