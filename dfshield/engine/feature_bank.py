"""Feature bank: a frozen backbone encodes each frame once, reused by every epoch and detector
(the SP Cup paper's "feature bank C", docs/methods.md §6).

Over 450 lines for one job: fingerprint, extraction and reading share one file format and one
staleness rule. :func:`bank_fingerprint` covers all that determines the rows (docs/reliability.md).
A bank is ``<cache>/<fingerprint>/`` with ``features.npy`` (float32 ``(rows, dim)``, memory-mapped)
and ``meta.json``; a damaged one is a ``DataError`` naming the folder, re-encoded by
:func:`load_or_extract`. Extraction writes rows into memory maps on a writer thread (no host sync
per batch), in private folders moved into place when complete (atomic), under a per-fingerprint
lock so a second process waits and reads."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import queue
import shutil
import threading
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock, Timeout
from torch.utils.data import Subset

from dfshield.backbones.base import frozen_precision
from dfshield.distributed import DistInfo, barrier, gather_objects
from dfshield.errors import DataError
from dfshield.fileio import free_space, write_json_atomic
from dfshield.progress import progress_bar

logger = logging.getLogger(__name__)

#: version of the folder layout; part of the fingerprint, so a new layout never reads an old bank
BANK_FORMAT = 2
#: libraries whose code computes the features (distribution names)
LIBRARIES = ("torch", "open_clip_torch", "timm")
#: rows copied at once when the parts are assembled into the final memory map
ASSEMBLE_ROWS = 16384
#: batches a :class:`RowWriter` holds in flight (on CUDA, its pinned host buffers)
WRITE_BUFFERS = 4
#: what :func:`_try_read` reports for a bank that is not there (as opposed to a damaged one)
_MISSING = "missing"


class DamagedBankError(DataError):
    """A bank folder whose files are incomplete or disagree with each other or the dataset."""

    def __init__(self, folder: Path, reason: str):
        super().__init__(
            f"feature bank {folder} is damaged: {reason}. Delete the folder {folder} (the next "
            f"run encodes the frames again)"
        )
        self.folder, self.reason = folder, reason


@dataclass
class FeatureBank:
    """Features of one split, row-aligned with ``labels`` (``(N,)`` long, fake = 1), ``video_ids``
    and ``frame_keys``. ``features``: float32 ``(M, D)`` memory-mapped, or on a device (:meth:`to`);
    ``rows``: which of them this bank holds (``None``: all), so a :func:`subset_bank` shares the
    memory map. ``path``: the bank's folder."""

    features: torch.Tensor
    labels: torch.Tensor
    video_ids: list[str]
    frame_keys: list[str]
    path: Path | None = None
    rows: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    @property
    def nbytes(self) -> int:
        """Bytes of this bank's features (its own rows only)."""
        return len(self) * self.dim * self.features.element_size()

    def to(self, device: torch.device, *, features: bool = True) -> FeatureBank:
        """A copy with labels (and features unless ``features=False``) in ``device`` memory."""
        labels = self.labels.to(device)
        if not features:
            return FeatureBank(
                self.features, labels, self.video_ids, self.frame_keys, self.path, self.rows
            )
        held = self.features if self.rows is None else self.features[self.rows]
        held = held.to(device, copy=held is self.features)
        return FeatureBank(held, labels, self.video_ids, self.frame_keys, self.path)

    def take(self, index: torch.Tensor, device: torch.device) -> torch.Tensor:
        """The features of rows ``index`` (positions in this bank) on ``device``, gathered where
        the features are held: on the device, or from the memory map on the host."""
        index = index.to(self.features.device)
        if self.rows is not None:
            index = self.rows[index]
        return self.features[index].to(device, non_blocking=True)


def feature_cache_dir(cfg, given: str | os.PathLike | None = None) -> Path:
    """Banks' folder: ``given``, else ``<train.output_dir>/feature_cache`` (shared by its runs)."""
    return Path(given) if given else Path(cfg.train.output_dir) / "feature_cache"


# -- identity ------------------------------------------------------------------------------------


def bank_fingerprint(backbone, dataset, device: torch.device) -> str:
    """A hex digest of :func:`bank_identity` and of every frame's :func:`frame_entries`."""
    digest = hashlib.sha256(
        json.dumps(bank_identity(backbone, dataset, device), sort_keys=True).encode()
    )
    for entry in frame_entries(dataset):
        digest.update(entry.encode("utf-8", "backslashreplace"))
    return digest.hexdigest()[:24]


