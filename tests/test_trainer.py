"""The trainer end to end on a tiny dataset: learning, checkpoints, resume, selection, errors."""

from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import TINY_BACKBONE, toy_layer

from dfshield.config import load_run_config
from dfshield.engine.checkpoint import load_checkpoint
from dfshield.engine.trainer import Trainer
from dfshield.errors import CheckpointError, DataError


def make_trainer(dataset, tmp_path, detector="spcup", run="run", extra=None, **train):
    layers = [toy_layer(dataset, tmp_path, **train)] + ([("test extra", extra)] if extra else [])
    cfg = load_run_config(detector=detector, extra_layers=layers)
    return Trainer(cfg, tmp_path / run, feature_cache=tmp_path / "cache")


@pytest.mark.slow
def test_spcup_learns_and_writes_checkpoints_and_logs(toy_dataset, tmp_path):
    # the paper's lr 1e-5 needs its 100 epochs; 1e-3 learns the toy artefact in 4
    trainer = make_trainer(
        toy_dataset, tmp_path, epochs=4, extra={"optimizer": {"base": {"lr": 1e-3}}}
    )
    summary = trainer.fit()
    result = trainer.test()
    assert result["metrics"]["auc"] > 0.9, result["metrics"]
    run = tmp_path / "run"
    assert (run / "checkpoints" / "best.pt").is_file() and (
        run / "checkpoints" / "last.pt"
    ).is_file()
    rows = list(csv.DictReader((run / "log.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    best = load_checkpoint(run / "checkpoints" / "best.pt", expected_detector="spcup")
    val_aucs = [float(r["val_auc"]) for r in rows]
    assert best["epoch"] == summary["best_epoch"] == 1 + val_aucs.index(max(val_aucs))
    assert (
        best["threshold"]["rule"] == "eer" and best["threshold"]["chosen_on"] == "validation split"
    )
    # the frozen CLIP backbone is not stored, only the head
    assert not any(key.startswith("backbone.") for key in best["model"])
    metrics = json.loads((run / "test_metrics.json").read_text())
    assert metrics["n"] == len(trainer.dataset("test"))
    assert "video_auc" in metrics


@pytest.mark.slow
def test_cosine_schedule_decays_once_per_epoch(toy_dataset, tmp_path):
    trainer = make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=4)
    trainer.fit()
    lrs = [row["lr"] for row in trainer.history]
    assert all(a > b for a, b in zip(lrs, lrs[1:])) and lrs[-1] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.slow
def test_checkpoint_of_another_detector_fails_clearly(toy_dataset, tmp_path):
    make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=1).fit()
    other = make_trainer(toy_dataset, tmp_path, detector="spcup", epochs=1)
    with pytest.raises(CheckpointError, match="checkpoint of detector 'clip_linear', not 'spcup'"):
        other.test(tmp_path / "run" / "checkpoints" / "best.pt")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch /tmp/dfshield-pwned",))


def test_checkpoints_are_loaded_weights_only(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "dfshield-checkpoint", "payload": _Exploit()}, path, pickle_protocol=2)
    with pytest.raises(CheckpointError, match="not a readable dfshield checkpoint"):
        load_checkpoint(path)
    assert not Path("/tmp/dfshield-pwned").exists()
    (tmp_path / "plain.pt").write_bytes(pickle.dumps({"format": "something else"}))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "plain.pt")


def test_one_class_validation_split_is_a_clear_error(tmp_path):
    import numpy as np
    from helpers import toy_image

    from dfshield.datasets.writer import DatasetWriter, label_dict_for

    rng = np.random.default_rng(0)
    with DatasetWriter(tmp_path / "data", "OneClassVal") as writer:
        for i in range(6):
            fake = i % 2 == 1
            split = "val" if i >= 4 and not fake else ("test" if i >= 4 else "train")
            writer.add_video(
                f"v{i}", "fake" if fake else "real", [(0, toy_image(rng, fake))], split=split
            )
        writer.add_video("t_fake", "fake", [(0, toy_image(rng, True))], split="test")
    dataset = {
        "name": "OneClassVal",
        "json_dir": str(tmp_path / "data/json"),
        "lmdb_dir": str(tmp_path / "data/lmdb"),
        "label_dict": label_dict_for("OneClassVal"),
    }
    trainer = make_trainer(dataset, tmp_path, detector="clip_linear", epochs=1)
    with pytest.raises(DataError, match="val split of OneClassVal has no fake samples"):
        trainer.fit()


def _train_command(dataset, tmp_path, run_dir, epochs):
    layer = toy_layer(dataset, tmp_path, epochs=epochs)[1]
    sets = [f"data.{k}={json.dumps(v)}" for k, v in layer["data"].items()]
    sets += [f"train.{k}={json.dumps(v)}" for k, v in layer["train"].items()]
    sets += [f"detector.backbone={json.dumps(TINY_BACKBONE)}", "optimizer.base.lr=0.001"]
    command = [
        sys.executable,
        "-m",
        "dfshield.cli",
        "train",
        "--detector",
        "spcup",
        "--run-dir",
        str(run_dir),
        "--feature-cache",
        str(tmp_path / "cache"),
    ]
    for item in sets:
        command += ["--set", item]
    return command


@pytest.mark.slow
@pytest.mark.e2e
def test_killed_run_resumes_to_the_same_final_metrics(toy_dataset, tmp_path):
    epochs = 6
    straight = tmp_path / "straight"
    subprocess.run(
        _train_command(toy_dataset, tmp_path, straight, epochs), check=True, capture_output=True
    )
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _train_command(toy_dataset, tmp_path, killed, epochs),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = killed / "checkpoints" / "last.pt"
    deadline = time.time() + 240
    while not last.is_file() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = load_checkpoint(last)["epoch"]
    assert done < epochs, "the run finished before it could be killed; make it longer"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dfshield.cli",
            "train",
            "--run-dir",
            str(killed),
            "--resume",
            "--feature-cache",
            str(tmp_path / "cache"),
        ],
        check=True,
        capture_output=True,
    )
    first = json.loads((straight / "test_metrics.json").read_text())
    second = json.loads((killed / "test_metrics.json").read_text())
    for key in ("auc", "ap", "eer", "acc", "video_auc"):
        assert second[key] == pytest.approx(first[key], abs=1e-9), key
    straight_log = list(csv.DictReader((straight / "log.csv").open()))
    killed_log = list(csv.DictReader((killed / "log.csv").open()))
    assert [r["val_auc"] for r in killed_log][-1] == [r["val_auc"] for r in straight_log][-1]


@pytest.mark.slow
def test_tensorboard_writer_is_created_once_per_run(toy_dataset, tmp_path, monkeypatch):
    import types

    created, scalars = [], []

    class FakeWriter:
        def __init__(self, folder):
            created.append(folder)

        def add_scalar(self, key, value, step):
            scalars.append((key, step))

        def flush(self):
            pass

        def close(self):
            pass

    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    trainer = make_trainer(
        toy_dataset, tmp_path, detector="clip_linear", epochs=3, tensorboard=True
    )
    trainer.fit()
    assert created == [str(tmp_path / "run" / "tensorboard")]
    assert sorted({step for _, step in scalars}) == [1, 2, 3]
    assert ("val_auc", 3) in scalars and not any(key == "epoch" for key, _ in scalars)
