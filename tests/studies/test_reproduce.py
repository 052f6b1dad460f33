"""``dfshield reproduce`` and the protocol files: every protocol and every table resolves and runs
end to end on a tiny DeepfakeBench-format fixture that carries the real dataset names (and
DeepfakeBench's split quirks), a missing dataset stops everything before training, and DDLN's
subsets have exactly Table 1's counts."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import lmdb
import numpy as np
import pytest
import yaml

from dfshield.cli import main
from dfshield.config import config_dir, load_run_config, load_yaml
from dfshield.data.index import DEFAULT_LABEL_DICT, lmdb_name, own_label_dict, read_split
from dfshield.dataset_builder.frame_encoding import encode_png
from dfshield.studies import reproduce
from dfshield.studies.comparison import load_comparison_configs, run_comparison
from dfshield.studies.demo import small_backbone
from dfshield.studies.reproduce_tables import (
    KNOWN_GENERATORS,
    TABLES,
    UNSEEN_GENERATORS,
    Subset,
)
from dfshield.studies.subsample import class_counts
from tests.helpers import toy_image

PROTOCOLS = sorted(p.stem for p in (config_dir() / "protocols").glob("*.yaml"))
FF_LEVELS = ("c23", "c40", "raw")
#: DDLN's Table 1: (train real, train fake), (test real, test fake) per subset
TABLE_1 = {
    "Table 7: Celeb-30": ((712, 23), (178, 5)),
    "Table 8: Celeb-20": ((712, 35), (178, 8)),
    "Table 9: Celeb-10": ((712, 71), (178, 17)),
    "Table 10: DFDC-100": ((500, 5), (300, 3)),
    "Table 11: DFDC-200": ((1000, 5), (600, 3)),
}


# -- a tiny DeepfakeBench --------------------------------------------------------------------


def label_of(label: str) -> int:
    return {**DEFAULT_LABEL_DICT, **own_label_dict(label.rsplit("_", 1)[0])}[label]


def _videos(dataset: str, folder: str, label: str, names, frames: int, rng, store) -> dict:
    """``{video: {label, frames}}`` with Windows-separated paths; the frames go into ``store``."""
    videos = {}
    for name in names:
        paths = [f"{dataset}\\{folder}\\frames\\{name}\\{i:03d}.png" for i in range(frames)]
        for path in paths:
            store[path] = encode_png(toy_image(rng, bool(label_of(label))))
        videos[name] = {"label": label, "frames": paths}
    return videos


def _split(ids, train, val, test):
    return {"train": ids[:train], "val": ids[train : train + val], "test": ids[train + val : test]}


def write_benchmark(root: Path) -> dict:
    """JSONs and one LMDB (linked under every ``<name>_lmdb``) for every dataset a table reads,
    with DeepfakeBench's layouts: FF-family levels, Celeb-DF's train holding every video and val
    = test, UADFV and DFD listing every video in every split, DFDC's val = train."""
    rng, store, jsons = np.random.default_rng(0), {}, {}

    def ff(groups: dict[str, str]) -> dict:
        out = {}
        for label, folder in groups.items():
            out[label] = {s: {} for s in ("train", "val", "test")}
            for level in FF_LEVELS:
                ids = [f"{label}{i}" for i in range(8)]
                videos = _videos("FaceForensics++", f"{folder}\\{level}", label, ids, 2, rng, store)
                for split, names in _split(ids, 4, 2, 8).items():
                    out[label][split][level] = {n: videos[n] for n in names}
        return out

    real = {"FF-real": "original_sequences\\youtube"}
    jsons["FaceForensics++"] = ff(
        {**real, "FF-DF": "manipulated_sequences\\Deepfakes", "FF-FS": "x\\FaceSwap"}
    )
    jsons["FF-DF"] = {k: jsons["FaceForensics++"][k] for k in ("FF-real", "FF-DF")}
    jsons["FaceShifter"] = ff({**real, "FF-FH": "manipulated_sequences\\FaceShifter"})
    for name, tag, n_real, n_fake in (("Celeb-DF-v1", "v1", 12, 8), ("Celeb-DF-v2", "v2", 14, 8)):
        groups = {}
        for label, folder, n, n_test in (
            (f"CelebDF{tag}_real", "YouTube-real", n_real, 4),
            (f"CelebDF{tag}_fake", "Celeb-synthesis", n_fake, 2),
        ):
            videos = _videos(
                name, folder, label, [f"{folder[0]}{i}" for i in range(n)], 2, rng, store
            )
            test = {k: videos[k] for k in list(videos)[:n_test]}
            groups[label] = {"train": videos, "val": test, "test": test}
        jsons[name] = groups
    for name, labels, everywhere in (
        ("UADFV", ("UADFV_Real", "UADFV_Fake"), True),
        ("DeepFakeDetection", ("DFD_real", "DFD_fake"), True),
        ("DFDCP", ("DFDCP_Real", "DFDCP_FakeA"), False),
        ("DFDC", ("DFDC_Real", "DFDC_Fake"), False),
    ):
        groups = {}
        for label in labels:
            videos = _videos(name, label, label, [f"{label}{i}" for i in range(8)], 2, rng, store)
            ids = list(videos)
            if everywhere:
                node = {"c23": videos} if name == "DeepFakeDetection" else videos
                groups[label] = {"train": node, "val": node, "test": node}
            else:
                train, test = {k: videos[k] for k in ids[:5]}, {k: videos[k] for k in ids[5:]}
                groups[label] = {"train": train, "val": train if name == "DFDC" else test}
                groups[label]["test"] = test
        jsons[name] = groups
    for name in (*KNOWN_GENERATORS, *UNSEEN_GENERATORS):
        groups = {}
        for kind in ("real", "fake"):
            label = f"{name}_{kind}"
            videos = _videos(name, kind, label, [f"{kind}{i}" for i in range(6)], 1, rng, store)
            ids = list(videos)
            known = name in KNOWN_GENERATORS
            groups[label] = _split(ids, 2, 2, 6) if known else {"test": ids}
            groups[label] = {s: {k: videos[k] for k in v} for s, v in groups[label].items()}
        jsons[name] = groups

    json_dir, lmdb_dir = root / "json", root / "lmdb"
    json_dir.mkdir(parents=True)
    lmdb_dir.mkdir()
    for name, groups in jsons.items():
        (json_dir / f"{name}.json").write_text(json.dumps({name: groups}))
    env = lmdb.open(str(root / "all_lmdb"), map_size=1 << 26)
    with env.begin(write=True) as txn:
        for key, value in store.items():
            txn.put(key.encode(), value)
    env.close()
    for name in jsons:
        link = lmdb_dir / f"{lmdb_name(name)}_lmdb"
        if not link.exists():
            link.symlink_to(root / "all_lmdb")
    return {"json_dir": str(json_dir), "lmdb_dir": str(lmdb_dir)}


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bench")
    return {**write_benchmark(root), "out": root / "runs"}


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip()


