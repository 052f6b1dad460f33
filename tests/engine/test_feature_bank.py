"""The feature bank: what its fingerprint covers, damaged banks, concurrent extraction, bounded
memory, and training from the memory map (docs/reliability.md, "Feature bank")."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import multiprocessing
import os
import threading
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dfshield.config import load_run_config
from dfshield.data import DeepfakeDataset
from dfshield.data.config import DataConfig
from dfshield.data.frame_stores import LmdbStore
from dfshield.data.index import normalize_path
from dfshield.dataset_builder.frame_encoding import encode_png
from dfshield.detectors import build_detector
from dfshield.distributed import DistInfo
from dfshield.engine.feature_bank import (
    WRITE_BUFFERS,
    FeatureBank,
    RowWriter,
    assemble,
    bank_fingerprint,
    encode_part,
    library_versions,
    load_or_extract,
    read_bank,
    subset_bank,
)
from dfshield.engine.trainer import Trainer
from dfshield.errors import ConfigError, DataError
from dfshield.registry import BACKBONE
from tests.helpers import TINY_BACKBONE, toy_image, toy_layer

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def detector():
    return build_detector({"name": "clip_linear", "backbone": dict(TINY_BACKBONE)})


def data_config(toy: dict, **changes) -> DataConfig:
    fields = {
        "train_datasets": [toy["name"]],
        "test_datasets": [toy["name"]],
        "json_dir": toy["json_dir"],
        "lmdb_dir": toy["lmdb_dir"],
        "label_dict": toy["label_dict"],
        "num_workers": 0,
    }
    return DataConfig(**{**fields, **changes})


def train_split(cfg: DataConfig, detector) -> DeepfakeDataset:
    return DeepfakeDataset(cfg, "train", augment=False, **detector.input_spec())


def extract(detector, dataset, cache: Path) -> FeatureBank:
    return load_or_extract(detector.backbone, dataset, cache, device=CPU, progress=False)


def export_frames(toy: dict, root: Path) -> Path:
    """The toy dataset's frames as files under ``root`` (for ``lmdb_dir: null``)."""
    store = LmdbStore(Path(toy["lmdb_dir"]) / f"{toy['name']}_lmdb", toy["name"])
    for key in store.keys():
        path = root / normalize_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.get(key))
    return root


# -- what the fingerprint covers -----------------------------------------------------------------


def test_a_swapped_label_map_gives_a_new_bank_with_the_new_labels(toy_dataset, tmp_path, detector):
    first = train_split(data_config(toy_dataset), detector)
    bank = extract(detector, first, tmp_path)
    assert torch.equal(bank.labels, torch.as_tensor(first.labels))
    name = toy_dataset["name"]
    swapped_map = {f"{name}_real": 1, f"{name}_fake": 0}
    swapped = train_split(data_config(toy_dataset, label_dict=swapped_map), detector)
    assert np.array_equal(swapped.labels, 1 - first.labels)
    again = extract(detector, swapped, tmp_path)
    assert again.path != bank.path
    assert torch.equal(again.labels, torch.as_tensor(swapped.labels))  # never the old labels
    assert torch.equal(again.features, bank.features)


