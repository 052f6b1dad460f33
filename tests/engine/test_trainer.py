"""The trainer end to end on a tiny dataset: learning, checkpoints, resume, selection, errors."""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import dfshield.engine.trainer as trainer_module
from dfshield.config import load_run_config
from dfshield.engine.checkpoint import load_checkpoint
from dfshield.engine.run_folder import RunFolder, RunFolderError
from dfshield.engine.trainer import Trainer
from dfshield.errors import CheckpointError, ConfigError, DataError
from dfshield.eval.metrics import compute_metrics
from tests.helpers import CAPTURE_FAILURE, TINY_BACKBONE, force_capture_failure, toy_layer


def make_trainer(
    dataset, tmp_path, detector="spcup", run="run", extra=None, overwrite=False, **train
):
    layers = [toy_layer(dataset, tmp_path, **train)] + ([("test extra", extra)] if extra else [])
    cfg = load_run_config(detector=detector, extra_layers=layers)
    return Trainer(cfg, tmp_path / run, feature_cache=tmp_path / "cache", overwrite=overwrite)


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
    # ACC at 0.5 and at the validation-EER threshold that the checkpoint stores, both reported
    assert metrics["val_eer_threshold"] == best["threshold"]["value"]
    at = compute_metrics(result["scores"], result["labels"], threshold=best["threshold"]["value"])
    assert metrics["acc_at_val_eer"] == at["acc"] and metrics["threshold"] == 0.5


@pytest.mark.slow
def test_log_records_the_rate_each_epoch_ran_at(toy_dataset, tmp_path):
    """Cosine decays once per epoch; log.csv's lr is the rate the epoch ran at (before the
    scheduler steps): epoch e of E runs at base·½(1 + cos(π·e/E)), e = 0 … E−1."""
    epochs, base = 4, 1e-3
    trainer = make_trainer(
        toy_dataset,
        tmp_path,
        detector="clip_linear",
        epochs=epochs,
        extra={"optimizer": {"lr": base}},
    )
    trainer.fit()
    assert trainer.cfg.scheduler == {"name": "cosine", "interval": "epoch"}
    expected = [base * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    assert expected == pytest.approx([1e-3, 8.536e-4, 5e-4, 1.464e-4], rel=1e-3)
    logged = [float(row["lr"]) for row in csv.DictReader((tmp_path / "run" / "log.csv").open())]
    assert logged == pytest.approx(expected, rel=1e-12)
    assert [row["lr"] for row in trainer.history] == pytest.approx(expected, rel=1e-12)


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


def one_class_dataset(folder, name: str, one_class_split: str, only: str) -> dict:
    """Two videos of each class in each split, except ``one_class_split``: ``only`` one class
    (four videos)."""
    import numpy as np

    from dfshield.dataset_builder.dataset_writer import DatasetWriter
    from dfshield.dataset_builder.layout import label_dict_for
    from tests.helpers import toy_image

    rng = np.random.default_rng(0)
    with DatasetWriter(folder, name) as writer:
        for split in ("train", "val", "test"):
            for i in range(4):
                fake = (only == "fake") if split == one_class_split else i % 2 == 1
                label = "fake" if fake else "real"
                frames = [(0, toy_image(rng, fake))]
                writer.add_video(f"{split}{i}", label, frames, split=split)
    return {
        "name": name,
        "json_dir": str(folder / "json"),
        "lmdb_dir": str(folder / "lmdb"),
        "label_dict": label_dict_for(name),
    }


def test_one_class_validation_split_is_a_clear_error(tmp_path):
    dataset = one_class_dataset(tmp_path / "data", "OneClassVal", "val", only="real")
    trainer = make_trainer(dataset, tmp_path, detector="clip_linear", epochs=1)
    with pytest.raises(DataError, match="val split of OneClassVal has no fake samples"):
        trainer.fit()


def test_one_class_test_split_fails_before_training(tmp_path, encoded_frames):
    dataset = one_class_dataset(tmp_path / "data", "OneClassTest", "test", only="fake")
    trainer = make_trainer(dataset, tmp_path, detector="clip_linear", epochs=1)
    with pytest.raises(DataError, match="test split of OneClassTest has no real samples"):
        trainer.fit()
    assert encoded_frames == [] and not (tmp_path / "run" / "checkpoints").exists()


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
    at_kill = load_checkpoint(last)
    done = at_kill["epoch"]
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
    # the toy task saturates early, so equal metrics prove little: the resumed run must end with
    # the uninterrupted run's weights, bit for bit (restoring weights, optimiser and scheduler
    # state), and keep the killed run's epochs instead of training them again (their timings
    # are the killed process's)
    straight_weights = load_checkpoint(straight / "checkpoints" / "last.pt")["model"]
    resumed_weights = load_checkpoint(last)["model"]
    assert straight_weights.keys() == resumed_weights.keys()
    for key, value in straight_weights.items():
        assert torch.equal(resumed_weights[key], value), key
    assert [float(r["seconds"]) for r in killed_log[:done]] == [
        row["seconds"] for row in at_kill["history"]
    ]


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


@pytest.mark.slow
def test_resume_refuses_a_config_other_than_the_runs(toy_dataset, tmp_path, encoded_frames):
    make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=1).fit()
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    before = last.read_bytes()
    encoded_frames.clear()
    changed = make_trainer(
        toy_dataset,
        tmp_path,
        detector="clip_linear",
        epochs=2,
        extra={"optimizer": {"lr": 0.5}},
    )
    with pytest.raises(
        ConfigError,
        match=r"(?s)cannot resume .*last\.pt that the run was trained with:\n"
        r"  train\.epochs: 1 → 2\n  optimizer\.lr: 0\.0001 → 0\.5\n.*--overwrite",
    ):
        changed.fit(resume=True)
    assert last.read_bytes() == before and encoded_frames == []  # refused before any work
    same = make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=1)
    same.fit(resume=True)  # the run's own config resumes (nothing is left to train)
    assert [row["epoch"] for row in same.history] == [1] and last.read_bytes() == before


