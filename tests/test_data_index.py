"""Reading DeepfakeBench dataset JSONs: nesting variants, the _c40 rule, labels, bad input."""

import dataclasses
from pathlib import Path

import pytest
from fixtures import datagen as dg  # tests/fixtures/datagen.py

from dfshield.data.index import (
    DEFAULT_LABEL_DICT,
    FF_FAMILY,
    VideoRecord,
    available_splits,
    lmdb_name,
    normalize_path,
    read_split,
    sort_frames,
    split_name,
)
from dfshield.errors import DataError

FIX = dg.FIXTURES


def test_ff_json_with_levels_c23():
    records = read_split(FIX, "FaceForensics++", "train")
    assert [r.video_path for r in records] == [
        "FaceForensics++/manipulated_sequences/Deepfakes/c23/frames/000_001",
        "FaceForensics++/manipulated_sequences/Deepfakes/c23/frames/001_000",
        "FaceForensics++/original_sequences/youtube/c23/frames/000",
        "FaceForensics++/original_sequences/youtube/c23/frames/001",
    ]
    assert [r.label for r in records] == [1, 1, 0, 0]
    assert [r.label_name for r in records] == ["FF-DF", "FF-DF", "FF-real", "FF-real"]
    real = records[2]
    assert (
        isinstance(real, VideoRecord)
        and real.dataset == "FaceForensics++"
        and real.video_name == "000"
    )
    # numeric order by integer stem, paths kept exactly as the JSON writes them (backslashes)
    assert [Path(normalize_path(f)).stem for f in real.frames] == [
        "000",
        "003",
        "020",
        "040",
        "100",
        "1005",
    ]
    assert all("\\" in f and "/" not in f for f in real.frames)
    with pytest.raises(dataclasses.FrozenInstanceError):
        real.label = 1


def test_compression_level_and_c40_suffix():
    c40 = read_split(FIX, "FaceForensics++", "train", compression="c40")
    assert [len(r.frames) for r in c40] == [3, 3]
    assert all("\\c40\\" in f for r in c40 for f in r.frames)
    suffixed = read_split(FIX, "FaceForensics++_c40", "train")  # reads FaceForensics++.json at c40
    assert [r.frames for r in suffixed] == [r.frames for r in c40]
    assert {r.dataset for r in suffixed} == {"FaceForensics++_c40"}
    # the suffix wins over the compression argument
    assert (
        read_split(FIX, "FaceForensics++_c40", "test", compression="c23")[0].frames[0].count("c40")
        == 1
    )


def test_c40_json_file_named_with_suffix(tmp_path):
    # DeepfakeBench opens '<name>_c40.json' whose top-level key is the base name
    dg.copy_json(tmp_path, "FaceForensics++", "FF-DF_c40", top_key="FF-DF")
    records = read_split(tmp_path, "FF-DF_c40", "val")
    assert len(records) == 2 and all("\\c40\\" in r.frames[0] for r in records)
    assert split_name("FF-DF_c40") == ("FF-DF", "c40")
    assert split_name("Celeb-DF-v2_c40") == ("Celeb-DF-v2_c40", None)  # only FF-family names


def test_json_without_levels_celeb_df():
    records = read_split(FIX, "Celeb-DF-v2", "test")
    assert [r.video_path for r in records] == [
        "Celeb-DF-v2/Celeb-real/frames/id0_0000",
        "Celeb-DF-v2/Celeb-synthesis/frames/id1_id0_0001",
        "Celeb-DF-v2/YouTube-real/frames/00001",
    ]
    assert [r.label for r in records] == [0, 1, 0]
    # the compression argument does not matter without levels
    assert read_split(FIX, "Celeb-DF-v2", "test", compression="c40") == records
    assert available_splits(FIX, "Celeb-DF-v2") == ["train", "test"]


def test_empty_split_is_an_error_naming_the_splits_present():
    with pytest.raises(
        DataError,
        match=r"split 'val' of dataset 'Celeb-DF-v2' is empty.*splits with videos: train, test",
    ):
        read_split(FIX, "Celeb-DF-v2", "val")
    assert read_split(FIX, "Celeb-DF-v2", "val", allow_empty=True) == []


def test_unknown_label_string_names_it_and_label_dict_fixes_it(tmp_path):
    def relabel(data):
        video = data["Celeb-DF-v2"]["CelebDFv2_fake"]["train"]["id0_id1_0000"]
        video["label"] = "CelebDFv2_Fake_new"

    dg.copy_json(tmp_path, "Celeb-DF-v2", "Celeb-DF-v2", edit=relabel)
    with pytest.raises(
        DataError, match=r"label string 'CelebDFv2_Fake_new' of video 'id0_id1_0000'.*label_dict"
    ):
        read_split(tmp_path, "Celeb-DF-v2", "train")
    records = read_split(tmp_path, "Celeb-DF-v2", "train", label_dict={"CelebDFv2_Fake_new": 1})
    assert [r.label for r in records] == [1, 0]


