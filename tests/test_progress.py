"""Progress bars: one helper, ``dfshield.progress``, for every bar of the library."""

from __future__ import annotations

import re
from pathlib import Path

import dfshield
from dfshield.progress import progress_bar, write_above_bars


def test_only_the_progress_module_reaches_tqdm():
    root = Path(dfshield.__file__).parent
    direct = [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*.py"))
        if path.name != "progress.py"
        and re.search(r"^\s*(from|import) tqdm", path.read_text(), re.M)
    ]
    assert direct == [], f"use dfshield.progress.progress_bar instead of tqdm in {direct}"


def test_a_disabled_bar_passes_items_through_and_messages_reach_stderr(capsys):
    assert list(progress_bar(range(3), enabled=False)) == [0, 1, 2]
    write_above_bars("a warning")
    assert capsys.readouterr().err == "a warning\n"
