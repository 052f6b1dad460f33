"""Inputs that used to end in a traceback end in a named ``DfshieldError`` (exit 2): a YAML that
is not UTF-8, a seed too large for torch, malformed checkpoint fields."""

from __future__ import annotations

import pytest

from dfshield import cli
from dfshield.config import load_run_config
from dfshield.engine.checkpoint import load_checkpoint, save_checkpoint
from dfshield.errors import CheckpointError, ConfigError


def test_a_yaml_that_is_not_utf8_is_named(tmp_path, capsys):
    config = tmp_path / "det.yaml"
    config.write_bytes("detector: {name: clip_linear}  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"det\.yaml is not UTF-8 .*iconv"):
        load_run_config(detector=config)
    assert cli.main(["config", "--config", str(config)]) == 2
    assert "is not UTF-8" in capsys.readouterr().err


def test_a_seed_too_large_for_torch_is_refused_when_the_config_loads():
    with pytest.raises(ConfigError, match=r"train\.seed must be an integer from"):
        load_run_config(detector="clip_linear", overrides=["train.seed=99999999999999999999"])
    assert load_run_config(detector="clip_linear", overrides=["train.seed=-5"]).train.seed == -5


@pytest.mark.parametrize(
    "field, value",
    [("threshold", 0.5), ("threshold", "eer"), ("model", [1, 2]), ("epoch", "one")],
)
def test_malformed_checkpoint_fields_are_named(tmp_path, field, value):
    payload = {"detector": "clip_linear", "config": {}, "epoch": 1, "model": {}}
    path = tmp_path / "best.pt"
    save_checkpoint(path, {**payload, field: value})
    with pytest.raises(CheckpointError, match=rf"best\.pt is damaged: '{field}' is "):
        load_checkpoint(path)
