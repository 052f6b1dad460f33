"""Absolute frame paths in dataset JSONs (DeepfakeBench's rearrange.py run with an absolute root)
are found in the LMDB and under data_root instead of being reported missing."""

import pytest
from fixtures import datagen as dg  # tests/fixtures/datagen.py

from dfshield.data import AugmentConfig, DataConfig, DeepfakeDataset
from dfshield.data.index import dataset_relative_paths
from dfshield.data.lmdb_store import FolderStore, LmdbStore, MissingKeyError, key_variants

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
