"""Killing a command kills its workers: ``kill -9`` of ``build-lmdb --workers 2`` leaves no
child process behind (Linux: the workers ask for a parent-death signal)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import dfshield


def children(pid: int) -> set[int]:
    """Process ids whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def write_videos(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for label in ("real", "fake"):
        (folder / label).mkdir(parents=True)
        for i in range(count):
            path = folder / label / f"{i}.avi"
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
            for _ in range(40):
                writer.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
            writer.release()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc and prctl")
def test_kill_9_of_build_lmdb_leaves_no_worker_alive(tmp_path):
    write_videos(tmp_path / "src", 8)
    env = {**os.environ, "PYTHONPATH": str(Path(dfshield.__file__).parents[1])}
    argv = ["build-lmdb", str(tmp_path / "src"), str(tmp_path / "out"), "--name", "Kill"]
    argv += ["--workers", "2", "--frames", "40", "--on-missing", "center", "--no-progress"]
    command = subprocess.Popen(
        [sys.executable, "-m", "dfshield.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    spawned: set[int] = set()
    try:
        deadline = time.monotonic() + 20
        while len(children(command.pid)) < 3 and time.monotonic() < deadline:  # 2 + tracker
            time.sleep(0.2)
        spawned = children(command.pid)
        assert len(spawned) >= 3 and command.poll() is None, "the workers never started"
        time.sleep(1.0)  # the workers are past their start-up
        os.kill(command.pid, signal.SIGKILL)
        command.wait()
        deadline = time.monotonic() + 5
        while alive(spawned) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(spawned), f"still running after the kill: {sorted(alive(spawned))}"
    finally:  # whatever happened, leave nothing running
        if command.poll() is None:
            spawned |= children(command.pid)
            command.kill()
        for pid in alive(spawned):
            os.kill(pid, signal.SIGKILL)
