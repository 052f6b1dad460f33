"""The ``deepfakebench`` wrapper's checks and names (its training is tested in
tests/integrations/test_deepfakebench.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfshield.detectors.deepfakebench_wrapper import (
    check_wrapped,
    display_name,
    their_data_settings,
    their_settings_layer,
    wrapped_parts,
)
from dfshield.yaml_files import read_yaml

SHAPES = Path(__file__).parents[1] / "fixtures" / "deepfakebench"
TINY = "tests.deepfakebench_style:TinyNet"


def test_wrapped_detectors_are_named_by_their_model_name_or_file_stem(tmp_path):
    meso4 = {"name": "deepfakebench", "class": TINY, "config": str(SHAPES / "meso4_shape.yaml")}
    with pytest.warns(UserWarning, match="save_ckpt"):
        assert display_name(meso4) == "meso4"
    nameless = tmp_path / "my_xception.yaml"
    nameless.write_text("resolution: 32\nmean: [0.5, 0.5, 0.5]\nstd: [0.5, 0.5, 0.5]\n")
    assert display_name({**meso4, "config": str(nameless)}) == "my_xception"
    assert display_name({**meso4, "config": {"model_name": "xception"}}) == "xception"
    assert display_name({"name": "spcup"}) == "spcup" and wrapped_parts({"name": "spcup"}) is None


def test_check_wrapped_accepts_prose_and_urls_as_pretrained(tmp_path):
    for pretrained in (
        "no need to provide this for the effort model",
        "https://x.org/w.pth",
        False,
    ):
        config = {"resolution": 32, "mean": [0.5] * 3, "std": [0.5] * 3, "pretrained": pretrained}
        check_wrapped({"name": "deepfakebench", "class": TINY, "config": config})
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"")
    check_wrapped(
        {"name": "deepfakebench", "class": TINY, "config": {**config, "pretrained": str(weights)}}
    )


def test_their_loader_settings_become_our_data_options():
    with pytest.warns(UserWarning, match="save_ckpt"):
        layer = their_settings_layer(
            {"name": "deepfakebench", "class": TINY, "config": str(SHAPES / "meso4_shape.yaml")}
        )
    assert layer[0].startswith("the loader settings of") and "meso4_shape.yaml" in layer[0]
    assert layer[1]["data"] == {
        "augment": {
            "enabled": False,
            "flip_prob": 0.5,
            "rotate_limit": [-10, 10],
            "quality_range": [40, 100],
        },
        "frame_num": {"train": 32, "val": 32, "test": 32},
    }
    sbi = read_yaml(SHAPES / "sbi_shape.yaml", repeated_keys="last")
    assert their_data_settings(sbi) == {
        "augment": {"enabled": False, "isotropic_resize": False},  # with_landmark: their p=0
        "frame_num": {"train": 8, "val": 32, "test": 32},
    }
    assert their_settings_layer({"name": "spcup"}) is None


def test_a_folder_named_like_their_package_is_not_imported(tmp_path, monkeypatch):
    import sys

    from dfshield.detectors.deepfakebench_wrapper import resolve_class
    from dfshield.errors import ConfigError

    (tmp_path / "detectors").mkdir()  # no __init__.py: a namespace package, not their code
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "detectors", raising=False)
    with pytest.raises(ConfigError, match="not in DeepfakeBench's registry"):
        resolve_class("xception")
    assert "detectors" not in sys.modules  # their package can still be imported later
