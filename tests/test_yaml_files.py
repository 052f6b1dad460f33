"""YAML reading: strict for dfshield's configs, DeepfakeBench's loader semantics for theirs."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from dfshield.errors import ConfigError
from dfshield.yaml_files import read_yaml

SHAPES = Path(__file__).parent / "fixtures" / "deepfakebench"


def test_a_repeated_key_is_an_error_in_our_configs():
    with pytest.raises(
        ConfigError, match=r"duplicate key 'save_ckpt' .*meso4_shape.yaml \(line 28"
    ):
        read_yaml(SHAPES / "meso4_shape.yaml")


def test_their_yamls_take_the_last_value_with_one_warning_naming_key_and_line():
    with pytest.warns(UserWarning) as caught:
        config = read_yaml(SHAPES / "meso4_shape.yaml", repeated_keys="last")
    assert len(caught) == 1
    assert "'save_ckpt' (line 28)" in str(caught[0].message)
    assert config["save_ckpt"] is False and config["backbone_config"] == {
        "num_classes": 2,
        "inc": 3,
    }
    with pytest.warns(UserWarning) as caught:
        config = read_yaml(SHAPES / "srm_shape.yaml", repeated_keys="last")
    assert len(caught) == 1
    assert "'save_ckpt' (line 9), 'save_feat' (line 10)" in str(caught[0].message)
    assert (config["save_ckpt"], config["save_feat"]) == (True, True)


def test_their_nested_blocks_load_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config = read_yaml(SHAPES / "sbi_shape.yaml", repeated_keys="last")
    assert config["backbone_config"]["pretrained"] is True
    assert config["optimizer"]["sam"] == {"lr": 0.001, "momentum": 0.9}
    assert config["frame_num"] == {"train": 8, "test": 32}


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="repeated_keys"):
        read_yaml(SHAPES / "sbi_shape.yaml", repeated_keys="first")
