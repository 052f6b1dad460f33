"""Planning ``dfshield reproduce`` and the protocol files: every protocol loads and trains end to
end on a tiny DeepfakeBench-format fixture, every table resolves, and a missing dataset stops
everything before training."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from dfshield.cli import main
from dfshield.config import config_dir, load_run_config, load_yaml
from dfshield.studies import reproduce_plan, reproduce_report
from dfshield.studies.comparison import load_comparison_configs, run_comparison
from dfshield.studies.reproduce_tables import TABLES
from tests.reproduce_bench import tiny_sets

PROTOCOLS = sorted(p.stem for p in (config_dir() / "protocols").glob("*.yaml"))


# -- protocols -------------------------------------------------------------------------------


def test_protocols_inherit_a_base_and_hold_only_their_differences():
    for name in PROTOCOLS:
        path = config_dir() / "protocols" / f"{name}.yaml"
        own = yaml.safe_load(path.read_text())
        inherited = load_yaml(path.parent / own.pop("_base_"))
        for section, values in own.items():
            for key, value in values.items():  # no value copied from the base
                assert inherited[section].get(key) != value, (name, section, key)


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_runs_end_to_end_as_it_is(protocol, bench, tmp_path, one_thread):
    configs = load_comparison_configs(
        ["clip_linear"],
        str(config_dir() / "protocols" / f"{protocol}.yaml"),
        tiny_sets("clip_linear", bench["out"]),
        [("fixture", {"data": {"json_dir": bench["json_dir"], "lmdb_dir": bench["lmdb_dir"]}})],
    )
    rows = run_comparison(configs, tmp_path / protocol)
    assert math.isfinite(rows[0]["auc"])


# -- tables ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_every_table_resolves_without_changing_its_protocol(bench):
    for name, table in TABLES.items():
        plan = reproduce_plan.plan_reproduction(name, data={"json_dir": bench["json_dir"]})
        assert plan.protocol.is_file() and plan.seeds[0] == 8079 and len(plan.seeds) == table.seeds
        reference = load_run_config(plan.protocol)
        for run in plan.runs:
            assert set(run.configs) == set(run.section.published)
            for cfg in run.configs.values():  # rows differ in detector and loss only
                assert cfg.train.epochs == reference.train.epochs
                assert cfg.data.compression == reference.data.compression
        for section in table.sections:
            for text in section.published.values():
                values = reproduce_report.published_values(text)
                assert len(values) == len(table.columns) and any(values)
        assert {c.test for c in table.columns} == set(table.tests)


def test_a_missing_dataset_is_listed_with_its_fix_before_any_training(
    bench, tmp_path, monkeypatch, capsys
):
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    for path in Path(bench["json_dir"]).glob("*.json"):
        if path.stem != "DFDC":
            (json_dir / path.name).symlink_to(path)
    trained = []
    monkeypatch.setattr(
        "dfshield.studies.comparison.run_comparison", lambda *a, **k: trained.append(a)
    )
    argv = [
        "reproduce",
        "spcup-table2",
        "--json-dir",
        str(json_dir),
        "--lmdb-dir",
        bench["lmdb_dir"],
        "--run-dir",
        str(tmp_path / "run"),
        "--set",
        f"train.output_dir={tmp_path}",
    ]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "needs 1 dataset(s) that are not set up; nothing was trained" in error
    assert f"dfshield data-info --dataset DFDC --json-dir {json_dir} --lmdb-dir" in error
    assert (
        trained == [] and not (tmp_path / "run").exists() and not (tmp_path / "reproduce").exists()
    )
    assert main([*argv, "--dry-run"]) == 0
    assert "DFDC                 MISSING" in capsys.readouterr().out


def test_ddln_imbalanced_runs_use_the_papers_focal_alpha_and_batch_sampling(tmp_path):
    plan = reproduce_plan.plan_reproduction(
        "ddln-tables7-11", overrides=[f"train.output_dir={tmp_path}"]
    )
    alphas, least = {}, {}
    for run in plan.runs:
        if "focal" in run.configs:
            (focal, _) = run.configs["focal"].loss["terms"]
            alphas[run.section.name] = (focal["name"], focal["alpha"])
        for row, cfg in run.configs.items():
            least[(run.section.name[:9], row)] = cfg.data.min_per_class_per_batch
            assert cfg.train.batch_size == 16
    assert alphas == {
        "Table 7: Celeb-30": ("focal", 0.6),
        "Table 8: Celeb-20": ("focal", 0.6),
        "Table 9: Celeb-10": ("focal", 0.3),
    }
    assert {key: n for key, n in least.items() if n} == {
        ("Table 10:", "default"): 1,
        ("Table 11:", "default"): 1,
    }