def bank_identity(backbone, dataset, device: torch.device) -> dict[str, Any]:
    """What determines a bank besides its frames: backbone, precision, libraries, sources."""
    return {
        "format": BANK_FORMAT,
        "backbone": backbone.fingerprint(),
        "precision": extraction_precision(backbone, device),
        "libraries": dict(library_versions()),
        "sources": dataset_sources(dataset),
    }


def extraction_precision(backbone, device: torch.device) -> str:
    """What a frozen backbone computes in on ``device`` (``bf16``/``fp16``/``tf32``/``fp32``,
    :func:`~dfshield.backbones.base.frozen_precision`): the backbone may not be there yet."""
    return frozen_precision(
        getattr(backbone, "precision", "fp32"), device, getattr(backbone, "strict_fp32", False)
    )


@functools.cache
def library_versions() -> dict[str, str]:
    """Versions of :data:`LIBRARIES` (``absent`` if missing), read once: metadata is slow."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def dataset_sources(dataset) -> list[str]:
    """Where the dataset is read from: each JSON and each LMDB read (``data.mdb``) with size and
    mtime, and each resolved frame folder (frame files are in :func:`frame_entries`)."""
    from dfshield.data.index import json_path

    sources = []
    for name in sorted(set(dataset.item_datasets)):
        sources.append(f"json:{_file_identity(json_path(dataset.cfg.json_dir, name))}")
        store = dataset.store(name)
        if store.kind == "lmdb":
            sources.append(f"lmdb:{_file_identity(Path(store.path) / 'data.mdb')}")
        else:
            sources.append(f"folder:{store.root.resolve()}")
    return sorted(set(sources))


def frame_entries(dataset) -> Iterator[str]:
    """One line per item: dataset, key, resolved label (+ path, size, mtime of a disk frame)."""
    names, keys, labels = dataset.item_datasets, dataset.frame_keys, dataset.labels
    for name, key, label in zip(names, keys, labels):
        store = dataset.store(name)
        source = _frame_file_identity(store, str(key)) if store.kind == "folder" else ""
        yield f"{name}\0{key}\0{int(label)}\0{source}\n"


def _frame_file_identity(store, key: str) -> str:
    for path in store.candidates(key):
        with contextlib.suppress(OSError):
            return _file_identity(path)
    return "missing"


def _file_identity(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


# -- loading -------------------------------------------------------------------------------------


def load_or_extract(
    backbone,
    dataset,
    cache_dir: str | os.PathLike,
    *,
    device: torch.device,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = True,
    dist_info: DistInfo = DistInfo(),
    description: str = "",
) -> FeatureBank:
    """The dataset's bank from ``cache_dir`` if sound, else encoded once (a damaged one with a
    warning); one process at a time encodes a bank, another waits and then reads it."""
    folder = Path(cache_dir).expanduser() / bank_fingerprint(backbone, dataset, device)
    bank, problem = _try_read(folder, dataset) if dist_info.is_main else (None, None)
    if _from_main(problem, dist_info) is not None:
        with _extraction_lock(folder, dist_info):
            bank, problem = _try_read(folder, dataset) if dist_info.is_main else (None, None)
            problem = _from_main(problem, dist_info)  # another process may have encoded it
            if problem is not None:
                if problem != _MISSING:
                    logger.warning("feature bank %s is damaged (%s); encoding it again", *problem)
                _extract(
                    backbone,
                    dataset,
                    folder,
                    device=device,
                    batch_size=batch_size,
                    num_workers=num_workers,
                    progress=progress,
                    dist_info=dist_info,
                    description=description,
                )
    barrier(dist_info)
    return bank if bank is not None else read_bank(folder, dataset)


def _try_read(folder: Path, dataset) -> tuple[FeatureBank | None, Any]:
    """``(bank, None)`` when a sound bank of ``dataset`` is at ``folder``; ``(None, _MISSING)``
    when there is none; ``(None, (folder, what is wrong))`` when it is damaged."""
    if not folder.exists():
        return None, _MISSING
    try:
        return read_bank(folder, dataset), None
    except DamagedBankError as error:
        return None, (str(folder), error.reason)


def _from_main(value, info: DistInfo):
    """The main rank's ``value`` on every rank."""
    return gather_objects(value, info)[0]


