"""ddln and rdaa through the shared loader, trainer, metrics and compare."""

from __future__ import annotations

import json

import pytest
import torch

from dfshield.engine.checkpoint import load_checkpoint
from dfshield.engine.trainer import Trainer
from dfshield.studies.comparison import load_comparison_configs, run_comparison
from dfshield.studies.demo import small_backbone
from tests.helpers import auc_of_written_scores, toy_layer

SCORES = "test_scores.csv"


def small_configs(names, dataset, tmp_path, **train):
    layer = toy_layer(dataset, tmp_path, **train)
    del layer[1]["detector"]  # each detector keeps its own backbone family, made small below
    layer[1]["data"]["clip_size"] = 2
    configs = load_comparison_configs(names, extra_layers=[layer])
    for cfg in configs.values():
        cfg.detector["backbone"] = small_backbone(cfg.detector["backbone"])
    return configs


@pytest.mark.slow
def test_compare_runs_ddln_and_rdaa_beside_a_frame_detector(toy_dataset, tmp_path):
    configs = small_configs(["clip_linear", "ddln", "rdaa"], toy_dataset, tmp_path, epochs=1)
    configs["ddln"].detector["input_size"] = 32
    rows = run_comparison(configs, tmp_path / "compare", feature_cache=tmp_path / "cache")
    by_name = {row["detector"]: row for row in rows}
    assert by_name["ddln"]["video_source"] == "video head"
    assert by_name["clip_linear"]["video_source"] == "mean frame probability"
    assert by_name["rdaa"]["video_source"] == "mean frame probability"
    summary = toy_dataset["summary"]
    test_videos = summary.videos["test"]["real"] + summary.videos["test"]["fake"]
    for row in rows:
        auc, one_pair = auc_of_written_scores(tmp_path / "compare" / row["detector"] / SCORES)
        assert row["n_videos"] == test_videos and row["auc"] == pytest.approx(auc, abs=one_pair)
    # ddln scores every frame of each 2-frame clip with its frame head
    assert by_name["ddln"]["n"] == 2 * test_videos
    table = (tmp_path / "compare" / "results.md").read_text()
    assert "ddln" in table and "rdaa" in table


@pytest.mark.slow
def test_ddln_and_rdaa_save_resume_and_load(toy_dataset, tmp_path, monkeypatch):
    """Killed after epoch 1 and resumed, each ends with the weights of an uninterrupted run."""
    configs = small_configs(["ddln", "rdaa"], toy_dataset, tmp_path, epochs=2)
    configs["ddln"].detector["input_size"] = 32

    class Killed(Exception):
        pass

    write_log = Trainer._write_log

    def killed_after_epoch_1(self):
        write_log(self)
        if len(self.history) == 1:
            raise Killed

    for name, cfg in configs.items():
        straight, run = tmp_path / f"{name}-straight", tmp_path / name
        Trainer(cfg, straight, feature_cache=tmp_path / "cache").fit()
        with monkeypatch.context() as patch:
            patch.setattr(Trainer, "_write_log", killed_after_epoch_1)
            with pytest.raises(Killed):
                Trainer(cfg, run, feature_cache=tmp_path / "cache").fit()
        assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
        resumed = Trainer(cfg, run, feature_cache=tmp_path / "cache")
        resumed.fit(resume=True)
        assert [row["epoch"] for row in resumed.history] == [1, 2]
        last = load_checkpoint(run / "checkpoints" / "last.pt", expected_detector=name)
        assert last["epoch"] == 2
        expected = load_checkpoint(straight / "checkpoints" / "last.pt")["model"]
        assert last["model"].keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(last["model"][key], value), (name, key)
        metrics = resumed.test()["metrics"]
        assert json.loads((run / "test_metrics.json").read_text())["auc"] == metrics["auc"]
        auc, one_pair = auc_of_written_scores(run / SCORES)
        assert metrics["auc"] == pytest.approx(auc, abs=one_pair)
