"""A full disk (simulated: writes raise ``OSError(ENOSPC)``) while writing the feature bank,
``predict --out``, results or checkpoints is a named error, and nothing half-written is left."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from dfshield.data import DataConfig, DeepfakeDataset
from dfshield.detectors import build_detector
from dfshield.engine import feature_bank
from dfshield.errors import CheckpointError, DataError, DfshieldError
from tests.helpers import TINY_BACKBONE

CPU = __import__("torch").device("cpu")


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture(scope="module")
def detector():
    return build_detector({"name": "clip_linear", "backbone": dict(TINY_BACKBONE)})


def toy_split(toy: dict, detector) -> DeepfakeDataset:
    cfg = DataConfig(
        train_datasets=[toy["name"]],
        test_datasets=[toy["name"]],
        json_dir=toy["json_dir"],
        lmdb_dir=toy["lmdb_dir"],
        label_dict=toy["label_dict"],
        num_workers=0,
    )
    return DeepfakeDataset(cfg, "train", augment=False, **detector.input_spec())


def encode(detector, dataset, cache: Path):
    return feature_bank.load_or_extract(
        detector.backbone, dataset, cache, device=CPU, progress=False
    )


@pytest.mark.parametrize("where", ["reserving the rows", "writing meta.json"])
def test_a_full_disk_while_writing_the_bank_is_named_and_leaves_nothing(
    toy_dataset, detector, tmp_path, monkeypatch, where
):
    dataset = toy_split(toy_dataset, detector)
    if where == "reserving the rows":
        monkeypatch.setattr(feature_bank.os, "posix_fallocate", disk_full, raising=False)
    else:
        monkeypatch.setattr(feature_bank, "write_json_atomic", disk_full)
    with pytest.raises(DataError, match=r"feature bank .* could not be written: .*No space"):
        encode(detector, dataset, tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert left == []  # no bank, no .parts, no .tmp
    monkeypatch.undo()
    assert encode(detector, dataset, tmp_path).features.shape[0] == len(dataset)


@pytest.mark.parametrize("kind", ["a regular file", "under a regular file"])
def test_a_feature_cache_that_cannot_be_a_folder_is_named(toy_dataset, detector, tmp_path, kind):
    blocker = tmp_path / "cache"
    blocker.write_text("")
    cache = blocker if kind == "a regular file" else blocker / "inside"
    with pytest.raises(DataError, match="feature cache .* cannot be used as a folder"):
        encode(detector, toy_split(toy_dataset, detector), cache)


def test_a_full_disk_while_writing_predict_rows_is_named_and_keeps_the_old_file(
    tmp_path, monkeypatch
):
    from dfshield.scoring import predict_output
    from dfshield.scoring.predict import COLUMNS

    out = tmp_path / "rows.csv"
    out.write_text("previous rows\n")
    row = {**dict.fromkeys(COLUMNS), "path": "a.png", "prob_fake": 0.5}
    monkeypatch.setattr(predict_output, "_csv_cell", disk_full)
    with pytest.raises(DfshieldError, match=r"cannot write .*rows\.csv: .*No space left"):
        predict_output.write_rows(out, [row], {})
    assert out.read_text() == "previous rows\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]  # no temporary file left


def test_a_full_disk_while_writing_results_is_named_and_keeps_whole_files(tmp_path, monkeypatch):
    from dfshield import fileio
    from dfshield.eval.results import write_results

    rows = [{"detector": "a", "auc": 0.9}]
    write_results(tmp_path, rows)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(fileio.os, "fsync", disk_full)
    with pytest.raises(DfshieldError, match=r"cannot write .*results\.md: .*No space left"):
        write_results(tmp_path, [{"detector": "b", "auc": 0.1}])
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_full_disk_at_the_first_checkpoint_does_not_advise_resume(tmp_path, monkeypatch):
    from dfshield.engine import checkpoint

    monkeypatch.setattr(checkpoint.torch, "save", disk_full)
    with pytest.raises(CheckpointError, match="nothing to resume") as caught:
        checkpoint.save_checkpoint(tmp_path / "checkpoints" / "last.pt", {"epoch": 0})
    assert "--resume" not in str(caught.value)
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_result_files_get_the_permissions_of_the_umask(tmp_path):
    from dfshield.fileio import write_text_atomic

    umask = os.umask(0o022)
    os.umask(umask)
    write_text_atomic(tmp_path / "metrics.json", "{}")
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.slow
def test_a_full_disk_at_the_first_checkpoint_leaves_no_config_json(
    toy_dataset, tmp_path, monkeypatch
):
    from dfshield.config import build_config
    from dfshield.engine import checkpoint
    from dfshield.engine.trainer import Trainer
    from tests.helpers import toy_layer

    source, layer = toy_layer(toy_dataset, tmp_path / "cache", epochs=1)
    layer["detector"]["name"] = "clip_linear"
    cfg = build_config([(source, layer)])
    monkeypatch.setattr(checkpoint.torch, "save", disk_full)
    trainer = Trainer(cfg, tmp_path / "run")
    with pytest.raises(CheckpointError, match="nothing to resume"):
        with trainer.hold_run_folder():
            trainer.fit()
    assert not (tmp_path / "run" / "config.json").exists()  # the next train starts afresh