@contextlib.contextmanager
def _extraction_lock(folder: Path, info: DistInfo) -> Iterator[None]:
    """Held by the main rank while a bank is encoded (the other ranks follow it)."""
    if not info.is_main:
        yield
        return
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(
            f"the feature cache {folder.parent} cannot be used as a folder ({error.strerror}). "
            "Pass --feature-cache a folder you can write (it is created if missing)"
        ) from None
    lock = FileLock(folder.parent / f".{folder.name}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        logger.info("another process is encoding feature bank %s; waiting for it", folder)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def subset_bank(full: FeatureBank, dataset) -> FeatureBank | None:
    """The rows of ``full`` holding ``dataset``'s frames in its order, sharing its memory map;
    ``None`` when a frame is absent or its label differs (then the dataset is encoded alone)."""
    row_of = {key: row for row, key in enumerate(full.frame_keys)}
    try:
        rows = [row_of[str(key)] for key in dataset.frame_keys]
    except KeyError:
        return None
    index = torch.tensor(rows, dtype=torch.long)
    labels = full.labels[index]
    if not torch.equal(labels, torch.as_tensor(dataset.labels, dtype=labels.dtype)):
        return None
    if full.rows is not None:
        index = full.rows[index]
    return FeatureBank(
        full.features,
        labels,
        [full.video_ids[r] for r in rows],
        [full.frame_keys[r] for r in rows],
        full.path,
        index,
    )


def read_bank(folder: str | os.PathLike, dataset=None) -> FeatureBank:
    """The bank in ``folder``, features memory-mapped; files (and, given ``dataset``, rows and
    labels) checked; anything wrong is a :class:`~dfshield.errors.DataError` naming the folder."""
    folder = Path(folder)
    meta = _read_meta(folder)
    dim = _check_features_file(folder, meta["count"])
    if dataset is not None:
        _check_rows(folder, meta, dataset)
    if meta["count"]:
        with warnings.catch_warnings():  # read-only memory map: nothing writes into it
            warnings.simplefilter("ignore", UserWarning)
            features = torch.from_numpy(np.load(folder / "features.npy", mmap_mode="r"))
    else:  # older numpy cannot memory-map an empty array
        features = torch.zeros((0, dim))
    return FeatureBank(
        features,
        torch.tensor(meta["labels"], dtype=torch.long),
        meta["video_ids"],
        meta["frame_keys"],
        folder,
    )


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / "meta.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DamagedBankError(folder, "meta.json is missing") from None
    except (OSError, ValueError) as error:  # UnicodeDecodeError and JSONDecodeError included
        raise DamagedBankError(folder, f"meta.json cannot be read ({error})") from error
    if not isinstance(meta, dict) or not isinstance(meta.get("count"), int):
        raise DamagedBankError(folder, "meta.json has no row count")
    count = meta["count"]
    for key in ("indices", "labels", "video_ids", "frame_keys"):
        if not isinstance(meta.get(key), list) or len(meta[key]) != count:
            raise DamagedBankError(folder, f"meta.json's {key!r} does not list {count} rows")
    if any(label not in (0, 1) for label in meta["labels"]):
        raise DamagedBankError(folder, "meta.json holds labels other than 0 and 1")
    return meta


def _check_features_file(folder: Path, count: int) -> int:
    """Feature dim, once header and size show exactly ``count`` float32 rows (before mapping)."""
    path = folder / "features.npy"
    try:
        shape, dtype, fortran, offset = _npy_header(path)
        size = path.stat().st_size
    except FileNotFoundError:
        raise DamagedBankError(folder, "features.npy is missing") from None
    except (OSError, ValueError) as error:
        raise DamagedBankError(folder, f"features.npy cannot be read ({error})") from error
    if dtype != np.float32 or fortran or len(shape) != 2:
        raise DamagedBankError(folder, f"features.npy holds {dtype} {shape}, not float32 rows")
    if shape[0] != count:
        raise DamagedBankError(folder, f"features.npy has {shape[0]} rows, meta.json lists {count}")
    expected = offset + shape[0] * shape[1] * dtype.itemsize
    if size != expected:
        raise DamagedBankError(folder, f"features.npy is {size} bytes, {shape} needs {expected}")
    return int(shape[1])


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """Shape, dtype, Fortran order and data offset of a ``.npy`` file, from its header alone."""
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read_header(handle)
        return shape, dtype, fortran, handle.tell()


def _check_rows(folder: Path, meta: dict[str, Any], dataset) -> None:
    """Each row must be a frame of ``dataset`` (in order, each once) with the dataset's label."""
    indices = np.asarray(meta["indices"], dtype=np.int64)
    if len(indices) and (
        indices[0] < 0 or indices[-1] >= len(dataset) or np.any(np.diff(indices) <= 0)
    ):
        raise DamagedBankError(
            folder, "meta.json's row indices are not frames of the dataset in order"
        )
    keys, labels = dataset.frame_keys, dataset.labels
    if meta["frame_keys"] != [str(keys[i]) for i in indices]:
        raise DamagedBankError(folder, "its frame keys differ from the dataset's")
    if not np.array_equal(np.asarray(meta["labels"]), labels[indices]):
        raise DamagedBankError(folder, "its labels differ from the dataset's")


# -- extraction ----------------------------------------------------------------------------------


def _extract(
    backbone,
    dataset,
    folder: Path,
    *,
    device,
    batch_size,
    num_workers,
    progress,
    dist_info: DistInfo,
    description: str,
) -> None:
    """Encode this rank's share into private parts; the main rank (holding the lock) assembles."""
    token = _from_main(f"{os.getpid()}-{uuid.uuid4().hex[:8]}", dist_info)
    parts = folder.parent / f".{folder.name}.{token}.parts"
    if dist_info.is_main:
        _remove_leftovers(folder, token)
    try:
        parts.mkdir(parents=True, exist_ok=True)
        encode_part(
            backbone,
            dataset,
            parts,
            device=device,
            batch_size=batch_size,
            num_workers=num_workers,
            progress=progress and dist_info.is_main,
            dist_info=dist_info,
            description=description,
        )
        barrier(dist_info)
        if dist_info.is_main:
            identity = bank_identity(backbone, dataset, device)
            assemble(dataset, parts, folder, dist_info.world_size, identity, token)
        barrier(dist_info)
    except OSError as error:  # a full disk, above all: name it, leave nothing half-written
        free = free_space(folder) or "its folder is gone"
        raise DataError(
            f"feature bank {folder} could not be written: {error} ({free}); "
            "nothing of it was kept. Free space, or pass --feature-cache a folder on another disk"
        ) from error
    finally:
        if dist_info.is_main:
            shutil.rmtree(parts, ignore_errors=True)
            shutil.rmtree(folder.parent / f".{folder.name}.{token}.tmp", ignore_errors=True)


def _remove_leftovers(folder: Path, token: str) -> None:
    """Parts and half-assembled folders of killed processes (the caller holds the lock)."""
    for path in folder.parent.glob(f".{folder.name}.*"):
        if path.is_dir() and token not in path.name:
            shutil.rmtree(path, ignore_errors=True)


@torch.no_grad()
def encode_part(
    backbone,
    dataset,
    parts: Path,
    *,
    device: torch.device,
    batch_size: int,
    num_workers: int,
    progress: bool,
    dist_info: DistInfo,
    description: str = "",
) -> int:
    """Encode every ``world_size``-th item from ``rank`` into ``features-<rank>.npy``
    (pre-allocated) and ``indices-<rank>.npy`` (each row's dataset index). Returns the rows."""
    from dfshield.data import make_loader

    rank = dist_info.rank
    shard = list(range(rank, len(dataset), dist_info.world_size))
    loader = make_loader(Subset(dataset, shard), batch_size, shuffle=False, num_workers=num_workers)
    backbone = backbone.to(device).eval()
    rows = _new_rows(parts / f"features-{rank}.npy", len(shard), backbone.feature_dim)
    indices = np.zeros(len(shard), dtype=np.int64)
    bar = progress_bar(
        loader, enabled=progress, desc=f"encoding {description}".strip(), unit="batch"
    )
    with RowWriter(rows, indices, device) as writer:
        for batch in bar:  # batches of only undecodable (skipped) frames are left out
            writer.put(backbone(dataset.normalizer(batch["image"], device)).float(), batch["index"])
    count = writer.count
    if isinstance(rows, np.memmap):  # an empty part is a plain array
        rows.flush()
    del rows
    np.save(parts / f"indices-{rank}.npy", indices[:count])
    return count


class RowWriter:
    """Writes encoded batches into a part's rows on its own thread while the device encodes the
    next, with no host sync (CUDA: non-blocking copies into :data:`WRITE_BUFFERS` pinned buffers,
    events waited on by the thread). Its errors raise at the next :meth:`put` or ``with`` exit."""

    def __init__(self, rows: np.ndarray, indices: np.ndarray, device: torch.device):
        self.rows, self.indices, self.count = rows, indices, 0
        self.cuda = torch.device(device).type == "cuda"
        self._queue: queue.Queue = queue.Queue(maxsize=WRITE_BUFFERS)
        self._free: queue.Queue = queue.Queue()
        self._buffers = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="bank-writer", daemon=True)

    def __enter__(self) -> RowWriter:
        self._thread.start()
        return self

    def put(self, features: torch.Tensor, index: torch.Tensor) -> None:
        """Queue ``features`` ``(B, D)`` float32 on the device and each row's dataset index."""
        self._raise()
        buffer, event = None, None
        if self.cuda:
            buffer = self._pinned(features.shape)
            features = buffer[: len(features)].copy_(features, non_blocking=True)
            event = torch.cuda.Event()
            event.record()
        self._queue.put((features, torch.as_tensor(index), event, buffer))

    def _pinned(self, shape: torch.Size) -> torch.Tensor:
        """A free pinned buffer for ``shape`` (waiting at :data:`WRITE_BUFFERS`), grown if small."""
        if self._free.empty() and self._buffers < WRITE_BUFFERS:
            self._buffers += 1
            buffer = None
        else:
            buffer = self._free.get()
        if buffer is None or buffer.shape[0] < shape[0] or buffer.shape[1:] != shape[1:]:
            buffer = torch.empty(shape, dtype=torch.float32, pin_memory=True)
        return buffer

    def _write(self) -> None:
        while (item := self._queue.get()) is not None:
            features, index, event, buffer = item
            if self._error is None:  # after an error, only drain: put() raises it
                try:
                    if event is not None:
                        event.synchronize()
                    stop = self.count + len(index)
                    self.rows[self.count : stop] = features.numpy()
                    self.indices[self.count : stop] = index.numpy()
                    self.count = stop
                except BaseException as error:
                    self._error = error
            if buffer is not None:
                self._free.put(buffer)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __exit__(self, *exc_info) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_info[0] is None:
            self._raise()


