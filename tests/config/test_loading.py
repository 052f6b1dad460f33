"""Config loading: typed checks, unknown keys with suggestions, layer precedence, YAML files
(duplicate keys, `_base_` inheritance) and `imports`."""

import pytest

from dfshield.config import (
    RunConfig,
    TrainConfig,
    build_config,
    load_run_config,
    load_yaml,
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
        "detector: {name: spcup, backbone: {name: clip}}\ntrain: {batch_size: 32, seed: 2}\n"
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


def test_set_picks_one_term_of_a_composite_loss_by_index():
    shipped = load_run_config(detector="spcup").loss["terms"]
    cfg = load_run_config(
        detector="spcup",
        overrides=["loss.terms.0.alpha=0.8", "loss.terms.0.base.zeta.fake=1.5"],
    )
    first, second = cfg.loss["terms"]
    assert first["alpha"] == 0.8 and first["base"]["zeta"] == {"fake": 1.5, "real": 0.8}
    assert {k: v for k, v in first.items() if k not in ("alpha", "base")} == {
        k: v for k, v in shipped[0].items() if k not in ("alpha", "base")
    }
    assert second == shipped[1]  # the other term is kept
    replaced = load_run_config(detector="spcup", overrides=["loss.terms.1={name: auc_wmw}"])
    assert replaced.loss["terms"][1] == {"name": "auc_wmw"}  # a new name replaces the item

    with pytest.raises(
        ConfigError, match=r"'loss.terms' has 2 item\(s\), so an index must be 0 to 1"
    ):
        load_run_config(detector="spcup", overrides=["loss.terms.2.alpha=0.8"])
    with pytest.raises(ConfigError, match=r"loss.terms\[0\].*alpah.*Did you mean 'alpha'"):
        load_run_config(detector="spcup", overrides=["loss.terms.0.alpah=0.8"])
    with pytest.raises(ConfigError, match="'loss.weights' is not set .*--set loss.weights="):
        load_run_config(detector="spcup", overrides=["loss.weights.0=1"])
    with pytest.raises(ConfigError, match="conflicts with another --set"):
        parse_overrides(["loss.terms.0.alpha=1", "loss.terms.name=bce"])


def test_bad_device_is_an_error_naming_the_valid_values():
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        assert TrainConfig(device=good).device == good
    for bad in ("gpu", "cuda:x", "CPU", "cuda:-1"):
        with pytest.raises(ConfigError, match=r"train.device must be auto, cpu, cuda or cuda:N"):
            build_config([("--set", parse_overrides([f"train.device={bad}"]))])


def test_yaml_is_loaded_safely(tmp_path):
    evil = write(tmp_path / "protocol.yaml", "train: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_run_config(protocol=evil)


def test_shipped_configs_load():
    from dfshield.config import config_dir

    for path in sorted((config_dir() / "detectors").glob("*.yaml")):
        cfg = load_run_config(detector=path)
        assert cfg.detector["name"]


# -- YAML files: duplicate keys, _base_ inheritance, imports ----------------------------------


def test_duplicate_key_names_the_key_the_file_and_the_line(tmp_path):
    detector = write(
        tmp_path / "det.yaml",
        "detector: {name: spcup}\noptimizer:\n  name: adamw\n  lr: 1.0e-4\n  lr: 1.0e-3\n",
    )
    with pytest.raises(ConfigError, match=r"duplicate key 'lr' in .*det.yaml \(line 5\)"):
        load_run_config(detector=detector)
    with pytest.raises(ConfigError, match="duplicate key 'loss'"):
        load_yaml(write(tmp_path / "top.yaml", "loss: {name: bce}\nloss: {name: vs}\n"))


def test_yaml_merge_keys_may_still_override(tmp_path):
    path = write(tmp_path / "anchors.yaml", "a: &x {b: 1, c: 2}\nd:\n  <<: *x\n  b: 3\n")
    assert load_yaml(path)["d"] == {"b": 3, "c": 2}


PARENT = (
    "detector: {name: spcup, hidden: 64, backbone: {name: clip, model: A}}\n"
    "loss: {name: composite, terms: [{name: bce}]}\n"
    "optimizer: {name: adamw, lr: 0.1, weight_decay: 0.5}\n"
)


def test_base_merges_key_by_key_but_a_new_name_or_delete_replaces(tmp_path):
    write(tmp_path / "parent.yaml", PARENT)
    (tmp_path / "sub").mkdir()
    child = write(
        tmp_path / "sub" / "child.yaml",
        "_base_: ../parent.yaml\n"
        "detector: {name: spcup, hidden: 32, backbone: {model: B}}\n"
        "loss: {name: bce}\n"
        "optimizer: {_delete_: true, name: adamw, lr: 0.2}\n",
    )
    assert load_yaml(child) == {
        "detector": {"name": "spcup", "hidden": 32, "backbone": {"name": "clip", "model": "B"}},
        "loss": {"name": "bce"},
        "optimizer": {"name": "adamw", "lr": 0.2},
    }
    renamed = write(tmp_path / "renamed.yaml", "_base_: parent.yaml\ndetector: {name: mlp}\n")
    assert load_yaml(renamed)["detector"] == {"name": "mlp"}
    with pytest.raises(ConfigError, match="backbone .* starts afresh"):
        load_run_config(detector=renamed)  # the error says why spcup's backbone is gone
    assert load_run_config(detector=child).loss == {"name": "bce"}


def test_base_and_set_follow_the_same_rule(tmp_path):
    parent = write(tmp_path / "parent.yaml", PARENT)
    child = write(
        tmp_path / "child.yaml",
        "_base_: parent.yaml\nloss: {name: bce}\noptimizer: {lr: 0.2}\n"
        "detector: {backbone: {name: timm, model: B}}\n",
    )
    by_set = load_run_config(
        detector=parent,
        overrides=["loss.name=bce", "optimizer.lr=0.2", "detector.backbone={name: timm, model: B}"],
    )
    assert load_run_config(detector=child).to_dict() == by_set.to_dict()
    assert by_set.detector["backbone"] == {"name": "timm", "model": "B"}
    assert by_set.optimizer == {"name": "adamw", "lr": 0.2, "weight_decay": 0.5}


def test_base_list_merges_in_order_and_protocols_inherit_too(tmp_path):
    from dfshield.config import config_dir

    write(tmp_path / "a.yaml", "train: {epochs: 3, seed: 1}\n")
    write(tmp_path / "b.yaml", "train: {seed: 2}\n")
    protocol = write(
        tmp_path / "protocol.yaml",
        f"_base_: [{config_dir() / 'protocol.yaml'}, a.yaml, b.yaml]\ntrain: {{batch_size: 8}}\n",
    )
    cfg = load_run_config(protocol=protocol)
    assert (cfg.train.epochs, cfg.train.seed, cfg.train.batch_size) == (3, 2, 8)
    assert cfg.data.lmdb_dir == "datasets/lmdb"  # from the shipped protocol


def test_base_cycle_and_missing_base_are_errors_naming_the_files(tmp_path):
    write(tmp_path / "a.yaml", "_base_: b.yaml\n")
    write(tmp_path / "b.yaml", "_base_: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle: .*a.yaml -> .*b.yaml -> .*a.yaml"):
        load_yaml(tmp_path / "a.yaml")
    write(tmp_path / "c.yaml", "_base_: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"_base_ 'nowhere.yaml' of .*c.yaml not found"):
        load_yaml(tmp_path / "c.yaml")
    write(tmp_path / "d.yaml", "_base_: {x: 1}\n")
    with pytest.raises(ConfigError, match="must be a file path or a list"):
        load_yaml(tmp_path / "d.yaml")


def test_an_error_inherited_from_a_base_names_the_base(tmp_path):
    write(tmp_path / "parent.yaml", "detector: {name: spcup, hiddn: 64}\n")
    child = write(tmp_path / "child.yaml", "_base_: parent.yaml\n")
    with pytest.raises(ConfigError, match=r"child.yaml \(with _base_ .*parent.yaml\).*'hiddn'"):
        load_run_config(detector=child)


PLUGIN = '''
import torch
from dfshield.registry import LOSS


@LOSS.register_module(module_name="{name}")
class PluginLoss(torch.nn.Module):
    """A loss that a user defines in a file next to the config."""

    def __init__(self, margin=0.5, reduction="mean"):
        super().__init__()
        self.margin = margin
'''


@pytest.fixture
def plugin_loss(tmp_path):
    """A plugin file in tmp_path that registers a loss; the registry is cleaned up after."""
    from dfshield.registry import LOSS

    name = f"plugin_loss_{tmp_path.name}".replace("-", "_")
    (tmp_path / "plugins").mkdir()
    write(tmp_path / "plugins" / "my_loss.py", PLUGIN.format(name=name))
    yield name
    LOSS._entries.pop(name, None)


def test_imports_are_relative_to_the_yaml_and_run_before_the_check(tmp_path, plugin_loss):
    detector = write(
        tmp_path / "det.yaml",
        f"imports: [plugins/my_loss.py]\ndetector: {{name: spcup, backbone: {{name: clip}}}}\n"
        f"loss: {{name: {plugin_loss}, margin: 0.2}}\n",
    )
    cfg = load_run_config(detector=detector)
    assert cfg.imports == [str((tmp_path / "plugins" / "my_loss.py").resolve())]
    assert cfg.loss == {"name": plugin_loss, "margin": 0.2}
    # a second load (one per detector of a comparison) does not register the loss twice
    assert load_run_config(detector=detector).imports == cfg.imports
    # the plugin's options are checked like any other
    with pytest.raises(ConfigError, match=r"has no option 'margn'.*Did you mean 'margin'"):
        load_run_config(detector=detector, overrides=["loss.margn=0.1"])


def test_imports_of_bases_and_layers_add_up(tmp_path, plugin_loss):
    write(tmp_path / "plugins" / "parent.yaml", "imports: [my_loss.py]\n")
    child = write(tmp_path / "child.yaml", "_base_: plugins/parent.yaml\nimports: [json]\n")
    assert load_yaml(child)["imports"] == [
        str((tmp_path / "plugins" / "my_loss.py").resolve()),
        "json",
    ]
    cfg = load_run_config(detector=child, overrides=["imports=[csv]"])
    assert cfg.imports[1:] == ["json", "csv"]


def test_an_import_that_fails_names_the_spec_and_the_file(tmp_path):
    detector = write(tmp_path / "det.yaml", "imports: [missing_plugin.py]\n")
    with pytest.raises(ConfigError, match=r"imports in .*det.yaml: .*missing_plugin.py"):
        load_run_config(detector=detector)
    detector = write(tmp_path / "det2.yaml", "imports: [no_such_module_here]\n")
    with pytest.raises(ConfigError, match="no_such_module_here"):
        load_run_config(detector=detector)


def test_the_capture_modes_are_the_values_the_config_accepts():
    """``train.capture`` is checked once, by its type; ``capture_mode`` relies on that."""
    import typing

    from dfshield.engine.steps import CAPTURE_MODES

    accepted = typing.get_args(typing.get_type_hints(TrainConfig)["capture"])
    assert accepted == CAPTURE_MODES
