"""README's "Add your own detector" works as written: its files and commands, run in a fresh
folder next to the clone's ``configs/``, each command as if it were its own process."""

from __future__ import annotations

import re
import runpy
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from dfshield.cli import COMMANDS, main
from dfshield.registry import DETECTOR

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Add your own detector"
# what keeps the run small (and off the network); the documented commands are otherwise verbatim
SIZE = {
    "demo-data": ["--train", "16,8", "--val", "8,4", "--test", "8,4", "--no-progress"],
    "train": [
        "--set",
        "train.epochs=1",
        "--set",
        "detector.backbone.model=dfshield-tiny-vit",
        "--set",
        "detector.backbone.pretrained=null",
    ],
}


def section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else None]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block."""
    return re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)


def files(text: str) -> dict[str, str]:
    """The blocks that name their file on their first line (``# my_head.py``)."""
    named = {}
    for _, body in code_blocks(text):
        match = re.match(r"# (\S+\.\w+)\n", body)
        if match:
            named[match.group(1)] = body
    return named


def commands(text: str) -> list[list[str]]:
    """The shell commands of the section's bash blocks, continuation lines joined."""
    lines = []
    for language, body in code_blocks(text):
        if language == "bash":
            lines += body.replace("\\\n", " ").splitlines()
    return [argv for argv in (shlex.split(line, comments=True) for line in lines) if argv]


@contextmanager
def own_process():
    """Registrations and plugin imports of one command end with it, as they would with its
    process (a second ``--import`` of the same file would otherwise find it imported already)."""
    DETECTOR.names()  # the built-ins belong to every process
    entries, modules = dict(DETECTOR._entries), set(sys.modules)
    try:
        yield
    finally:
        DETECTOR._entries.clear()
        DETECTOR._entries.update(entries)
        for name in set(sys.modules) - modules:
            if name.startswith("dfshield_plugin_"):
                del sys.modules[name]


def run(argv: list[str]) -> None:
    with own_process():
        if argv[0] == "python":
            runpy.run_path(argv[1], run_name="__main__")
            return
        assert argv[0] == "dfshield", f"README runs {argv[0]}; this test runs python and dfshield"
        command = next(arg for arg in argv if arg in COMMANDS)
        assert main(argv[1:] + SIZE.get(command, [])) == 0, argv


@pytest.mark.slow
@pytest.mark.e2e
def test_add_your_own_detector_works_as_written(tmp_path, monkeypatch, capsys, one_thread):
    text = section()
    written = files(text)
    assert set(written) == {"my_head.py", "my_head.yaml"}
    for name, body in written.items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    (tmp_path / "configs").symlink_to(REPO / "configs")  # the clone's configs/
    monkeypatch.chdir(tmp_path)
    argvs = commands(text)
    assert ["dfshield", "train", "--import", "my_head.py"] in [argv[:4] for argv in argvs]
    for argv in argvs:
        run(argv)
    out = capsys.readouterr().out
    assert "MyHead keeps the detector contract" in out
    assert re.search(r"^  my_head +Frozen features \+ a two-layer head", out, flags=re.M)
    assert re.search(r"^my_head +\d", out, flags=re.M)  # the test table's row
    (run_dir,) = (tmp_path / "runs").glob("my_head-*")
    assert (run_dir / "checkpoints" / "best.pt").is_file()
    assert "my_head" not in DETECTOR  # nothing leaks into the other tests
