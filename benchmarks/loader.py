#!/usr/bin/env python
"""Benchmark: images per second of the frame loader per DataLoader worker count, next to the CPU's
decoding ceiling; uint8 frames normalised on the device vs float32 frames, LMDB vs PNG files.

Every pass uses the library's reader unchanged: ``dfshield.data.DeepfakeDataset`` in frame mode
(augmentation off) wrapped by ``dfshield.data.make_loader``, each batch moved to ``--device`` and
turned into the model input there by ``dataset.normalizer``, as the trainer and the feature bank
do. What varies:

- **pixels**: ``uint8`` (what the trainer and the feature bank read: workers hand over resized
  uint8 frames, normalised in batch on the device) or ``float`` (each frame normalised to float32
  in the worker and sent through shared memory: dfshield's loader before uint8 frames);
- **store**: ``lmdb`` (frames read from ``<lmdb_dir>/<Dataset>_lmdb``) or ``folder`` (the same
  frames exported as PNG files at their JSON paths, ``data.lmdb_dir: null``);
- **workers**: ``--workers``.

Preprocessing (``--preprocess``): ``clip`` = open_clip's transform for ``--resolution`` (PIL
bicubic resize of the short side, centre crop; CLIP mean/std), the path of a frozen CLIP backbone
(feature-bank extraction); ``resize`` = the dataset's own bicubic resize to ``--resolution``² and
CLIP mean/std, the path of a trained backbone.

**Ceiling**: one core decodes the split's PNG bytes (``decode_image``, nothing else) and, apart,
makes whole uint8 items (``dataset[i]``: read, decode, preprocess) in this process, timed in CPU
seconds (so that other work on the machine does not lower it), once per repeat beside the
passes and the best kept, as for the passes; times the number of cores
(``nproc``) that is what the CPU can feed at best, and the first table gives each rate as a
fraction of it. The second table gives the CPU seconds each pass spent per image, in this process
and its workers together: the **decode share** (decoding's CPU time / the pass's) is the fraction
of the decode ceiling the loader reaches when it has the cores to itself — on a loaded machine the
figure to compare, as images/s then depend on what else runs.

Each (store, pixels, workers) reads the chosen frames once per repeat in the same shuffled order
(fixed seed), worker start-up included; the best of ``--repeats`` passes is reported. Passes are
interleaved so that a change of machine load affects every column alike. Frames come from a warm
page cache; cold-disk reads are not measured.

Data: ``--data DIR`` holding ``json/`` and ``lmdb/`` (``dfshield build-lmdb`` / ``demo-data``
output), or ``--json-dir`` and ``--lmdb-dir`` for a DeepfakeBench set-up; default: ``--frames``
256×256 PNG frames made from DemoFaces (``_common.bench_dataset``) into a temporary folder, or
into ``--data DIR`` when that folder does not exist yet (then kept for ``extract.py``).

    python benchmarks/loader.py                       # 1,000 frames, 0/2/4 workers, both stores
    python benchmarks/loader.py --frames 8192 --workers 0 4 8 15 --stores lmdb --device cuda
    python benchmarks/loader.py --data ../shared/data/ffhq-lmdb --dataset FFHQ-StyleGAN2
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _common import (
    add_run_options,
    bench_data,
    footer,
    new_parser,
    record,
    setup,
    sync,
)
from torch.utils.data import Subset

from dfshield.data import DataConfig, DeepfakeDataset, FolderStore, make_loader, pil_preprocess
from dfshield.dataset_builder.layout import label_dict_for
from dfshield.media.frames import decode_image

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
        help="dataset folder with json/ and lmdb/; a folder not made yet gets the generated "
        "frames and keeps them (default: generated into a temporary folder)",
    )
    data.add_argument("--json-dir", type=Path, default=None, help="JSON folder (default DATA/json)")
    data.add_argument(
        "--lmdb-dir", type=Path, default=None, help="LMDB folder (default JSON_DIR/../lmdb)"
    )
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
    made = parser.add_argument_group("generated data (when --data is not given)")
    made.add_argument("--frames", type=int, default=1000, help="frames in the training split")
    made.add_argument("--unique", type=int, default=256, help="distinct DemoFaces frames made")
    made.add_argument("--size", type=int, default=256, help="frame size in pixels (multiple of 32)")
    run = parser.add_argument_group("measurement")
    run.add_argument(
        "--workers", type=int, nargs="+", default=[0, 2, 4], help="DataLoader worker counts"
    )
    run.add_argument(
        "--pixels",
        nargs="+",
        default=["uint8", "float"],
        choices=("uint8", "float"),
        help="what the workers hand over",
    )
    run.add_argument(
        "--stores",
        nargs="+",
        default=["lmdb", "folder"],
        choices=("lmdb", "folder"),
        help="where the frame bytes are read from",
    )
    run.add_argument(
        "--preprocess",
        default="clip",
        choices=("clip", "resize"),
        help="clip: open_clip's transform (frozen CLIP); resize: the dataset's resize + mean/std",
    )
    run.add_argument("--batch-size", type=int, default=64, help="frames per batch")
    run.add_argument("--resolution", type=int, default=224, help="side of the model input")
    run.add_argument(
        "--repeats", type=int, default=2, help="passes per column and workers; the best is kept"
    )
    run.add_argument(
        "--ceiling-frames", type=int, default=200, help="frames timed for the CPU ceiling"
    )
    add_run_options(
        run,
        seed=0,
        seed_help="seed of the shuffled order and of the generated data",
        threads=False,
        device_help="where batches are moved and normalised (cuda: pinned, non-blocking copies)",
    )
    args = parser.parse_args(argv)
    if min(args.repeats, args.batch_size, args.frames, args.ceiling_frames) < 1 or any(
        w < 0 for w in args.workers
    ):
        parser.error("--repeats, --batch-size, --frames, --ceiling-frames >= 1, --workers >= 0")
    return args


def data_config(args: argparse.Namespace, root: Path) -> tuple[DataConfig, str]:
    """The LMDB data config and the dataset name (making the frames when needed)."""
    if args.json_dir is not None:
        json_dir, lmdb_dir = args.json_dir, args.lmdb_dir or args.json_dir.parent / "lmdb"
        name = args.dataset or next(Path(json_dir).glob("*.json")).stem
    else:
        json_dir, lmdb_dir, name = bench_data(
            args.data,
            root / "data",
            args.frames,
            dataset=args.dataset,
            size=args.size,
            unique=args.unique,
            seed=args.seed,
        )
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


def dataset_for(cfg: DataConfig, args: argparse.Namespace, pixels: str) -> DeepfakeDataset:
    preprocess = None
    if args.preprocess == "clip":
        import open_clip

        transform = open_clip.image_transform(
            args.resolution, is_train=False, mean=CLIP_MEAN, std=CLIP_STD
        )
        preprocess = pil_preprocess(transform)
    return DeepfakeDataset(
        cfg,
        args.split,
        mode="frame",
        resolution=args.resolution,
        mean=CLIP_MEAN,
        std=CLIP_STD,
        augment=False,
        preprocess=preprocess,
        pixels=pixels,
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
    dataset: Subset, workers: int, args: argparse.Namespace, device: torch.device
) -> tuple[float, float]:
    """One full pass (worker start-up included): every batch moved to ``device`` and normalised
    there (``dataset.normalizer``), as the trainer and the feature bank take it. Returns images
    per second and CPU seconds per image of this process and its workers together (what the
    pass costs whatever else the machine runs)."""
    before = os.times()
    generator = torch.Generator().manual_seed(args.seed)
    normalizer = dataset.dataset.normalizer
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
        image = normalizer(batch["image"], device)
        count += int(image.shape[0])
    sync(device)
    rate = count / (time.perf_counter() - started)
    done = os.times()  # this process's share ends here
    del loader, batch  # its workers end and are waited for: now their CPU time is counted
    gc.collect()
    reaped = os.times()
    mine = done.user + done.system - before.user - before.system
    workers = (
        reaped.children_user
        + reaped.children_system
        - before.children_user
        - before.children_system
    )
    return rate, (mine + workers) / count


def ceiling(dataset: DeepfakeDataset, name: str, indices: list[int]) -> tuple[float, float]:
    """Frames per CPU second on one core (CPU time, so that the machine's load does not lower
    it): PNG decoding alone, and whole uint8 items."""
    import cv2

    cv2.setNumThreads(0)  # as in the loader's workers: sequential OpenCV, one core
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    store, keys = dataset.store(name), dataset.frame_keys
    data = [store.get(keys[i], dataset=name) for i in indices]
    started = time.process_time()
    for blob, i in zip(data, indices):
        decode_image(blob, keys[i], name)
    decode = len(data) / (time.process_time() - started)
    started = time.process_time()
    for i in indices:
        dataset[i]
    item = len(indices) / (time.process_time() - started)
    torch.set_num_threads(threads)
    return decode, item


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = setup(args)
    cores = os.cpu_count() or 1
    if max(args.workers) > cores:
        print(f"note: up to {max(args.workers)} workers on {cores} cores (oversubscribed)")
    # torch warns when workers exceed the cores; the note above says it once
    warnings.filterwarnings("ignore", message="This DataLoader will create")
    with tempfile.TemporaryDirectory(prefix="dfshield-bench-loader-") as tmp:
        root = Path(tmp)
        cfg, name = data_config(args, root)
        folder_cfg = dataclasses.replace(cfg, lmdb_dir=None, data_root=str(root / "frames"))
        lmdb_uint8 = dataset_for(cfg, args, "uint8")
        keys = [str(k) for k in lmdb_uint8.frame_keys]
        indices = list(range(len(lmdb_uint8)))
        if args.max_images is not None and args.max_images < len(indices):
            chosen = np.random.default_rng(args.seed).choice(len(indices), args.max_images, False)
            indices = sorted(chosen.tolist())
        columns = {}
        for store in args.stores:
            if store == "folder":
                (root / "frames").mkdir()
                started = time.perf_counter()
                size = export_frames(lmdb_uint8, name, [keys[i] for i in indices], root / "frames")
                print(
                    f"exported {len(indices)} frames ({size / 2**20:.1f} MiB of PNG) to PNG files "
                    f"in {time.perf_counter() - started:.1f} s"
                )
            for pixels in args.pixels:
                dataset = dataset_for(folder_cfg if store == "folder" else cfg, args, pixels)
                columns[store, pixels] = Subset(dataset, indices)
        print(
            f"{name} split '{args.split}': {len(indices)} frames, batch {args.batch_size}, "
            f"preprocess {args.preprocess} -> {args.resolution}, augmentation off, "
            f"best of {args.repeats} pass(es)\n"
        )
        sample = indices[: args.ceiling_frames]
        decode, item = 0.0, 0.0
        for subset in columns.values():  # untimed: one-time set-up (LMDB environment, codecs)
            for _ in zip(
                range(2), make_loader(subset, args.batch_size, shuffle=False, num_workers=0)
            ):
                pass
        best: dict[tuple[str, str, int], float] = {}
        cpu: dict[tuple[str, str, int], float] = {}
        for _ in range(args.repeats):
            rates = ceiling(lmdb_uint8, name, sample)  # beside the passes: the same load
            decode, item = max(decode, rates[0]), max(item, rates[1])
            for workers in args.workers:
                for (store, pixels), subset in columns.items():
                    rate, seconds = images_per_second(subset, workers, args, device)
                    key = (store, pixels, workers)
                    best[key] = max(best.get(key, 0.0), rate)
                    cpu[key] = min(cpu.get(key, float("inf")), seconds)
    report(args, columns, best, cpu, decode, item, cores)
    print(footer())
    return 0


def report(args, columns, best, cpu, decode: float, item: float, cores: int) -> None:
    names = [f"{store} {pixels} img/s" for store, pixels in columns]
    print(
        f"{'workers':>7}  "
        + "  ".join(f"{n:>17}" for n in names)
        + "  of decode ceiling  of item ceiling"
    )
    for workers in args.workers:
        rates = [best[store, pixels, workers] for store, pixels in columns]
        cells = "  ".join(f"{r:>17.1f}" for r in rates)
        print(
            f"{workers:>7}  {cells}  {max(rates) / (decode * cores):>17.0%}  "
            f"{max(rates) / (item * cores):>15.0%}"
        )
    print(
        f"\nCPU time per image, this process and its workers ({1e3 / decode:.2f} ms of it decode):"
        f"\n{'workers':>7}  "
        + "  ".join(f"{n.replace('img/s', 'CPU ms'):>17}" for n in names)
        + "  decode share"
    )
    for workers in args.workers:
        spent = [cpu[store, pixels, workers] for store, pixels in columns]
        cells = "  ".join(f"{1e3 * c:>17.2f}" for c in spent)
        print(f"{workers:>7}  {cells}  {1 / (decode * min(spent)):>12.0%}")
    if ("lmdb", "uint8") in columns and ("lmdb", "float") in columns:
        top = max(args.workers)
        ratio = best["lmdb", "uint8", top] / best["lmdb", "float", top]
        print(f"\nuint8 / float32 frames (LMDB, {top} workers): {ratio:.2f}x")
    print(
        f"\nCPU ceiling, one core x {cores} cores (nproc):\n"
        f"  PNG decode only        {decode:>8.1f} img/s/core -> {decode * cores:>9.1f} img/s\n"
        f"  whole uint8 item       {item:>8.1f} img/s/core -> {item * cores:>9.1f} img/s "
        f"(read, decode, {args.preprocess} -> {args.resolution})"
    )
    fastest = max(best.values())
    print(
        f"  best loader rate       {fastest:>9.1f} img/s = {fastest / (decode * cores):.0%} of "
        f"the decode ceiling, {fastest / (item * cores):.0%} of the item ceiling"
    )
    record(
        img_s={
            f"{store} {pixels}": {str(w): best[store, pixels, w] for w in args.workers}
            for store, pixels in columns
        },
        decode_ceiling_img_s=decode * cores,
        cpu_ms_per_img={
            f"{store} {pixels}": {str(w): 1e3 * cpu[store, pixels, w] for w in args.workers}
            for store, pixels in columns
        },
        item_ceiling_img_s=item * cores,
        of_decode_ceiling={
            f"{store} {pixels}": {
                str(w): best[store, pixels, w] / (decode * cores) for w in args.workers
            }
            for store, pixels in columns
        },
    )


if __name__ == "__main__":
    raise SystemExit(main())
