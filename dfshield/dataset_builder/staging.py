"""Writing a dataset beside the one it replaces, swapped in once complete (docs/reliability.md).

Staged as ``.<Name>_lmdb.partial`` then ``.<Name>.json.partial`` (the completeness mark) under
the lock ``lmdb/.<Name>_lmdb.lock``; a killed build is cleaned up or rolled forward by the next.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from dfshield.errors import DataError

#: Free space a build needs on the disk of its output folder before it starts.
MIN_FREE_BYTES = 64 << 20


class Staging:
    """One build's staging paths, lock and swap: ``begin``, then ``commit`` or ``discard``."""

    def __init__(self, json_path: Path, lmdb_path: Path) -> None:
        self.json_path, self.lmdb_path = Path(json_path), Path(lmdb_path)
        self.staged_json = self._beside(self.json_path, "partial")
        self.staged_lmdb = self._beside(self.lmdb_path, "partial")
        self._old_json = self._beside(self.json_path, "old")
        self._old_lmdb = self._beside(self.lmdb_path, "old")
        self.lock_path = self._beside(self.lmdb_path, "lock")
        self._lock: FileLock | None = None
        self._swapping = False

    @staticmethod
    def _beside(path: Path, what: str) -> Path:
        return path.with_name(f".{path.name}.{what}")

    # -- starting --------------------------------------------------------------------------------
    def begin(self, overwrite: bool) -> None:
        """Create folders, take the lock, recover leftovers, check the existing dataset; fails
        before any frame is read when the folder is unwritable or its disk (nearly) full."""
        for folder in (self.json_path.parent, self.lmdb_path.parent):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DataError(
                    f"Cannot create the output folder {folder}: {error.strerror or error}. Choose "
                    "an output folder you can write to."
                ) from error
        free = shutil.disk_usage(self.lmdb_path.parent).free
        if free < MIN_FREE_BYTES:
            raise DataError(
                f"Only {free >> 20} MiB are free on the disk of {self.lmdb_path.parent}; a build "
                f"needs at least {MIN_FREE_BYTES >> 20} MiB and more for its frames. Free space "
                "there or choose another output folder."
            )
        lock = FileLock(self.lock_path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise DataError(
                f"Another build of {self.lmdb_path.name} into {self.lmdb_path.parent.parent} is "
                f"running (it holds {self.lock_path}). Wait for it to finish, or build under "
                "another name or into another folder."
            ) from None
        except OSError as error:
            raise DataError(
                f"Cannot write into {self.lmdb_path.parent}: {error.strerror or error}. Choose an "
                "output folder you can write to."
            ) from error
        self._lock = lock
        try:
            self._recover()
            self._check_target(overwrite)
            self.staged_lmdb.mkdir()
        except BaseException:
            self._release()
            raise

    def _recover(self) -> None:
        """Finish a build that was killed during its swap; remove what a killed build left."""
        if self.staged_json.exists():  # that build had completed: roll its swap forward
            self._swap()
        for path in (self.staged_lmdb, self._old_json, self._old_lmdb):
            _remove(path)

    def _check_target(self, overwrite: bool) -> None:
        has_json, has_lmdb = self.json_path.exists(), self.lmdb_path.exists()
        if overwrite or not (has_json or has_lmdb):
            return
        name = self.json_path.stem
        if has_json and has_lmdb:
            raise DataError(
                f"Dataset {name} already exists ({self.json_path}, {self.lmdb_path}). Pass "
                "overwrite=True (--overwrite) to replace it (the old one stays until the new one "
                "is complete), or choose another output folder or name."
            )
        present, absent = (
            (self.lmdb_path, self.json_path) if has_lmdb else (self.json_path, self.lmdb_path)
        )
        raise DataError(
            f"{present} exists but {absent} does not: an incomplete dataset {name} (a build "
            "interrupted by an older dfshield, or a file deleted by hand), not a usable one. "
            f"Delete {present}, or pass overwrite=True (--overwrite) to build over it."
        )

    # -- finishing -------------------------------------------------------------------------------
    def commit(self) -> None:
        """Swap the complete build in (its staged JSON must be written) and release the lock."""
        if not self.staged_json.exists():
            raise DataError(f"Cannot commit {self.staged_lmdb}: its JSON was not written.")
        self._swapping = True  # from here on an interruption is rolled forward, not discarded
        try:
            self._swap()
        except OSError as error:
            raise DataError(
                f"Swapping the new {self.json_path.stem} into {self.lmdb_path.parent.parent} "
                f"failed halfway ({error}). The build itself is complete: the next build of that "
                "name into that folder finishes the swap first."
            ) from error
        finally:
            self._release()

    def _swap(self) -> None:
        """Old JSON aside, new LMDB in, new JSON in, old copies gone; each step is repeatable."""
        if self.json_path.exists():
            os.replace(self.json_path, self._old_json)
        if self.staged_lmdb.exists():
            if self.lmdb_path.exists():
                _remove(self._old_lmdb)
                os.replace(self.lmdb_path, self._old_lmdb)
            os.replace(self.staged_lmdb, self.lmdb_path)
        os.replace(self.staged_json, self.json_path)
        _remove(self._old_json)
        _remove(self._old_lmdb)

    def discard(self) -> None:
        """Discard an unfinished build, release the lock; the next build finishes a broken swap."""
        if self._lock is None:
            return
        if not self._swapping:
            _remove(self.staged_lmdb)
            _remove(self.staged_json)
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