@pytest.mark.slow
@pytest.mark.e2e
def test_resume_from_the_command_line_refuses_an_edited_config(toy_dataset, tmp_path, capsys):
    from dfshield.cli import main

    make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=1).fit()
    run = tmp_path / "run"
    saved = json.loads((run / "config.json").read_text())
    saved["train"]["epochs"], saved["loss"], saved["optimizer"]["lr"] = 9, {"name": "focal"}, 0.5
    (run / "config.json").write_text(json.dumps(saved))
    command = [
        "train",
        "--run-dir",
        str(run),
        "--resume",
        "--feature-cache",
        str(tmp_path / "cache"),
    ]
    assert main(command) == 2
    error = capsys.readouterr().err
    changes = ("train.epochs: 1 → 9", "loss.name: 'bce' → 'focal'", "optimizer.lr: 0.0001 → 0.5")
    for change in changes:
        assert change in error, error
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1


@pytest.mark.slow
def test_a_used_run_folder_needs_overwrite_and_is_never_left_mixed(
    toy_dataset, tmp_path, monkeypatch
):
    make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=1).fit()
    run, new = tmp_path / "run", {"optimizer": {"lr": 0.5}}
    with pytest.raises(
        RunFolderError,
        match=r"already holds a run \(config\.json, checkpoints/last\.pt, checkpoints/best\.pt\); "
        r"continue it with --resume, replace it with --overwrite",
    ):
        make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=2, extra=new).fit()
    assert json.loads((run / "config.json").read_text())["optimizer"]["lr"] == 1e-4

    class Killed(Exception):
        pass

    def killed_in_epoch_1(self, loss):
        raise Killed

    def killed_while_preparing(self):
        raise Killed

    replacing = dict(detector="clip_linear", epochs=2, extra=new, overwrite=True)
    monkeypatch.setattr(Trainer, "_prepare_training", killed_while_preparing)
    with pytest.raises(Killed):
        make_trainer(toy_dataset, tmp_path, **replacing).fit()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["config"]["optimizer"]["lr"] == 1e-4
    monkeypatch.undo()
    monkeypatch.setattr(Trainer, "end_step", killed_in_epoch_1)
    with pytest.raises(Killed):
        make_trainer(toy_dataset, tmp_path, **replacing).fit()
    # the old run was removed when the new one started, and the new one wrote nothing yet: no
    # config.json stands beside a last.pt of another run, and there is nothing to resume
    assert sorted(p.name for p in run.rglob("*") if not p.name.startswith(".dfshield")) == [
        "checkpoints"
    ]
    with pytest.raises(CheckpointError, match="nothing to resume"):
        make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=2, extra=new).fit(
            resume=True
        )
    monkeypatch.undo()
    make_trainer(toy_dataset, tmp_path, **{**replacing, "epochs": 1}).fit()
    assert load_checkpoint(run / "checkpoints" / "last.pt")["config"]["optimizer"]["lr"] == 0.5
    assert json.loads((run / "config.json").read_text())["optimizer"]["lr"] == 0.5