def test_label_dict_overrides_defaults():
    records = read_split(FIX, "FaceForensics++", "test", label_dict={"FF-DF": 0})
    assert [r.label for r in records] == [0, 0]


def test_missing_level_and_missing_json():
    with pytest.raises(DataError, match=r"no compression level 'raw'.*levels present: c23, c40"):
        read_split(FIX, "FaceForensics++", "train", compression="raw")
    with pytest.raises(
        DataError, match=r"no JSON for dataset 'FaceForensic\+\+'.*Did you mean 'FaceForensics\+\+'"
    ):
        read_split(FIX, "FaceForensic++", "train")
    with pytest.raises(DataError, match="JSON folder .* does not exist"):
        read_split(FIX / "nope", "FaceForensics++", "train")


def test_c40_suffix_without_levels_in_json(tmp_path):
    dg.copy_json(tmp_path, "Celeb-DF-v2", "FF-NT", top_key="FF-NT")
    with pytest.raises(DataError, match="'_c40' suffix.*no compression level"):
        read_split(tmp_path, "FF-NT_c40", "train")


def test_wrong_top_level_key(tmp_path):
    dg.copy_json(tmp_path, "Celeb-DF-v2", "Celeb-DF-v3")
    with pytest.raises(
        DataError, match="no top-level key 'Celeb-DF-v3'.*Did you mean 'Celeb-DF-v2'"
    ):
        read_split(tmp_path, "Celeb-DF-v3", "train")


def test_json_that_is_not_utf8_names_the_file_and_the_fix(tmp_path):
    (tmp_path / "Latin.json").write_bytes('{"Latin": {"caf\u00e9": {}}}'.encode("latin-1"))
    with pytest.raises(DataError, match=r"Latin\.json' is not UTF-8 text.*iconv"):
        read_split(tmp_path, "Latin", "train")


def test_ff_family_shares_one_lmdb():
    assert set(FF_FAMILY) == {
        "FaceForensics++",
        "FF-DF",
        "FF-F2F",
        "FF-FS",
        "FF-NT",
        "DeepFakeDetection",
        "FaceShifter",
    }
    assert {lmdb_name(n) for n in FF_FAMILY} == {"FaceForensics++"}
    assert lmdb_name("FF-F2F_c40") == "FaceForensics++"
    assert lmdb_name("Celeb-DF-v2") == "Celeb-DF-v2"


def test_default_label_dict_matches_deepfakebench():
    expected = {
        "FF-real": 0,
        "FF-DF": 1,
        "FF-F2F": 1,
        "FF-FS": 1,
        "FF-NT": 1,
        "FF-FH": 1,
        "CelebDFv1_real": 0,
        "CelebDFv1_fake": 1,
        "CelebDFv2_real": 0,
        "CelebDFv2_fake": 1,
        "DFDCP_Real": 0,
        "DFDCP_FakeA": 1,
        "DFDCP_FakeB": 1,
        "DFDC_Real": 0,
        "DFDC_Fake": 1,
        "DFD_real": 0,
        "DFD_fake": 1,
        "UADFV_Real": 0,
        "UADFV_Fake": 1,
        "DF_real": 0,
        "DF_fake": 1,
    }
    assert {k: DEFAULT_LABEL_DICT[k] for k in expected} == expected


def test_sort_frames_numeric_and_prefix_normalisation():
    assert sort_frames(["a\\10.png", "a\\9.png", "a\\100.png", "a\\x.png"]) == [
        "a\\9.png",
        "a\\10.png",
        "a\\100.png",
        "a\\x.png",
    ]
    assert normalize_path(".\\datasets\\Celeb-DF-v2\\a\\000.png") == "Celeb-DF-v2/a/000.png"
    assert normalize_path("./datasets/FF/x.png") == "FF/x.png"


def test_a_built_dataset_needs_no_label_dict(tmp_path):
    """Labels ``<Name>_real`` / ``<Name>_fake`` (what build-lmdb writes) need no label_dict."""
    import json

    from dfshield.data.index import read_split

    entry = {"label": "Mine_fake", "frames": ["Mine\\fake\\frames\\v1\\000.png"]}
    real = {"label": "Mine_real", "frames": ["Mine\\real\\frames\\v2\\000.png"]}
    (tmp_path / "Mine.json").write_text(
        json.dumps(
            {"Mine": {"Mine_fake": {"train": {"v1": entry}}, "Mine_real": {"train": {"v2": real}}}}
        )
    )
    labels = {r.video_name: r.label for r in read_split(tmp_path, "Mine", "train")}
    assert labels == {"v1": 1, "v2": 0}
    (tmp_path / "Other.json").write_text(
        json.dumps({"Other": {"Mine_fake": {"train": {"v1": entry}}}})
    )
    with pytest.raises(DataError, match="label string 'Mine_fake'"):
        read_split(tmp_path, "Other", "train")  # another dataset's strings are still unknown
