"""DataConfig / AugmentConfig: defaults, validation and the typed config loader."""

import dataclasses

import pytest

from dfshield.data.config import AugmentConfig, DataConfig
from dfshield.data.index import DEFAULT_LABEL_DICT
from dfshield.errors import ConfigError


def test_defaults_follow_deepfakebench():
    cfg = DataConfig()
    assert cfg.frame_num == {"train": 32, "val": 32, "test": 32}
    assert cfg.compression == "c23" and cfg.on_bad_frame == "error" and cfg.lmdb_dir is None
    assert cfg.frame_sampling == "even"  # not DeepfakeBench's first N: see frame_sampling
    aug = cfg.augment
    assert aug.quality_range == (40, 100) and aug.flip_prob == 0.5 and aug.blur_limit == (3, 7)
    assert cfg.label_mapping() == DEFAULT_LABEL_DICT


def test_every_field_is_documented_once():
    for cls in (DataConfig, AugmentConfig):
        doc = cls.__doc__
        for f in dataclasses.fields(cls):
            assert doc.count(f"        {f.name}:") == 1, (cls.__name__, f.name)


def test_partial_frame_num_keeps_other_splits():
    cfg = DataConfig(frame_num={"train": 8})
    assert cfg.frame_num == {"train": 8, "val": 32, "test": 32}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"frame_num": {"tets": 4}}, "unknown split 'tets'.*Did you mean 'test'"),
        ({"frame_num": {"train": 0}}, r"frame_num.train must be an integer >= 1"),
        ({"on_bad_frame": "skipp"}, "on_bad_frame.*Did you mean 'skip'"),
        ({"frame_sampling": "evenly"}, "frame_sampling must be one of even, first"),
        (
            {"label_dict": {"Mine_fake": 2}},
            r"label_dict\['Mine_fake'\] must be 0 \(real\) or 1 \(fake\)",
        ),
        ({"clip_size": 0}, "clip_size must be an integer >= 1"),
        ({"compression": "c32"}, "compression must be one of"),
        ({"num_workers": -1}, "num_workers"),
        ({"val_fraction": 1.0}, r"val_fraction must be a number in \[0, 1\)"),
        ({"val_fraction": -0.1}, r"val_fraction must be a number in \[0, 1\)"),
        ({"train_datasets": [""]}, "train_datasets must be a list of dataset names"),
    ],
)
def test_data_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DataConfig(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"quality_range": (0, 100)}, r"quality_range must lie within 1..100"),
        ({"quality_range": (90, 40)}, "low <= high"),
        ({"blur_limit": (3, 6)}, "odd kernel sizes"),
        ({"flip_prob": 1.5}, r"flip_prob must be a probability in \[0, 1\]"),
        ({"rotate_limit": (1, 2, 3)}, "must be a pair"),
    ],
)
def test_augment_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        AugmentConfig(**kwargs)


def test_from_dict_converts_augment_and_rejects_unknown_keys():
    cfg = DataConfig.from_dict(
        {"train_datasets": "Celeb-DF-v2", "augment": {"quality_range": [50, 90], "flip_prob": 0}}
    )
    assert cfg.train_datasets == ["Celeb-DF-v2"]
    assert isinstance(cfg.augment, AugmentConfig) and cfg.augment.quality_range == (50, 90)
    assert DataConfig.from_dict({"frame_sampling": "first"}).frame_sampling == "first"
    with pytest.raises(ConfigError, match="frame_sampling.*Did you mean 'first'"):
        DataConfig.from_dict({"frame_sampling": "frist"})
    with pytest.raises(
        ConfigError, match="'data.augment.quality_rnge'.*Did you mean 'quality_range'"
    ):
        DataConfig.from_dict({"augment": {"quality_rnge": [1, 2]}})
    with pytest.raises(ConfigError, match="'data.lmdb'.*Did you mean 'lmdb_dir'"):
        DataConfig.from_dict({"lmdb": "x"})


def test_label_dict_extends_and_overrides_defaults():
    cfg = DataConfig(label_dict={"Mine_fake": 1, "FF-DF": 0})
    mapping = cfg.label_mapping()
    assert mapping["Mine_fake"] == 1 and mapping["FF-DF"] == 0 and mapping["FF-real"] == 0


def test_datasets_for_split():
    cfg = DataConfig(train_datasets=["A", "B"], test_datasets=["C"])
    assert cfg.datasets_for("train") == ["A", "B"] == cfg.datasets_for("val")
    assert cfg.datasets_for("test") == ["C"]
    with pytest.raises(ConfigError, match="Did you mean 'val'"):
        cfg.datasets_for("vall")


def test_typed_run_config_loader_builds_data_section():
    from dfshield.config import from_dict

    cfg = from_dict(
        DataConfig,
        {
            "lmdb_dir": "/x",
            "frame_num": {"test": 4},
            "augment": {"quality_range": [60, 95], "rotate_limit": [-5, 5]},
        },
    )
    assert cfg.lmdb_dir == "/x" and cfg.frame_num["test"] == 4
    assert cfg.augment.quality_range == (60, 95) and cfg.augment.rotate_limit == (-5.0, 5.0)
    with pytest.raises(ConfigError, match="on_bad_frame"):
        from_dict(DataConfig, {"on_bad_frame": "ignore"})
