"""``dfshield data-info``: counts per split and label, missing and undecodable keys, exit status."""

import argparse
import json

from dfshield.commands import data_info
from dfshield.data.checks import check_dataset
from tests.fixtures import datagen as dg  # tests/fixtures/datagen.py

FIX = dg.FIXTURES
MISSING = "FaceForensics++\\original_sequences\\youtube\\c23\\frames\\001\\020.png"
BROKEN = "FaceForensics++\\manipulated_sequences\\Deepfakes\\c23\\frames\\003_002\\015.png"


def cli(*argv):
    parser = argparse.ArgumentParser()
    data_info.add_arguments(parser)
    return data_info.run(parser.parse_args(list(argv)))


def counts(report, split):
    part = next(s for s in report.splits if s.split == split)
    return {c.label_name: (c.label, c.videos, c.frames) for c in part.counts}


def test_report_counts_per_split_and_label(tmp_path, capsys):
    dg.build_lmdb(tmp_path, "FaceForensics++", "FaceForensics++", style="linux")
    report = check_dataset("FaceForensics++", FIX, tmp_path)
    assert report.ok and report.missing == 0 and report.undecodable == 0
    assert counts(report, "train") == {"FF-DF": (1, 2, 8), "FF-real": (0, 2, 10)}
    assert counts(report, "val") == {"FF-DF": (1, 1, 3), "FF-real": (0, 1, 3)}
    c40 = check_dataset("FaceForensics++_c40", FIX, tmp_path)
    assert (
        c40.ok
        and c40.level == "c40"
        and counts(c40, "train") == {"FF-DF": (1, 1, 3), "FF-real": (0, 1, 3)}
    )
    assert (
        cli("--dataset", "FaceForensics++", "--json-dir", str(FIX), "--lmdb-dir", str(tmp_path))
        == 0
    )
    out = capsys.readouterr().out
    assert "FaceForensics++_lmdb" in out and out.rstrip().endswith("OK")
    assert any(
        line.split()[:5] == ["train", "FF-real", "real", "2", "10"] for line in out.splitlines()
    )


def test_missing_and_undecodable_keys_make_the_exit_status_non_zero(tmp_path, capsys):
    dg.write_lmdb(
        tmp_path / "FaceForensics++_lmdb",
        dg.lmdb_entries(
            dg.json_frames(FIX / "FaceForensics++.json"),
            "linux",
            drop={MISSING},
            replace={BROKEN: b"garbage"},
        ),
    )
    report = check_dataset("FaceForensics++", FIX, tmp_path)
    assert not report.ok
    train = next(s for s in report.splits if s.split == "train")
    test = next(s for s in report.splits if s.split == "test")
    assert train.missing == [MISSING] and test.undecodable[0][0] == BROKEN
    assert (
        "FaceForensics++\\original_sequences/youtube/c23/frames/001/010.png"
        in train.closest[MISSING]
    )
    assert (
        cli("--dataset", "FaceForensics++", "--json-dir", str(FIX), "--lmdb-dir", str(tmp_path))
        == 1
    )
    out = capsys.readouterr().out
    assert MISSING in out and BROKEN in out and "separator" in out
    assert "FAILED: 1 missing, 1 undecodable" in out
    # --no-decode only resolves keys
    assert (
        cli(
            "--dataset",
            "FaceForensics++",
            "--json-dir",
            str(FIX),
            "--lmdb-dir",
            str(tmp_path),
            "--no-decode",
            "--split",
            "test",
        )
        == 0
    )


def test_json_output(tmp_path, capsys):
    dg.write_lmdb(
        tmp_path / "FaceForensics++_lmdb",
        dg.lmdb_entries(dg.json_frames(FIX / "FaceForensics++.json"), drop={MISSING}),
    )
    assert (
        cli(
            "--dataset",
            "FaceForensics++",
            "--json-dir",
            str(FIX),
            "--lmdb-dir",
            str(tmp_path),
            "--json",
        )
        == 1
    )
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and data["missing"] == 1 and data["dataset"] == "FaceForensics++"
    assert [s["split"] for s in data["splits"]] == ["train", "val", "test"]


def test_empty_split_is_a_note_and_folder_mode(tmp_path, capsys):
    root = dg.build_folder(tmp_path / "rgb", "Celeb-DF-v2")
    assert cli("--dataset", "Celeb-DF-v2", "--json-dir", str(FIX), "--data-root", str(root)) == 0
    out = capsys.readouterr().out
    assert "split val is empty" in out and f"folder {root}" in out
    (root / "Celeb-DF-v2/YouTube-real/frames/00000/006.png").unlink()
    report = check_dataset("Celeb-DF-v2", FIX, data_root=root)
    assert [s.missing for s in report.splits] == [
        ["Celeb-DF-v2\\YouTube-real\\frames\\00000\\006.png"],
        [],
        [],
    ]


def test_setup_errors_are_reported(tmp_path, capsys):
    assert cli("--dataset", "Celeb-DF-v2", "--json-dir", str(FIX), "--lmdb-dir", str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "Celeb-DF-v2_lmdb' for dataset 'Celeb-DF-v2' does not exist" in out and "FAILED" in out
    report = check_dataset("Celeb-DF-v9", FIX, tmp_path)
    assert not report.ok and "Did you mean 'Celeb-DF-v2'" in report.errors[0]

    def relabel(data):
        data["Celeb-DF-v2"]["CelebDFv2_fake"]["test"]["id1_id0_0001"]["label"] = "Celeb_fake"

    dg.copy_json(tmp_path / "json", "Celeb-DF-v2", "Celeb-DF-v2", edit=relabel)
    root = dg.build_folder(tmp_path / "rgb", "Celeb-DF-v2")
    report = check_dataset("Celeb-DF-v2", tmp_path / "json", data_root=root)
    assert not report.ok and "Celeb_fake" in report.splits[2].error
    assert (
        cli(
            "--dataset",
            "Celeb-DF-v2",
            "--json-dir",
            str(tmp_path / "json"),
            "--data-root",
            str(root),
            "--label",
            "Celeb_fake=1",
        )
        == 0
    )
