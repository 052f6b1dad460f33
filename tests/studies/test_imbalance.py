"""The imbalance study: exact seeded by-video subsampling, the loss-ablation preset, an end-to-end
run on generated data, and the bad-input errors."""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path

import pytest
import torch

from dfshield.config import load_run_config
from dfshield.data import DataConfig, DeepfakeDataset
from dfshield.errors import ConfigError, DataError
from dfshield.studies.imbalance import expand_detectors, run_imbalance
from dfshield.studies.subsample import (
    parse_ratios,
    plan_subsample,
    select_videos,
    training_videos,
    write_subsample,
)
from tests.helpers import TINY_BACKBONE, toy_layer, write_toy_dataset


@pytest.fixture(scope="module")
def fake_heavy(tmp_path_factory) -> dict:
    """12 real / 20 fake training videos (split 0.5/0.25/0.25 of 24 real, 40 fake), plus a second
    dataset 'Other' in the same folders for cross-dataset testing."""
    root = tmp_path_factory.mktemp("imbalance")
    dataset = write_toy_dataset(root, "Imb", n_real=24, n_fake=40, seed=3)
    other = write_toy_dataset(root, "Other", n_real=6, n_fake=6, seed=4)
    dataset["label_dict"] = {**dataset["label_dict"], **other["label_dict"]}
    dataset["other_test_frames"] = sum(other["summary"].frames["test"].values())
    return dataset


def data_config(dataset: dict, **changes) -> DataConfig:
    values = dict(
        train_datasets=[dataset["name"]],
        test_datasets=[dataset["name"]],
        json_dir=dataset["json_dir"],
        lmdb_dir=dataset["lmdb_dir"],
        label_dict=dataset["label_dict"],
        num_workers=0,
    )
    return DataConfig(**{**values, **changes})


def raw_train_videos(json_file: Path, group: str) -> set[str]:
    info = json.loads(Path(json_file).read_text())
    ((name, groups),) = info.items()
    return set(groups[group]["train"])


def test_subsampling_is_by_video_seeded_exact_and_leaves_val_and_test_alone(fake_heavy, tmp_path):
    data = data_config(fake_heavy)
    records = training_videos(data)
    assert sum(r.label == 0 for r in records) == 12 and sum(r.label == 1 for r in records) == 20
    assert plan_subsample({"real": 12, "fake": 20}, [1, 3, 5.5], "fake") == {
        1.0: 12,
        3.0: 4,
        5.5: 2,
    }
    assert plan_subsample({"real": 12, "fake": 20}, [2], "real") == {2.0: 10}

    kept = select_videos(records, "fake", 4, seed=7)
    assert select_videos(records, "fake", 4, seed=7) == kept  # same seed, same videos
    assert [r.video_path for r in select_videos(list(reversed(records)), "fake", 4, seed=7)] == [
        r.video_path for r in kept
    ]  # independent of the input order
    fakes = {r.video_path for r in kept if r.label == 1}
    assert len(fakes) == 4 and sum(r.label == 0 for r in kept) == 12  # every real kept
    others = [
        {r.video_path for r in select_videos(records, "fake", 4, seed=s) if r.label == 1}
        for s in range(8, 13)
    ]
    assert any(o != fakes for o in others)  # the seed matters
    larger = {r.video_path for r in select_videos(records, "fake", 12, seed=7) if r.label == 1}
    assert fakes < larger  # nested across ratios for one seed

    json_dir = write_subsample(data, kept, tmp_path / "json")
    copy = data_config(fake_heavy, json_dir=str(json_dir))
    # independent check on the raw JSON: the train split holds exactly the kept videos
    fake_names = raw_train_videos(json_dir / "Imb.json", "Imb_fake")
    assert len(fake_names) == 4 and len(raw_train_videos(json_dir / "Imb.json", "Imb_real")) == 12
    original = json.loads((Path(fake_heavy["json_dir"]) / "Imb.json").read_text())["Imb"]
    copied = json.loads((json_dir / "Imb.json").read_text())["Imb"]
    for group in ("Imb_real", "Imb_fake"):
        assert copied[group]["val"] == original[group]["val"]
        assert copied[group]["test"] == original[group]["test"]
    # through the shared loader: train = the subsample (every frame of it), val/test unchanged
    train = DeepfakeDataset(copy, "train", resolution=8)
    assert {r.video_path for r in train.records} == {r.video_path for r in kept}
    assert train.class_counts == {"real": 24, "fake": 8}  # 2 frames a video
    for split in ("val", "test"):
        assert (
            DeepfakeDataset(copy, split, resolution=8).frame_keys
            == DeepfakeDataset(data, split, resolution=8).frame_keys
        )