HOLD_RUN_FOLDER = """
import sys, time
from dfshield.engine.run_folder import RunFolder
with RunFolder(sys.argv[1]).held():
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow
def test_a_run_folder_is_used_by_one_run_at_a_time(toy_dataset, tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_RUN_FOLDER, str(run)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        trainer = make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=1)
        in_use = rf"run folder {run} is in use by another dfshield run \(process {holder.pid} on "
        with pytest.raises(RunFolderError, match=in_use):
            trainer.fit()
        with pytest.raises(RunFolderError, match=in_use):
            trainer.test()
    finally:
        holder.kill()
        holder.wait()
    with RunFolder(run).held():  # the lock went with the process that held it
        assert json.loads((run / ".dfshield.lock.json").read_text())["pid"] == os.getpid()


def test_an_unwritable_run_folder_fails_before_anything_is_encoded(
    toy_dataset, tmp_path, encoded_frames
):
    (tmp_path / "a-file").write_text("")
    trainer = make_trainer(toy_dataset, tmp_path, detector="clip_linear", run="a-file/run")
    with pytest.raises(RunFolderError, match=r"cannot write into the run folder .*a-file/run"):
        trainer.fit()
    assert encoded_frames == []


@pytest.mark.slow
def test_model_selection_never_reads_the_test_split(toy_dataset, tmp_path, monkeypatch):
    """Validation picks the checkpoint; the test split's frames are read only by test()."""
    from dfshield.engine.splits import SplitProvider
    from dfshield.eval.evaluator import Evaluator

    class TestSplitLocked(SplitProvider):
        locked = True

        def dataset(self, name, input_spec, *, augment=False):
            dataset = super().dataset(name, input_spec, augment=augment)
            if name == "test":
                provider = self

                class Guarded(type(dataset)):
                    def __getitem__(self, index):
                        if provider.locked:
                            raise AssertionError(f"test frame {index} read before fit() returned")
                        return super().__getitem__(index)

                dataset.__class__ = Guarded
            return dataset

    scored = []
    predict = Evaluator.predict
    monkeypatch.setattr(
        Evaluator, "predict", lambda self, split: scored.append(split) or predict(self, split)
    )
    cfg = load_run_config(
        detector="clip_linear", extra_layers=[toy_layer(toy_dataset, tmp_path, epochs=2)]
    )
    splits = TestSplitLocked.from_data(cfg.data)
    trainer = Trainer(cfg, tmp_path / "run", feature_cache=tmp_path / "cache", splits=splits)
    trainer.fit()
    assert scored == ["val", "val"]
    with pytest.raises(AssertionError, match="read before fit"):
        trainer.dataset("test")[0]  # the guard is live
    splits.locked = False
    assert trainer.test()["metrics"]["n"] == len(trainer.dataset("test"))
    assert scored[-1] == "test"


# -- dfshield test ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_run(toy_dataset, tmp_path_factory) -> dict:
    from tests.helpers import train_tiny_checkpoint

    return train_tiny_checkpoint(toy_dataset, tmp_path_factory.mktemp("tiny"))


def dfshield_test(checkpoint, out, cache, *options):
    import argparse

    from dfshield.commands import test as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    arguments = ["--checkpoint", str(checkpoint), "--out", str(out), "--feature-cache", str(cache)]
    return command.run(parser.parse_args([*arguments, *options]))


