"""`build-lmdb` never loses a dataset: it builds beside the old one and swaps only on success.

A rebuild that writes nothing, fails or is killed leaves the previous dataset as it was; a killed
first build does not block the next one; an incomplete dataset is named as such; a build killed
in the middle of its swap is finished by the next one; two builds of one name are locked apart;
an unwritable or full output folder fails before any input is read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import lmdb
import numpy as np
import pytest

from dfshield.dataset_builder import builder, staging
from dfshield.dataset_builder.dataset_writer import DatasetWriter
from dfshield.errors import DataError

ROOT = Path(__file__).resolve().parents[2]


def write_tree(root: Path, n: int = 3, size: int = 24, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            assert cv2.imwrite(str(root / label / f"{i}.png"), rgb)
    return root


def snapshot(out: Path, name: str) -> tuple[bytes, dict[bytes, bytes]]:
    """The dataset's JSON bytes and every LMDB record."""
    env = lmdb.open(str(out / "lmdb" / f"{name}_lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        records = {bytes(k): bytes(v) for k, v in txn.cursor()}
    env.close()
    return (out / "json" / f"{name}.json").read_bytes(), records


def leftovers(out: Path) -> list[str]:
    """Files or folders beside the dataset other than the dataset and its lock file."""
    names = [p.name for p in (out / "json").iterdir()] + [p.name for p in (out / "lmdb").iterdir()]
    return sorted(n for n in names if n.startswith(".") and not n.endswith(".lock"))


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, tuple]:
    out = tmp_path / "out"
    builder.build_from_images(write_tree(tmp_path / "tree"), out, "Keep", size=16)
    return out, snapshot(out, "Keep")


def test_rebuild_that_writes_nothing_keeps_the_old_dataset(tmp_path, built):
    out, before = built
    broken = tmp_path / "broken"
    for label in ("real", "fake"):
        (broken / label).mkdir(parents=True)
        (broken / label / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="Nothing was written"):
        builder.build_from_images(broken, out, "Keep", size=16, overwrite=True)
    assert snapshot(out, "Keep") == before
    assert leftovers(out) == []


def test_rebuild_interrupted_midway_keeps_the_old_dataset(tmp_path, built, monkeypatch):
    out, before = built
    calls = []
    process = builder.process_item

    def interrupted(item, options):
        calls.append(item)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C after two items were written
        return process(item, options)

    monkeypatch.setattr(builder, "process_item", interrupted)
    tree = write_tree(tmp_path / "other", seed=1)
    with pytest.raises(KeyboardInterrupt):
        builder.build_from_images(tree, out, "Keep", size=16, overwrite=True)
    assert snapshot(out, "Keep") == before
    assert leftovers(out) == []


@pytest.mark.slow
def test_killed_first_build_does_not_block_the_next(tmp_path):
    out = tmp_path / "out"
    script = (
        "import os, sys, numpy as np\n"
        "from dfshield.dataset_builder.dataset_writer import DatasetWriter\n"
        "writer = DatasetWriter(sys.argv[1], 'Killed')\n"
        "writer.add_video('v0', 'real', [(0, np.zeros((8, 8, 3), np.uint8))])\n"
        "os._exit(9)  # dies like kill -9: no cleanup, no JSON\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script, str(out)], env=env, timeout=120)
    assert done.returncode == 9
    assert not (out / "lmdb" / "Killed_lmdb").exists()  # only its staging folder is left
    summary = builder.build_from_images(write_tree(tmp_path / "tree"), out, "Killed", size=16)
    assert summary.total_videos == 6
    assert leftovers(out) == []  # the next build cleared what the killed one left


def test_incomplete_dataset_is_named_with_its_fix(tmp_path):
    out = tmp_path / "out"
    (out / "lmdb" / "Half_lmdb").mkdir(parents=True)  # an LMDB without its JSON
    tree = write_tree(tmp_path / "tree")
    with pytest.raises(DataError, match="incomplete dataset Half.*Delete .*Half_lmdb"):
        builder.build_from_images(tree, out, "Half", size=16)
    builder.build_from_images(tree, out, "Half", size=16, overwrite=True)
    assert len(snapshot(out, "Half")[1]) == 6


def test_build_killed_during_its_swap_is_finished_by_the_next(tmp_path, built, monkeypatch):
    out, before = built
    replace = os.replace

    def dies_at_the_lmdb(source, target):
        if str(source).endswith(".Keep_lmdb.partial"):
            raise OSError("simulated crash between the renames")
        replace(source, target)

    monkeypatch.setattr(staging.os, "replace", dies_at_the_lmdb)
    tree = write_tree(tmp_path / "new", size=20, seed=2)
    with pytest.raises(DataError, match="failed halfway .*simulated.*finishes the swap"):
        builder.build_from_images(tree, out, "Keep", size=20, overwrite=True)
    assert not (out / "json" / "Keep.json").exists()  # reads as incomplete, never as a mix
    monkeypatch.setattr(staging.os, "replace", replace)

    with pytest.raises(DataError, match="already exists"):  # rolled forward first
        builder.build_from_images(tree, out, "Keep", size=20)
    after = snapshot(out, "Keep")
    assert after != before
    sides = {cv2.imdecode(np.frombuffer(v, np.uint8), 1).shape[0] for v in after[1].values()}
    assert sides == {20}  # the new build's frames
    assert leftovers(out) == []


def test_two_builds_of_one_name_are_locked_apart(tmp_path):
    with DatasetWriter(tmp_path, "Busy") as writer:
        with pytest.raises(DataError, match="Another build of Busy_lmdb.*running"):
            DatasetWriter(tmp_path, "Busy")
        writer.add_video("v0", "real", [(0, np.zeros((8, 8, 3), np.uint8))])
    DatasetWriter(tmp_path, "Busy", overwrite=True).abort()  # free again once closed


def test_unwritable_or_full_output_fails_before_reading_any_input(tmp_path, monkeypatch):
    tree = write_tree(tmp_path / "tree")

    def never(item, options):
        raise AssertionError("an input was read before the output folder was checked")

    monkeypatch.setattr(builder, "process_item", never)
    (tmp_path / "file").write_text("a file, not a folder")
    with pytest.raises(DataError, match=r"Cannot create the output folder .*file.*writ"):
        builder.build_from_images(tree, tmp_path / "file" / "out", "X", size=16)

    monkeypatch.setattr(staging.shutil, "disk_usage", lambda path: SimpleNamespace(free=1 << 10))
    with pytest.raises(DataError, match=r"Only 0 MiB are free on the disk of .*out.*Free space"):
        builder.build_from_images(tree, tmp_path / "out", "X", size=16)
