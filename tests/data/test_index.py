"""Reading DeepfakeBench dataset JSONs: nesting variants, the _c40 rule, labels, bad input.

Absolute frame paths in dataset JSONs (DeepfakeBench's rearrange.py run with an absolute root)
are found in the LMDB and under data_root instead of being reported missing."""

import dataclasses
from pathlib import Path

import pytest

from dfshield.data import AugmentConfig, DataConfig, DeepfakeDataset
from dfshield.data.frame_stores import FolderStore, LmdbStore, MissingKeyError, key_variants
from dfshield.data.index import (
    DEFAULT_LABEL_DICT,
    FF_FAMILY,
    VideoRecord,
    available_splits,
    dataset_relative_paths,
    lmdb_name,
    normalize_path,
    read_split,
    sort_frames,
    split_name,
)
from dfshield.errors import DataError
from tests.fixtures import datagen as dg  # tests/fixtures/datagen.py

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


KEY = "FaceForensics++\\original_sequences\\youtube\\c23\\frames\\000\\003.png"
POSIX_ROOT = "/data/deepfake/datasets/"
WINDOWS_ROOT = "D:\\DeepfakeBench\\datasets\\"


def absolute(key: str, root: str = POSIX_ROOT) -> str:
    """``key`` as rearrange.py writes it under an absolute root (the root's own separators)."""
    separator = "\\" if "\\" in root else "/"
    return root + key.replace("\\", separator)


def test_dataset_relative_paths():
    assert dataset_relative_paths(absolute(KEY), "FaceForensics++") == [dg.normalized(KEY)]
    assert dataset_relative_paths(absolute(KEY, WINDOWS_ROOT), "FaceForensics++") == [
        dg.normalized(KEY)
    ]
    # the dataset's folder inside a folder of the same name: the last one first
    nested = "/mnt/Celeb-DF-v2/Celeb-DF-v2/YouTube-real/frames/00000/000.png"
    assert dataset_relative_paths(nested, "Celeb-DF-v2") == [
        "Celeb-DF-v2/YouTube-real/frames/00000/000.png",
        "Celeb-DF-v2/Celeb-DF-v2/YouTube-real/frames/00000/000.png",
    ]
    assert dataset_relative_paths(KEY, "FaceForensics++") == []  # relative: unchanged
    assert dataset_relative_paths(absolute(KEY), "Celeb-DF-v2") == []  # no such folder


def test_key_variants_try_the_dataset_relative_key_right_after_the_given_one():
    variants = key_variants(absolute(KEY), "FaceForensics++")
    assert variants[0] == absolute(KEY)
    assert variants[1:4] == [dg.normalized(KEY), KEY, dg.restyle(KEY, "linux")]
    assert key_variants(KEY, "FaceForensics++") == key_variants(KEY)  # relative keys unchanged


@pytest.mark.parametrize("style", ["windows", "linux", "posix"])
@pytest.mark.parametrize("root", [POSIX_ROOT, WINDOWS_ROOT])
def test_absolute_json_path_is_found_in_the_lmdb(tmp_path, style, root):
    path = dg.build_lmdb(tmp_path, "FaceForensics++", "FaceForensics++", style=style)
    store = LmdbStore(path, dataset="FaceForensics++")
    assert store.get(absolute(KEY, root)) == dg.frame_png(KEY)
    assert store.resolve(absolute(KEY, root)) == dg.restyle(KEY, style)


def test_absolute_path_missing_from_the_lmdb_names_the_relative_keys_tried(tmp_path):
    path = dg.build_lmdb(tmp_path, "FaceForensics++", "FaceForensics++", style="linux")
    store = LmdbStore(path, dataset="FaceForensics++")
    wanted = absolute(KEY.replace("003.png", "004.png"))
    with pytest.raises(MissingKeyError) as info:
        store.get(wanted)
    assert repr(dg.restyle(KEY.replace("003.png", "004.png"), "linux")) in str(info.value)
    assert dg.restyle(KEY, "linux") in info.value.closest


@pytest.mark.parametrize("root", [POSIX_ROOT, WINDOWS_ROOT])
def test_absolute_path_of_moved_frames_is_read_under_data_root(tmp_path, root):
    data_root = dg.build_folder(tmp_path / "rgb", "FaceForensics++")
    store = FolderStore(data_root, dataset="FF-DF")  # FF-family names live in FaceForensics++
    assert store.get(absolute(KEY, root)) == dg.frame_png(KEY)
    in_place = str(data_root / dg.normalized(KEY))  # still where the JSON says: used as it is
    assert store.candidates(in_place)[0].as_posix() == in_place
    assert store.get(in_place) == dg.frame_png(KEY)
    with pytest.raises(MissingKeyError, match="not on disk.*004.png"):
        store.get(absolute(KEY.replace("003.png", "004.png"), root))


def with_absolute_paths(root):
    def edit(data):
        def walk(node):
            if isinstance(node, dict):
                for key, value in node.items():
                    if key in ("frames", "masks") and isinstance(value, list):
                        node[key] = [absolute(path, root) for path in value]
                    else:
                        walk(value)

        walk(data)

    return edit


@pytest.mark.parametrize("lmdb", [True, False])
def test_dataset_reads_a_json_with_absolute_paths(tmp_path, lmdb):
    json_dir = tmp_path / "json"
    dg.copy_json(json_dir, "FaceForensics++", "FF-DF", "FF-DF", with_absolute_paths(POSIX_ROOT))
    if lmdb:
        dg.build_lmdb(
            tmp_path / "lmdb", "FaceForensics++", "FaceForensics++", style="linux", masks=True
        )
        place = {"lmdb_dir": str(tmp_path / "lmdb")}
    else:
        place = {"data_root": str(dg.build_folder(tmp_path / "rgb", "FaceForensics++"))}
    cfg = DataConfig(
        train_datasets=["FF-DF"],
        json_dir=str(json_dir),
        num_workers=0,
        with_mask=lmdb,
        augment=AugmentConfig(enabled=False),
        **place,
    )
    ds = DeepfakeDataset(cfg, "train", resolution=16)
    assert len(ds) > 0 and all(key.startswith(POSIX_ROOT) for key in ds.frame_keys)
    for index in range(len(ds)):
        item = ds[index]
        relative = item["frame_key"][len(POSIX_ROOT) :]
        column = item["image"][:, 8, 0] * 0.5 + 0.5
        got = tuple(int(v) for v in (column * 255).round())
        assert all(abs(g - w) <= 2 for g, w in zip(got, dg.colour(relative)))
        if lmdb and item["label"] == 1:  # the fake's mask, found from the absolute frame path
            assert float(item["mask"].max()) > 0.5