def tiny(cfg_layer: dict | None = None) -> list[tuple[str, dict]]:
    return [("tiny", {"detector": {"backbone": dict(TINY_BACKBONE)}, **(cfg_layer or {})})]


def test_ablation_preset_builds_the_five_objectives():
    from dfshield.detectors import build_detector
    from dfshield.losses import build_loss
    from dfshield.losses.auc import AUCLogisticLoss
    from dfshield.losses.bce import BCELoss
    from dfshield.losses.composite import CompositeLoss
    from dfshield.losses.cvar import CVaRLoss
    from dfshield.losses.vs import VSLoss
    from dfshield.optimizers import SAM, build_optimizer

    paths = expand_detectors(None, "losses")
    assert [Path(p).stem for p in paths] == [
        "ablation_bce",
        "ablation_vs",
        "ablation_cvar_vs",
        "ablation_cvar_vs_auc",
        "ablation_cvar_vs_auc_sam",
    ]
    assert expand_detectors(["clip_linear"], "losses")[-1] == "clip_linear"
    configs = [load_run_config(detector=p, extra_layers=tiny()) for p in paths]
    spcup = load_run_config(detector="spcup", extra_layers=tiny())
    counts = {"real": 30, "fake": 10}
    losses, optimizers, heads = [], [], []
    for cfg in configs:
        for section in ("data", "train"):
            assert getattr(cfg, section) == getattr(spcup, section)
        assert cfg.detector == configs[0].detector and cfg.scheduler == spcup.scheduler
        detector = build_detector(cfg.detector)
        heads.append(repr(detector.head))
        losses.append(build_loss(cfg.loss, class_counts=counts))
        optimizers.append(build_optimizer(cfg.optimizer, detector))
    assert heads == [repr(build_detector(spcup.detector).head)] * 5  # spcup's network

    bce, vs, cvar_vs, cvar_vs_auc, full = losses
    assert isinstance(bce, BCELoss)
    assert isinstance(vs, VSLoss) and vs.weights == pytest.approx({"fake": 2.0, "real": 40 / 60})
    assert vs.zeta == {"fake": 1.2, "real": 0.8} and vs.delta == {"fake": 0.05, "real": -0.05}
    assert (
        isinstance(cvar_vs, CVaRLoss) and isinstance(cvar_vs.base, VSLoss) and cvar_vs.alpha == 0.9
    )
    for composite in (cvar_vs_auc, full):
        assert isinstance(composite, CompositeLoss)
        assert composite.keys == ["cvar", "auc_logistic"] and composite.weights == [1.0, 0.6]
        assert isinstance(composite.terms[0].base, VSLoss) and composite.terms[0].alpha == 0.9
        assert isinstance(composite.terms[1], AUCLogisticLoss)
    # the same numbers: each step adds one component to the previous objective
    logits, labels = torch.randn(64), (torch.rand(64) < 0.3).long()
    assert torch.allclose(full(logits, labels), cvar_vs_auc(logits, labels))
    assert torch.allclose(
        cvar_vs_auc(logits, labels),
        cvar_vs(logits, labels) + 0.6 * AUCLogisticLoss()(logits, labels),
    )
    assert cfg.loss == spcup.loss and cfg.optimizer == spcup.optimizer  # last = spcup's objective

    for optimizer in optimizers[:4]:
        assert type(optimizer) is torch.optim.AdamW
    assert (
        isinstance(optimizers[4], SAM) and type(optimizers[4].base_optimizer) is torch.optim.AdamW
    )
    assert optimizers[4].param_groups[0]["rho"] == 0.1
    for optimizer in optimizers:
        group = optimizer.param_groups[0]
        assert (group["lr"], group["weight_decay"]) == (1e-5, 6e-5)


