"""Preparing ``dfshield reproduce``'s data: DDLN's subsets have exactly Table 1's counts and no
test video trains."""

from __future__ import annotations

import json

import pytest

from dfshield.data.index import read_split
from dfshield.studies import reproduce_plan, reproduce_splits
from dfshield.studies.subsample import class_counts

#: DDLN's Table 1: (train real, train fake), (test real, test fake) per subset
TABLE_1 = {
    "Table 7: Celeb-30": ((712, 23), (178, 5)),
    "Table 8: Celeb-20": ((712, 35), (178, 8)),
    "Table 9: Celeb-10": ((712, 71), (178, 17)),
    "Table 10: DFDC-100": ((500, 5), (300, 3)),
    "Table 11: DFDC-200": ((1000, 5), (600, 3)),
}


def ddln_jsons(tmp_path) -> str:
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
    return str(json_dir)


def prepared_subsets(tmp_path, *overrides):
    """``(section, split, notes, {split name: {video paths}})`` of every DDLN subset, prepared."""
    plan = reproduce_plan.plan_reproduction(
        "ddln-tables7-11",
        data={"json_dir": ddln_jsons(tmp_path)},
        overrides=[f"train.output_dir={tmp_path}", *overrides],
    )
    assert {s.subset.dataset for s in plan.splits} == {"Celeb-DF-v2", "DFDC"}
    for split in plan.splits:
        (section,) = {run.section.name for run in plan.runs if run.split == split}
        training, notes = reproduce_splits.prepare_splits(split)
        name = split.subset.dataset
        assert training == [name]
        videos = {
            which: read_split(split.json_dir, name, which) for which in ("train", "val", "test")
        }
        yield section, split, notes, videos


def paths(records) -> set[str]:
    return {r.video_path for r in records}


@pytest.mark.slow
def test_ddln_subsets_have_exactly_table_1s_counts_with_a_held_out_validation_split(tmp_path):
    for section, split, notes, videos in prepared_subsets(tmp_path):
        counts = {which: class_counts(records) for which, records in videos.items()}
        (train_real, train_fake), (test_real, test_fake) = TABLE_1[section]
        assert counts["test"] == {"real": test_real, "fake": test_fake}
        # Table 1's training videos, a fifth of each class held out for validation
        assert {c: counts["train"][c] + counts["val"][c] for c in ("real", "fake")} == {
            "real": train_real,
            "fake": train_fake,
        }
        assert counts["val"] == {"real": round(0.2 * train_real), "fake": round(0.2 * train_fake)}
        train, val, test = (paths(videos[w]) for w in ("train", "val", "test"))
        assert not train & test and not val & test and not val & train
        assert any(
            "training videos held out from training (data.val_fraction 0.2" in n for n in notes
        )
        # the same seed picks the same videos
        reproduce_splits.prepare_splits(split)
        name = split.subset.dataset
        assert paths(read_split(split.json_dir, name, "train")) == train
        assert paths(read_split(split.json_dir, name, "val")) == val


@pytest.mark.slow
def test_val_fraction_zero_selects_on_the_training_split_as_asked(tmp_path):
    for section, _, notes, videos in prepared_subsets(tmp_path, "data.val_fraction=0"):
        (train_real, train_fake), _ = TABLE_1[section]
        assert class_counts(videos["train"]) == {"real": train_real, "fake": train_fake}
        assert paths(videos["val"]) == paths(videos["train"])
        assert any("selects on its training split (data.val_fraction 0)" in n for n in notes)


def test_dfwild_removes_test_videos_from_training(bench, tmp_path):
    plan = reproduce_plan.plan_reproduction(
        "spcup-table2",
        data={"json_dir": bench["json_dir"], "lmdb_dir": bench["lmdb_dir"]},
        overrides=[f"train.output_dir={tmp_path}"],
    )
    (split,) = plan.splits
    training, notes = reproduce_splits.prepare_splits(split)
    assert (
        "UADFV" not in training and "DeepFakeDetection" not in training
    )  # every video is a test video
    assert "Celeb-DF-v2" in training
    for name in training:
        train = {r.video_path for r in read_split(split.json_dir, name, "train")}
        val = {r.video_path for r in read_split(split.json_dir, name, "val")}
        test = {r.video_path for r in read_split(split.json_dir, name, "test")}
        assert not train & test and not val & test
        assert not val & train  # Celeb-DF-v2 holds out validation videos from training
    assert any("Celeb-DF-v2: 6 training videos are test videos too" in n for n in notes)
