"""Every shipped config still means what it meant, now that configs inherit (``_base_``), and
``dfshield config`` prints a complete, checked config.

``fixtures/shipped_configs.json`` holds each file of ``configs/`` as plain YAML before the
ablation and study configs became ``_base_`` differences (``yaml.safe_load`` of ``git show
8f8732d:configs/...``). Change it only together with a config whose
meaning you change on purpose.
"""

import json
from pathlib import Path

import pytest
import yaml

from dfshield.cli import main
from dfshield.config import config_dir, load_run_config, load_yaml

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = json.loads((Path(__file__).parent / "fixtures" / "shipped_configs.json").read_text())
SHIPPED = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").rglob("*.yaml"))


def test_every_shipped_config_is_in_the_record():
    assert SHIPPED == sorted(EXPECTED)


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_config_means_what_it_meant_and_passes_the_checks(path):
    assert load_yaml(ROOT / path) == EXPECTED[path]
    load_run_config(detector=ROOT / path)


def test_the_ablation_configs_inherit_spcup_and_the_study_configs_inherit_them():
    ablation = ROOT / "configs" / "ablation"
    full = ablation / "ablation_cvar_vs_auc_sam.yaml"
    assert "_base_: ../detectors/spcup.yaml" in full.read_text()
    for path in set(ablation.glob("*.yaml")) - {full}:
        assert f"_base_: {full.name}" in path.read_text()
    # the ablation network is spcup's, written out under the name mlp: the copy must not drift
    spcup = load_yaml(config_dir() / "detectors" / "spcup.yaml")
    assert {k: v for k, v in load_yaml(full)["detector"].items() if k != "activation"} == {
        **spcup["detector"],
        "name": "mlp",
    }
    assert load_yaml(full)["loss"] == spcup["loss"]
    assert load_yaml(full)["optimizer"] == spcup["optimizer"]
    study = [ROOT / "configs" / "experiments" / f"{p.stem}.yaml" for p in ablation.glob("*.yaml")]
    for path in study:
        assert f"_base_: ../ablation/{path.name}" in path.read_text()
    # the six configs of the face study share one backbone and one learning rate
    study.append(ROOT / "configs" / "experiments" / "linear.yaml")
    configs = [load_yaml(path) for path in study]
    assert len({json.dumps(c["detector"]["backbone"], sort_keys=True) for c in configs}) == 1
    rates = {c["optimizer"].get("base", c["optimizer"])["lr"] for c in configs}
    assert rates == {1.0e-4}


def test_config_command_prints_a_complete_config_that_loads_back(tmp_path, capsys):
    assert main(["config", "--detector", "spcup", "--set", "train.epochs=3"]) == 0
    printed = capsys.readouterr().out
    cfg = load_run_config(detector="spcup", overrides=["train.epochs=3"])
    assert yaml.safe_load(printed)["train"]["epochs"] == 3
    path = tmp_path / "printed.yaml"
    path.write_text(printed)
    assert load_run_config(detector=path).to_dict() == cfg.to_dict()


def test_config_command_reports_a_misspelt_option(capsys):
    ablation = str(config_dir() / "ablation" / "ablation_cvar_vs.yaml")
    assert main(["config", "--config", ablation, "--set", "loss.alpah=0.3"]) == 2
    error = capsys.readouterr().err
    assert "loss in --set: loss 'cvar' has no option 'alpah'. Did you mean 'alpha'?" in error