def tiny_sets(detector: str, out: Path) -> list[str]:
    """``--set`` overrides for a 1-epoch CPU run with a tiny random-init backbone."""
    backbone = load_yaml(config_dir() / "detectors" / f"{detector}.yaml")["detector"]["backbone"]
    sets = [
        f"detector.backbone={_flow(small_backbone(backbone))}",
        "train.epochs=1",
        "train.batch_size=64",
        "train.device=cpu",
        "train.progress=false",
        f"train.output_dir={out}",
        "data.num_workers=0",
        "data.clip_size=2",
    ]
    if detector == "spcup":
        sets.append("detector.hidden=32")
    if detector == "ddln":
        sets += ["detector.input_size=32", "detector.gru_hidden=8", "detector.gru_layers=1"]
    return sets


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
        plan = reproduce.plan_reproduction(name, data={"json_dir": bench["json_dir"]})
        assert plan.protocol.is_file() and plan.seeds[0] == 8079 and len(plan.seeds) == table.seeds
        reference = load_run_config(plan.protocol)
        for run in plan.runs:
            assert set(run.configs) == set(run.section.published)
            for cfg in run.configs.values():  # rows differ in detector and loss only
                assert cfg.train.epochs == reference.train.epochs
                assert cfg.data.compression == reference.data.compression
        for section in table.sections:
            for text in section.published.values():
                values = reproduce.published_values(text)
                assert len(values) == len(table.columns) and any(values)
        assert {c.test for c in table.columns} == set(table.tests)


