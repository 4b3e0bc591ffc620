"""Arrays of runs (embeddings, features, 2-D maps, predictions) as .npz files in storage, under a new name for
every run attempt so that a file never changes once written; readers keep the last few in memory."""

import io
import pickle
import uuid
from functools import lru_cache

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def save(*, project_id: int, run_id: int, attempt: int, name: str, compress: bool = True, **arrays: np.ndarray) -> str:
    """Write the arrays (compressed unless `compress` is False: every ranking writes the pool's predictions, and
    compressing a million items' took 0.47 s) and return their storage path."""
    buffer = io.BytesIO()
    (np.savez_compressed if compress else np.savez)(buffer, **arrays)
    # Unique even if ids were ever reused (a restored database, a test run): the cache below trusts the path.
    path = f"learning/{project_id}/{name}-{run_id}-{attempt}-{uuid.uuid4().hex[:12]}.npz"
    return default_storage.save(path, ContentFile(buffer.getvalue()))


def save_file(*, project_id: int, run_id: int, attempt: int, name: str, data: bytes) -> str:
    """Write one file of a run (a model's weights, its preprocessing) under a new name; return its path."""
    stem, _, suffix = name.partition(".")
    path = f"learning/{project_id}/{stem}-{run_id}-{attempt}-{uuid.uuid4().hex[:12]}.{suffix}"
    return default_storage.save(path, ContentFile(data))


@lru_cache(maxsize=4)
def load(path: str) -> dict[str, np.ndarray]:
    """The arrays at `path` (read-only; cached: at most four files per process)."""
    with default_storage.open(path, "rb") as handle, np.load(io.BytesIO(handle.read()), allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    for value in arrays.values():
        value.setflags(write=False)
    return arrays


class _SharedPickler(pickle.Pickler):
    """Pickles an object, writing a reference instead of `shared` wherever the object holds that very array."""

    def __init__(self, file, shared: np.ndarray):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.shared = shared

    def persistent_id(self, obj):
        return "shared" if obj is self.shared else None


class _SharedUnpickler(pickle.Unpickler):
    def __init__(self, file, shared: np.ndarray):
        super().__init__(file)
        self.shared = shared

    def persistent_load(self, pid):
        if pid != "shared":
            raise pickle.UnpicklingError(f"unknown reference {pid!r}")
        return self.shared


def save_fitted(*, project_id: int, run_id: int, attempt: int, name: str, fitted: object, shared: np.ndarray) -> str:
    """Keep an object fitted on `shared` (a strategy fitted on an embedding) without a second copy of that array:
    `load_fitted` puts the reader's own copy back in its place. Only for objects this app's workers fitted."""
    buffer = io.BytesIO()
    _SharedPickler(buffer, shared).dump(fitted)
    return save_file(
        project_id=project_id, run_id=run_id, attempt=attempt, name=f"{name}.pickle", data=buffer.getvalue()
    )


def load_fitted(path: str, shared: np.ndarray) -> object:
    """The object `save_fitted` kept at `path`, holding `shared` where it held the array it was fitted on. The
    file is one this app's own worker wrote to its storage (pickle runs code: never read one from elsewhere)."""
    with default_storage.open(path, "rb") as handle:
        return _SharedUnpickler(io.BytesIO(handle.read()), shared).load()
