"""Writing files so that a reader never sees half of one, and making values JSON-ready.

Every result file goes through :func:`atomic_write` (a temporary file beside the target, then
:func:`os.replace`): a crash or a full disk leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from dfshield.errors import WriteError


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8", newline=None
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success move it over ``path`` (umask permissions).
    On an exception ``path`` is left as it was; an ``OSError`` becomes a ``WriteError``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.chmod(tmp, _new_file_mode())  # mkstemp makes it 0600 whatever the umask
        binary = "b" in mode
        with os.fdopen(
            handle, mode, encoding=None if binary else encoding, newline=None if binary else newline
        ) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if isinstance(error, OSError) and not isinstance(error, WriteError):
            raise WriteError(_cannot_write(path, error)) from error
        raise


def free_space(path: str | os.PathLike) -> str | None:
    """``"N MiB free there"`` on the disk that would hold ``path`` (None: no folder of it)."""
    path = Path(path)
    folder = next((p for p in (path.parent, *path.parents) if p.is_dir()), None)
    return f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free there" if folder else None


def _cannot_write(path: Path, error: OSError) -> str:
    free = free_space(path)
    return (
        f"cannot write {path}: {error}{f'; {free}' if free else ''}. Free space (or fix the "
        "permissions), or write elsewhere; the previous file, if any, is kept"
    )


@functools.cache
def _new_file_mode() -> int:
    """``0o666`` less the process's umask (read once: setting it is the only way to read it)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as stream:
        stream.write(text)


def write_json_atomic(path: str | os.PathLike, value: Any, indent: int | None = 2) -> None:
    """Write ``json_ready(value)`` to ``path`` atomically (strict JSON: no NaN)."""
    write_text_atomic(path, json.dumps(json_ready(value), indent=indent, allow_nan=False) + "\n")


def json_ready(value: Any) -> Any:
    """A JSON-ready copy: numpy/torch values to Python, NaN and inf to None, others to text."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_ready(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