def test_real_class_metrics_are_derived_exactly():
    from sklearn.metrics import f1_score, precision_score, recall_score

    from dfshield.eval.metrics import compute_metrics

    labels = [0, 0, 0, 1, 1, 0, 1, 0]
    scores = [0.1, 0.7, 0.2, 0.9, 0.4, 0.3, 0.8, 0.6]
    metrics = compute_metrics(scores, labels, bootstrap=0)
    predicted = [int(s >= 0.5) for s in scores]
    for key, score in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
        expected = score(labels, predicted, pos_label=0)
        assert reproduce.metric_value(metrics, f"{key}_real") == pytest.approx(expected)
    assert reproduce.metric_value(metrics, "video_f1") is None  # not computed: shown as —


@pytest.mark.slow
def test_ddln_subsets_have_exactly_table_1s_counts(tmp_path):
    """Full-size JSON-only Celeb-DF-v2 and DFDC (DeepfakeBench layouts); no frames needed."""

    def videos(dataset, label, prefix, n):
        return {
            f"{prefix}{i}": {"label": label, "frames": [f"{dataset}\\{prefix}\\frames\\{i}\\0.png"]}
            for i in range(n)
        }

    json_dir = tmp_path / "json"
    json_dir.mkdir()
    real, fake = (
        videos("Celeb-DF-v2", "CelebDFv2_real", "r", 890),
        videos("Celeb-DF-v2", "CelebDFv2_fake", "f", 600),
    )
    test_real, test_fake = dict(list(real.items())[:178]), dict(list(fake.items())[:340])
    celeb = {
        "CelebDFv2_real": {"train": real, "val": test_real, "test": test_real},
        "CelebDFv2_fake": {"train": fake, "val": test_fake, "test": test_fake},
    }
    dfdc = {}
    for label, prefix, n_train, n_test in (
        ("DFDC_Real", "r", 1200, 700),
        ("DFDC_Fake", "f", 20, 10),
    ):
        train = videos("DFDC", label, f"train-{prefix}", n_train)
        dfdc[label] = {
            "train": train,
            "val": train,
            "test": videos("DFDC", label, f"test-{prefix}", n_test),
        }
    (json_dir / "Celeb-DF-v2.json").write_text(json.dumps({"Celeb-DF-v2": celeb}))
    (json_dir / "DFDC.json").write_text(json.dumps({"DFDC": dfdc}))

    plan = reproduce.plan_reproduction(
        "ddln-tables7-11",
        data={"json_dir": str(json_dir)},
        overrides=[f"train.output_dir={tmp_path}"],
    )
    for split in plan.splits:
        (section,) = {run.section.name for run in plan.runs if run.split == split}
        training, notes = reproduce.prepare_splits(split)
        name = split.subset.dataset
        assert training == [name]
        counts = {
            which: class_counts(read_split(split.json_dir, name, which))
            for which in ("train", "val", "test")
        }
        (train_real, train_fake), (test_real, test_fake) = TABLE_1[section]
        assert counts["train"] == {"real": train_real, "fake": train_fake}
        assert counts["test"] == {"real": test_real, "fake": test_fake}
        assert counts["val"] == counts["train"]  # no validation split: select on training
        train = {r.video_path for r in read_split(split.json_dir, name, "train")}
        test = {r.video_path for r in read_split(split.json_dir, name, "test")}
        assert not train & test
        # the same seed picks the same videos
        again, _ = reproduce.prepare_splits(split)
        assert {r.video_path for r in read_split(split.json_dir, name, "train")} == train
    assert {s.subset.dataset for s in plan.splits} == {"Celeb-DF-v2", "DFDC"}


