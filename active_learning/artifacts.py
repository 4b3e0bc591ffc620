"""Arrays of runs (embeddings, features, 2-D maps, predictions) as .npz files in storage, keyed by run and
attempt so that a file never changes once written; readers keep the last few in memory."""

import io
from functools import lru_cache

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage


def save(*, project_id: int, run_id: int, attempt: int, name: str, **arrays: np.ndarray) -> str:
    """Write the arrays (compressed) and return their storage path."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    path = f"learning/{project_id}/{name}-{run_id}-{attempt}.npz"
    if default_storage.exists(path):
        default_storage.delete(path)
    return default_storage.save(path, ContentFile(buffer.getvalue()))


@lru_cache(maxsize=4)
def load(path: str) -> dict[str, np.ndarray]:
    """The arrays at `path` (read-only; cached: at most four files per process)."""
    with default_storage.open(path, "rb") as handle, np.load(io.BytesIO(handle.read()), allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    for value in arrays.values():
        value.setflags(write=False)
    return arrays
