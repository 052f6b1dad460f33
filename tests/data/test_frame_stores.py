"""LMDB and folder stores: key spellings, lazy per-process opening, helpful missing-key errors."""

import os
import pickle

import lmdb
import pytest

from dfshield.data.config import DataConfig
from dfshield.data.frame_stores import (
    FolderStore,
    LmdbStore,
    MissingKeyError,
    companion_key,
    key_variants,
    open_store,
    store_path,
)
from dfshield.errors import DataError
from tests.fixtures import datagen as dg  # tests/fixtures/datagen.py

KEY = "FaceForensics++\\original_sequences\\youtube\\c23\\frames\\000\\003.png"


def test_key_variants():
    assert key_variants("A\\b\\c.png") == ["A\\b\\c.png", "A/b/c.png", "A\\b/c.png"]
    assert key_variants("./datasets\\A\\b.png") == ["./datasets\\A\\b.png", "A\\b.png", "A/b.png"]
    assert key_variants("A/b/c.png")[0] == "A/b/c.png" and "A\\b/c.png" in key_variants("A/b/c.png")


@pytest.mark.parametrize("style", ["windows", "linux", "posix"])
def test_lmdb_keys_in_any_separator_style(tmp_path, style):
    path = dg.build_lmdb(tmp_path, "FaceForensics++", "FaceForensics++", style=style)
    store = LmdbStore(path, dataset="FaceForensics++")
    assert store.get(KEY) == dg.frame_png(KEY)  # the JSON's backslash spelling
    assert store.get(KEY.replace("\\", "/")) == dg.frame_png(KEY)
    assert store.resolve(KEY) == dg.restyle(KEY, style)
    assert store.get(".\\datasets\\" + KEY) == dg.frame_png(KEY)  # DeepfakeBench's rgb-path prefix


def test_irregular_mixture_is_found_by_neighbour_search(tmp_path):
    odd = "FaceForensics++/original_sequences\\youtube/c23\\frames/000\\003.png"
    store = LmdbStore(
        dg.write_lmdb(tmp_path / "X_lmdb", {odd: b"data", "FaceForensics++/zzz": b"z"})
    )
    assert store.get(KEY) == b"data" and store.resolve(KEY) == odd


def test_missing_key_names_key_path_closest_keys_and_separators(tmp_path):
    path = dg.build_lmdb(tmp_path, "FaceForensics++", "FaceForensics++", style="linux")
    store = LmdbStore(path, dataset="FaceForensics++")
    wanted = KEY.replace("003.png", "004.png")
    with pytest.raises(MissingKeyError) as info:
        store.get(wanted, dataset="FF-DF")
    error = info.value
    message = str(error)
    assert repr(wanted) in message and repr(str(path)) in message and "dataset 'FF-DF'" in message
    assert "separator mismatch" in message and "data-info --dataset FF-DF" in message
    assert error.key == wanted and error.location == str(path)
    assert dg.restyle(KEY, "linux") in error.closest  # the neighbouring frame of the same video
    assert isinstance(error, DataError)
    assert store.get_optional(wanted) is None and store.resolve(wanted) is None


def test_missing_lmdb_path_lists_present_ones(tmp_path):
    dg.write_lmdb(tmp_path / "Celeb-DF-v2_lmdb", {"a": b"b"})
    with pytest.raises(
        DataError,
        match=r"Celeb-DF-v1_lmdb' for dataset 'Celeb-DF-v1' does not exist"
        r".*Did you mean 'Celeb-DF-v2_lmdb'.*lmdb_dir",
    ):
        LmdbStore(tmp_path / "Celeb-DF-v1_lmdb", dataset="Celeb-DF-v1")
    (tmp_path / "empty_lmdb").mkdir()
    with pytest.raises(DataError, match="has no data.mdb"):
        LmdbStore(tmp_path / "empty_lmdb")


def test_lmdb_opened_lazily_read_only_and_per_process(tmp_path, monkeypatch):
    path = dg.build_lmdb(tmp_path, "Celeb-DF-v2", "Celeb-DF-v2")
    store = LmdbStore(path)
    assert not store.is_open  # nothing opened at construction
    key = dg.json_frames(dg.FIXTURES / "Celeb-DF-v2.json")[0]
    store.get(key)
    assert store.is_open
    env = store._environment()
    assert env.flags()["readonly"] is True and env.flags()["lock"] is False
    with pytest.raises(lmdb.ReadonlyError):
        with env.begin(write=True) as txn:
            txn.put(b"x", b"y")
    twin = LmdbStore(path)  # a second store of the same LMDB (e.g. the val dataset) shares it
    assert twin.get(key) == dg.frame_png(key) and twin._environment() is env
    clone = pickle.loads(pickle.dumps(store))  # what a spawned worker receives
    assert clone.get(key) == dg.frame_png(key)
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)  # as in a forked worker
    assert not store.is_open
    assert store.get(key) == dg.frame_png(key)  # re-opened for the "new" process
    assert store._environment() is not env and store.is_open
    store.close()
    assert not store.is_open


def test_folder_store(tmp_path):
    root = dg.build_folder(tmp_path / "rgb", "Celeb-DF-v2")
    store = FolderStore(root, dataset="Celeb-DF-v2")
    key = "Celeb-DF-v2\\YouTube-real\\frames\\00000\\006.png"
    assert store.get(key) == dg.frame_png(key)
    assert store.get(".\\datasets\\" + key) == dg.frame_png(key)
    absolute = str(root / "Celeb-DF-v2/YouTube-real/frames/00000/006.png")
    assert store.get(absolute) == dg.frame_png(key)
    with pytest.raises(
        MissingKeyError,
        match=r"not on disk.*00000/007.png.*Closest existing paths:.*00000/006.png.*data_root",
    ) as info:
        store.get(key.replace("006", "007"))
    assert info.value.location == str(root)
    with pytest.raises(DataError, match="data root .* does not exist"):
        FolderStore(tmp_path / "nowhere")


def test_open_store_shares_the_ff_lmdb(tmp_path):
    dg.build_lmdb(tmp_path, "FaceForensics++", "FaceForensics++")
    cfg = DataConfig(lmdb_dir=str(tmp_path))
    cache: dict = {}
    stores = {
        name: open_store(name, cfg, cache) for name in ("FaceForensics++", "FF-DF", "FF-NT_c40")
    }
    assert len({id(s) for s in stores.values()}) == 1
    assert (
        stores["FF-DF"].path
        == store_path("FF-DF", tmp_path)
        == str(tmp_path / "FaceForensics++_lmdb")
    )
    folder = open_store("Celeb-DF-v2", DataConfig(data_root=str(tmp_path)))
    assert isinstance(folder, FolderStore) and folder.root == tmp_path


def test_companion_keys():
    assert companion_key(KEY, "mask") == KEY.replace("frames", "masks")
    assert companion_key(KEY, "landmark") == KEY.replace("frames", "landmarks").replace(
        ".png", ".npy"
    )
    assert (
        companion_key("frames_set\\v\\frames\\1\\0.png", "mask") == "frames_set\\v\\masks\\1\\0.png"
    )
    with pytest.raises(DataError, match="no 'frames' folder"):
        companion_key("a\\b.png", "mask")
