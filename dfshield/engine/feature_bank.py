"""Feature bank: a frozen backbone encodes each frame once, and every epoch and every detector of
a comparison reuses the result (the SP Cup paper's "feature bank C",
docs/methods.md §6).

A bank is identified by a fingerprint of everything that determines its features — backbone,
weights, feature layer, preprocessing, precision and the exact frame list (with the dataset files
it came from) — and stored on disk as ``features.npy`` (memory-mappable) plus ``meta.json``.
For head training the whole bank is moved onto the training device once; there is no per-epoch
DataLoader. Under ``torchrun`` each rank encodes its share of the frames.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Subset

from dfshield.engine.distributed import DistInfo, barrier
from dfshield.engine.progress import progress_bar


@dataclass
class FeatureBank:
    """Features of one split, row-aligned with labels, video ids and frame keys."""

    features: torch.Tensor  # (N, D) float32
    labels: torch.Tensor  # (N,) long, fake = 1
    video_ids: list[str]
    frame_keys: list[str]
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> FeatureBank:
        """A copy held whole in ``device`` memory (the bank on disk stays memory-mapped)."""
        return FeatureBank(
            self.features.to(device, copy=True),
            self.labels.to(device),
            self.video_ids,
            self.frame_keys,
            self.path,
        )


def feature_cache_dir(cfg, given: str | os.PathLike | None = None) -> Path:
    """The folder of feature banks: ``given``, else ``<train.output_dir>/feature_cache`` (shared by
    every run under that output folder)."""
    return Path(given) if given else Path(cfg.train.output_dir) / "feature_cache"


def bank_fingerprint(backbone, dataset) -> str:
    """A hex digest of the backbone's fingerprint and the dataset's exact frame list."""
    description = {
        "backbone": backbone.fingerprint(),
        "frames": list(map(str, dataset.frame_keys)),
        "sources": dataset_sources(dataset),
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:24]


def dataset_sources(dataset) -> list[str]:
    """Files that the frames are read from (JSON and LMDB), with size and modification time."""
    cfg, sources = dataset.cfg, []
    for name in sorted({record.dataset for record in dataset.records}):
        candidates = [Path(cfg.json_dir) / f"{name}.json"]
        if cfg.lmdb_dir:
            candidates += sorted(Path(cfg.lmdb_dir).glob("*_lmdb/data.mdb"))
        for path in candidates:
            if path.is_file():
                stat = path.stat()
                sources.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return sorted(set(sources))


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
    """The dataset's bank from ``cache_dir`` if it is there, else encode it (once) and store it."""
    folder = Path(cache_dir).expanduser() / bank_fingerprint(backbone, dataset)
    if not (folder / "meta.json").is_file():
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
    return read_bank(folder)


def subset_bank(full: FeatureBank, dataset) -> FeatureBank | None:
    """The rows of ``full`` that hold ``dataset``'s frames, in the dataset's order (as encoding the
    dataset itself would give them); ``None`` when a frame is not in ``full`` or its label
    differs, so the caller encodes the dataset on its own instead."""
    row_of = {key: row for row, key in enumerate(full.frame_keys)}
    try:
        rows = [row_of[str(key)] for key in dataset.frame_keys]
    except KeyError:
        return None
    index = torch.tensor(rows, dtype=torch.long)
    labels = full.labels[index]
    if not torch.equal(labels, torch.as_tensor(dataset.labels, dtype=labels.dtype)):
        return None
    return FeatureBank(
        full.features[index],
        labels,
        [full.video_ids[r] for r in rows],
        [full.frame_keys[r] for r in rows],
        full.path,
    )


def read_bank(folder: Path) -> FeatureBank:
    meta = json.loads((folder / "meta.json").read_text())
    with warnings.catch_warnings():  # read-only memory map: ``to()`` copies before anything writes
        warnings.simplefilter("ignore", UserWarning)
        features = torch.from_numpy(np.load(folder / "features.npy", mmap_mode="r"))
    return FeatureBank(
        features,
        torch.tensor(meta["labels"], dtype=torch.long),
        meta["video_ids"],
        meta["frame_keys"],
        folder,
    )


@torch.no_grad()
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
    from dfshield.data import make_loader

    parts = folder.parent / f".{folder.name}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    shard = list(range(dist_info.rank, len(dataset), dist_info.world_size))
    loader = make_loader(Subset(dataset, shard), batch_size, shuffle=False, num_workers=num_workers)
    backbone = backbone.to(device).eval()
    indices, chunks = [], []
    bar = progress_bar(
        loader,
        enabled=progress and dist_info.is_main,
        desc=f"encoding {description}".strip(),
        unit="batch",
    )
    for batch in bar:  # batches of only undecodable (skipped) frames are left out
        chunks.append(backbone(dataset.normalizer(batch["image"], device)).cpu().numpy())
        indices.append(np.asarray(batch["index"], dtype=np.int64))
    dim = backbone.feature_dim
    np.save(
        parts / f"features-{dist_info.rank}.npy",
        np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32),
    )
    np.save(
        parts / f"indices-{dist_info.rank}.npy",
        np.concatenate(indices) if indices else np.zeros(0, np.int64),
    )
    barrier(dist_info)
    if dist_info.is_main:
        _assemble(dataset, parts, folder, dist_info.world_size)
    barrier(dist_info)


def _assemble(dataset, parts: Path, folder: Path, world_size: int) -> None:
    features = np.concatenate([np.load(parts / f"features-{r}.npy") for r in range(world_size)])
    indices = np.concatenate([np.load(parts / f"indices-{r}.npy") for r in range(world_size)])
    order = np.argsort(indices, kind="stable")
    features, indices = features[order].astype(np.float32), indices[order]
    labels, video_ids, frame_keys = dataset.labels, dataset.video_ids, dataset.frame_keys
    meta = {
        "count": int(len(indices)),
        "skipped": int(len(dataset) - len(indices)),
        "labels": [int(labels[i]) for i in indices],
        "video_ids": [str(video_ids[i]) for i in indices],
        "frame_keys": [str(frame_keys[i]) for i in indices],
    }
    tmp = folder.parent / f".{folder.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "features.npy", features)
    (tmp / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    shutil.rmtree(parts, ignore_errors=True)
