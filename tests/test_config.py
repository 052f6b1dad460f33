"""Config loading: typed checks, unknown keys with suggestions, and layer precedence."""

import pytest

from dfshield.config import (
    RunConfig,
    TrainConfig,
    build_config,
    load_run_config,
    merge,
    parse_overrides,
)
from dfshield.errors import ConfigError


def write(path, text):
    path.write_text(text)
    return path


def test_unknown_key_names_key_file_and_closest_valid_key(tmp_path):
    protocol = write(tmp_path / "protocol.yaml", "train:\n  epoch: 3\n")
    with pytest.raises(ConfigError) as info:
        load_run_config(protocol=protocol)
    message = str(info.value)
    assert "'train.epoch'" in message and str(protocol) in message
    assert "Did you mean 'epochs'" in message


def test_unknown_top_level_key_in_detector_file(tmp_path):
    protocol = write(tmp_path / "protocol.yaml", "train: {epochs: 2}\n")
    detector = write(tmp_path / "det.yaml", "detector: {name: x}\nlosss: {name: bce}\n")
    with pytest.raises(ConfigError, match=r"'losss' in .*det.yaml.*Did you mean 'loss'"):
        load_run_config(protocol=protocol, detector=detector)


def test_wrong_type_names_key_and_file(tmp_path):
    protocol = write(tmp_path / "protocol.yaml", "train:\n  epochs: ten\n")
    with pytest.raises(ConfigError, match=r"train.epochs in .*protocol.yaml must be an integer"):
        load_run_config(protocol=protocol)
    with pytest.raises(ConfigError, match="train.amp.*must be one of"):
        build_config([("--set", parse_overrides(["train.amp=fp8"]))])
    with pytest.raises(ConfigError, match="train.epochs must be at least 1"):
        build_config([("--set", parse_overrides(["train.epochs=0"]))])


def test_precedence_protocol_then_detector_then_set(tmp_path):
    protocol = write(
        tmp_path / "protocol.yaml",
        "train: {epochs: 5, batch_size: 64, seed: 1}\n"
        "optimizer: {name: adamw, lr: 0.1, weight_decay: 0.0}\n",
    )
    detector = write(
        tmp_path / "det.yaml",
        "detector: {name: spcup}\ntrain: {batch_size: 32, seed: 2}\n"
        "optimizer: {name: adamw, lr: 0.01}\n",
    )
    cfg = load_run_config(
        protocol=protocol,
        detector=detector,
        overrides=["train.seed=3", "optimizer.weight_decay=0.5"],
    )
    assert isinstance(cfg, RunConfig) and isinstance(cfg.train, TrainConfig)
    assert cfg.train.epochs == 5  # protocol only
    assert cfg.train.batch_size == 32  # detector beats protocol
    assert cfg.train.seed == 3  # --set beats both
    assert cfg.optimizer == {"name": "adamw", "lr": 0.01, "weight_decay": 0.5}
    assert cfg.train.eval_every == TrainConfig().eval_every  # default untouched


def test_renamed_registry_section_is_replaced_not_merged():
    base = {"loss": {"name": "cvar", "alpha": 0.9, "base": {"name": "vs"}}}
    assert merge(base, {"loss": {"name": "bce"}}) == {"loss": {"name": "bce"}}
    assert merge(base, {"loss": {"alpha": 0.5}})["loss"]["alpha"] == 0.5


def test_overrides_parse_yaml_values():
    parsed = parse_overrides(["a.b=3", "a.c=[x, y]", "d=true", "e=0.5"])
    assert parsed == {"a": {"b": 3, "c": ["x", "y"]}, "d": True, "e": 0.5}
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_overrides(["novalue"])


def test_yaml_is_loaded_safely(tmp_path):
    evil = write(tmp_path / "protocol.yaml", "train: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(protocol=evil)


def test_shipped_configs_load():
    from dfshield.config import config_dir

    for path in sorted((config_dir() / "detectors").glob("*.yaml")):
        cfg = load_run_config(detector=path)
        assert cfg.detector["name"]