def test_dfwild_removes_test_videos_from_training(bench, tmp_path):
    plan = reproduce.plan_reproduction(
        "spcup-table2",
        data={"json_dir": bench["json_dir"], "lmdb_dir": bench["lmdb_dir"]},
        overrides=[f"train.output_dir={tmp_path}"],
    )
    (split,) = plan.splits
    training, notes = reproduce.prepare_splits(split)
    assert (
        "UADFV" not in training and "DeepFakeDetection" not in training
    )  # every video is a test video
    assert "Celeb-DF-v2" in training
    for name in training:
        train = {r.video_path for r in read_split(split.json_dir, name, "train")}
        val = {r.video_path for r in read_split(split.json_dir, name, "val")}
        test = {r.video_path for r in read_split(split.json_dir, name, "test")}
        assert not train & test and not val & test
        assert val == train or not val & train
    assert any("Celeb-DF-v2: 6 training videos are test videos too" in n for n in notes)


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


def shrink(table):
    """The table cut to fit the fixture and the time budget (the full plans are checked by
    test_every_table_resolves_without_changing_its_protocol): subsets scaled down, one section
    per dataset, and two generators (one known, one unseen) instead of fourteen."""
    small = {"Celeb-DF-v2": ((8, 3), (4, 2)), "DFDC": ((4, 2), (3, 2))}
    sections, seen = [], set()
    for section in table.sections:
        if section.subset is None:
            sections.append(section)
        elif section.subset.dataset not in seen:
            seen.add(section.subset.dataset)
            subset = Subset(section.subset.dataset, *small[section.subset.dataset])
            sections.append(dataclasses.replace(section, subset=subset))
    if len(table.tests) > 3:
        keep = [0, len(KNOWN_GENERATORS)]
        columns = tuple(table.columns[i] for i in keep)
        sections = [
            dataclasses.replace(
                s,
                published={k: " ".join(v.split()[i] for i in keep) for k, v in s.published.items()},
            )
            for s in sections
        ]
        table = dataclasses.replace(
            table, columns=columns, tests={c.test: table.tests[c.test] for c in columns}
        )
    return dataclasses.replace(table, sections=tuple(sections))


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("name", list(TABLES))
def test_every_table_runs_end_to_end(name, bench, tmp_path, monkeypatch, capsys, one_thread):
    table = shrink(TABLES[name])
    monkeypatch.setitem(TABLES, name, table)
    detector = table.rows[0].detector
    sets = [x for s in tiny_sets(detector, bench["out"]) for x in ("--set", s)]
    argv = ["reproduce", name, "--json-dir", bench["json_dir"], "--lmdb-dir", bench["lmdb_dir"]]
    assert main([*argv, "--run-dir", str(tmp_path), "--seeds", "1", *sets]) == 0
    assert f"# {name}" in capsys.readouterr().out
    report = json.loads((tmp_path / "reproduce.json").read_text())
    computed = 0
    assert [s["name"] for s in report["sections"]] == [s.name for s in table.sections]
    for section, published in zip(report["sections"], table.sections):
        assert [r["id"] for r in section["rows"]] == [
            r.id for r in table.rows if r.id in published.published
        ]
        for row in section["rows"]:
            for cell in row["cells"]:
                assert cell["published"] is not None
                if cell["metric"] not in report["not_computed"]:
                    assert math.isfinite(cell["ours"]) and math.isfinite(cell["difference"])
                    computed += 1
    assert computed > 0
    assert (tmp_path / "reproduce.md").read_text().count("| dfshield |") >= 1
    lines = (tmp_path / "reproduce.csv").read_text().splitlines()
    assert lines[0].startswith("section,row,label,column,metric,test,published")