@pytest.mark.slow
def test_end_to_end_two_ratios_two_seeds_two_detectors(fake_heavy, tmp_path, encoded_frames):
    encoded = encoded_frames
    layer = toy_layer(fake_heavy, tmp_path, epochs=1)
    run_dir = tmp_path / "imbalance"
    result = run_imbalance(
        ["clip_linear", "spcup"],
        ["3", "1"],
        run_dir,
        seeds=2,
        extra_layers=[layer],
        feature_cache=tmp_path / "cache",
        extra_tests=["Other"],
    )
    summary = fake_heavy["summary"]
    frames = sum(summary.frames[s][c] for s in ("train", "val", "test") for c in ("real", "fake"))
    assert sum(encoded) == frames + fake_heavy["other_test_frames"]  # each frame once, for 8 runs

    for name in (
        "imbalance.md",
        "imbalance.csv",
        "imbalance_runs.csv",
        "imbalance.json",
        "imbalance.png",
    ):
        assert (run_dir / name).is_file(), name
    with (run_dir / "imbalance.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["test_set"], r["detector"], float(r["ratio"])) for r in rows] == [
        (s, d, r)
        for s in ("Imb test", "Other")
        for d in ("clip_linear", "spcup")
        for r in (1.0, 3.0)
    ]
    for row in rows:
        assert row["n_seeds"] == "2" and row["train_real_videos"] == "12"
        assert row["train_fake_videos"] == {1.0: "12", 3.0: "4"}[float(row["ratio"])]
        for key in ("auc", "ap", "eer", "f1_macro"):
            assert 0.0 <= float(row[f"{key}_mean"]) <= 1.0 and float(row[f"{key}_std"]) >= 0.0
        # mean and sample std (n − 1) over the seeds of the numbers each run wrote itself
        per_seed = [
            json.loads(
                (
                    run_dir
                    / f"ratio-{float(row['ratio']):g}"
                    / f"seed-{seed}"
                    / row["detector"]
                    / ("" if row["test_set"] == "Imb test" else "extra_tests/Other")
                    / "test_metrics.json"
                ).read_text()
            )
            for seed in (1, 2)
        ]
        for key in ("auc", "ap", "eer", "f1_macro"):
            values = [metrics[key] for metrics in per_seed]
            assert float(row[f"{key}_mean"]) == pytest.approx(statistics.mean(values), abs=1e-12)
            assert float(row[f"{key}_std"]) == pytest.approx(statistics.stdev(values), abs=1e-12)
    markdown = (run_dir / "imbalance.md").read_text()
    assert "## Test split: Imb test" in markdown and "## Extra test set: Other" in markdown
    assert " ± " in markdown and "| spcup | 3:1 |" in markdown
    assert len(result["runs"]) == 2 * 2 * 2 * 2

    # each (ratio, seed): its own subsample, its seed, val/test from the protocol's JSONs
    for seed in (1, 2):
        low = json.loads((run_dir / "ratio-3" / f"seed-{seed}" / "subsample.json").read_text())
        high = json.loads((run_dir / "ratio-1" / f"seed-{seed}" / "subsample.json").read_text())
        assert low["counts"] == {"real": 12, "fake": 4} and high["counts"] == {
            "real": 12,
            "fake": 12,
        }
        assert set(low["kept_minority_videos"]) < set(high["kept_minority_videos"])
        config = json.loads(
            (run_dir / "ratio-3" / f"seed-{seed}" / "spcup" / "config.json").read_text()
        )
        assert config["train"]["seed"] == seed
        folder = run_dir / "ratio-3" / f"seed-{seed}"
        assert Path(config["data"]["json_dir"]) == (folder / "data" / "json").resolve()
        assert (run_dir / "ratio-3" / f"seed-{seed}" / "results.md").is_file()


