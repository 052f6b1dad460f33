"""The run folder: written by one run at a time, checked before anything is read or trained.

Two processes writing one folder would leave files of two runs side by side, so a run holds a
non-waiting ``filelock`` on ``.dfshield.lock`` while it trains or tests, and a second run fails at
once naming the first (from ``.dfshield.lock.json``). Taking the lock also proves the folder
writable. Guarantees: docs/reliability.md ("Runs, resume and checkpoints").
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from dfshield.errors import ConfigError
from dfshield.fileio import write_json_atomic

LOCK_FILE = ".dfshield.lock"
OWNER_FILE = ".dfshield.lock.json"
#: files whose presence means the folder already holds a run
RUN_MARKERS = ("config.json", "checkpoints/last.pt", "checkpoints/best.pt")
#: what a run writes into its folder: removed when a new run replaces it (``overwrite``)
RUN_OUTPUTS = (
    *RUN_MARKERS,
    "log.csv",
    "test_metrics.json",
    "test_scores.csv",
    "results.md",
    "results.csv",
    "results.json",
    "roc.png",
    "tensorboard/events.out.tfevents.*",
    "extra_tests/*/test_metrics.json",
    "extra_tests/*/test_scores.csv",
)


class RunFolderError(ConfigError):
    """A run folder cannot be used: not writable, in use by another run, or holding a run."""


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` and write a temporary file into it; an error naming it if that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise RunFolderError(
            f"cannot write into the run folder {folder} ({error.strerror or error}); choose "
            "another folder (--run-dir, --out or train.output_dir) or make this one writable"
        ) from error
    return folder


def previous_run(folder: str | os.PathLike) -> list[str]:
    """The files of :data:`RUN_MARKERS` that ``folder`` holds (empty: no run there)."""
    return [name for name in RUN_MARKERS if (Path(folder) / name).is_file()]


def remove_run(folder: str | os.PathLike) -> None:
    """Remove the files a run wrote into ``folder`` (:data:`RUN_OUTPUTS`); nothing else."""
    for pattern in RUN_OUTPUTS:
        for path in Path(folder).glob(pattern):
            if path.is_file():
                path.unlink()


class RunFolder:
    """One run's hold on its folder; :meth:`held` nests. Only enabled ranks take the lock."""

    def __init__(self, path: str | os.PathLike, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        self._depth = 0
        self._lock: FileLock | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[RunFolder]:
        """Hold the folder for the block: writable, and no other run in it meanwhile."""
        if self.enabled and self._depth == 0:
            self._acquire()
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self.enabled and self._depth == 0:
                self._release()

    def _acquire(self) -> None:
        check_writable(self.path)
        lock = FileLock(self.path / LOCK_FILE)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            raise RunFolderError(
                f"the run folder {self.path} is in use by another dfshield run "
                f"({self._owner()}); wait for it to end, or choose another run folder"
            ) from None
        self._lock = lock
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": " ".join(sys.argv),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        write_json_atomic(self.path / OWNER_FILE, owner)

    def _release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / OWNER_FILE).unlink()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _owner(self) -> str:
        """Who holds the folder, as far as its owner file tells."""
        try:
            owner = json.loads((self.path / OWNER_FILE).read_text())
            return (
                f"process {owner['pid']} on {owner['host']} since {owner['since']}: "
                f"{owner['command']}"
            )
        except (OSError, ValueError, KeyError, TypeError):
            return "a process that has just started or is ending"
