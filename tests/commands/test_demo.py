"""`dfshield demo`, the main job: the three CLIP detectors visibly learn the demo artefact."""

from __future__ import annotations

import json

import pytest

from dfshield.cli import main
from dfshield.dataset_builder import demo as demo_data

# Half the default DemoFaces (600/60, 200/20, 200/20): the same 10:1 imbalance and enough test
# fakes for AUC, so the test shows the same learning in half the training steps.
SMALL_COUNTS = {"train": (300, 30), "val": (100, 10), "test": (100, 10)}


@pytest.mark.slow
@pytest.mark.e2e
def test_demo_compares_three_detectors_and_they_learn(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the feature cache goes under ./runs
    monkeypatch.setattr(demo_data, "DEFAULT_COUNTS", SMALL_COUNTS)  # what the command makes
    assert (
        main(["demo", "--data-dir", str(tmp_path / "data"), "--run-dir", str(tmp_path / "run")])
        == 0
    )
    out = capsys.readouterr().out
    assert "Dataset DemoFaces: 550 videos" in out  # made by the command, at the small size
    assert "not how well any detector finds real deepfakes" in out
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    rows = results["rows"]
    assert [row["detector"] for row in rows] == ["clip_linear", "robust_clip", "spcup"]
    for row in rows:
        assert row["auc"] >= 0.8, (row["detector"], row["auc"])
    assert (tmp_path / "run" / "roc.png").is_file()


def test_the_demo_trains_on_one_thread_and_restores_the_setting(monkeypatch):
    """Its tiny models spend more on thread hand-offs than on work (see run_demo)."""
    import torch

    from dfshield.studies import comparison, demo

    seen = []
    monkeypatch.setattr(
        comparison, "run_comparison", lambda *a, **k: seen.append(torch.get_num_threads())
    )
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        demo.run_demo({}, "unused")
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