@pytest.mark.slow
def test_dfshield_test_names_what_makes_a_checkpoint_unusable(tiny_run, tmp_path):
    checkpoint, out, cache = tiny_run["checkpoint"], tmp_path / "out", tmp_path / "cache"
    with pytest.raises(
        CheckpointError,
        match=r"(?s)best\.pt: the weights do not fit detector 'clip_linear' as configured now "
        r".*size mismatch.*differs from the checkpoint's in detector\.backbone\.feature: 'proj' → "
        r"'pre_proj'; drop these changes",
    ):
        dfshield_test(checkpoint, out, cache, "--set", "detector.backbone.feature=pre_proj")
    with pytest.raises(
        CheckpointError,
        match=r"best\.pt is a checkpoint of detector 'clip_linear', but --set sets detector\.name "
        r"to 'spcup'.*or pass a checkpoint of 'spcup'",
    ):
        dfshield_test(checkpoint, out, cache, "--set", "detector.name=spcup")
    payload = load_checkpoint(checkpoint)
    del payload["config"]
    torch.save(payload, tmp_path / "no-config.pt")
    with pytest.raises(CheckpointError, match=r"no-config\.pt has no config; it was not written"):
        dfshield_test(tmp_path / "no-config.pt", out, cache)
    assert not out.exists()


@pytest.mark.slow
def test_dfshield_test_checks_its_folder_before_encoding(tiny_run, tmp_path, encoded_frames):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(RunFolderError, match=r"cannot write into the run folder .*a-file/out"):
        dfshield_test(tiny_run["checkpoint"], tmp_path / "a-file" / "out", tmp_path / "cache")
    assert encoded_frames == []


@pytest.mark.slow
def test_dfshield_test_warns_when_the_frozen_backbone_changed(tiny_run, tmp_path, caplog):
    checkpoint, out = tiny_run["checkpoint"], tmp_path / "out"
    options = ("--set", "detector.backbone.init_seed=5")
    assert dfshield_test(checkpoint, out, tmp_path / "cache", *options) == 0
    (warning,) = [r.getMessage() for r in caplog.records if "frozen backbone" in r.getMessage()]
    assert "weights: 'random-init-seed-0' → 'random-init-seed-5'" in warning
    assert "config: detector.backbone.init_seed: (not set) → 5" in warning
    assert json.loads((out / "test_metrics.json").read_text())["detector"] == "clip_linear"


def test_a_full_disk_while_saving_a_checkpoint_is_a_clear_error_that_keeps_the_old_one(
    tmp_path, monkeypatch
):
    import errno

    from dfshield.engine import checkpoint

    path = tmp_path / "checkpoints" / "last.pt"
    checkpoint.save_checkpoint(path, {"epoch": 1})
    before = path.read_bytes()

    def full(obj, handle):
        handle.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(CheckpointError, match=r"cannot write the checkpoint .*last.pt.*--resume"):
        checkpoint.save_checkpoint(path, {"epoch": 2})
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary left


@pytest.mark.slow
def test_a_failed_capture_is_reported_and_recorded_in_the_log_and_summary(
    toy_dataset, tmp_path, monkeypatch, caplog
):
    """An epoch of 3 full steps and a smaller 4th: the graph is keyed to the full batch, so the
    capture is tried on epoch 2's first step (not the 4th); it fails (forced, on the CPU), the
    WARNING names the cause, and log.csv and the summary record the capture actually used."""
    tried = force_capture_failure(monkeypatch)
    monkeypatch.setattr(trainer_module, "capture_mode", lambda *args: "cuda_graph")
    caplog.set_level(logging.WARNING, logger="dfshield")
    trainer = make_trainer(toy_dataset, tmp_path, detector="clip_linear", epochs=2)
    assert trainer.batches.steps_per_epoch() == 4 and len(trainer.dataset("train")) % 16
    summary = trainer.fit()
    assert tried == [16]
    assert any(
        CAPTURE_FAILURE in r.getMessage() for r in caplog.records if r.levelname == "WARNING"
    )
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [row["capture"] for row in rows] == ["cuda_graph", "off"]
    assert summary["capture"] == "off" and CAPTURE_FAILURE in summary["capture_failure"]
