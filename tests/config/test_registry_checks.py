"""Registry sections are checked against their constructors when a config is loaded, before
anything is built or trained: the error names the key, the layer it came from and the closest
valid option."""

import pytest

from dfshield.config import config_dir, load_run_config
from dfshield.errors import ConfigError, UnknownNameError
from dfshield.registry import Registry


def ablation(name):
    return config_dir() / "ablation" / f"{name}.yaml"


def write(path, text):
    path.write_text(text)
    return path


def widgets():
    registry = Registry("widget")

    @registry.register_module(module_name="round")
    class Round:
        def __init__(self, radius=1.0, class_counts=None):
            self.radius, self.class_counts = radius, class_counts

    return registry, Round


def test_registry_check_shares_builds_option_check_and_rejects_build_time_values():
    registry, round_widget = widgets()
    assert registry.check({"name": "round", "radius": 2.0}) is round_widget
    with pytest.raises(ConfigError, match=r"no option 'raduis'.*Did you mean 'radius'"):
        registry.check({"name": "round", "raduis": 2.0})
    build_time = {"class_counts": "computed from the training data"}
    with pytest.raises(ConfigError) as info:
        registry.check({"name": "round", "class_counts": {"real": 1}}, build_time)
    assert "'class_counts' is not a config option: it is computed from the training data" in str(
        info.value
    )
    # build-time values are not offered as options, neither by check nor by build
    with pytest.raises(ConfigError) as info:
        registry.check({"name": "round", "class_count": 1}, build_time)
    assert "Its options: radius" in str(info.value) and "Did you mean" not in str(info.value)
    with pytest.raises(ConfigError, match=r"Its options: radius$"):
        registry.build({"name": "round", "colour": 1}, class_counts={"real": 1, "fake": 1})
    with pytest.raises(UnknownNameError, match="Did you mean 'round'"):
        registry.check({"name": "rund"})


def test_misspelt_loss_option_in_set_fails_at_load_naming_the_layer():
    with pytest.raises(ConfigError) as info:
        load_run_config(detector=ablation("ablation_cvar_vs"), overrides=["loss.alpah=0.3"])
    message = str(info.value)
    assert message.startswith("loss in --set: loss 'cvar' has no option 'alpah'")
    assert "Did you mean 'alpha'" in message and "class_counts" not in message


def test_comparison_stops_before_any_detector_is_built(monkeypatch):
    from dfshield.registry import DETECTOR
    from dfshield.studies.comparison import load_comparison_configs

    def no_build(*args, **kwargs):
        raise AssertionError("a detector was built before every config was checked")

    monkeypatch.setattr(DETECTOR, "build", no_build)
    with pytest.raises(ConfigError, match="loss in --set: loss 'bce' has no option 'alpah'"):
        load_comparison_configs(
            ["clip_linear", str(ablation("ablation_cvar_vs"))], overrides=["loss.alpah=0.3"]
        )


@pytest.mark.parametrize(
    "override, match",
    [
        ("loss.terms=[{name: cvar, base: {name: vs, zta: 1}}]", r"loss.terms\[0\].base in --set"),
        ("loss.terms=[{name: bce, weight: 0.5, reductoin: mean}]", r"loss.terms\[0\] in --set"),
        ("optimizer.base.lrr=0.1", r"optimizer.base in --set: .*'lrr'.*Did you mean 'lr'"),
        ("detector.backbone.modle=x", r"detector.backbone in --set: .*Did you mean 'model'"),
        ("detector.hiden=5", r"detector in --set: detector 'spcup' .*Did you mean 'hidden'"),
        ("scheduler.intervl=step", r"scheduler in --set: .*Did you mean 'interval'"),
        ("scheduler.epochs=3", "'epochs' is not a config option: it is taken from train.epochs"),
        ("loss.name=bec", r"loss in --set: unknown loss 'bec'. Did you mean 'bce'"),
    ],
)
def test_every_registry_section_and_nested_section_is_checked(override, match):
    with pytest.raises(ConfigError, match=match):
        load_run_config(detector="spcup", overrides=[override])


def test_class_counts_in_a_config_is_an_error_naming_where_they_come_from(tmp_path):
    detector = write(
        tmp_path / "det.yaml",
        "_base_: " + str(ablation("ablation_cvar_vs")) + "\n"
        "loss: {base: {class_counts: {real: 10, fake: 1}}}\n",
    )
    with pytest.raises(ConfigError) as info:
        load_run_config(detector=detector)
    message = str(info.value)
    assert message.startswith(f"loss.base in {detector} (with _base_ ")
    assert "'class_counts' is not a config option: it is computed from the training data" in (
        message
    )


def test_the_error_names_the_file_that_holds_the_bad_key(tmp_path):
    protocol = write(tmp_path / "protocol.yaml", "optimizer: {name: adamw, betaz: [0.9, 0.99]}\n")
    with pytest.raises(ConfigError, match=r"optimizer in .*protocol.yaml: .*Did you mean 'betas'"):
        load_run_config(protocol=protocol, detector="spcup")


def test_a_section_without_a_name_waits_for_the_detector_then_is_an_error(tmp_path):
    # the protocol alone (as `imbalance` reads it for its output folder) may leave names to the
    # detector files
    cfg = load_run_config(overrides=["loss.alpha=0.3"])
    assert cfg.loss == {"alpha": 0.3}
    detector = write(tmp_path / "det.yaml", "detector: {name: spcup, backbone: {name: clip}}\n")
    with pytest.raises(ConfigError, match="loss in --set has options but no 'name'"):
        load_run_config(detector=detector, overrides=["loss.alpha=0.3"])


def test_a_detector_that_builds_its_own_loss_owns_unregistered_loss_names():
    cfg = load_run_config(detector="rdaa")
    assert cfg.loss == {"name": "rdaa"}
    with pytest.raises(UnknownNameError, match="unknown loss 'rdaa'"):
        load_run_config(detector="spcup", overrides=["loss={name: rdaa}"])


def test_the_config_refuses_the_keys_the_builders_refuse_for_the_same_reason():
    """One list of build-time keys: the builders' own, read by the config checks."""
    import torch

    from dfshield.config import BUILD_TIME
    from dfshield.optimizers import build_optimizer, build_scheduler

    model = torch.nn.Linear(2, 1)
    optimizer = build_optimizer({"name": "sgd", "lr": 0.1}, model)
    builders = {
        "optimizer": lambda cfg: build_optimizer({"name": "sgd", **cfg}, model),
        "scheduler": lambda cfg: build_scheduler({"name": "cosine", **cfg}, optimizer, epochs=2),
    }
    for section, build in builders.items():
        for key, origin in BUILD_TIME[section].items():
            with pytest.raises(ConfigError, match=f"'{key}' cannot be set.*it is {origin}"):
                build({key: 1})
