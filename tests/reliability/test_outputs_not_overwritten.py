"""Outputs never silently replace what they should not: ``export`` an existing OUT (or OUT ==
SRC), ``test --out`` a training run's folder."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dfshield import cli
from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.engine.checkpoint import save_checkpoint
from dfshield.engine.run_folder import RunFolderError
from dfshield.scoring.evaluate_checkpoint import evaluate_checkpoint
from tests.helpers import TINY_BACKBONE


def tiny_checkpoint(path):
    """A checkpoint that export reads (the tiny random-init backbone, an untrained head)."""
    overrides = [
        f"detector.backbone.{key}={'null' if value is None else value}"
        for key, value in TINY_BACKBONE.items()
    ]
    cfg = load_run_config(detector="clip_linear", overrides=overrides)
    detector = build_detector(cfg.detector)
    payload = {"detector": "clip_linear", "config": cfg.to_dict(), "epoch": 1}
    save_checkpoint(path, {**payload, "model": detector.trainable_state_dict()})
    return path


@pytest.mark.slow  # builds a backbone
@pytest.mark.parametrize("existing", ["OUT", "OUT.yaml", "SRC"])
def test_export_refuses_an_existing_out_and_never_writes_over_its_source(
    tmp_path, capsys, existing
):
    source = tiny_checkpoint(tmp_path / "best.pt")
    out = source if existing == "SRC" else tmp_path / "theirs.pth"
    victim = {"OUT": out, "OUT.yaml": out.with_suffix(".yaml"), "SRC": source}[existing]
    victim.write_bytes(b"keep me") if existing != "SRC" else None
    before = victim.read_bytes()
    assert cli.main(["export", str(source), str(out)]) == 2
    err = capsys.readouterr().err
    assert str(victim) in err and ("--overwrite" in err or "over the checkpoint" in err)
    if existing == "SRC":  # not even with --overwrite
        assert cli.main(["export", str(source), str(out), "--overwrite"]) == 2
    assert victim.read_bytes() == before


def test_test_refuses_to_write_into_a_training_run_folder(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "test_metrics.json").write_text('{"auc": 0.966}')
    cfg = SimpleNamespace(detector={"name": "clip_linear"})
    with pytest.raises(RunFolderError, match=r"training run's folder .*config\.json.*--out"):
        evaluate_checkpoint(cfg, run / "checkpoints" / "best.pt", run)
    assert (run / "test_metrics.json").read_text() == '{"auc": 0.966}'
