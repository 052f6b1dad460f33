"""The CI scripts name test files and folders that exist: a moved test file must not turn a CI job
into pytest's "file or directory not found" (which only CI would show)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = [ROOT / ".ci" / "run", ROOT / "Makefile", *sorted((ROOT / "scripts" / "ci").glob("*.sh"))]


def test_every_test_path_a_ci_script_names_exists():
    named = {
        (script.name, path)
        for script in SCRIPTS
        for path in re.findall(r"\btests/[\w/.-]*", script.read_text(encoding="utf-8"))
    }
    assert named, "the CI scripts name no test path at all: is the pattern still right?"
    missing = sorted(f"{script}: {path}" for script, path in named if not (ROOT / path).exists())
    assert not missing, "CI scripts name test paths that do not exist:\n" + "\n".join(missing)
