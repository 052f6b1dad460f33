"""Where a run came from (versions, git commit, device), written as ``provenance.json`` at
the end of a study and shown in the report."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from dfshield.fileio import write_json_atomic


def git_commit(folder: str | os.PathLike | None = None) -> str | None:
    """The commit of dfshield's source checkout (None outside one, or without git)."""
    where = Path(folder) if folder else Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Versions, git commit and device (CUDA and device only if torch is already imported)."""
    from dfshield import __version__

    info: dict[str, Any] = {
        "dfshield": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "platform": platform.platform(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        cuda = getattr(getattr(torch, "version", None), "cuda", None)
        info["cuda"] = cuda
        try:
            available = bool(torch.cuda.is_available())
            info["device"] = torch.cuda.get_device_name(0) if available else "cpu"
        except Exception:  # a broken driver must not stop a report  # noqa: BLE001
            info["device"] = None
    return info


def write_provenance(
    run_dir: str | os.PathLike, kind: str, started: float | None = None, **extra: Any
) -> Path:
    """Write ``provenance.json``: :func:`environment`, the study's kind, times and ``extra``."""
    finished = time.time()
    info = {"kind": kind, **environment(), **extra, "finished": _stamp(finished)}
    if started is not None:
        info.update(started=_stamp(started), wall_seconds=round(finished - started, 1))
    path = Path(run_dir) / "provenance.json"
    write_json_atomic(path, info)
    return path


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds))
