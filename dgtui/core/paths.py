"""Local paths a restore may write, and the S3 URLs they come from.

Keys are data: a key never decides where a file goes beyond the folder the user chose.
``safe_relative_path`` turns a key into a path inside it or says why it cannot, and the
restore checks the real (symlink-followed) folder again before every write
(``unsafe_destination``).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from . import errors
from . import format as fmt
from .s3 import display_key, where

if TYPE_CHECKING:
    from .models import ObjectInfo


def parse_s3_url(url: str, *, need_key: bool = False) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key). The key keeps a trailing slash."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise errors.InvalidKeyError(f"not an S3 URL (expected s3://bucket/key): {display_key(str(url))}")
    rest = url[5:]
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise errors.InvalidKeyError(f"the S3 URL names no bucket: {display_key(url)}")
    if need_key and not key:
        raise errors.InvalidKeyError(f"the S3 URL names no object: {display_key(url)}")
    return bucket, key


#: Unicode's explicit bidirectional embeddings, overrides and isolates
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def safe_relative_path(key: str, prefix: str) -> tuple[PurePosixPath | None, str | None]:
    """Where a key under ``prefix`` may be written inside a destination folder.

    Returns (relative path, None), or (None, reason) for keys that would
    leave the folder or cannot be a file name: '..' or '.' segments,
    absolute paths, backslashes, empty segments, NUL or control characters
    (C0, DEL and C1), and the bidirectional overrides (U+202E and kin) that
    make a name such as "invoice<U+202E>txt.exe" display as "invoiceexe.txt".
    """
    rel = key[len(prefix):] if key.startswith(prefix) else key
    if not rel:
        return None, "the key is the prefix itself"
    if rel.startswith("/"):
        return None, "the key is an absolute path"
    if "\\" in rel:
        return None, "the key contains a backslash"
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in rel):
        return None, "the key contains control characters"
    if any(c in _BIDI_CONTROLS for c in rel):
        return None, "the key contains bidirectional text controls (a file name that reads as another)"
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None, "the key has an empty, '.' or '..' segment"
    if any(len(p.encode("utf-8")) > 255 for p in parts):
        return None, "a path segment is longer than a file name may be (255 bytes)"
    if len(parts[0]) >= 2 and parts[0][1] == ":":
        return None, "the key starts with a drive letter"
    return PurePosixPath(*parts), None


def file_name_of(bucket: str, key: str) -> PurePosixPath:
    """The file name an object is restored under in a folder; ``InvalidKeyError`` when it cannot be one."""
    rel, problem = safe_relative_path(fmt.logical_key_of(key).rsplit("/", 1)[-1], "")
    if rel is None:
        raise errors.InvalidKeyError(f"cannot make a file name from {where(bucket, key)}: {problem}")
    return rel


def make_restore_folder(root: Path) -> list[Path]:
    """Create the folder a restore writes into; returns the folders it made, which the restore removes
    again when it leaves them empty (cancelled, failed, skipped)."""
    created = missing_folders(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        remove_if_empty(created)
        raise errors.LocalWriteError(f"cannot create the folder {display_key(str(root))}: "
                                     f"{exc.strerror or exc}", reason=exc.strerror) from None
    return created


def unsafe_destination(real_root: str, dest: Path) -> str | None:
    """Why ``dest`` must not be written under ``real_root``, after following symlinks."""
    real_parent = os.path.realpath(dest.parent)
    if os.path.commonpath([real_root, real_parent]) != real_root:
        return "the destination folder leads outside the chosen folder"
    return None


def missing_folders(path: Path) -> list[Path]:
    """``path`` and those of its parents that do not exist yet (what a mkdir -p would create)."""
    missing = []
    folder = Path(os.path.abspath(path))
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_if_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` (ones a restore created) that are empty, deepest first."""
    for folder in sorted(set(folders), key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only ever removes an empty folder
        except OSError:
            pass


def in_folder_restore(obj: ObjectInfo, prefix: str) -> bool:
    """Whether a folder restore of ``prefix`` writes ``obj``: the one filter of every folder restore.

    Empty objects whose key ends in '/' are the folder markers that S3 consoles create; they hold no
    data. deltaglider_proxy's ``_dgp/`` locks and leases are not user files, unless the restore is of
    that folder itself.
    """
    if obj.key.endswith("/") and obj.size == 0:
        return False
    return not (obj.housekeeping and not fmt.is_housekeeping_key(prefix))
