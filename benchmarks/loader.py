#!/usr/bin/env python
"""Benchmark: images per second of the LMDB frame loader vs the same frames as PNG files.

Both sides use the library's reader unchanged: ``dfshield.data.DeepfakeDataset`` in frame
mode (augmentation off, resize to ``--resolution``, CLIP mean/std normalisation) wrapped by
``dfshield.data.make_loader`` (a DataLoader with ``dfshield.data.collate``).
The only difference is where the bytes come from:

- **LMDB**: ``data.lmdb_dir`` set, frames read from ``<lmdb_dir>/<Dataset>_lmdb``;
- **folder**: ``data.lmdb_dir: null`` and ``data.data_root`` = a temporary folder into which every
  frame of the split was first exported as a PNG file at its JSON path (the plain-folder layout
  DeepfakeBench's preprocessing writes).

Each (store, workers) pair reads the whole split once per repeat in the same shuffled order
(fixed seed), including worker start-up, and moves every batch to ``--device``; the best of
``--repeats`` passes is reported. Stores and worker counts are interleaved so that a change of
machine load affects both sides alike. Both stores are read from a warm page cache (the export
reads every LMDB value and writes every PNG just before); cold-disk reads are not measured.

Data: ``--data DIR`` holding ``json/`` and ``lmdb/`` (``dfshield demo-data`` / ``dfshield
build-lmdb`` output, e.g. ``--data ../shared/data/<built dataset>``), or ``--json-dir`` and
``--lmdb-dir`` for a DeepfakeBench set-up; default: the synthetic DemoFaces dataset generated
into a temporary folder at 256×256 (the size of DeepfakeBench's face crops), 8 frames a video.

    python benchmarks/loader.py                       # defaults: 1,000 demo frames, 0/2/4 workers
    python benchmarks/loader.py --videos 250 --workers 0 2 4 8 --device cuda
    python benchmarks/loader.py --data ../shared/data/ffhq-lmdb --dataset FFHQ-StyleGAN2
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import add_run_options, footer, header, make_demo_in_subprocess, new_parser, sync
from torch.utils.data import Subset

from dfshield.data import DataConfig, DeepfakeDataset, FolderStore, make_loader
from dfshield.datasets.writer import label_dict_for

# open_clip's OPENAI_DATASET_MEAN / _STD: the normalisation every CLIP detector's loader applies
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--data",
        type=Path,
        default=None,
        help="dataset folder with json/ and lmdb/ (default: generate DemoFaces in a temp dir)",
    )
    data.add_argument("--json-dir", type=Path, default=None, help="JSON folder (default DATA/json)")
    data.add_argument("--lmdb-dir", type=Path, default=None, help="LMDB folder (default DATA/lmdb)")
    data.add_argument(
        "--dataset",
        default=None,
        help="dataset name (JSON stem; default: the only JSON in the JSON folder)",
    )
    data.add_argument(
        "--split", default="train", choices=("train", "val", "test"), help="split to read"
    )
    data.add_argument(
        "--max-images",
        type=int,
        default=None,
        help="read at most this many frames of the split (a fixed random subset)",
    )
    demo = parser.add_argument_group("generated demo data (when --data is not given)")
    demo.add_argument("--videos", type=int, default=125, help="demo videos (real:fake about 10:1)")
    demo.add_argument("--frames-per-video", type=int, default=8, help="frames per demo video")
    demo.add_argument(
        "--size", type=int, default=256, help="demo frame size in pixels (multiple of 32)"
    )
    run = parser.add_argument_group("measurement")
    run.add_argument(
        "--workers", type=int, nargs="+", default=[0, 2, 4], help="DataLoader worker counts"
    )
    run.add_argument("--batch-size", type=int, default=32, help="frames per batch")
    run.add_argument(
        "--resolution", type=int, default=224, help="side the loader resizes frames to"
    )
    run.add_argument(
        "--repeats", type=int, default=2, help="passes per (store, workers); the best is reported"
    )
    add_run_options(
        run,
        seed=0,
        seed_help="seed of the shuffled order and of the demo data",
        threads=False,
        device_help="where batches are moved (cuda: pinned memory, non-blocking copies)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch_size < 1 or any(w < 0 for w in args.workers):
        parser.error("--repeats and --batch-size must be >= 1 and --workers >= 0")
    return args


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "--device cuda: no CUDA device is available here; use --device cpu or auto"
        )
    return torch.device(name)


def demo_counts(videos: int) -> dict[str, tuple[int, int]]:
    """All videos in ``train``, real:fake about 10:1 (at least one of each)."""
    fake = max(1, round(videos / 11))
    return {"train": (max(1, videos - fake), fake), "val": (0, 0), "test": (0, 0)}


def data_config(args: argparse.Namespace, root: Path) -> tuple[DataConfig, str]:
    """The LMDB data config and the dataset name (generating the demo dataset when needed)."""
    if args.data is None and args.json_dir is None:
        folder = root / "demo"
        started = time.perf_counter()
        make_demo_in_subprocess(
            folder,
            args.seed,
            counts=demo_counts(args.videos),
            size=args.size,
            frames_per_video=args.frames_per_video,
        )
        print(
            f"generated DemoFaces: {args.videos} videos x {args.frames_per_video} frames of "
            f"{args.size}x{args.size} in {time.perf_counter() - started:.1f} s ({folder})"
        )
        json_dir, lmdb_dir, name = folder / "json", folder / "lmdb", "DemoFaces"
    else:
        json_dir = args.json_dir or args.data / "json"
        lmdb_dir = args.lmdb_dir or args.data / "lmdb"
        name = args.dataset
        if name is None:
            stems = sorted(p.stem for p in Path(json_dir).glob("*.json"))
            if len(stems) != 1:
                raise SystemExit(
                    f"--dataset is needed: {json_dir} holds {len(stems)} dataset JSONs "
                    f"({', '.join(stems) or 'none'})"
                )
            name = stems[0]
    cfg = DataConfig(
        train_datasets=[name],
        test_datasets=[name],
        json_dir=str(json_dir),
        lmdb_dir=str(lmdb_dir),
        label_dict=label_dict_for(name),
        num_workers=0,
        augment={"enabled": False},
    )
    return cfg, name


def dataset_for(cfg: DataConfig, args: argparse.Namespace) -> DeepfakeDataset:
    return DeepfakeDataset(
        cfg,
        args.split,
        mode="frame",
        resolution=args.resolution,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        augment=False,
    )


def export_frames(dataset: DeepfakeDataset, name: str, keys: list[str], root: Path) -> int:
    """Write every frame of ``keys`` from the LMDB to ``root/<JSON path>`` as PNG; bytes written."""
    store, target = dataset.store(name), FolderStore(root, name)
    written = 0
    for key in sorted(set(keys)):
        data = store.get(key, dataset=name)
        path = target.candidates(key)[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written += len(data)
    return written


def images_per_second(
    dataset, workers: int, args: argparse.Namespace, device: torch.device
) -> float:
    """One full pass (worker start-up included) over ``dataset``; each batch moved to ``device``."""
    generator = torch.Generator().manual_seed(args.seed)
    loader = make_loader(
        dataset,
        args.batch_size,
        shuffle=True,
        num_workers=workers,
        generator=generator,
        pin_memory=device.type == "cuda",
    )
    started = time.perf_counter()
    count = 0
    for batch in loader:
        image = batch["image"].to(device, non_blocking=True)
        count += int(image.shape[0])
    sync(device)
    return count / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    print(header(device))
    if max(args.workers) > (os.cpu_count() or 1):
        print(
            f"note: up to {max(args.workers)} workers on {os.cpu_count()} cores "
            "(oversubscribed on purpose)"
        )
    # torch warns when workers exceed the cores; the note above says it once
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-loader-") as tmp:
        root = Path(tmp)
        cfg, name = data_config(args, root)
        lmdb_set = dataset_for(cfg, args)
        folder_cfg = dataclasses.replace(cfg, lmdb_dir=None, data_root=str(root / "frames"))
        (root / "frames").mkdir()
        keys = [str(k) for k in lmdb_set.frame_keys]
        indices = list(range(len(lmdb_set)))
        if args.max_images is not None and args.max_images < len(indices):
            indices = sorted(
                np.random.default_rng(args.seed)
                .choice(len(indices), args.max_images, replace=False)
                .tolist()
            )
        started = time.perf_counter()
        chosen = [keys[i] for i in indices]
        size = export_frames(lmdb_set, name, chosen, root / "frames")
        print(
            f"exported {len(set(chosen))} frames ({size / 2**20:.1f} MiB of PNG) from the LMDB to "
            f"{root / 'frames'} in {time.perf_counter() - started:.1f} s"
        )
        folder_set = dataset_for(folder_cfg, args)
        if [str(k) for k in folder_set.frame_keys] != keys:
            raise SystemExit("internal: the LMDB and folder datasets list different frames")
        stores = {"lmdb": Subset(lmdb_set, indices), "folder": Subset(folder_set, indices)}
        print(
            f"{name} split '{args.split}': {len(indices)} frames, batch {args.batch_size}, "
            f"resolution {args.resolution}, augmentation off, best of {args.repeats} pass(es)\n"
        )

        for dataset in stores.values():  # untimed: one-time set-up (LMDB environment, codecs)
            for _, _ in zip(
                range(2), make_loader(dataset, args.batch_size, shuffle=False, num_workers=0)
            ):
                pass
        best: dict[tuple[str, int], float] = {}
        for _ in range(args.repeats):
            for workers in args.workers:
                for store, dataset in stores.items():
                    rate = images_per_second(dataset, workers, args, device)
                    best[store, workers] = max(best.get((store, workers), 0.0), rate)

    print(f"{'workers':>7}  {'LMDB img/s':>10}  {'folder img/s':>12}  {'LMDB/folder':>11}")
    for workers in args.workers:
        lmdb_rate, folder_rate = best["lmdb", workers], best["folder", workers]
        print(
            f"{workers:>7}  {lmdb_rate:>10.1f}  {folder_rate:>12.1f}  "
            f"{lmdb_rate / folder_rate:>11.2f}"
        )
    print(footer())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
