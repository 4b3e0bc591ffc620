"""Arrays of runs (embeddings, features, 2-D maps, predictions) as .npz files in storage, under a new name for
every run attempt so that a file never changes once written; readers keep the last few in memory."""

import io
import uuid
from functools import lru_cache

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def save(*, project_id: int, run_id: int, attempt: int, name: str, **arrays: np.ndarray) -> str:
    """Write the arrays (compressed) and return their storage path."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
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