def test_every_run_config_is_loaded_before_the_first_detector_trains(
    fake_heavy, tmp_path, monkeypatch
):
    import dfshield.engine.trainer as trainer_module
    import dfshield.studies.comparison as comparison

    loaded = []
    original = comparison.load_run_config
    monkeypatch.setattr(
        comparison, "load_run_config", lambda *a, **k: loaded.append(a) or original(*a, **k)
    )

    class Stop(Exception):
        pass

    def first_training(*args, **kwargs):
        raise Stop(len(loaded))

    monkeypatch.setattr(trainer_module.Trainer, "__init__", first_training)
    with pytest.raises(Stop) as stopped:
        run_imbalance(
            ["clip_linear", "spcup"],
            ["3", "1"],
            tmp_path / "study",
            seeds=2,
            extra_layers=[toy_layer(fake_heavy, tmp_path, epochs=1)],
            feature_cache=tmp_path / "cache",
        )
    # the protocol's configs, then one per detector at each of 2 ratios x 2 seeds
    assert stopped.value.args == (2 + 2 * 2 * 2,)


def test_bad_ratios_and_minority_are_clear_errors(fake_heavy, tmp_path):
    with pytest.raises(ConfigError, match="must be a number >= 1"):
        parse_ratios(["0.5"])
    with pytest.raises(ConfigError, match="'ten' is not a number"):
        parse_ratios(["10", "ten"])
    with pytest.raises(
        DataError,
        match=r"leaves 1 fake training video.*12 real and 20 fake.*largest "
        r"reachable ratio is 6",
    ):
        plan_subsample({"real": 12, "fake": 20}, [1, 10], "fake")
    with pytest.raises(
        DataError,
        match=r"needs 20 real training videos.*has 12 real and 20 fake.*"
        r"Real is already the minority.*--minority fake",
    ):
        plan_subsample({"real": 12, "fake": 20}, [1], "real")
    # through the command: checked before anything trains
    from dfshield.commands import imbalance as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    layer_sets = [
        f"data.json_dir={fake_heavy['json_dir']}",
        f"data.lmdb_dir={fake_heavy['lmdb_dir']}",
        "data.train_datasets=[Imb]",
        "data.test_datasets=[Imb]",
        f"data.label_dict={json.dumps(fake_heavy['label_dict'])}",
        f"train.output_dir={tmp_path}",
        "detector.backbone.model=dfshield-tiny-vit",
        "detector.backbone.pretrained=null",
    ]
    base = ["--detectors", "clip_linear", "--run-dir", str(tmp_path / "run")]
    for item in layer_sets:
        base += ["--set", item]
    with pytest.raises(DataError, match="--minority fake"):
        command.run(parser.parse_args(base + ["--ratios", "1", "--minority", "real"]))
    with pytest.raises(ConfigError, match="not a number"):
        command.run(parser.parse_args(base + ["--ratios", "1:10"]))
    with pytest.raises(ConfigError, match="--ablation losses"):
        command.run(parser.parse_args(["--ratios", "1"]))
    assert not (tmp_path / "run" / "ratio-1").exists()


@pytest.mark.slow
def test_detectors_given_as_yaml_paths_run(toy_dataset, tmp_path):
    """The ablation preset names its detectors by YAML path; results are keyed by the file stem."""
    from dfshield.config import config_dir

    path = str(config_dir() / "ablation" / "ablation_vs.yaml")
    layer = toy_layer(toy_dataset, tmp_path, epochs=1)
    run_imbalance(
        [path],
        [2],
        tmp_path / "study",
        seeds=1,
        extra_layers=[layer],
        feature_cache=tmp_path / "cache",
    )
    assert (tmp_path / "study" / "imbalance.md").is_file()
    assert "ablation_vs" in (tmp_path / "study" / "imbalance.md").read_text()
