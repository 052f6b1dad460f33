"""A checkpoint or a run folder never runs code on its own: the ``imports`` of a saved config
are refused unless passed again with ``--import`` or trusted with ``--trust-imports``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dfshield import cli
from dfshield.config import load_run_config
from dfshield.engine.checkpoint import save_checkpoint
from dfshield.plugins import trust_saved_imports
from tests.helpers import TINY_BACKBONE


@pytest.fixture
def planted(tmp_path) -> dict:
    """A checkpoint and a run folder whose saved config names a file that leaves a mark when
    imported (a relative path, resolved from the working folder, as an attacker would write)."""
    mark = tmp_path / "ran"
    code = tmp_path / "payload.py"
    code.write_text(f"open({str(mark)!r}, 'w').close()\n")
    tiny = [
        f"detector.backbone.{key}={'null' if value is None else value}"
        for key, value in TINY_BACKBONE.items()
    ]
    config = load_run_config(detector="clip_linear", overrides=tiny).to_dict()
    config = {**config, "imports": ["payload.py"]}
    checkpoint = tmp_path / "best.pt"
    payload = {"detector": "clip_linear", "config": config, "epoch": 1, "model": {}}
    save_checkpoint(checkpoint, payload)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config))
    yield {"mark": mark, "checkpoint": checkpoint, "run": run, "image": tmp_path / "a.png"}
    trust_saved_imports(False)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(
            ["predict", "{image}", "--checkpoint", "{checkpoint}", "--device", "cpu"],
            marks=pytest.mark.slow,  # the first to load a backbone
        ),
        ["test", "--checkpoint", "{checkpoint}"],
        ["export", "{checkpoint}", "{out}"],
        ["train", "--run-dir", "{run}", "--resume"],
    ],
    ids=["predict", "test", "export", "train-resume"],
)
def test_saved_imports_are_refused_unless_passed_again_or_trusted(
    planted, argv, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    argv = [arg.format(out=tmp_path / "out.pth", **planted) for arg in argv]
    code = cli.main(argv)
    assert not planted["mark"].exists()  # nothing was imported
    err = capsys.readouterr().err
    assert code == 2 and "names code to import: 'payload.py'" in err and "--trust-imports" in err

    cli.main(["--trust-imports", *argv])  # trusted: imported (what follows may fail)
    assert planted["mark"].exists()


def test_code_passed_again_is_accepted(planted, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cli.main(["--import", "payload.py", "test", "--checkpoint", str(planted["checkpoint"])])
    assert planted["mark"].exists()
    assert "names code to import" not in capsys.readouterr().err
    assert Path("payload.py").is_file()