@pytest.mark.slow
def test_frames_from_disk_another_root_or_an_edited_frame_give_a_new_bank(
    toy_dataset, tmp_path, detector
):
    first_root = export_frames(toy_dataset, tmp_path / "first")
    other_root = export_frames(toy_dataset, tmp_path / "other")
    frames = train_split(
        data_config(toy_dataset, lmdb_dir=None, data_root=str(first_root)), detector
    )
    key = str(frames.frame_keys[0])
    (other_root / normalize_path(key)).write_bytes(
        encode_png(toy_image(np.random.default_rng(5), fake=False))
    )
    bank = extract(detector, frames, tmp_path / "cache")

    elsewhere = train_split(
        data_config(toy_dataset, lmdb_dir=None, data_root=str(other_root)), detector
    )
    other = extract(detector, elsewhere, tmp_path / "cache")
    assert other.path != bank.path
    assert not torch.equal(other.features[0], bank.features[0])
    assert torch.equal(other.features[1:], bank.features[1:])

    # the same frame edited in place: the same path, new bytes
    frame = first_root / normalize_path(key)
    frame.write_bytes((other_root / normalize_path(key)).read_bytes())
    stat = frame.stat()
    os.utime(frame, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    edited = extract(detector, frames, tmp_path / "cache")
    assert edited.path not in (bank.path, other.path)
    assert torch.equal(edited.features, other.features)


def test_only_the_lmdbs_read_are_fingerprinted(toy_dataset, tmp_path, detector):
    lmdb_dir = tmp_path / "lmdb"
    lmdb_dir.mkdir()
    (lmdb_dir / f"{toy_dataset['name']}_lmdb").symlink_to(
        Path(toy_dataset["lmdb_dir"]) / f"{toy_dataset['name']}_lmdb"
    )
    unrelated = lmdb_dir / "Other_lmdb" / "data.mdb"
    unrelated.parent.mkdir()
    unrelated.write_bytes(b"\0" * 64)
    dataset = train_split(data_config(toy_dataset, lmdb_dir=str(lmdb_dir)), detector)
    before = bank_fingerprint(detector.backbone, dataset, CPU)
    unrelated.write_bytes(b"\0" * 128)  # an LMDB the dataset does not read
    assert bank_fingerprint(detector.backbone, dataset, CPU) == before
    read = Path(toy_dataset["lmdb_dir"]) / f"{toy_dataset['name']}_lmdb" / "data.mdb"
    stat = read.stat()
    try:
        os.utime(read, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert bank_fingerprint(detector.backbone, dataset, CPU) != before
    finally:
        os.utime(read, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_the_fingerprint_covers_the_resolved_dtype_and_the_library_versions(
    toy_dataset, detector, monkeypatch
):
    dataset = train_split(data_config(toy_dataset), detector)
    cuda = torch.device("cuda")  # never touched: only the dtype it would compute in matters
    bf16 = BACKBONE.build({**TINY_BACKBONE, "precision": "bf16"})
    assert bank_fingerprint(bf16, dataset, CPU) != bank_fingerprint(bf16, dataset, cuda)
    fp32 = BACKBONE.build({**TINY_BACKBONE, "precision": "fp32"})  # TF32 matmuls on a GPU
    assert bank_fingerprint(fp32, dataset, CPU) != bank_fingerprint(fp32, dataset, cuda)
    strict = BACKBONE.build({**TINY_BACKBONE, "precision": "fp32", "strict_fp32": True})
    assert bank_fingerprint(strict, dataset, CPU) == bank_fingerprint(strict, dataset, cuda)

    before = bank_fingerprint(detector.backbone, dataset, CPU)
    installed = importlib.metadata.version
    for library in ("open_clip_torch", "timm", "torch"):
        with monkeypatch.context() as patch:
            patch.setattr(
                importlib.metadata,
                "version",
                lambda name, library=library: "0.0.1" if name == library else installed(name),
            )
            library_versions.cache_clear()  # read once per process: read them again
            assert bank_fingerprint(detector.backbone, dataset, CPU) != before, library
        library_versions.cache_clear()


# -- damaged banks -------------------------------------------------------------------------------


def _truncate_features(folder: Path) -> None:
    path = folder / "features.npy"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _extra_row(folder: Path) -> None:
    features = np.load(folder / "features.npy")
    np.save(folder / "features.npy", np.concatenate([features, features[:1]]))


def _truncate_meta(folder: Path) -> None:
    path = folder / "meta.json"
    path.write_bytes(path.read_bytes()[:100])


def _undecodable_meta(folder: Path) -> None:
    (folder / "meta.json").write_bytes(b"\xff\xfe{" + b"\x80" * 20)


def _fewer_rows_in_meta(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta["count"] -= 1
    for key in ("indices", "labels", "video_ids", "frame_keys"):
        meta[key] = meta[key][:-1]
    (folder / "meta.json").write_text(json.dumps(meta))


def _flipped_label(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta["labels"][0] = 1 - meta["labels"][0]
    (folder / "meta.json").write_text(json.dumps(meta))


def _no_meta(folder: Path) -> None:
    (folder / "meta.json").unlink()


@pytest.mark.slow
@pytest.mark.parametrize(
    "damage",
    [
        _truncate_features,
        _extra_row,
        _truncate_meta,
        _undecodable_meta,
        _fewer_rows_in_meta,
        _flipped_label,
        _no_meta,
    ],
)
def test_a_damaged_bank_names_its_folder_and_is_encoded_again(
    damage, toy_dataset, tmp_path, detector, caplog
):
    dataset = train_split(data_config(toy_dataset), detector)
    bank = extract(detector, dataset, tmp_path)
    features = bank.features.clone()
    folder = bank.path
    del bank
    damage(folder)
    with pytest.raises(
        DataError, match=rf"(?s)feature bank {folder} is damaged.*Delete the folder"
    ):
        read_bank(folder, dataset)
    with caplog.at_level(logging.WARNING, logger="dfshield.engine.feature_bank"):
        again = extract(detector, dataset, tmp_path)
    assert f"feature bank {folder} is damaged" in caplog.text and "encoding it again" in caplog.text
    assert again.path == folder and torch.equal(again.features, features)
    assert torch.equal(again.labels, torch.as_tensor(dataset.labels))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [folder.name, f".{folder.name}.lock"]
    )


# -- extraction ----------------------------------------------------------------------------------


class WideBackbone(torch.nn.Module):
    """Wide features for nearly no work: the memory a bank takes is all that matters here."""

    feature_dim = 2**20  # 4 MiB a row: batches and bank far above the process's other memory

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images.flatten(1)[:, :1].repeat(1, self.feature_dim)

    def fingerprint(self) -> dict:
        return {"backbone": "wide test backbone"}


class NarrowBackbone(WideBackbone):
    feature_dim = 16


def test_extraction_holds_a_batch_in_memory_not_the_bank(toy_dataset, tmp_path):
    dataset = DeepfakeDataset(data_config(toy_dataset), "train", augment=False, resolution=32)
    bank_bytes = len(dataset) * WideBackbone.feature_dim * 4
    # a first extraction imports what extraction imports, so that run alone the test measures
    # the extraction and not the first import of those modules
    load_or_extract(NarrowBackbone(), dataset, tmp_path / "warm", device=CPU, progress=False)
    tracemalloc.start()  # Python and NumPy allocations
    try:
        with AnonymousPeak() as anonymous:  # torch's CPU tensors too, which tracemalloc misses
            bank = load_or_extract(
                WideBackbone(),
                dataset,
                tmp_path / "cache",
                device=CPU,
                batch_size=2,
                progress=False,
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert bank.features.shape == (len(dataset), WideBackbone.feature_dim)
    assert peak < bank_bytes / 4, (peak, bank_bytes)
    # the writer queues at most WRITE_BUFFERS batches, a few more are in flight and freed blocks
    # may stay in the heap a while (measured: 7 to 11 batches); the bank is 60 batches
    batch_bytes = 2 * WideBackbone.feature_dim * 4
    assert (WRITE_BUFFERS + 8) * batch_bytes < bank_bytes / 2
    assert anonymous.growth < bank_bytes / 2, (anonymous.growth / batch_bytes, bank_bytes)


def _anonymous_rss() -> int:
    """This process's anonymous resident memory in bytes (Linux)."""
    status = Path("/proc/self/status").read_text()
    return (
        int(next(line.split()[1] for line in status.splitlines() if line.startswith("RssAnon:")))
        * 1024
    )


class AnonymousPeak:
    """The peak growth of :func:`_anonymous_rss` inside the block, sampled every millisecond by
    a thread: memory held for the whole of a long step (a bank kept in memory) shows."""

    def __enter__(self) -> AnonymousPeak:
        if "RssAnon:" not in Path("/proc/self/status").read_text():
            pytest.skip("needs Linux's /proc/self/status RssAnon")
        self.base = self.peak = _anonymous_rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self.peak = max(self.peak, _anonymous_rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.growth = max(self.peak, _anonymous_rss()) - self.base


@pytest.mark.slow
def test_the_parts_of_several_ranks_assemble_in_dataset_order(toy_dataset, tmp_path, detector):
    dataset = train_split(data_config(toy_dataset), detector)
    single = extract(detector, dataset, tmp_path / "cache")
    parts = tmp_path / "parts"
    parts.mkdir()
    for rank in (0, 1, 2):
        encode_part(
            detector.backbone,
            dataset,
            parts,
            device=CPU,
            batch_size=7,
            num_workers=0,
            progress=False,
            dist_info=DistInfo(rank, 3),
        )
    assemble(dataset, parts, tmp_path / "bank", 3, identity={})
    bank = read_bank(tmp_path / "bank", dataset)
    assert torch.allclose(bank.features, single.features, atol=1e-6)
    assert bank.frame_keys == single.frame_keys and torch.equal(bank.labels, single.labels)


def test_a_rank_with_no_items_writes_an_empty_part(toy_dataset, tmp_path, detector):
    # more ranks than items: the last rank's share is empty (its rows are not memory-mapped)
    dataset = train_split(data_config(toy_dataset), detector)
    world = len(dataset) + 1
    count = encode_part(
        detector.backbone,
        dataset,
        tmp_path,
        device=CPU,
        batch_size=4,
        num_workers=0,
        progress=False,
        dist_info=DistInfo(world - 1, world),
    )
    assert count == 0
    dim = detector.backbone.feature_dim
    assert np.load(tmp_path / f"features-{world - 1}.npy").shape == (0, dim)
    assert np.load(tmp_path / f"indices-{world - 1}.npy").shape == (0,)


def _extract_in_child(cfg: DataConfig, cache: str, barrier, results) -> None:
    """One of two processes that want the same bank at the same moment."""
    torch.set_num_threads(1)
    try:
        detector = build_detector({"name": "clip_linear", "backbone": dict(TINY_BACKBONE)})
        dataset = train_split(cfg, detector)
        encoded: list[int] = []
        forward = detector.backbone.forward
        detector.backbone.forward = lambda images: encoded.append(len(images)) or forward(images)
        barrier.wait()
        bank = load_or_extract(
            detector.backbone, dataset, cache, device=CPU, batch_size=2, progress=False
        )
        results.put((sum(encoded), str(bank.path), bank.features.numpy().tolist()))
    except BaseException as error:  # noqa: BLE001 - reported to the parent
        results.put(("error", repr(error), None))


@pytest.mark.slow
def test_two_processes_sharing_a_cache_encode_the_bank_once(toy_dataset, tmp_path):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    cfg = data_config(toy_dataset)
    workers = [
        context.Process(target=_extract_in_child, args=(cfg, str(tmp_path), barrier, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [results.get(timeout=120) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=30)
    assert [o for o in outcomes if o[0] == "error"] == []
    encoded = sorted(o[0] for o in outcomes)
    frames = toy_dataset["summary"].frames["train"]
    assert encoded == [0, frames["real"] + frames["fake"]]  # one encodes, the other reads
    assert outcomes[0][1] == outcomes[1][1] and outcomes[0][2] == outcomes[1][2]
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".") and p.is_dir()]
    assert leftovers == []


# -- training from the bank ----------------------------------------------------------------------


def test_subset_bank_shares_the_memory_map(toy_dataset, tmp_path, detector):
    dataset = train_split(data_config(toy_dataset), detector)
    bank = extract(detector, dataset, tmp_path)
    subset = SimpleNamespace(  # what subset_bank reads of a dataset
        frame_keys=dataset.frame_keys[5:20][::-1], labels=dataset.labels[5:20][::-1].copy()
    )
    part = subset_bank(bank, subset)
    assert part is not None and part.features is bank.features
    expected = bank.features[5:20].flip(0)
    assert torch.equal(part.take(torch.arange(len(part)), CPU), expected)
    assert torch.equal(part.to(CPU).features, expected)
    assert part.frame_keys == [str(k) for k in subset.frame_keys]


@pytest.mark.slow
def test_training_from_the_memory_map_equals_training_on_the_device(
    toy_dataset, tmp_path, monkeypatch
):
    held_whole = []
    to = FeatureBank.to

    def recording_to(self, device, *, features=True):
        held_whole.append(features)
        return to(self, device, features=features)

    monkeypatch.setattr(FeatureBank, "to", recording_to)
    runs = {}
    for name, budget in (("memmap", 0), ("device", None)):
        held_whole.clear()
        layer = toy_layer(toy_dataset, tmp_path, epochs=2, bank_device_budget_gb=budget)
        cfg = load_run_config(detector="spcup", extra_layers=[layer])  # latent augmentation on
        trainer = Trainer(cfg, tmp_path / name, feature_cache=tmp_path / "cache")
        trainer.fit()
        runs[name] = (trainer.history, trainer.detector.trainable_state_dict())
        assert held_whole == [budget is None] * 2, name  # train and val banks
    (memmap_history, memmap_state), (device_history, device_state) = runs.values()
    for a, b in zip(memmap_history, device_history):
        assert {k: v for k, v in a.items() if k != "seconds"} == {
            k: v for k, v in b.items() if k != "seconds"
        }
    assert memmap_state.keys() == device_state.keys()
    assert all(torch.equal(memmap_state[k], device_state[k]) for k in memmap_state)


def test_a_negative_device_budget_is_a_config_error(toy_dataset, tmp_path):
    layer = toy_layer(toy_dataset, tmp_path, epochs=1, bank_device_budget_gb=-1)
    cfg = load_run_config(detector="clip_linear", extra_layers=[layer])
    with pytest.raises(ConfigError, match="bank_device_budget_gb"):
        Trainer(cfg, tmp_path / "run", feature_cache=tmp_path / "cache")


class HeldRows:
    """Rows whose writes wait until ``release`` is set (a slow disk)."""

    def __init__(self, count: int):
        self.array, self.release = np.zeros((count, 2), np.float32), threading.Event()

    def __setitem__(self, key, value) -> None:
        assert self.release.wait(timeout=60)
        self.array[key] = value


def test_row_writer_lets_encoding_go_on_while_it_writes():
    rows, indices = HeldRows(5), np.zeros(5, np.int64)
    with RowWriter(rows, indices, torch.device("cpu")) as writer:
        writer.put(torch.ones(2, 2), torch.tensor([3, 4]))
        writer.put(torch.full((3, 2), 2.0), torch.tensor([5, 6, 7]))
        assert writer.count == 0 and not rows.array.any()  # both queued: nothing waited
        rows.release.set()
    assert writer.count == 5 and indices.tolist() == [3, 4, 5, 6, 7]
    assert rows.array.tolist() == [[1, 1]] * 2 + [[2, 2]] * 3


def test_row_writer_raises_what_failed_on_its_thread():
    full = np.zeros((1, 2), np.float32)  # one row: the second batch does not fit
    with pytest.raises(ValueError, match="broadcast"):
        with RowWriter(full, np.zeros(1, np.int64), torch.device("cpu")) as writer:
            writer.put(torch.ones(1, 2), torch.tensor([0]))
            writer.put(torch.ones(2, 2), torch.tensor([1, 2]))
