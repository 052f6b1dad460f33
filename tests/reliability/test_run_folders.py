"""Advice that can be followed: a comparison into used run folders is refused before anything
trains, without advising ``--resume`` (which ``compare`` does not have)."""

from __future__ import annotations

import pytest

from dfshield.config import load_run_config
from dfshield.engine.run_folder import RunFolderError
from dfshield.studies.comparison import run_comparison


def test_compare_into_a_used_run_folder_advises_only_what_compare_has(tmp_path):
    (tmp_path / "run" / "spcup").mkdir(parents=True)
    (tmp_path / "run" / "spcup" / "config.json").write_text("{}")  # killed after its 1st epoch
    configs = {name: load_run_config(detector=name) for name in ("clip_linear", "spcup")}
    with pytest.raises(RunFolderError, match="--overwrite") as caught:
        run_comparison(configs, tmp_path / "run", feature_cache=tmp_path / "cache")
    assert "--resume" not in str(caught.value)
    assert not (tmp_path / "run" / "clip_linear").exists()  # refused before the first trained
