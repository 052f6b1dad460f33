"""Writing files so that a reader never sees half of one, and making values JSON-ready.

Every result file dfshield writes (metrics, tables, scores, stamps, logs) goes through
:func:`atomic_write`: the content is written to a temporary file beside the target and moved over
it with :func:`os.replace`, which is atomic on POSIX and Windows. A crash, a full disk or a
``kill -9`` leaves either the old file or the new one, never a truncated mix.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8", newline=None
) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; on success move it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with os.fdopen(
            handle, mode, encoding=None if binary else encoding, newline=None if binary else newline
        ) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as stream:
        stream.write(text)


def write_json_atomic(path: str | os.PathLike, value: Any, indent: int | None = 2) -> None:
    """Write ``json_ready(value)`` to ``path`` atomically (strict JSON: no NaN)."""
    write_text_atomic(path, json.dumps(json_ready(value), indent=indent, allow_nan=False) + "\n")


def json_ready(value: Any) -> Any:
    """A JSON-ready copy: mappings and sequences recursively, numpy/torch scalars and arrays to
    Python, non-finite floats to None, paths to strings, anything else to its text."""
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
