"""The ``deepfakebench`` wrapper's checks and names (its training is tested in
tests/integrations/test_deepfakebench.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dfshield.detectors.deepfakebench_wrapper import check_wrapped, display_name, wrapped_parts

SHAPES = Path(__file__).parents[1] / "fixtures" / "deepfakebench"
TINY = "deepfakebench_style:TinyNet"


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
