"""Extra test sets (``--extra-test``): an image folder is converted once and evaluated; a dataset
name is read from the run's JSON/LMDB folders; bad specs are clear errors."""

from __future__ import annotations

import argparse
import csv
import json
import os

import cv2
import numpy as np
import pytest

from dfshield.data.config import DataConfig
from dfshield.data.index import read_split
from dfshield.errors import ConfigError, DataError
from dfshield.scoring.extra_test_sets import resolve_extra_tests, safe_label
from tests.helpers import auc_of_written_scores, toy_image, toy_layer


def image_tree(root, n_real: int = 5, n_fake: int = 4, seed: int = 9):
    rng = np.random.default_rng(seed)
    for label, count in (("real", n_real), ("fake", n_fake)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            rgb = toy_image(rng, fake=label == "fake", size=32)
            cv2.imwrite(str(root / label / f"img{i:02d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return root


def toy_data(toy_dataset) -> DataConfig:
    return DataConfig(
        train_datasets=[toy_dataset["name"]],
        test_datasets=[toy_dataset["name"]],
        json_dir=toy_dataset["json_dir"],
        lmdb_dir=toy_dataset["lmdb_dir"],
        label_dict=toy_dataset["label_dict"],
        num_workers=0,
    )


def test_an_image_folder_is_converted_once_into_a_test_only_dataset(
    toy_dataset, tmp_path, monkeypatch
):
    import dfshield.dataset_builder.builder as builder

    folder = image_tree(tmp_path / "faces")
    cache = tmp_path / "cache"
    (extra,) = resolve_extra_tests([str(folder)], toy_data(toy_dataset), cache)
    assert extra.kind == "folder" and extra.label == str(folder)
    assert extra.data.test_datasets == [extra.dataset]
    records = read_split(
        extra.data.json_dir, extra.dataset, "test", label_dict=extra.data.label_dict
    )
    assert sorted(r.label for r in records) == [0] * 5 + [1] * 4  # every image, all in test
    for split in ("train", "val"):
        assert (
            read_split(
                extra.data.json_dir,
                extra.dataset,
                split,
                label_dict=extra.data.label_dict,
                allow_empty=True,
            )
            == []
        )

    calls = []
    original = builder.build_from_images
    monkeypatch.setattr(
        builder, "build_from_images", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    resolve_extra_tests([str(folder)], toy_data(toy_dataset), cache)
    assert calls == []  # unchanged folder: the conversion is reused
    image_tree(folder, n_real=6)  # one more real image
    (again,) = resolve_extra_tests([str(folder)], toy_data(toy_dataset), cache)
    assert calls == [1]
    assert (
        len(
            read_split(again.data.json_dir, again.dataset, "test", label_dict=again.data.label_dict)
        )
        == 10
    )


def test_bad_extra_test_specs_are_clear_errors(toy_dataset, tmp_path):
    data = toy_data(toy_dataset)
    (tmp_path / "only_real" / "real").mkdir(parents=True)
    with pytest.raises(DataError, match="no fake/ subfolder"):
        resolve_extra_tests([str(tmp_path / "only_real")], data, tmp_path / "cache")
    with pytest.raises(DataError, match="no such folder"):
        resolve_extra_tests([str(tmp_path / "missing")], data, tmp_path / "cache")
    with pytest.raises(DataError, match="Did you mean 'Toy'"):
        resolve_extra_tests(["Toyy"], data, tmp_path / "cache")
    with pytest.raises(ConfigError, match="given twice"):
        resolve_extra_tests(["Toy", "Toy"], data, tmp_path / "cache")


@pytest.mark.slow
@pytest.mark.e2e
def test_dfshield_test_reports_metrics_for_an_image_folder_and_a_dataset_name(
    toy_dataset, tmp_path
):
    from dfshield.commands import test as command
    from dfshield.config import load_run_config
    from dfshield.engine.trainer import Trainer

    cfg = load_run_config(
        detector="clip_linear", extra_layers=[toy_layer(toy_dataset, tmp_path, epochs=1)]
    )
    trainer = Trainer(cfg, tmp_path / "run", feature_cache=tmp_path / "bank")
    trainer.fit()
    folder = image_tree(tmp_path / "faces")

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    out = tmp_path / "test"
    args = parser.parse_args(
        [
            "--checkpoint",
            str(tmp_path / "run" / "checkpoints" / "best.pt"),
            "--out",
            str(out),
            "--feature-cache",
            str(tmp_path / "bank"),
            "--extra-test",
            str(folder),
            "--extra-test",
            "Toy",
        ]
    )
    assert command.run(args) == 0

    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["test_set"] for r in rows] == ["Toy test", str(folder), "Toy"]
    assert [r["detector"] for r in rows] == [
        "clip_linear",
        f"clip_linear on {folder}",
        "clip_linear on Toy",
    ]
    # each row's AUC is scikit-learn's on the scores written for its set
    scores = [out, out / "extra_tests" / safe_label(str(folder)), out / "extra_tests" / "Toy"]
    for row, folder_of_set in zip(rows, scores):
        auc, one_pair = auc_of_written_scores(folder_of_set / "test_scores.csv")
        assert float(row["auc"]) == pytest.approx(auc, abs=one_pair) and row["eer"] != ""
    # the name reads the same test split as the protocol: identical numbers
    assert rows[2]["auc"] == rows[0]["auc"] and rows[2]["ap"] == rows[0]["ap"]
    metrics = json.loads(next((out / "extra_tests").glob("*faces*/test_metrics.json")).read_text())
    auc, one_pair = auc_of_written_scores(scores[1] / "test_scores.csv")
    assert metrics["test_set"] == str(folder) and metrics["auc"] == pytest.approx(auc, abs=one_pair)
    with next((out / "extra_tests").glob("*faces*/test_scores.csv")).open() as handle:
        scores = list(csv.DictReader(handle))
    assert sorted(int(r["label"]) for r in scores) == [0] * 5 + [1] * 4
    assert (out / "roc.png").is_file() and os.path.getsize(out / "roc.png") > 0