def assemble(
    dataset,
    parts: Path,
    folder: Path,
    world_size: int,
    identity: dict[str, Any],
    token: str = "",
) -> None:
    """Copy the parts' rows in dataset order into a new bank folder chunk by chunk, write its
    ``meta.json`` (with ``identity``), then move it to ``folder`` (replacing a damaged bank)."""
    indices = [np.load(parts / f"indices-{rank}.npy") for rank in range(world_size)]
    order = np.sort(np.concatenate(indices))
    staging = folder.parent / f".{folder.name}.{token}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    dim = _npy_header(parts / "features-0.npy")[0][1]
    features = _new_rows(staging / "features.npy", len(order), dim)
    for rank, part_indices in enumerate(indices):
        if not len(part_indices):
            continue
        part = np.load(parts / f"features-{rank}.npy", mmap_mode="r")
        positions = np.searchsorted(order, part_indices)
        for start in range(0, len(part_indices), ASSEMBLE_ROWS):
            stop = start + ASSEMBLE_ROWS
            features[positions[start:stop]] = part[start:stop]
        del part
    if isinstance(features, np.memmap):  # no rows: a plain array
        features.flush()
    del features
    labels, video_ids, frame_keys = dataset.labels, dataset.video_ids, dataset.frame_keys
    write_json_atomic(
        staging / "meta.json",
        {
            "count": int(len(order)),
            "skipped": int(len(dataset) - len(order)),
            "indices": [int(i) for i in order],
            "labels": [int(labels[i]) for i in order],
            "video_ids": [str(video_ids[i]) for i in order],
            "frame_keys": [str(frame_keys[i]) for i in order],
            "identity": identity,
        },
        indent=None,
    )
    old = folder.parent / f".{folder.name}.{token}.old"
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)


def _new_rows(path: Path, count: int, dim: int) -> np.ndarray:
    """A float32 ``(count, dim)`` ``.npy`` memory-mapped for writing (empty: a plain array, older
    numpy cannot map it), disk space reserved (``ENOSPC`` now, not SIGBUS later)."""
    if count == 0:
        np.save(path, np.zeros((0, dim), np.float32))
        return np.zeros((0, dim), np.float32)
    rows = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(count, dim))
    if hasattr(os, "posix_fallocate"):  # reserve the disk space now: a write into a mapped
        with open(path, "r+b") as handle:  # page the disk has no room for is a SIGBUS
            os.posix_fallocate(handle.fileno(), 0, os.path.getsize(path))
    return rows
