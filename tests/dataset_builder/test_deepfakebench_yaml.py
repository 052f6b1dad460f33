"""``deepfakebench.yaml`` beside the JSON: what DeepfakeBench needs, for every dataset there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from dfshield.dataset_builder.dataset_writer import DatasetWriter
from dfshield.dataset_builder.layout import label_dict_for


def test_deepfakebench_yaml_beside_the_json(tmp_path):
    def build(name):
        with DatasetWriter(tmp_path / "out", name) as writer:
            for label in ("real", "fake"):
                writer.add_video("v", label, [(0, np.zeros((8, 8, 3), np.uint8))], split="train")
        return writer.summary

    summary = build("First")
    path = tmp_path / "out" / "json" / "deepfakebench.yaml"
    assert summary.deepfakebench_yaml == str(path.resolve())
    assert f"DeepfakeBench settings: {path.resolve()}" in summary.format()
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert settings["label_dict"] == label_dict_for("First") and settings["lmdb"] is True
    assert (Path(settings["lmdb_dir"]) / "First_lmdb" / "data.mdb").is_file()
    assert (Path(settings["dataset_json_folder"]) / "First.json").is_file()
    text = path.read_text(encoding="utf-8")
    # train.py's override of the JSON folder whenever lmdb is true, and the way around it
    assert "config['dataset_json_folder'] = 'preprocessing/dataset_json_v3'" in text
    assert (
        f'ln -s "{settings["dataset_json_folder"]}/First.json" preprocessing/dataset_json_v3/'
        in text
    )
    assert "rgb_dir" in text and "train_config.yaml" in text

    build("Second")  # a second dataset in the same folder keeps the first one's lines
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert settings["label_dict"] == {**label_dict_for("First"), **label_dict_for("Second")}
    (tmp_path / "out" / "json" / "First.json").unlink()
    build("Third")  # ... while its JSON is there
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert settings["label_dict"] == {**label_dict_for("Second"), **label_dict_for("Third")}
