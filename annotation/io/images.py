"""Checking and normalising image files, and reading zip archives safely. No Django here.

Only raster formats Pillow decodes are accepted, whatever the file name says (an SVG or HTML file named
.png is refused); the pixel count is capped well below Pillow's own bomb warning; EXIF orientation is applied
to the stored size and thumbnail; zip entries are checked from their headers (path, size, compression ratio,
the archive's total) before anything is inflated, and inflated one at a time.
"""

import hashlib
import io
import stat
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import PurePosixPath

from PIL import Image, ImageOps, UnidentifiedImageError

from core.validation import control_character_problem

FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "GIF": "gif", "TIFF": "tiff"}
MAX_PIXELS = 40_000_000  # Pillow warns at ~89 Mpx and refuses at twice that; we stop far earlier
MAX_FILE_BYTES = 50 * 2**20
MAX_ARCHIVE_BYTES = 4 * 2**30  # bytes actually inflated from one zip, whatever its headers claim
MAX_ARCHIVE_ENTRIES = 200_000
MAX_RATIO = 500  # an entry over 1 MiB that inflates more than this from its compressed size is refused
MAX_PATH_CHARS = 1024  # a path inside an archive
MAX_PATH_DEPTH = 32  # folders in such a path (an uploaded file keeps only its last part)
THUMBNAIL_SIZE = (256, 256)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


SUFFIXES = {"jpg": (".jpg", ".jpeg"), "tiff": (".tif", ".tiff")}  # the names each extension also goes by


def extension_of(data: bytes) -> str | None:
    """The extension of the image format `data` is in, from its header alone; None when Pillow does not know it."""
    try:
        with Image.open(io.BytesIO(data)) as probe:
            return FORMATS.get(probe.format or "")
    except (UnidentifiedImageError, OSError, ValueError):
        return None


class ImageRejected(ValueError):
    """This file is not an image we store; the message says why."""


@dataclass
class CheckedImage:
    data: bytes  # the original file, unchanged
    extension: str  # from the decoded format, never from the upload's name
    width: int  # after EXIF orientation
    height: int
    content_hash: str
    thumbnail: bytes  # WebP


def check_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> CheckedImage:
    if len(data) > MAX_FILE_BYTES:
        raise ImageRejected(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                if kind not in FORMATS:
                    raise ImageRejected(f"{kind or 'unknown'} images are not accepted")
                if probe.width * probe.height > max_pixels:
                    raise ImageRejected(f"{probe.width}x{probe.height} is larger than the {max_pixels:,}-pixel limit")
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.seek(0)  # GIF/TIFF: the first frame
                image.load()
                upright = ImageOps.exif_transpose(image)
                thumbnail = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
                thumbnail.thumbnail(THUMBNAIL_SIZE)
                buffer = io.BytesIO()
                thumbnail.save(buffer, format="WEBP", quality=80)
                width, height = upright.size
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"image is larger than the {max_pixels:,}-pixel limit") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected("not an image we can read (unknown or unsupported format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt data
        raise ImageRejected(f"corrupt or truncated image: {exc}") from exc
    return CheckedImage(
        data=data,
        extension=FORMATS[kind],
        width=width,
        height=height,
        content_hash=hashlib.sha256(data).hexdigest(),
        thumbnail=buffer.getvalue(),
    )


def safe_member_name(name: str) -> str:
    """A zip entry's path, normalised; raises ImageRejected for absolute paths or `..` (zip slip), and for
    paths longer or deeper than we store."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts or ":" in path.parts[0]:
        raise ImageRejected("unsafe path in archive")
    return str(path_within_limits(path))


def path_within_limits(path: PurePosixPath) -> PurePosixPath:
    """`path` itself; raises ImageRejected naming the limit when it is too long, too deep or not printable."""
    if len(str(path)) > MAX_PATH_CHARS:
        raise ImageRejected(f"path is {len(str(path)):,} characters long; the limit is {MAX_PATH_CHARS:,}")
    if len(path.parts) > MAX_PATH_DEPTH + 1:
        raise ImageRejected(f"path is {len(path.parts) - 1} folders deep; the limit is {MAX_PATH_DEPTH}")
    if problem := control_character_problem(str(path)):
        raise ImageRejected(f"path {problem}")
    return path


def iter_zip(
    archive: zipfile.ZipFile, *, max_total_bytes: int | None = None
) -> Iterator[tuple[str, Callable[[], bytes] | None, str]]:
    """Yield (name, loader, problem) for each file entry, checked from its header before anything is inflated:
    the loader reads the entry when called (one entry in memory at a time); it is None when the entry is refused,
    with the reason in `problem`. The whole archive is refused (ImageRejected) up front when its entries would
    inflate past `max_total_bytes`: zipfile never inflates an entry past the size its header declares."""
    max_total_bytes = MAX_ARCHIVE_BYTES if max_total_bytes is None else max_total_bytes
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > MAX_ARCHIVE_ENTRIES:
        raise ImageRejected(f"archive has {len(entries):,} entries; the limit is {MAX_ARCHIVE_ENTRIES:,}")
    declared = sum(info.file_size for info in entries)
    if declared > max_total_bytes:
        raise ImageRejected(f"archive inflates to {declared:,} bytes, more than the limit of {max_total_bytes:,}")
    for info in entries:
        try:
            name = safe_member_name(info.filename)
        except ImageRejected as exc:
            yield info.filename, None, str(exc)
            continue
        problem = _entry_problem(info)
        yield name, (None if problem else partial(_inflated, archive, info)), problem


def _entry_problem(info: zipfile.ZipInfo) -> str:
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic links are not followed"
    if info.flag_bits & 0x1:
        return "encrypted entries are not supported"
    if info.file_size > MAX_FILE_BYTES:
        return f"file is larger than {MAX_FILE_BYTES // 2**20} MiB"
    if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 2**20:
        return f"compressed more than {MAX_RATIO}:1 (a zip bomb?); not inflated"
    return ""


def _inflated(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The entry's bytes; at most its declared size is ever inflated (zipfile stops there and checks the CRC)."""
    with archive.open(info) as member:
        data = member.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ImageRejected(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")
    return data
