"""The side-by-side comparison: one protocol, one feature bank, one table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dfshield.errors import ConfigError
from dfshield.studies.comparison import has_wrapped, load_comparison_configs, run_comparison
from tests.helpers import toy_layer

DETECTORS = ["clip_linear", "robust_clip", "spcup"]


@pytest.mark.slow
def test_compare_encodes_each_frame_once_and_writes_the_table(
    toy_dataset, tmp_path, encoded_frames
):
    encoded = encoded_frames
    configs = load_comparison_configs(
        DETECTORS, extra_layers=[toy_layer(toy_dataset, tmp_path, epochs=2)]
    )
    rows = run_comparison(configs, tmp_path / "compare", feature_cache=tmp_path / "cache")
    frames = sum(
        toy_dataset["summary"].frames[split][label]
        for split in ("train", "val", "test")
        for label in ("real", "fake")
    )
    assert sum(encoded) == frames  # three detectors, every split, each frame encoded exactly once
    assert [row["detector"] for row in rows] == DETECTORS
    run = tmp_path / "compare"
    for name in ("results.md", "results.csv", "results.json", "roc.png", "protocol.json"):
        assert (run / name).is_file(), name
    table = (run / "results.md").read_text()
    for column in ("ACC", "AUC", "F1", "Precision", "Recall", "EER", "AP", "video AUC"):
        assert column in table
    results = json.loads((run / "results.json").read_text())
    assert [row["detector"] for row in results["rows"]] == DETECTORS
    assert all(row["video_source"] == "mean frame probability" for row in results["rows"])
    for name in DETECTORS:
        assert (run / name / "checkpoints" / "best.pt").is_file()
        assert (run / name / "log.csv").is_file()


def test_a_detector_file_may_not_change_the_protocol(tmp_path):
    custom = tmp_path / "greedy.yaml"
    custom.write_text(
        "detector: {name: clip_linear, backbone: {name: clip}}\ntrain: {epochs: 500}\n"
    )
    with pytest.raises(ConfigError, match=r"sets protocol values \(train.epochs\)"):
        load_comparison_configs(["clip_linear", str(custom)])


@pytest.mark.slow
@pytest.mark.e2e
def test_compare_into_a_used_run_folder_needs_overwrite(toy_dataset, tmp_path, capsys):
    from dfshield.cli import main

    layer = toy_layer(toy_dataset, tmp_path, epochs=1)[1]
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(
        json.dumps({"data": layer["data"], "train": layer["train"]})
    )  # JSON is YAML
    argv = ["compare", "--detectors", "clip_linear", "--protocol", str(protocol)]
    argv += [f"--set=detector.backbone={json.dumps(layer['detector']['backbone'])}"]
    argv += ["--run-dir", str(tmp_path / "run"), "--feature-cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    first = (tmp_path / "run" / "clip_linear" / "checkpoints" / "best.pt").stat().st_mtime_ns
    capsys.readouterr()
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "already holds a run" in error and "--overwrite" in error
    best = tmp_path / "run" / "clip_linear" / "checkpoints" / "best.pt"
    assert best.stat().st_mtime_ns == first  # the refused run changed nothing
    assert main([*argv, "--overwrite"]) == 0
    assert best.stat().st_mtime_ns != first


SHAPES = Path(__file__).parents[1] / "fixtures" / "deepfakebench"


def _wrapped(tmp_path, stem: str, their_yaml: Path, cls: str = "tests.deepfakebench_style:TinyNet"):
    path = tmp_path / f"{stem}.yaml"
    path.write_text(
        yaml.safe_dump(
            {"detector": {"name": "deepfakebench", "class": cls, "config": str(their_yaml)}}
        )
    )
    return str(path)


def test_every_wrapped_detector_is_checked_before_any_trains(toy_dataset, tmp_path):
    layer = toy_layer(toy_dataset, tmp_path)
    layer[1].pop("detector")
    meso4 = _wrapped(tmp_path, "meso4_in_dfshield", SHAPES / "meso4_shape.yaml")
    with pytest.warns(UserWarning, match="'save_ckpt' \\(line 28\\)"):  # their YAML loads
        configs = load_comparison_configs(["clip_linear", meso4], extra_layers=[layer])
    assert list(configs) == ["clip_linear", "meso4_in_dfshield"]
    assert has_wrapped(configs) and not has_wrapped({"c": configs["clip_linear"]})
    # a pretrained file that is not there, a class that does not resolve: refused at load time
    sbi = _wrapped(tmp_path, "sbi_in_dfshield", SHAPES / "sbi_shape.yaml")
    with pytest.raises(ConfigError, match=r"pretrained .*xception-b5690688.pth.*does not exist"):
        load_comparison_configs(["clip_linear", meso4, sbi], extra_layers=[layer])
    nope = _wrapped(tmp_path, "nope", SHAPES / "meso4_shape.yaml", "tests.deepfakebench_style:Nope")
    with pytest.raises(ConfigError, match="has no 'Nope'"):
        load_comparison_configs(["clip_linear", nope], extra_layers=[layer])


def test_their_loader_settings_are_honoured_alone_and_overridden_in_a_comparison(
    toy_dataset, tmp_path
):
    from dfshield.config import load_run_config

    layer = toy_layer(toy_dataset, tmp_path)
    layer[1].pop("detector")
    meso4 = _wrapped(tmp_path, "meso4_in_dfshield", SHAPES / "meso4_shape.yaml")
    with pytest.warns(UserWarning):
        alone = load_run_config(None, meso4, extra_layers=[layer])
    assert alone.data.augment.enabled is False  # their use_data_augmentation: false
    with pytest.warns(UserWarning, match=r"data.augment.enabled=False.*protocol's data section"):
        configs = load_comparison_configs(["clip_linear", meso4], extra_layers=[layer])
    assert configs["meso4_in_dfshield"].data.augment.enabled is True
