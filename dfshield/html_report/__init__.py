"""The HTML report of run folders (``dfshield report``; docs/report.md); it reads folders as
files and imports nothing from the engine, studies or commands, so it works on any folder."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dfshield.errors import ConfigError
from dfshield.fileio import write_text_atomic

REPORT_NAME = "report.html"
logger = logging.getLogger(__name__)


def build_report(
    run_dirs: Sequence[str | os.PathLike],
    *,
    feature_map: str = "auto",
    feature_cache: str | None = None,
) -> str:
    from dfshield.html_report.feature_map import METHODS
    from dfshield.html_report.page import render_page
    from dfshield.html_report.provenance import environment
    from dfshield.html_report.run_folder_reader import read_run_folder

    if not run_dirs:
        raise ConfigError("give at least one run folder: dfshield report RUN_DIR [RUN_DIR ...]")
    if feature_map not in METHODS:
        raise ConfigError(f"--feature-map must be one of {', '.join(METHODS)}, not {feature_map!r}")
    folders = [read_run_folder(path, feature_cache) for path in run_dirs]
    return render_page(folders, feature_map=feature_map, here=environment())


def write_report(
    run_dirs: Sequence[str | os.PathLike],
    output: str | os.PathLike | None = None,
    **options,
) -> Path:
    """Write the report atomically to ``output`` (default: ``report.html`` in the run folder)."""
    target = (
        Path(output)
        if output
        else (Path(run_dirs[0]) / REPORT_NAME if len(run_dirs) == 1 else Path(REPORT_NAME))
    )
    write_text_atomic(target, build_report(run_dirs, **options))
    return target


@contextlib.contextmanager
def study_report(
    run_dir: str | os.PathLike,
    kind: str,
    report: bool = True,
    feature_cache: str | os.PathLike | None = None,
) -> Iterator[None]:
    """Around a study: :func:`finish_study` when it ends without an error."""
    started = time.time()
    yield
    finish_study(run_dir, kind, started, report=report, feature_cache=feature_cache)


def finish_study(
    run_dir: str | os.PathLike,
    kind: str,
    started: float,
    *,
    report: bool = True,
    feature_cache: str | os.PathLike | None = None,
) -> Path | None:
    """Write ``provenance.json`` and (``report``) ``report.html`` into ``run_dir`` on the main
    rank; returns the report's path. A report that cannot be drawn only warns."""
    from dfshield.html_report.provenance import write_provenance

    if os.environ.get("RANK", "0") != "0":
        return None
    cache = str(Path(feature_cache).resolve()) if feature_cache else None
    write_provenance(run_dir, kind, started, feature_cache=cache, cwd=os.getcwd())
    if not report:
        return None
    try:
        return write_report([run_dir], feature_cache=cache)
    except Exception as error:  # noqa: BLE001 - the study's results must survive a plotting bug
        logger.warning(
            "report.html was not written (%s); make it later with: dfshield report %s",
            error,
            run_dir,
        )
        return None
